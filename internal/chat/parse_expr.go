package chat

// Expression parsing, following Jinja2's precedence: conditional < or < and
// < not < comparison < + - < ~ < * / // % < ** < unary - + < postfix and
// filters/tests.

func (p *parser) parseExpression(withCondexpr bool) (expr, error) {
	if withCondexpr {
		return p.parseCondexpr()
	}
	return p.parseOr()
}

func (p *parser) parseCondexpr() (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	line := p.cur().line
	mark := len(p.unknowns)
	expr1, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if !p.isName("if") {
		return expr1, nil
	}
	// A conditional expression compiles in a soft frame: unknown filters
	// and tests inside it fail only when evaluated.
	savedSoft := p.soft
	p.soft = true
	defer func() {
		p.soft = savedSoft
		for i := mark; i < len(p.unknowns); i++ {
			p.unknowns[i].soft = true
		}
	}()
	for p.skipName("if") {
		test, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		var expr3 expr
		if p.skipName("else") {
			if expr3, err = p.parseCondexpr(); err != nil {
				return nil, err
			}
		}
		expr1 = &condExpr{test: test, a: expr1, b: expr3, line: line}
		line = p.cur().line
	}
	return expr1, nil
}

func (p *parser) parseOr() (expr, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.skipName("or") {
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		left = &orExpr{left, right}
	}
	return left, nil
}

func (p *parser) parseAnd() (expr, error) {
	left, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	for p.skipName("and") {
		right, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		left = &andExpr{left, right}
	}
	return left, nil
}

func (p *parser) parseNot() (expr, error) {
	if p.isName("not") {
		p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		x, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		return &notExpr{x}, nil
	}
	return p.parseCompare()
}

var compareOps = map[string]string{"==": "eq", "!=": "ne", "<": "lt", "<=": "lteq", ">": "gt", ">=": "gteq"}

func (p *parser) parseCompare() (expr, error) {
	first, err := p.parseMath1()
	if err != nil {
		return nil, err
	}
	c := &compareExpr{first: first}
	for {
		t := p.cur()
		var op string
		switch {
		case t.kind == tkOp && compareOps[t.val] != "":
			p.next()
			op = compareOps[t.val]
		case p.isName("in"):
			p.next()
			op = "in"
		case p.isName("not") && p.look().kind == tkName && p.look().val == "in":
			p.next()
			p.next()
			op = "notin"
		default:
			if len(c.ops) == 0 {
				return first, nil
			}
			return c, nil
		}
		right, err := p.parseMath1()
		if err != nil {
			return nil, err
		}
		c.ops = append(c.ops, op)
		c.rights = append(c.rights, right)
	}
}

func (p *parser) parseMath1() (expr, error) {
	left, err := p.parseConcat()
	if err != nil {
		return nil, err
	}
	for p.isOp("+") || p.isOp("-") {
		op := p.next().val
		right, err := p.parseConcat()
		if err != nil {
			return nil, err
		}
		left = &binExpr{op: op, l: left, r: right}
	}
	return left, nil
}

func (p *parser) parseConcat() (expr, error) {
	first, err := p.parseMath2()
	if err != nil {
		return nil, err
	}
	args := []expr{first}
	for p.isOp("~") {
		p.next()
		x, err := p.parseMath2()
		if err != nil {
			return nil, err
		}
		args = append(args, x)
	}
	if len(args) == 1 {
		return first, nil
	}
	return &concatExpr{args}, nil
}

func (p *parser) parseMath2() (expr, error) {
	left, err := p.parsePow()
	if err != nil {
		return nil, err
	}
	for p.isOp("*") || p.isOp("/") || p.isOp("//") || p.isOp("%") {
		op := p.next().val
		right, err := p.parsePow()
		if err != nil {
			return nil, err
		}
		left = &binExpr{op: op, l: left, r: right}
	}
	return left, nil
}

func (p *parser) parsePow() (expr, error) {
	left, err := p.parseUnary(true)
	if err != nil {
		return nil, err
	}
	for p.isOp("**") {
		p.next()
		right, err := p.parseUnary(true)
		if err != nil {
			return nil, err
		}
		left = &binExpr{op: "**", l: left, r: right}
	}
	return left, nil
}

func (p *parser) parseUnary(withFilter bool) (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	var node expr
	var err error
	switch {
	case p.isOp("-"):
		p.next()
		x, err := p.parseUnary(false)
		if err != nil {
			return nil, err
		}
		node = &negExpr{x}
	case p.isOp("+"):
		p.next()
		x, err := p.parseUnary(false)
		if err != nil {
			return nil, err
		}
		node = &posExpr{x}
	default:
		if node, err = p.parsePrimary(); err != nil {
			return nil, err
		}
	}
	if node, err = p.parsePostfix(node); err != nil {
		return nil, err
	}
	if withFilter {
		return p.parseFilterExpr(node)
	}
	return node, nil
}

