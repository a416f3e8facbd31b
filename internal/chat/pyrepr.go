package chat

import (
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// str is Python's str(v), the way {{ v }} prints. Structures nested
// deeper than maxReprDepth are cut short; r.str reports that as an error.
func str(v Value) string {
	s, _ := strErr(v)
	return s
}

// strErr is str(v) that fails (like Python's RecursionError) on structures
// nested too deeply to print.
func strErr(v Value) (string, error) {
	switch x := v.(type) {
	case Str:
		return string(x), nil
	case Markup:
		return string(x), nil
	case *Undefined:
		return "", nil
	}
	var b strings.Builder
	st := reprState{}
	st.write(&b, v, false)
	return b.String(), st.err
}

// repr is Python's repr(v).
func repr(v Value) string {
	var b strings.Builder
	st := reprState{}
	st.write(&b, v, true)
	return b.String()
}

// maxReprDepth is how deep str()/repr() descend into nested containers
// (Python raises RecursionError near its recursion limit).
const maxReprDepth = 900

// reprState tracks one str()/repr() call: depth, namespaces being printed
// (a namespace can contain itself; Python prints {...}) and the first
// error.
type reprState struct {
	depth     int
	active    []any // containers being printed: *Dict or *Value (first element)
	sortDicts bool
	err       error
}

// maxReprLen bounds the text one str()/repr() builds: past it the text is
// cut short (and every consumer then fails on the output limit), so
// printing a huge or exponentially shared structure cannot hang.
const maxReprLen = 64 << 20

// write writes repr(v) (isRepr) or str(v).
func (st *reprState) write(b *strings.Builder, v Value, isRepr bool) {
	if b.Len() > maxReprLen || st.err != nil {
		return
	}
	st.depth++
	defer func() { st.depth-- }()
	if st.depth > maxReprDepth {
		st.err = newErr("RecursionError", "maximum recursion depth exceeded while getting the repr of an object")
		return
	}
	switch x := v.(type) {
	case nil:
		b.WriteString("None")
	case NoneType:
		b.WriteString("None")
	case Bool:
		if x {
			b.WriteString("True")
		} else {
			b.WriteString("False")
		}
	case Int:
		b.WriteString(strconv.FormatInt(int64(x), 10))
	case *BigInt:
		b.WriteString(x.v.String())
	case Float:
		b.WriteString(floatRepr(float64(x)))
	case Str:
		if isRepr {
			writeStrRepr(b, string(x))
		} else {
			b.WriteString(string(x))
		}
	case Markup:
		if isRepr {
			b.WriteString("Markup(")
			writeStrRepr(b, string(x))
			b.WriteString(")")
		} else {
			b.WriteString(string(x))
		}
	case List:
		if len(x) > 0 {
			if !st.enter(&x[0]) {
				b.WriteString("[...]")
				return
			}
			defer st.leave()
		}
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			st.write(b, e, true)
		}
		b.WriteByte(']')
	case Tuple:
		if len(x) > 0 {
			if !st.enter(&x[0]) {
				b.WriteString("(...)")
				return
			}
			defer st.leave()
		}
		b.WriteByte('(')
		for i, e := range x {
			if i > 0 {
				b.WriteString(", ")
			}
			st.write(b, e, true)
		}
		if len(x) == 1 {
			b.WriteByte(',')
		}
		b.WriteByte(')')
	case *Dict:
		st.writeDict(b, x)
	case *Undefined:
		if isRepr {
			b.WriteString("Undefined")
		}
	case *Namespace:
		b.WriteString("<Namespace ")
		st.writeDict(b, x.attrs)
		b.WriteString(">")
	case *dictView:
		b.WriteString(x.pyType())
		b.WriteByte('(')
		st.write(b, List(x.items()), true)
		b.WriteByte(')')
	case sliceObj:
		b.WriteString("slice(")
		st.write(b, x.start, true)
		b.WriteString(", ")
		st.write(b, x.stop, true)
		b.WriteString(", ")
		st.write(b, x.step, true)
		b.WriteString(")")
	case rangeValue:
		if x.step == 1 {
			fmt.Fprintf(b, "range(%d, %d)", x.start, x.stop)
		} else {
			fmt.Fprintf(b, "range(%d, %d, %d)", x.start, x.stop, x.step)
		}
	default:
		b.WriteString(objectRepr(v))
	}
}

// enter marks a container as being printed; it returns false (and the
// caller prints "..." like Python) when the container is already being
// printed further up.
func (st *reprState) enter(id any) bool {
	for _, a := range st.active {
		if a == id {
			return false
		}
	}
	st.active = append(st.active, id)
	return true
}

func (st *reprState) leave() { st.active = st.active[:len(st.active)-1] }

