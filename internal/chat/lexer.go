package chat

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// tokKind is the kind of a lexer token.
type tokKind uint8

const (
	tkEOF tokKind = iota
	tkData
	tkVarBegin
	tkVarEnd
	tkBlockBegin
	tkBlockEnd
	tkName
	tkString
	tkInt
	tkFloat
	tkOp
)

// token is one lexer token. val holds the text (data, name, operator,
// decoded string); num holds the value of a number literal.
type token struct {
	kind tokKind
	val  string
	num  Value
	line int
}

// lexer turns template source into tokens exactly as Jinja2's lexer does
// with trim_blocks and lstrip_blocks enabled.
type lexer struct {
	src          string
	pos          int
	line         int
	lineStarting bool
	toks         []token
}

// normalizeSource converts every newline to "\n" and drops one trailing
// newline (keep_trailing_newline=False).
func normalizeSource(src string) string {
	if strings.IndexByte(src, '\r') >= 0 {
		src = strings.ReplaceAll(src, "\r\n", "\n")
		src = strings.ReplaceAll(src, "\r", "\n")
	}
	return strings.TrimSuffix(src, "\n")
}

// tokenize lexes a whole template.
func tokenize(src string) ([]token, error) {
	lx := &lexer{src: normalizeSource(src), line: 1, lineStarting: true}
	if err := lx.run(); err != nil {
		return nil, err
	}
	lx.emit(token{kind: tkEOF})
	return lx.toks, nil
}

func (lx *lexer) emit(t token) {
	if t.line == 0 {
		t.line = lx.line
	}
	lx.toks = append(lx.toks, t)
}

func (lx *lexer) syntaxErr(msg string) *Error {
	return &Error{Type: errSyntax, Msg: msg, Line: lx.line}
}

// findOpener returns the index of the next "{{", "{%" or "{#" at or after
// pos, or -1.
func findOpener(s string, pos int) int {
	for {
		i := strings.IndexByte(s[pos:], '{')
		if i < 0 || pos+i+1 >= len(s) {
			return -1
		}
		j := pos + i
		switch s[j+1] {
		case '{', '%', '#':
			return j
		}
		pos = j + 1
	}
}

// rawBegin matches {%(-|+|)\s*raw\s*(-%}\s*|%}) at i and returns the end of
// the match, or -1.
func rawBegin(s string, i int) int {
	j := i + 2
	if j < len(s) && (s[j] == '-' || s[j] == '+') {
		j++
	}
	j = skipSpace(s, j)
	if !strings.HasPrefix(s[j:], "raw") {
		return -1
	}
	j = skipSpace(s, j+3)
	if strings.HasPrefix(s[j:], "-%}") {
		return skipSpace(s, j+3)
	}
	if strings.HasPrefix(s[j:], "%}") {
		return j + 2
	}
	return -1
}

// skipSpace skips Python regex \s (Unicode whitespace) from i.
func skipSpace(s string, i int) int {
	for i < len(s) {
		r, n := utf8.DecodeRuneInString(s[i:])
		if !pyIsSpace(r) {
			break
		}
		i += n
	}
	return i
}

// stripText applies the whitespace control of a tag to the text before it.
func (lx *lexer) stripText(text string, sign byte, isVar bool) string {
	if sign == '-' {
		return rstripSpace(text)
	}
	if sign == '+' || isVar {
		return text
	}
	lpos := strings.LastIndexByte(text, '\n') + 1
	if lpos > 0 || lx.lineStarting {
		rest := text[lpos:]
		if rest != "" && skipSpace(rest, 0) == len(rest) {
			return text[:lpos]
		}
	}
	return text
}