func (p *parser) parsePrimary() (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.cur()
	switch t.kind {
	case tkName:
		p.next()
		switch t.val {
		case "true", "True":
			return &constExpr{Bool(true)}, nil
		case "false", "False":
			return &constExpr{Bool(false)}, nil
		case "none", "None":
			return &constExpr{None}, nil
		}
		p.noteName(t.val, true)
		return &nameExpr{t.val}, nil
	case tkString:
		p.next()
		s := t.val
		for p.cur().kind == tkString {
			s += p.next().val
		}
		return &constExpr{Str(s)}, nil
	case tkInt, tkFloat:
		p.next()
		return &constExpr{t.num}, nil
	case tkOp:
		switch t.val {
		case "(":
			p.next()
			x, err := p.parseTuple(false, true, nil, true)
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			return x, nil
		case "[":
			return p.parseList()
		case "{":
			return p.parseDict()
		}
	}
	return nil, p.fail("unexpected " + repr(Str(p.describe(t))))
}

// parseTuple parses an expression or a comma-separated tuple.
func (p *parser) parseTuple(simplified, withCondexpr bool, extraEnd []string, explicitParens bool) (expr, error) {
	var items []expr
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
		var x expr
		var err error
		if simplified {
			x, err = p.parsePrimary()
		} else {
			x, err = p.parseExpression(withCondexpr)
		}
		if err != nil {
			return nil, err
		}
		items = append(items, x)
		if p.isOp(",") {
			isTuple = true
		} else {
			break
		}
	}
	if !isTuple {
		if len(items) > 0 {
			return items[0], nil
		}
		if !explicitParens {
			return nil, p.fail("Expected an expression, got " + repr(Str(p.describe(p.cur()))))
		}
	}
	return &tupleExpr{items}, nil
}

func (p *parser) parseList() (expr, error) {
	p.next()
	l := &listExpr{}
	for !p.isOp("]") {
		if len(l.items) > 0 {
			if err := p.expectOp(","); err != nil {
				return nil, err
			}
		}
		if p.isOp("]") {
			break
		}
		x, err := p.parseExpression(true)
		if err != nil {
			return nil, err
		}
		l.items = append(l.items, x)
	}
	p.next()
	return l, nil
}

func (p *parser) parseDict() (expr, error) {
	p.next()
	d := &dictExpr{}
	for !p.isOp("}") {
		if len(d.keys) > 0 {
			if err := p.expectOp(","); err != nil {
				return nil, err
			}
		}
		if p.isOp("}") {
			break
		}
		k, err := p.parseExpression(true)
		if err != nil {
			return nil, err
		}
		if err := p.expectOp(":"); err != nil {
			return nil, err
		}
		v, err := p.parseExpression(true)
		if err != nil {
			return nil, err
		}
		d.keys = append(d.keys, k)
		d.vals = append(d.vals, v)
	}
	p.next()
	return d, nil
}

