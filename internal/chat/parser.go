package chat

import (
	"strings"
)

// maxParseDepth bounds the nesting of expressions and blocks.
const maxParseDepth = 300

// parser builds the AST from tokens, following Jinja2's Parser.
type parser struct {
	toks      []token
	pos       int
	soft      bool // inside an if test/body or a conditional expression
	loopDepth int  // enclosing for loops within the current function
	depth     int
	scans     []*macroScan // macro bodies being parsed
	endStack  [][]string
	tagStack  []string
	unknowns  []unknownRef
}

// unknownRef is a use of an unknown filter or test. Outside if statements
// and conditional expressions Jinja rejects it when compiling.
type unknownRef struct {
	msg  string
	line int
	soft bool
}

// macroScan records how a macro body uses caller, kwargs and varargs
// (Jinja's find_undeclared): 1 = loaded before any store, 2 = stored first.
type macroScan map[string]int

// parse parses a token stream into the template body.
func parse(toks []token) ([]stmt, error) {
	p := &parser{toks: toks}
	body, err := p.subparse(nil)
	if err != nil {
		return nil, err
	}
	if p.cur().kind != tkEOF {
		return nil, p.fail("unexpected " + p.describe(p.cur()))
	}
	for _, u := range p.unknowns {
		if !u.soft {
			return nil, &Error{Type: errAssertion, Msg: u.msg, Line: u.line}
		}
	}
	return body, nil
}

func (p *parser) cur() token { return p.toks[p.pos] }

func (p *parser) look() token {
	if p.pos+1 < len(p.toks) {
		return p.toks[p.pos+1]
	}
	return p.toks[len(p.toks)-1]
}

func (p *parser) next() token {
	t := p.toks[p.pos]
	if p.pos < len(p.toks)-1 {
		p.pos++
	}
	return t
}

func (p *parser) fail(msg string) *Error {
	return &Error{Type: errSyntax, Msg: msg, Line: p.cur().line}
}

func (p *parser) isOp(op string) bool {
	t := p.cur()
	return t.kind == tkOp && t.val == op
}

func (p *parser) isName(name string) bool {
	t := p.cur()
	return t.kind == tkName && t.val == name
}

func (p *parser) skipOp(op string) bool {
	if p.isOp(op) {
		p.next()
		return true
	}
	return false
}

func (p *parser) skipName(name string) bool {
	if p.isName(name) {
		p.next()
		return true
	}
	return false
}

// describe is lexer.describe_token.
func (p *parser) describe(t token) string {
	switch t.kind {
	case tkName:
		return t.val
	case tkOp:
		return t.val
	case tkEOF:
		return "end of template"
	case tkData:
		return "template data / text"
	case tkVarBegin:
		return "begin of print statement"
	case tkVarEnd:
		return "end of print statement"
	case tkBlockBegin:
		return "begin of statement block"
	case tkBlockEnd:
		return "end of statement block"
	case tkString:
		return "string"
	case tkInt:
		return "integer"
	case tkFloat:
		return "float"
	}
	return "?"
}

func (p *parser) expectErr(want string) *Error {
	if p.cur().kind == tkEOF {
		return p.fail("unexpected end of template, expected " + repr(Str(want)) + ".")
	}
	return p.fail("expected token " + repr(Str(want)) + ", got " + repr(Str(p.describe(p.cur()))))
}

func (p *parser) expectOp(op string) error {
	if !p.skipOp(op) {
		return p.expectErr(op)
	}
	return nil
}

func (p *parser) expectName(name string) error {
	if !p.skipName(name) {
		return p.expectErr(name)
	}
	return nil
}

