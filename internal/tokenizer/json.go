package tokenizer

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// jsonParser is a small JSON reader for tokenizer.json. Generic values
// decode to map[string]any, []any, string, int64, float64, bool and nil;
// the large vocabulary and merges are read by callbacks straight from the
// input, without building a tree. Nesting is limited, so no input can
// exhaust the stack.
type jsonParser struct {
	data  []byte
	pos   int
	name  string // file name, for errors
	depth int
	sbuf  []byte // scratch for unescaped strings
}

const jsonMaxDepth = 128

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: byte %d: %s", p.name, p.pos, fmt.Sprintf(format, args...))
}

func (p *jsonParser) ws() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// peek returns the next non-space byte (0 at the end).
func (p *jsonParser) peek() byte {
	p.ws()
	if p.pos >= len(p.data) {
		return 0
	}
	return p.data[p.pos]
}

func (p *jsonParser) expect(c byte) error {
	if p.peek() != c {
		if p.pos >= len(p.data) {
			return p.errorf("unexpected end of JSON, want %q", c)
		}
		return p.errorf("found %q, want %q", p.data[p.pos], c)
	}
	p.pos++
	return nil
}

// str reads a string. The result aliases the input or the parser's scratch
// buffer and is valid until the next call.
func (p *jsonParser) str() ([]byte, error) {
	if err := p.expect('"'); err != nil {
		return nil, err
	}
	start := p.pos
	for i := p.pos; i < len(p.data); i++ {
		switch c := p.data[i]; {
		case c == '"':
			p.pos = i + 1
			return p.data[start:i], nil
		case c == '\\':
			return p.strSlow(start)
		case c < 0x20:
			p.pos = i
			return nil, p.errorf("control character in string")
		}
	}
	p.pos = len(p.data)
	return nil, p.errorf("unterminated string")
}

func (p *jsonParser) strSlow(start int) ([]byte, error) {
	b := p.sbuf[:0]
	i := start
	for i < len(p.data) {
		c := p.data[i]
		switch {
		case c == '"':
			p.pos = i + 1
			p.sbuf = b
			return b, nil
		case c < 0x20:
			p.pos = i
			return nil, p.errorf("control character in string")
		case c != '\\':
			b = append(b, c)
			i++
			continue
		}
		if i+1 >= len(p.data) {
			break
		}
		e := p.data[i+1]
		i += 2
		switch e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			r, ok := p.hex4(i)
			if !ok {
				p.pos = i
				return nil, p.errorf("bad \\u escape")
			}
			i += 4
			if utf16.IsSurrogate(r) {
				if r2, ok := p.hex4(i + 2); ok && i+1 < len(p.data) && p.data[i] == '\\' && p.data[i+1] == 'u' {
					if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
						r = d
						i += 6
					} else {
						r = utf8.RuneError
					}
				} else {
					r = utf8.RuneError
				}
			}
			b = utf8.AppendRune(b, r)
		default:
			p.pos = i - 1
			return nil, p.errorf("bad escape \\%c", e)
		}
	}
	p.pos = len(p.data)
	return nil, p.errorf("unterminated string")
}

func (p *jsonParser) hex4(i int) (rune, bool) {
	if i+4 > len(p.data) {
		return 0, false
	}
	var r rune
	for _, c := range p.data[i : i+4] {
		v, ok := hexVal(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	return r, true
}

// number reads a number: int64 if it is an integer that fits, else
// float64.
func (p *jsonParser) number() (any, error) {
	p.ws()
	start := p.pos
	isInt := true
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		if c >= '0' && c <= '9' || c == '-' || c == '+' {
			p.pos++
			continue
		}
		if c == '.' || c == 'e' || c == 'E' {
			isInt = false
			p.pos++
			continue
		}
		break
	}
	s := string(p.data[start:p.pos])
	if isInt {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			return v, nil
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		p.pos = start
		return nil, p.errorf("bad number %q", s)
	}
	return f, nil
}

// int reads an integer number.
func (p *jsonParser) int() (int64, error) {
	v, err := p.number()
	if err != nil {
		return 0, err
	}
	switch x := v.(type) {
	case int64:
		return x, nil
	case float64:
		if x == float64(int64(x)) {
			return int64(x), nil
		}
	}
	return 0, p.errorf("want an integer, found %v", v)
}

func (p *jsonParser) literal(word string, v any) (any, error) {
	if p.pos+len(word) > len(p.data) || string(p.data[p.pos:p.pos+len(word)]) != word {
		return nil, p.errorf("invalid JSON value")
	}
	p.pos += len(word)
	return v, nil
}

// object calls fn for every key of an object; fn must read the value.
func (p *jsonParser) object(fn func(key string) error) error {
	if err := p.expect('{'); err != nil {
		return err
	}
	if p.depth++; p.depth > jsonMaxDepth {
		return p.errorf("JSON nested deeper than %d", jsonMaxDepth)
	}
	defer func() { p.depth-- }()
	if p.peek() == '}' {
		p.pos++
		return nil
	}
	for {
		k, err := p.str()
		if err != nil {
			return err
		}
		key := string(k)
		if err := p.expect(':'); err != nil {
			return err
		}
		if err := fn(key); err != nil {
			return err
		}
		switch p.peek() {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return nil
		default:
			return p.errorf("want ',' or '}' in object")
		}
	}
}

// array calls fn for every element of an array; fn must read the element.
func (p *jsonParser) array(fn func(i int) error) error {
	if err := p.expect('['); err != nil {
		return err
	}
	if p.depth++; p.depth > jsonMaxDepth {
		return p.errorf("JSON nested deeper than %d", jsonMaxDepth)
	}
	defer func() { p.depth-- }()
	if p.peek() == ']' {
		p.pos++
		return nil
	}
	for i := 0; ; i++ {
		if err := fn(i); err != nil {
			return err
		}
		switch p.peek() {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return nil
		default:
			return p.errorf("want ',' or ']' in array")
		}
	}
}

// value reads any JSON value as a generic Go value.
func (p *jsonParser) value() (any, error) {
	switch c := p.peek(); {
	case c == '{':
		m := map[string]any{}
		err := p.object(func(k string) error {
			v, err := p.value()
			m[k] = v
			return err
		})
		return m, err
	case c == '[':
		var a []any
		err := p.array(func(int) error {
			v, err := p.value()
			a = append(a, v)
			return err
		})
		return a, err
	case c == '"':
		s, err := p.str()
		return string(s), err
	case c == 't':
		return p.literal("true", true)
	case c == 'f':
		return p.literal("false", false)
	case c == 'n':
		return p.literal("null", nil)
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case c == 0:
		return nil, p.errorf("unexpected end of JSON")
	default:
		return nil, p.errorf("unexpected %q", c)
	}
}

// end checks that only white space follows.
func (p *jsonParser) end() error {
	if p.peek() != 0 {
		return p.errorf("trailing data after JSON value")
	}
	return nil
}
