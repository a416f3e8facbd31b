package constrain

// jsonMode is where a JSON reader is.
type jsonMode uint8

const (
	jStart     jsonMode = iota // before the top-level value, which must be an object
	jValue                     // a value is expected (after ':' or ',' in an array)
	jObjFirst                  // after '{': a key or '}'
	jObjKey                    // after ',' in an object: a key
	jColon                     // after a key: ':'
	jAfter                     // after a value in a container: ',' or the closer
	jArrFirst                  // after '[': a value or ']'
	jString                    // inside a string
	jEscape                    // after a backslash in a string
	jUnicode                   // inside \uXXXX
	jMinus                     // after a leading '-'
	jZero                      // after a leading 0
	jInt                       // in the integer digits
	jDot                       // after '.'
	jFrac                      // in the fraction digits
	jExp                       // after 'e' or 'E'
	jExpSign                   // after the exponent's sign
	jExpDigits                 // in the exponent digits
	jLiteral                   // inside true, false or null
	jDone                      // the top-level object is closed
)

const (
	// maxDepth bounds nesting, so the container stack fits a uint64.
	maxDepth = 32
	// maxWhitespace bounds a run of whitespace, so a model cannot pad
	// forever (pretty-printed JSON needs a newline and an indent).
	maxWhitespace = 16
)

var literals = [3]string{"true", "false", "null"}

// jsonState reads one JSON object a byte at a time and says whether each
// byte can continue a valid document (RFC 8259). It is a plain value:
// copying it forks the reader, which is how a token is tried.
type jsonState struct {
	mode  jsonMode
	depth uint8
	stack uint64 // bit d: the container at depth d+1 is an object
	key   bool   // the string being read is an object key
	hex   uint8  // hex digits left in \uXXXX
	lit   uint8  // index into literals
	off   uint8  // bytes of the literal read
	ws    uint8  // whitespace bytes in a row
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func (s *jsonState) inObject() bool { return s.stack>>(s.depth-1)&1 == 1 }

func (s *jsonState) push(object bool) bool {
	if s.depth >= maxDepth {
		return false
	}
	if object {
		s.stack |= 1 << s.depth
		s.mode = jObjFirst
	} else {
		s.stack &^= 1 << s.depth
		s.mode = jArrFirst
	}
	s.depth++
	return true
}

// valueEnd is called when a value is complete.
func (s *jsonState) valueEnd() {
	if s.depth == 0 {
		s.mode = jDone
	} else {
		s.mode = jAfter
	}
}

func (s *jsonState) pop() {
	s.depth--
	s.valueEnd()
}

func (s *jsonState) startValue(c byte) bool {
	switch {
	case c == '{':
		return s.push(true)
	case c == '[':
		return s.push(false)
	case c == '"':
		s.mode, s.key = jString, false
	case c == '-':
		s.mode = jMinus
	case c == '0':
		s.mode = jZero
	case c >= '1' && c <= '9':
		s.mode = jInt
	case c == 't':
		s.mode, s.lit, s.off = jLiteral, 0, 1
	case c == 'f':
		s.mode, s.lit, s.off = jLiteral, 1, 1
	case c == 'n':
		s.mode, s.lit, s.off = jLiteral, 2, 1
	default:
		return false
	}
	return true
}

// number advances a number by c; it reports false when c cannot continue
// the number (the caller then ends the number if it is complete).
func (s *jsonState) number(c byte) bool {
	digit := c >= '0' && c <= '9'
	switch s.mode {
	case jMinus:
		switch {
		case c == '0':
			s.mode = jZero
		case digit:
			s.mode = jInt
		default:
			return false
		}
	case jZero, jInt:
		switch {
		case digit && s.mode == jInt:
		case c == '.':
			s.mode = jDot
		case c == 'e' || c == 'E':
			s.mode = jExp
		default:
			return false
		}
	case jDot:
		if !digit {
			return false
		}
		s.mode = jFrac
	case jFrac:
		switch {
		case digit:
		case c == 'e' || c == 'E':
			s.mode = jExp
		default:
			return false
		}
	case jExp:
		switch {
		case c == '+' || c == '-':
			s.mode = jExpSign
		case digit:
			s.mode = jExpDigits
		default:
			return false
		}
	case jExpSign, jExpDigits:
		if !digit {
			return false
		}
		s.mode = jExpDigits
	}
	return true
}

// feed advances the reader by c and reports whether c can continue a valid
// object; on false the state is unspecified.
func (s *jsonState) feed(c byte) bool {
	switch s.mode {
	case jString:
		switch {
		case c == '"':
			if s.key {
				s.mode = jColon
			} else {
				s.valueEnd()
			}
		case c == '\\':
			s.mode = jEscape
		case c < 0x20:
			return false
		}
		return true
	case jEscape:
		switch c {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			s.mode = jString
		case 'u':
			s.mode, s.hex = jUnicode, 4
		default:
			return false
		}
		return true
	case jUnicode:
		if !isHex(c) {
			return false
		}
		if s.hex--; s.hex == 0 {
			s.mode = jString
		}
		return true
	case jLiteral:
		lit := literals[s.lit]
		if c != lit[s.off] {
			return false
		}
		if s.off++; int(s.off) == len(lit) {
			s.valueEnd()
		}
		return true
	case jMinus, jZero, jInt, jDot, jFrac, jExp, jExpSign, jExpDigits:
		if s.number(c) {
			return true
		}
		switch s.mode {
		case jZero, jInt, jFrac, jExpDigits:
			s.valueEnd()
			return s.feed(c)
		}
		return false
	}
	if isWS(c) {
		if s.mode == jDone || s.ws >= maxWhitespace {
			return false
		}
		s.ws++
		return true
	}
	s.ws = 0
	switch s.mode {
	case jStart:
		return c == '{' && s.push(true)
	case jValue:
		return s.startValue(c)
	case jArrFirst:
		if c == ']' {
			s.pop()
			return true
		}
		return s.startValue(c)
	case jObjFirst, jObjKey:
		switch {
		case c == '"':
			s.mode, s.key = jString, true
		case c == '}' && s.mode == jObjFirst:
			s.pop()
		default:
			return false
		}
		return true
	case jColon:
		if c != ':' {
			return false
		}
		s.mode = jValue
		return true
	case jAfter:
		obj := s.inObject()
		switch {
		case c == ',' && obj:
			s.mode = jObjKey
		case c == ',':
			s.mode = jValue
		case c == '}' && obj, c == ']' && !obj:
			s.pop()
		default:
			return false
		}
		return true
	}
	return false // jDone: nothing may follow
}