func (st *reprState) writeDict(b *strings.Builder, d *Dict) {
	if !st.enter(d) {
		b.WriteString("{...}")
		return
	}
	defer st.leave()
	order := make([]int, len(d.keys))
	for i := range order {
		order[i] = i
	}
	if st.sortDicts {
		sort.SliceStable(order, func(i, j int) bool {
			c, err := order2(d.keys[order[i]], d.keys[order[j]])
			return err == nil && c < 0
		})
	}
	b.WriteByte('{')
	for n, i := range order {
		if n > 0 {
			b.WriteString(", ")
		}
		st.write(b, d.keys[i], true)
		b.WriteString(": ")
		st.write(b, d.vals[i], true)
	}
	b.WriteByte('}')
}

// pformat approximates pprint.pformat: repr with dict keys sorted (without
// pprint's line wrapping at 80 columns).
func pformat(v Value) string {
	var b strings.Builder
	st := reprState{sortDicts: true}
	st.write(&b, v, true)
	return b.String()
}

// objectRepr is the repr of engine objects that have no literal form.
func objectRepr(v Value) string {
	switch x := v.(type) {
	case *Macro:
		if x.name == "" {
			return "<Macro anonymous>"
		}
		return "<Macro " + repr(Str(x.name)) + ">"
	case *loopContext:
		n, _ := x.length()
		return fmt.Sprintf("<LoopContext %d/%d>", x.index0+1, n)
	case *generator:
		if x.iterName != "" {
			return "<" + x.iterName + " object at 0x7f0000000000>"
		}
		return "<generator object " + x.name + " at 0x7f0000000000>"
	case *cycler:
		return "<jinja2.utils.Cycler object at 0x7f0000000000>"
	case *builtinFunc:
		if x.self != nil {
			return "<built-in method " + x.name + " of " + x.self.pyType() + " object at 0x7f0000000000>"
		}
		return "<function " + x.name + " at 0x7f0000000000>"
	}
	return "<" + v.pyType() + " object at 0x7f0000000000>"
}

// identity returns a string identifying the object v for `is` and hashing.
func identity(v Value) string {
	switch x := v.(type) {
	case List:
		if len(x) == 0 {
			return "[]"
		}
		return fmt.Sprintf("L%p/%d", &x[0], len(x))
	case Tuple:
		if len(x) == 0 {
			return "()"
		}
		return fmt.Sprintf("T%p/%d", &x[0], len(x))
	}
	return fmt.Sprintf("%p", v)
}

// floatRepr is Python's repr(float): the shortest round-tripping digits,
// fixed notation for exponents in [-4, 16), scientific otherwise.
func floatRepr(f float64) string {
	switch {
	case math.IsInf(f, 1):
		return "inf"
	case math.IsInf(f, -1):
		return "-inf"
	case math.IsNaN(f):
		return "nan"
	}
	s := strconv.FormatFloat(f, 'e', -1, 64) // -d.ddde±XX
	neg := false
	if s[0] == '-' {
		neg = true
		s = s[1:]
	}
	ePos := strings.IndexByte(s, 'e')
	mant, expS := s[:ePos], s[ePos+1:]
	exp, _ := strconv.Atoi(expS)
	digits := strings.Replace(mant, ".", "", 1)
	var out string
	if exp >= -4 && exp < 16 {
		if exp >= 0 {
			if len(digits) <= exp+1 {
				out = digits + strings.Repeat("0", exp+1-len(digits)) + ".0"
			} else {
				out = digits[:exp+1] + "." + digits[exp+1:]
			}
		} else {
			out = "0." + strings.Repeat("0", -exp-1) + digits
		}
	} else {
		out = digits[:1]
		if len(digits) > 1 {
			out += "." + digits[1:]
		}
		sign := "+"
		if exp < 0 {
			sign = "-"
			exp = -exp
		}
		es := strconv.Itoa(exp)
		if len(es) < 2 {
			es = "0" + es
		}
		out += "e" + sign + es
	}
	if neg {
		return "-" + out
	}
	return out
}

// writeStrRepr writes Python's repr of a str.
func writeStrRepr(b *strings.Builder, s string) {
	quote := byte('\'')
	if strings.IndexByte(s, '\'') >= 0 && strings.IndexByte(s, '"') < 0 {
		quote = '"'
	}
	b.WriteByte(quote)
	for _, r := range s {
		switch {
		case r == rune(quote) || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(b, `\x%02x`, r)
		case r < 0x7f:
			b.WriteRune(r)
		case isPrintable(r):
			b.WriteRune(r)
		case r <= 0xff:
			fmt.Fprintf(b, `\x%02x`, r)
		case r <= 0xffff:
			fmt.Fprintf(b, `\u%04x`, r)
		default:
			fmt.Fprintf(b, `\U%08x`, r)
		}
	}
	b.WriteByte(quote)
}

// isPrintable is Python's str.isprintable for one code point.
func isPrintable(r rune) bool {
	if r == ' ' {
		return true
	}
	if r == 0xfffd {
		return true
	}
	return unicode.IsPrint(r)
}