func (lx *lexer) run() error {
	s := lx.src
	for lx.pos < len(s) {
		i := findOpener(s, lx.pos)
		if i < 0 {
			lx.emit(token{kind: tkData, val: s[lx.pos:]})
			lx.line += strings.Count(s[lx.pos:], "\n")
			lx.pos = len(s)
			return nil
		}
		text := s[lx.pos:i]
		kind := s[i+1]
		j := i + 2
		var sign byte
		if j < len(s) && (s[j] == '-' || s[j] == '+') {
			sign = s[j]
		}
		if kind == '%' {
			if end := rawBegin(s, i); end >= 0 {
				if err := lx.lexRaw(text, sign, end); err != nil {
					return err
				}
				continue
			}
		}
		if sign != 0 {
			j++
		}
		if t := lx.stripText(text, sign, kind == '{'); t != "" {
			lx.emit(token{kind: tkData, val: t})
		}
		lx.line += strings.Count(text, "\n")
		lx.pos = j
		lx.lineStarting = false
		var err error
		switch kind {
		case '#':
			err = lx.lexComment()
		case '%':
			lx.emit(token{kind: tkBlockBegin})
			err = lx.lexTag(true)
		default:
			lx.emit(token{kind: tkVarBegin})
			err = lx.lexTag(false)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// lexRaw handles {% raw %}...{% endraw %}; end is the end of the raw tag.
func (lx *lexer) lexRaw(text string, sign byte, end int) error {
	s := lx.src
	if t := lx.stripText(text, sign, false); t != "" {
		lx.emit(token{kind: tkData, val: t})
	}
	lx.line += strings.Count(s[lx.pos:end], "\n")
	lx.lineStarting = strings.HasSuffix(s[:end], "\n")
	pos := end
	// find {%(-|+|)\s*endraw\s*(+%}|-%}\s*|%}\n?)
	for p := pos; ; {
		k := strings.Index(s[p:], "{%")
		if k < 0 {
			return lx.syntaxErr("Missing end of raw directive")
		}
		k += p
		q := k + 2
		var esign byte
		if q < len(s) && (s[q] == '-' || s[q] == '+') {
			esign = s[q]
			q++
		}
		q = skipSpace(s, q)
		if !strings.HasPrefix(s[q:], "endraw") {
			p = k + 2
			continue
		}
		q = skipSpace(s, q+6)
		var stop int
		switch {
		case strings.HasPrefix(s[q:], "+%}"):
			stop = q + 3
		case strings.HasPrefix(s[q:], "-%}"):
			stop = skipSpace(s, q+3)
		case strings.HasPrefix(s[q:], "%}"):
			stop = q + 2
			if stop < len(s) && s[stop] == '\n' {
				stop++
			}
		default:
			p = k + 2
			continue
		}
		body := s[pos:k]
		if t := lx.stripText(body, esign, false); t != "" {
			lx.emit(token{kind: tkData, val: t})
		}
		lx.line += strings.Count(s[pos:stop], "\n")
		lx.lineStarting = strings.HasSuffix(s[:stop], "\n")
		lx.pos = stop
		return nil
	}
}

// lexComment skips a comment up to its end tag.
func (lx *lexer) lexComment() error {
	s := lx.src
	k := strings.Index(s[lx.pos:], "#}")
	if k < 0 {
		return lx.syntaxErr("Missing end of comment tag")
	}
	k += lx.pos
	stop := k + 2
	switch {
	case k > lx.pos && s[k-1] == '-':
		stop = skipSpace(s, stop)
	case k > lx.pos && s[k-1] == '+':
	default:
		if stop < len(s) && s[stop] == '\n' {
			stop++
		}
	}
	lx.line += strings.Count(s[lx.pos:stop], "\n")
	lx.lineStarting = stop > lx.pos && s[stop-1] == '\n'
	lx.pos = stop
	return nil
}

// lexTag lexes the inside of a {% %} (block) or {{ }} tag.
func (lx *lexer) lexTag(block bool) error {
	s := lx.src
	var balance []byte
	for {
		if lx.pos >= len(s) {
			return nil // the parser reports the missing end
		}
		if len(balance) == 0 {
			if stop, ok := lx.tagEnd(block); ok {
				kind := tkVarEnd
				if block {
					kind = tkBlockEnd
				}
				lx.emit(token{kind: kind})
				lx.line += strings.Count(s[lx.pos:stop], "\n")
				lx.lineStarting = s[stop-1] == '\n'
				lx.pos = stop
				return nil
			}
		}
		start := lx.pos
		r, _ := utf8.DecodeRuneInString(s[start:])
		switch {
		case pyIsSpace(r):
			lx.pos = skipSpace(s, start)
		case r >= '0' && r <= '9':
			if err := lx.lexNumber(); err != nil {
				return err
			}
		case r == '_' || isIdentStart(r):
			end := start + utf8.RuneLen(r)
			for end < len(s) {
				c, n := utf8.DecodeRuneInString(s[end:])
				if !isIdentCont(c) {
					break
				}
				end += n
			}
			lx.emit(token{kind: tkName, val: s[start:end]})
			lx.pos = end
		case r == '\'' || r == '"':
			end := scanString(s, start)
			if end < 0 {
				return lx.syntaxErr("unexpected char " + repr(Str(string(r))) + " at " + strconv.Itoa(utf8.RuneCountInString(s[:start])))
			}
			v, err := unescapeString(s[start+1 : end-1])
			if err != nil {
				return lx.syntaxErr(err.Error())
			}
			lx.emit(token{kind: tkString, val: v})
			lx.line += strings.Count(s[start:end], "\n")
			lx.pos = end
		default:
			op := matchOperator(s[start:])
			if op == "" {
				return lx.syntaxErr("unexpected char " + repr(Str(string(r))) + " at " + strconv.Itoa(utf8.RuneCountInString(s[:start])))
			}
			switch op {
			case "(", "[", "{":
				balance = append(balance, map[string]byte{"(": ')', "[": ']', "{": '}'}[op])
			case ")", "]", "}":
				if len(balance) == 0 {
					return lx.syntaxErr("unexpected '" + op + "'")
				}
				want := balance[len(balance)-1]
				balance = balance[:len(balance)-1]
				if want != op[0] {
					return lx.syntaxErr("unexpected '" + op + "', expected '" + string(want) + "'")
				}
			}
			lx.emit(token{kind: tkOp, val: op})
			lx.pos += len(op)
		}
		lx.lineStarting = false
		if lx.pos > start && s[lx.pos-1] == '\n' {
			lx.lineStarting = true
		}
	}
}

// tagEnd matches the end of the current tag at lx.pos.
func (lx *lexer) tagEnd(block bool) (int, bool) {
	s, p := lx.src, lx.pos
	if block {
		switch {
		case strings.HasPrefix(s[p:], "+%}"):
			return p + 3, true
		case strings.HasPrefix(s[p:], "-%}"):
			return skipSpace(s, p+3), true
		case strings.HasPrefix(s[p:], "%}"):
			if p+2 < len(s) && s[p+2] == '\n' {
				return p + 3, true
			}
			return p + 2, true
		}
		return 0, false
	}
	switch {
	case strings.HasPrefix(s[p:], "-}}"):
		return skipSpace(s, p+3), true
	case strings.HasPrefix(s[p:], "}}"):
		return p + 2, true
	}
	return 0, false
}

var twoCharOps = []string{"//", "**", "==", "!=", ">=", "<="}

// matchOperator returns the operator at the start of s, or "".
func matchOperator(s string) string {
	for _, op := range twoCharOps {
		if strings.HasPrefix(s, op) {
			return op
		}
	}
	switch s[0] {
	case '+', '-', '/', '*', '%', '~', '[', ']', '(', ')', '{', '}', '>', '<', '=', '.', ':', '|', ',', ';':
		return s[:1]
	}
	return ""
}

func isIdentStart(r rune) bool {
	return r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= 0x80 && (unicode.IsLetter(r) || unicode.Is(unicode.Nl, r))
}

func isIdentCont(r rune) bool {
	return r == '_' || r >= '0' && r <= '9' || isIdentStart(r) ||
		r >= 0x80 && (unicode.In(r, unicode.Mn, unicode.Mc, unicode.Nd, unicode.Pc))
}

// scanString returns the end (after the closing quote) of the string
// literal starting at i, or -1 if it is not terminated.
func scanString(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			return j + 1
		}
	}
	return -1
}

// scanDigits matches (\d+_)*\d+ at i and returns its end, or i.
func scanDigits(s string, i int) int {
	j := i
	for j < len(s) && s[j] >= '0' && s[j] <= '9' {
		j++
	}
	if j == i {
		return i
	}
	for j+1 < len(s) && s[j] == '_' && s[j+1] >= '0' && s[j+1] <= '9' {
		j++
		for j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		}
	}
	return j
}