func (p *parser) parsePostfix(node expr) (expr, error) {
	for {
		var err error
		switch {
		case p.isOp(".") || p.isOp("["):
			node, err = p.parseSubscript(node)
		case p.isOp("("):
			node, err = p.parseCall(node)
		default:
			return node, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (p *parser) parseFilterExpr(node expr) (expr, error) {
	for {
		var err error
		switch {
		case p.isOp("|"):
			node, err = p.parseFilter(node, false)
		case p.isName("is"):
			node, err = p.parseTest(node)
		case p.isOp("("):
			node, err = p.parseCall(node)
		default:
			return node, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

func (p *parser) parseSubscript(node expr) (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	t := p.next()
	if t.val == "." {
		at := p.next()
		switch at.kind {
		case tkName:
			return &getattrExpr{x: node, attr: at.val}, nil
		case tkInt:
			return &getitemExpr{x: node, key: &constExpr{at.num}}, nil
		}
		return nil, p.fail("expected name or number")
	}
	var args []expr
	var slice *sliceExpr
	for !p.isOp("]") {
		if len(args) > 0 {
			if err := p.expectOp(","); err != nil {
				return nil, err
			}
		}
		a, sl, err := p.parseSubscribed()
		if err != nil {
			return nil, err
		}
		if sl != nil {
			slice = sl
			a = sliceLit{}
		}
		args = append(args, a)
	}
	if err := p.expectOp("]"); err != nil {
		return nil, err
	}
	if len(args) == 1 {
		if slice != nil {
			slice.x = node
			return slice, nil
		}
		return &getitemExpr{x: node, key: args[0]}, nil
	}
	return &getitemExpr{x: node, key: &tupleExpr{args}}, nil
}

// parseSubscribed parses one subscript: an expression or a slice.
func (p *parser) parseSubscribed() (expr, *sliceExpr, error) {
	var parts [3]expr
	if p.isOp(":") {
		p.next()
	} else {
		x, err := p.parseExpression(true)
		if err != nil {
			return nil, nil, err
		}
		if !p.isOp(":") {
			return x, nil, nil
		}
		p.next()
		parts[0] = x
	}
	if !p.isOp(":") && !p.isOp("]") && !p.isOp(",") {
		x, err := p.parseExpression(true)
		if err != nil {
			return nil, nil, err
		}
		parts[1] = x
	}
	if p.isOp(":") {
		p.next()
		if !p.isOp("]") && !p.isOp(",") {
			x, err := p.parseExpression(true)
			if err != nil {
				return nil, nil, err
			}
			parts[2] = x
		}
	}
	return nil, &sliceExpr{start: parts[0], stop: parts[1], step: parts[2]}, nil
}

func (p *parser) parseCallArgs() (callArgs, error) {
	var ca callArgs
	line := p.cur().line
	if err := p.expectOp("("); err != nil {
		return ca, err
	}
	bad := func() error {
		return &Error{Type: errSyntax, Msg: "invalid syntax for function call expression", Line: line}
	}
	requireComma := false
	for !p.isOp(")") {
		if requireComma {
			if err := p.expectOp(","); err != nil {
				return ca, err
			}
			if p.isOp(")") {
				break
			}
		}
		switch {
		case p.isOp("*"):
			if ca.dynArgs != nil || ca.dynKwargs != nil {
				return ca, bad()
			}
			p.next()
			x, err := p.parseExpression(true)
			if err != nil {
				return ca, err
			}
			ca.dynArgs = x
		case p.isOp("**"):
			if ca.dynKwargs != nil {
				return ca, bad()
			}
			p.next()
			x, err := p.parseExpression(true)
			if err != nil {
				return ca, err
			}
			ca.dynKwargs = x
		case p.cur().kind == tkName && p.look().kind == tkOp && p.look().val == "=":
			if ca.dynKwargs != nil {
				return ca, bad()
			}
			key := p.next().val
			p.next()
			x, err := p.parseExpression(true)
			if err != nil {
				return ca, err
			}
			ca.kwNames = append(ca.kwNames, key)
			ca.kwVals = append(ca.kwVals, x)
		default:
			if ca.dynArgs != nil || ca.dynKwargs != nil || len(ca.kwNames) > 0 {
				return ca, bad()
			}
			x, err := p.parseExpression(true)
			if err != nil {
				return ca, err
			}
			ca.args = append(ca.args, x)
		}
		requireComma = true
	}
	p.next()
	return ca, nil
}

func (p *parser) parseCall(node expr) (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	ca, err := p.parseCallArgs()
	if err != nil {
		return nil, err
	}
	return &callExpr{fn: node, callArgs: ca}, nil
}

// dottedName parses name(.name)* after a pipe or "is".
func (p *parser) dottedName() (string, error) {
	t, err := p.expectKind(tkName, "name")
	if err != nil {
		return "", err
	}
	name := t.val
	for p.isOp(".") {
		p.next()
		t, err := p.expectKind(tkName, "name")
		if err != nil {
			return "", err
		}
		name += "." + t.val
	}
	return name, nil
}

func (p *parser) parseFilter(node expr, startInline bool) (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	for p.isOp("|") || startInline {
		if !startInline {
			p.next()
		}
		line := p.cur().line
		name, err := p.dottedName()
		if err != nil {
			return nil, err
		}
		f := &filterExpr{x: node, name: name, fn: filters[name]}
		if p.isOp("(") {
			if f.callArgs, err = p.parseCallArgs(); err != nil {
				return nil, err
			}
		}
		if f.fn == nil {
			p.unknowns = append(p.unknowns, unknownRef{msg: "No filter named " + repr(Str(name)) + ".", line: line, soft: p.soft})
		}
		node = f
		startInline = false
	}
	return node, nil
}

func (p *parser) parseTest(node expr) (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	p.next()
	negated := p.skipName("not")
	line := p.cur().line
	name, err := p.dottedName()
	if err != nil {
		return nil, err
	}
	t := &testExpr{x: node, name: name, fn: tests[name]}
	c := p.cur()
	switch {
	case p.isOp("("):
		if t.callArgs, err = p.parseCallArgs(); err != nil {
			return nil, err
		}
	case (c.kind == tkName || c.kind == tkString || c.kind == tkInt || c.kind == tkFloat ||
		(c.kind == tkOp && (c.val == "(" || c.val == "[" || c.val == "{"))) &&
		!(c.kind == tkName && (c.val == "else" || c.val == "or" || c.val == "and")):
		if c.kind == tkName && c.val == "is" {
			return nil, p.fail("You cannot chain multiple tests with is")
		}
		arg, err := p.parsePrimary()
		if err != nil {
			return nil, err
		}
		if arg, err = p.parsePostfix(arg); err != nil {
			return nil, err
		}
		t.args = []expr{arg}
	}
	if t.fn == nil {
		p.unknowns = append(p.unknowns, unknownRef{msg: "No test named " + repr(Str(name)) + ".", line: line, soft: p.soft})
	}
	if negated {
		return &notExpr{t}, nil
	}
	return t, nil
}