func (p *parser) expectKind(k tokKind, desc string) (token, error) {
	if p.cur().kind != k {
		return token{}, p.expectErr(desc)
	}
	return p.next(), nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > maxParseDepth {
		return p.fail("template nesting too deep")
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

// noteName records a load (or store) of name for the macro scans.
func (p *parser) noteName(name string, load bool) {
	if name != "caller" && name != "kwargs" && name != "varargs" {
		return
	}
	for _, sc := range p.scans {
		if (*sc)[name] == 0 {
			if load {
				(*sc)[name] = 1
			} else {
				(*sc)[name] = 2
			}
		}
	}
}

// subparse parses statements until one of endTokens (tag names) starts a
// block, which is left as the current token.
func (p *parser) subparse(endTokens []string) ([]stmt, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if endTokens != nil {
		p.endStack = append(p.endStack, endTokens)
		defer func() { p.endStack = p.endStack[:len(p.endStack)-1] }()
	}
	var body []stmt
	var out *outputStmt
	flush := func() {
		if out != nil {
			body = append(body, out)
			out = nil
		}
	}
	for {
		t := p.cur()
		switch t.kind {
		case tkEOF:
			flush()
			return body, nil
		case tkData:
			p.next()
			if out == nil {
				out = &outputStmt{}
			}
			out.parts = append(out.parts, outPart{text: t.val})
		case tkVarBegin:
			p.next()
			x, err := p.parseTuple(false, true, nil, false)
			if err != nil {
				return nil, err
			}
			if _, err := p.expectKind(tkVarEnd, "end of print statement"); err != nil {
				return nil, err
			}
			if out == nil {
				out = &outputStmt{}
			}
			out.parts = append(out.parts, outPart{x: x})
		case tkBlockBegin:
			flush()
			p.next()
			if endTokens != nil && p.cur().kind == tkName {
				for _, e := range endTokens {
					if p.cur().val == e {
						return body, nil
					}
				}
			}
			st, err := p.parseStatement()
			if err != nil {
				return nil, err
			}
			if st != nil {
				body = append(body, st)
			}
			if _, err := p.expectKind(tkBlockEnd, "end of statement block"); err != nil {
				return nil, err
			}
		default:
			return nil, p.fail("unexpected " + p.describe(t))
		}
	}
}

// parseStatements parses a block body up to one of endTokens; with drop the
// end tag name is consumed.
func (p *parser) parseStatements(endTokens []string, drop bool) ([]stmt, error) {
	p.skipOp(":")
	if _, err := p.expectKind(tkBlockEnd, "end of statement block"); err != nil {
		return nil, err
	}
	body, err := p.subparse(endTokens)
	if err != nil {
		return nil, err
	}
	if p.cur().kind == tkEOF {
		return nil, p.failEOF(endTokens)
	}
	if drop {
		p.next()
	}
	return body, nil
}

func (p *parser) failEOF(endTokens []string) *Error {
	stack := append(append([][]string{}, p.endStack...), endTokens)
	return p.failUnknown("", stack)
}

// failUnknown is Parser._fail_ut_eof.
func (p *parser) failUnknown(name string, stack [][]string) *Error {
	expected := map[string]bool{}
	for _, ex := range stack {
		for _, e := range ex {
			expected[e] = true
		}
	}
	var looking string
	if len(stack) > 0 {
		var qs []string
		for _, e := range stack[len(stack)-1] {
			qs = append(qs, repr(Str(e)))
		}
		looking = strings.Join(qs, " or ")
	}
	var msg []string
	if name == "" {
		msg = append(msg, "Unexpected end of template.")
	} else {
		msg = append(msg, "Encountered unknown tag "+repr(Str(name))+".")
	}
	if looking != "" {
		if name != "" && expected[name] {
			msg = append(msg, "You probably made a nesting mistake. Jinja is expecting this tag, but currently looking for "+looking+".")
		} else {
			msg = append(msg, "Jinja was looking for the following tags: "+looking+".")
		}
	}
	if len(p.tagStack) > 0 {
		msg = append(msg, "The innermost block that needs to be closed is "+repr(Str(p.tagStack[len(p.tagStack)-1]))+".")
	}
	return p.fail(strings.Join(msg, " "))
}

func (p *parser) parseStatement() (stmt, error) {
	t := p.cur()
	if t.kind != tkName {
		return nil, p.fail("tag name expected")
	}
	switch t.val {
	case "for", "if", "set", "macro", "call", "filter", "with", "print", "break", "continue",
		"generation", "block", "autoescape", "extends", "include", "import", "from":
	default:
		return nil, p.failUnknown(t.val, p.endStack)
	}
	p.tagStack = append(p.tagStack, t.val)
	defer func() { p.tagStack = p.tagStack[:len(p.tagStack)-1] }()
	switch t.val {
	case "for":
		return p.parseFor()
	case "if":
		return p.parseIf()
	case "set":
		return p.parseSet()
	case "macro":
		return p.parseMacro()
	case "call":
		return p.parseCallBlock()
	case "filter":
		return p.parseFilterBlock()
	case "with":
		return p.parseWith()
	case "print":
		p.next()
		out := &outputStmt{}
		for p.cur().kind != tkBlockEnd {
			if len(out.parts) > 0 {
				if err := p.expectOp(","); err != nil {
					return nil, err
				}
			}
			x, err := p.parseExpression(true)
			if err != nil {
				return nil, err
			}
			out.parts = append(out.parts, outPart{x: x})
		}
		return out, nil
	case "break", "continue":
		p.next()
		if p.loopDepth == 0 {
			return nil, &Error{Type: "SyntaxError", Msg: repr(Str(t.val)) + " outside loop", Line: t.line}
		}
		if t.val == "break" {
			return breakStmt{}, nil
		}
		return continueStmt{}, nil
	case "generation":
		p.next()
		saved := p.loopDepth
		p.loopDepth = 0
		body, err := p.parseStatements([]string{"endgeneration"}, true)
		p.loopDepth = saved
		if err != nil {
			return nil, err
		}
		return &scopeStmt{body: body}, nil
	case "block":
		p.next()
		name, err := p.expectKind(tkName, "name")
		if err != nil {
			return nil, err
		}
		p.skipName("scoped")
		p.skipName("required")
		saved := p.loopDepth
		p.loopDepth = 0
		body, err := p.parseStatements([]string{"endblock"}, true)
		p.loopDepth = saved
		if err != nil {
			return nil, err
		}
		p.skipName(name.val)
		return &scopeStmt{body: body}, nil
	case "autoescape":
		p.next()
		v, err := p.parseExpression(true)
		if err != nil {
			return nil, err
		}
		body, err := p.parseStatements([]string{"endautoescape"}, true)
		if err != nil {
			return nil, err
		}
		return &autoescapeStmt{value: v, body: body}, nil
	case "extends", "include", "import", "from":
		return p.parseLoaderStmt()
	}
	return nil, p.failUnknown(t.val, p.endStack)
}

// parseLoaderStmt parses include/import/extends/from, which need a template
// loader: transformers has none, so they raise when executed.
func (p *parser) parseLoaderStmt() (stmt, error) {
	p.next()
	for p.cur().kind != tkBlockEnd && p.cur().kind != tkEOF {
		p.next()
	}
	return &failStmt{err: typeErr("no loader for this environment specified (chat templates cannot include, import or extend other templates)")}, nil
}

func (p *parser) parseFor() (stmt, error) {
	p.next()
	line := p.cur().line
	tg, err := p.parseAssignTarget(true, false, []string{"in"}, false)
	if err != nil {
		return nil, err
	}
	if targetHasName(tg, "loop") {
		return nil, &Error{Type: errAssertion, Msg: "Can't assign to special loop variable in for-loop target", Line: line}
	}
	if err := p.expectName("in"); err != nil {
		return nil, err
	}
	iter, err := p.parseTuple(false, false, []string{"recursive"}, false)
	if err != nil {
		return nil, err
	}
	f := &forStmt{target: tg, iter: iter}
	if p.skipName("if") {
		savedSoft := p.soft
		p.soft = false
		f.filter, err = p.parseExpression(true)
		p.soft = savedSoft
		if err != nil {
			return nil, err
		}
	}
	f.recursive = p.skipName("recursive")
	savedSoft := p.soft
	p.soft = false
	defer func() { p.soft = savedSoft }()
	p.loopDepth++
	f.body, err = p.parseStatements([]string{"endfor", "else"}, false)
	p.loopDepth--
	if err != nil {
		return nil, err
	}
	if p.next().val == "else" {
		f.els, err = p.parseStatements([]string{"endfor"}, true)
		if err != nil {
			return nil, err
		}
	}
	return f, nil
}

func (p *parser) parseIf() (stmt, error) {
	p.next()
	savedSoft := p.soft
	p.soft = true
	defer func() { p.soft = savedSoft }()
	st := &ifStmt{}
	for {
		test, err := p.parseTuple(false, false, nil, false)
		if err != nil {
			return nil, err
		}
		body, err := p.parseStatements([]string{"elif", "else", "endif"}, false)
		if err != nil {
			return nil, err
		}
		st.tests = append(st.tests, test)
		st.bodies = append(st.bodies, body)
		tok := p.next()
		if tok.val == "elif" {
			continue
		}
		if tok.val == "else" {
			st.els, err = p.parseStatements([]string{"endif"}, true)
			if err != nil {
				return nil, err
			}
		}
		return st, nil
	}
}

func (p *parser) parseSet() (stmt, error) {
	p.next()
	tg, err := p.parseAssignTarget(true, false, nil, true)
	if err != nil {
		return nil, err
	}
	if p.skipOp("=") {
		v, err := p.parseTuple(false, true, nil, false)
		if err != nil {
			return nil, err
		}
		return &setStmt{target: tg, value: v}, nil
	}
	savedSoft := p.soft
	p.soft = false
	defer func() { p.soft = savedSoft }()
	st := &setBlockStmt{target: tg}
	if p.isOp("|") {
		f, err := p.parseFilter(nil, false)
		if err != nil {
			return nil, err
		}
		st.filter = f.(*filterExpr)
	}
	st.body, err = p.parseStatements([]string{"endset"}, true)
	if err != nil {
		return nil, err
	}
	return st, nil
}

func (p *parser) parseWith() (stmt, error) {
	p.next()
	st := &withStmt{}
	for p.cur().kind != tkBlockEnd {
		if len(st.targets) > 0 {
			if err := p.expectOp(","); err != nil {
				return nil, err
			}
		}
		tg, err := p.parseAssignTarget(true, false, nil, false)
		if err != nil {
			return nil, err
		}
		if err := p.expectOp("="); err != nil {
			return nil, err
		}
		v, err := p.parseExpression(true)
		if err != nil {
			return nil, err
		}
		st.targets = append(st.targets, tg)
		st.values = append(st.values, v)
	}
	savedSoft := p.soft
	p.soft = false
	defer func() { p.soft = savedSoft }()
	body, err := p.parseStatements([]string{"endwith"}, true)
	if err != nil {
		return nil, err
	}
	st.body = body
	return st, nil
}

// parseSignature parses a macro or call-block parameter list.
func (p *parser) parseSignature(m *macroDef) error {
	if err := p.expectOp("("); err != nil {
		return err
	}
	for !p.isOp(")") {
		if len(m.params) > 0 {
			if err := p.expectOp(","); err != nil {
				return err
			}
		}
		t, err := p.expectKind(tkName, "name")
		if err != nil {
			return err
		}
		p.noteName(t.val, false)
		if p.skipOp("=") {
			d, err := p.parseExpression(true)
			if err != nil {
				return err
			}
			m.defaults = append(m.defaults, d)
		} else if len(m.defaults) > 0 {
			return p.fail("non-default argument follows default argument")
		}
		m.params = append(m.params, t.val)
	}
	return p.expectOp(")")
}

// parseMacroBody parses a macro body and records its use of caller,
// kwargs and varargs.
func (p *parser) parseMacroBody(m *macroDef, end string) error {
	sc := macroScan{}
	p.scans = append(p.scans, &sc)
	savedSoft, savedLoop := p.soft, p.loopDepth
	p.soft, p.loopDepth = false, 0
	body, err := p.parseStatements([]string{end}, true)
	p.soft, p.loopDepth = savedSoft, savedLoop
	p.scans = p.scans[:len(p.scans)-1]
	if err != nil {
		return err
	}
	m.body = body
	explicitCaller := -1
	skip := map[string]bool{}
	for i, a := range m.params {
		if a == "caller" {
			explicitCaller = i
		}
		if a == "kwargs" || a == "varargs" {
			skip[a] = true
		}
	}
	if sc["caller"] == 1 {
		if explicitCaller >= 0 && explicitCaller < len(m.params)-len(m.defaults) {
			return &Error{Type: errAssertion, Msg: `When defining macros or call blocks the special "caller" argument must be omitted or be given a default.`}
		}
		m.caller = true
	}
	m.catchKwargs = sc["kwargs"] == 1 && !skip["kwargs"]
	m.catchVarargs = sc["varargs"] == 1 && !skip["varargs"]
	return nil
}

func (p *parser) parseMacro() (stmt, error) {
	p.next()
	t, err := p.expectKind(tkName, "name")
	if err != nil {
		return nil, err
	}
	p.noteName(t.val, false)
	m := &macroDef{name: t.val}
	if err := p.parseSignature(m); err != nil {
		return nil, err
	}
	if err := p.parseMacroBody(m, "endmacro"); err != nil {
		return nil, err
	}
	return &macroStmt{m: m}, nil
}

func (p *parser) parseCallBlock() (stmt, error) {
	line := p.next().line
	m := &macroDef{name: "caller"}
	if p.isOp("(") {
		if err := p.parseSignature(m); err != nil {
			return nil, err
		}
	}
	x, err := p.parseExpression(true)
	if err != nil {
		return nil, err
	}
	call, ok := x.(*callExpr)
	if !ok {
		return nil, &Error{Type: errSyntax, Msg: "expected call", Line: line}
	}
	if err := p.parseMacroBody(m, "endcall"); err != nil {
		return nil, err
	}
	return &callBlockStmt{caller: m, call: call}, nil
}

func (p *parser) parseFilterBlock() (stmt, error) {
	p.next()
	f, err := p.parseFilter(nil, true)
	if err != nil {
		return nil, err
	}
	savedSoft := p.soft
	p.soft = false
	defer func() { p.soft = savedSoft }()
	body, err := p.parseStatements([]string{"endfilter"}, true)
	if err != nil {
		return nil, err
	}
	return &filterBlockStmt{filter: f.(*filterExpr), body: body}, nil
}

// parseAssignTarget parses an assignment target (Parser.parse_assign_target).
func (p *parser) parseAssignTarget(withTuple, nameOnly bool, extraEnd []string, withNamespace bool) (target, error) {
	if nameOnly {
		t, err := p.expectKind(tkName, "name")
		if err != nil {
			return nil, err
		}
		p.noteName(t.val, false)
		return nameTarget{t.val}, nil
	}
	var items []target
	isTuple := false
	for {
		if len(items) > 0 {
			if err := p.expectOp(","); err != nil {
				return nil, err
			}
		}
		if p.isTupleEnd(extraEnd) {
			break
		}
		tg, err := p.parseTargetPrimary(withNamespace)
		if err != nil {
			return nil, err
		}
		items = append(items, tg)
		if !withTuple {
			return tg, nil
		}
		if p.isOp(",") {
			isTuple = true
		} else {
			break
		}
	}
	if !isTuple {
		if len(items) == 1 {
			return items[0], nil
		}
		return nil, p.fail("Expected an expression, got " + repr(Str(p.describe(p.cur()))))
	}
	return tupleTarget{items}, nil
}

// parseTargetPrimary parses a name or namespace reference as a target.
func (p *parser) parseTargetPrimary(withNamespace bool) (target, error) {
	t := p.cur()
	if t.kind == tkName {
		switch t.val {
		case "true", "false", "True", "False", "none", "None":
			return nil, p.fail("can't assign to 'const'")
		}
		p.next()
		if withNamespace && p.isOp(".") {
			p.next()
			attr, err := p.expectKind(tkName, "name")
			if err != nil {
				return nil, err
			}
			p.noteName(t.val, true)
			return nsTarget{name: t.val, attr: attr.val}, nil
		}
		p.noteName(t.val, false)
		return nameTarget{t.val}, nil
	}
	if t.kind == tkOp && t.val == "(" {
		p.next()
		tg, err := p.parseAssignTarget(true, false, nil, withNamespace)
		if err != nil {
			return nil, err
		}
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
		return tg, nil
	}
	x, err := p.parsePrimary()
	if err != nil {
		return nil, err
	}
	_ = x
	return nil, p.fail("can't assign to " + repr(Str(nodeKind(x))))
}

// targetHasName reports whether an assignment target binds name.
func targetHasName(tg target, name string) bool {
	switch t := tg.(type) {
	case nameTarget:
		return t.name == name
	case tupleTarget:
		for _, sub := range t.items {
			if targetHasName(sub, name) {
				return true
			}
		}
	}
	return false
}

func nodeKind(x expr) string {
	switch x.(type) {
	case *constExpr:
		return "const"
	case *listExpr:
		return "list"
	case *dictExpr:
		return "dict"
	}
	return "expr"
}

func (p *parser) isTupleEnd(extraEnd []string) bool {
	t := p.cur()
	if t.kind == tkVarEnd || t.kind == tkBlockEnd || (t.kind == tkOp && t.val == ")") {
		return true
	}
	if t.kind == tkName {
		for _, e := range extraEnd {
			if t.val == e {
				return true
			}
		}
	}
	return false
}