// lexNumber lexes a float or integer literal at lx.pos.
func (lx *lexer) lexNumber() error {
	s, p := lx.src, lx.pos
	if p == 0 || s[p-1] != '.' {
		if end, ok := matchFloat(s, p); ok {
			text := strings.ReplaceAll(s[p:end], "_", "")
			f, err := strconv.ParseFloat(text, 64)
			if err != nil && !isRangeErr(err) {
				return lx.syntaxErr("invalid float literal " + text)
			}
			lx.emit(token{kind: tkFloat, num: Float(f)})
			lx.pos = end
			return nil
		}
	}
	end, base := matchInt(s, p)
	digits := strings.ReplaceAll(s[p:end], "_", "")
	if base != 10 {
		digits = digits[2:]
	}
	bi, ok, tooLarge := parseBigDigits(digits, base)
	if tooLarge {
		return lx.syntaxErr("integer literal too large")
	}
	if !ok {
		return lx.syntaxErr("invalid integer literal")
	}
	lx.emit(token{kind: tkInt, num: NewBigInt(bi)})
	lx.pos = end
	return nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// matchFloat matches Jinja's float_re at p.
func matchFloat(s string, p int) (int, bool) {
	ip := scanDigits(s, p)
	if ip == p {
		return 0, false
	}
	exp := func(i int) int {
		if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
			j := i + 1
			if j < len(s) && (s[j] == '+' || s[j] == '-') {
				j++
			}
			if k := scanDigits(s, j); k > j {
				return k
			}
		}
		return -1
	}
	fp := -1
	if ip < len(s) && s[ip] == '.' {
		if k := scanDigits(s, ip+1); k > ip+1 {
			fp = k
		}
	}
	if fp > 0 {
		if e := exp(fp); e > 0 {
			return e, true
		}
	}
	if e := exp(ip); e > 0 {
		return e, true
	}
	if fp > 0 {
		return fp, true
	}
	return 0, false
}

// matchInt matches Jinja's integer_re at p, returning its end and base.
func matchInt(s string, p int) (int, int) {
	if s[p] == '0' && p+1 < len(s) {
		var base int
		var ok func(byte) bool
		switch s[p+1] {
		case 'b', 'B':
			base, ok = 2, func(c byte) bool { return c == '0' || c == '1' }
		case 'o', 'O':
			base, ok = 8, func(c byte) bool { return c >= '0' && c <= '7' }
		case 'x', 'X':
			base, ok = 16, func(c byte) bool {
				return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
			}
		}
		if base != 0 {
			j := p + 2
			for {
				if j < len(s) && ok(s[j]) {
					j++
				} else if j+1 < len(s) && s[j] == '_' && ok(s[j+1]) {
					j += 2
				} else {
					break
				}
			}
			if j > p+2 {
				return j, base
			}
		}
	}
	if s[p] == '0' {
		j := p + 1
		for {
			if j < len(s) && s[j] == '0' {
				j++
			} else if j+1 < len(s) && s[j] == '_' && s[j+1] == '0' {
				j += 2
			} else {
				break
			}
		}
		return j, 10
	}
	j := p + 1
	for {
		if j < len(s) && s[j] >= '0' && s[j] <= '9' {
			j++
		} else if j+1 < len(s) && s[j] == '_' && s[j+1] >= '0' && s[j+1] <= '9' {
			j += 2
		} else {
			break
		}
	}
	return j, 10
}

// unescapeString decodes a string literal body the way Jinja does:
// backslashreplace to ASCII, then Python's unicode-escape codec.
func unescapeString(s string) (string, error) {
	if strings.IndexByte(s, '\\') < 0 {
		return s, nil
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		c := s[i]
		if c != '\\' {
			r, n := utf8.DecodeRuneInString(s[i:])
			b.WriteRune(r)
			i += n
			continue
		}
		if i+1 >= len(s) {
			return "", errString(`\ at end of string`)
		}
		n := s[i+1]
		i += 2
		switch n {
		case '\n':
		case '\\', '\'', '"':
			b.WriteByte(n)
		case 'a':
			b.WriteByte(7)
		case 'b':
			b.WriteByte(8)
		case 'f':
			b.WriteByte(12)
		case 'n':
			b.WriteByte('\n')
		case 'r':
			b.WriteByte('\r')
		case 't':
			b.WriteByte('\t')
		case 'v':
			b.WriteByte(11)
		case '0', '1', '2', '3', '4', '5', '6', '7':
			v := int(n - '0')
			for k := 0; k < 2 && i < len(s) && s[i] >= '0' && s[i] <= '7'; k++ {
				v = v*8 + int(s[i]-'0')
				i++
			}
			b.WriteRune(rune(v))
		case 'x', 'u', 'U':
			width := map[byte]int{'x': 2, 'u': 4, 'U': 8}[n]
			if i+width > len(s) {
				return "", errString(`truncated \` + map[byte]string{'x': "xXX", 'u': "uXXXX", 'U': "UXXXXXXXX"}[n] + ` escape`)
			}
			v, err := strconv.ParseUint(s[i:i+width], 16, 32)
			if err != nil || strings.ContainsAny(s[i:i+width], "+-") {
				return "", errString(`truncated \` + map[byte]string{'x': "xXX", 'u': "uXXXX", 'U': "UXXXXXXXX"}[n] + ` escape`)
			}
			if v > unicode.MaxRune {
				return "", errString("illegal Unicode character")
			}
			b.WriteRune(rune(v))
			i += width
		case 'N':
			return "", errString(`\N{...} escapes are not supported`)
		default:
			b.WriteByte('\\')
			if n < 0x80 {
				b.WriteByte(n)
			} else {
				// A backslash before a non-ASCII character escapes the
				// backslash that backslashreplace put in front of it.
				r, size := utf8.DecodeRuneInString(s[i-1:])
				i += size - 1
				switch {
				case r <= 0xff:
					b.WriteString("x" + hex(int(r), 2))
				case r <= 0xffff:
					b.WriteString("u" + hex(int(r), 4))
				default:
					b.WriteString("U" + hex(int(r), 8))
				}
			}
		}
	}
	return b.String(), nil
}

func hex(v, width int) string {
	h := strconv.FormatInt(int64(v), 16)
	for len(h) < width {
		h = "0" + h
	}
	return h
}

type errString string

// Error returns the message.
func (e errString) Error() string { return string(e) }
