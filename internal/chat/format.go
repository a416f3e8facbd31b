package chat

import (
	"math"
	"math/big"
	"strconv"
	"strings"
	"unicode/utf8"
)

// percentFormat is Python's printf-style str % args.
func (r *renderer) percentFormat(f string, arg Value, markup bool) (Value, error) {
	var args []Value
	var mapping *Dict
	switch a := arg.(type) {
	case Tuple:
		args = a
	case *Dict:
		mapping = a
		args = []Value{a}
	default:
		args = []Value{a}
	}
	esc := func(v Value) Value {
		if markup {
			if _, ok := v.(Markup); !ok {
				if _, isNum := asNumOK(v); !isNum {
					return escapeValue(v)
				}
			}
		}
		return v
	}
	var b strings.Builder
	ai := 0
	next := func() (Value, error) {
		if ai >= len(args) {
			return nil, typeErr("not enough arguments for format string")
		}
		v := args[ai]
		ai++
		return v, nil
	}
	usedMapping := false
	for i := 0; i < len(f); {
		c := f[i]
		if c != '%' {
			j := strings.IndexByte(f[i:], '%')
			if j < 0 {
				j = len(f) - i
			}
			b.WriteString(f[i : i+j])
			i += j
			continue
		}
		i++
		if i >= len(f) {
			return nil, newErr(errValue, "incomplete format")
		}
		var val Value
		haveVal := false
		if f[i] == '(' {
			if mapping == nil {
				return nil, typeErr("format requires a mapping")
			}
			depth, j := 1, i+1
			for j < len(f) && depth > 0 {
				if f[j] == '(' {
					depth++
				} else if f[j] == ')' {
					depth--
				}
				j++
			}
			if depth > 0 {
				return nil, newErr(errValue, "incomplete format key")
			}
			key := f[i+1 : j-1]
			v, ok := mapping.GetStr(key)
			if !ok {
				return nil, newErr(errKey, "%s", repr(Str(key)))
			}
			val, haveVal, usedMapping = v, true, true
			i = j
		}
		var sp fmtSpec
		sp.align = '>'
		for i < len(f) && strings.IndexByte("-+ #0", f[i]) >= 0 {
			switch f[i] {
			case '-':
				sp.align = '<'
			case '+':
				sp.sign = '+'
			case ' ':
				if sp.sign != '+' {
					sp.sign = ' '
				}
			case '#':
				sp.alt = true
			case '0':
				sp.zero = true
			}
			i++
		}
		if i < len(f) && f[i] == '*' {
			v, err := next()
			if err != nil {
				return nil, err
			}
			w, err := toInt(v, "width")
			if err != nil {
				return nil, err
			}
			if w < 0 {
				sp.align, w = '<', -w
			}
			if w > 1<<20 {
				return nil, newErr(errLimit, "format width too large")
			}
			sp.width = w
			i++
		} else {
			for i < len(f) && f[i] >= '0' && f[i] <= '9' {
				sp.width = sp.width*10 + int(f[i]-'0')
				if sp.width > 1<<20 {
					return nil, newErr(errLimit, "format width too large")
				}
				i++
			}
		}
		sp.prec = -1
		if i < len(f) && f[i] == '.' {
			i++
			sp.prec = 0
			if i < len(f) && f[i] == '*' {
				v, err := next()
				if err != nil {
					return nil, err
				}
				p, err := toInt(v, "precision")
				if err != nil {
					return nil, err
				}
				if p > 1<<16 {
					return nil, newErr(errLimit, "format precision too large")
				}
				if p < 0 {
					p = 0
				}
				sp.prec = p
				i++
			} else {
				for i < len(f) && f[i] >= '0' && f[i] <= '9' {
					sp.prec = sp.prec*10 + int(f[i]-'0')
					if sp.prec > 1<<16 {
						return nil, newErr(errLimit, "format precision too large")
					}
					i++
				}
			}
		}
		for i < len(f) && (f[i] == 'h' || f[i] == 'l' || f[i] == 'L') {
			i++
		}
		if i >= len(f) {
			return nil, newErr(errValue, "incomplete format")
		}
		conv := f[i]
		i++
		if conv == '%' {
			b.WriteByte('%')
			continue
		}
		if !haveVal {
			v, err := next()
			if err != nil {
				return nil, err
			}
			val = v
		}
		if sp.zero && sp.align != '<' {
			sp.align = '='
			sp.fill = '0'
		}
		var s string
		var err error
		switch conv {
		case 's':
			s = str(esc(val))
			if sp.prec >= 0 {
				s = truncRunes(s, sp.prec)
			}
			sp.align = alignOr(sp.align, '>')
			s = applyWidth(s, sp, false)
		case 'r', 'a':
			s = repr(val)
			if markup {
				s = escapeString(s)
			}
			if sp.prec >= 0 {
				s = truncRunes(s, sp.prec)
			}
			s = applyWidth(s, sp, false)
		case 'c':
			if cs, ok := isString(val); ok && runeLen(cs) == 1 {
				s = cs
			} else if n := asNum(val); n.k == kInt && n.i >= 0 && n.i <= 0x10ffff {
				s = string(rune(n.i))
			} else {
				return nil, typeErr("%%c requires int or char")
			}
			s = applyWidth(s, sp, false)
		case 'd', 'i', 'u', 'x', 'X', 'o', 'e', 'E', 'f', 'F', 'g', 'G':
			if _, ok := asNumOK(val); !ok {
				if conv == 'd' || conv == 'i' || conv == 'u' || conv == 'e' || conv == 'E' || conv == 'f' || conv == 'F' || conv == 'g' || conv == 'G' {
					return nil, typeErr("%%%c format: a real number is required, not %s", conv, val.pyType())
				}
				return nil, typeErr("%%%c format: an integer is required, not %s", conv, val.pyType())
			}
			t := conv
			if t == 'i' || t == 'u' {
				t = 'd'
			}
			if (t == 'x' || t == 'X' || t == 'o') && asNum(val).k == kFloat {
				return nil, typeErr("%%%c format: an integer is required, not float", conv)
			}
			sp.typ = t
			if t == 'd' && asNum(val).k == kFloat {
				f := asNum(val).f
				if math.IsInf(f, 0) || math.IsNaN(f) {
					return nil, newErr(errOverflow, "cannot convert float infinity to integer")
				}
				bi, _ := floatToBig(math.Trunc(f))
				val = NewBigInt(bi)
			}
			if t == 'd' || t == 'x' || t == 'X' || t == 'o' {
				p := sp.prec
				sp.prec = -1
				s, err = formatNumber(val, sp, p)
			} else {
				if sp.prec < 0 {
					sp.prec = 6
				}
				s, err = formatNumber(val, sp, -1)
			}
			if err != nil {
				return nil, err
			}
		default:
			return nil, newErr(errValue, "unsupported format character %s (0x%x) at index %d", repr(Str(string(conv))), conv, i-1)
		}
		b.WriteString(s)
		if err := r.checkLen(b.Len()); err != nil {
			return nil, err
		}
	}
	subscriptable := false
	switch arg.(type) {
	case List, *Dict, rangeValue, *Undefined:
		subscriptable = true // PyMapping_Check: no "not all converted" check
	}
	if ai < len(args) && !usedMapping && mapping == nil && !subscriptable {
		return nil, typeErr("not all arguments converted during string formatting")
	}
	if markup {
		return Markup(b.String()), nil
	}
	return Str(b.String()), nil
}

func alignOr(a, d byte) byte {
	if a == 0 {
		return d
	}
	return a
}

func truncRunes(s string, n int) string {
	if n >= runeLen(s) {
		return s
	}
	return string([]rune(s)[:n])
}

// fmtSpec is a parsed format specification.
type fmtSpec struct {
	fill     rune
	align    byte // '<', '>', '^', '=' or 0
	sign     byte // '+', '-', ' ' or 0
	alt      bool
	zero     bool
	width    int
	grouping byte // ',' or '_' or 0
	prec     int  // -1 if absent
	typ      byte // 0 if absent
}

// parseSpec parses Python's format-spec mini-language.
func parseSpec(s string) (fmtSpec, error) {
	sp := fmtSpec{prec: -1}
	rs := []rune(s)
	i := 0
	isAlign := func(r rune) bool { return r == '<' || r == '>' || r == '^' || r == '=' }
	if len(rs) >= 2 && isAlign(rs[1]) {
		sp.fill, sp.align = rs[0], byte(rs[1])
		i = 2
	} else if len(rs) >= 1 && isAlign(rs[0]) {
		sp.align = byte(rs[0])
		i = 1
	}
	if i < len(rs) && (rs[i] == '+' || rs[i] == '-' || rs[i] == ' ') {
		sp.sign = byte(rs[i])
		i++
	}
	if i < len(rs) && rs[i] == 'z' {
		i++
	}
	if i < len(rs) && rs[i] == '#' {
		sp.alt = true
		i++
	}
	if i < len(rs) && rs[i] == '0' {
		sp.zero = true
		i++
	}
	for i < len(rs) && rs[i] >= '0' && rs[i] <= '9' {
		sp.width = sp.width*10 + int(rs[i]-'0')
		if sp.width > 1<<20 {
			return sp, newErr(errLimit, "format width too large")
		}
		i++
	}
	if i < len(rs) && (rs[i] == ',' || rs[i] == '_') {
		sp.grouping = byte(rs[i])
		i++
	}
	if i < len(rs) && rs[i] == '.' {
		i++
		if i >= len(rs) || rs[i] < '0' || rs[i] > '9' {
			return sp, newErr(errValue, "Format specifier missing precision")
		}
		sp.prec = 0
		for i < len(rs) && rs[i] >= '0' && rs[i] <= '9' {
			sp.prec = sp.prec*10 + int(rs[i]-'0')
			if sp.prec > 1<<16 {
				return sp, newErr(errLimit, "format precision too large")
			}
			i++
		}
	}
	if i < len(rs) {
		sp.typ = byte(rs[i])
		i++
	}
	if i < len(rs) {
		return sp, newErr(errValue, "Invalid format specifier")
	}
	if sp.zero && sp.align == 0 {
		sp.fill, sp.align = '0', '='
	}
	return sp, nil
}

// applyWidth pads s to the spec's width; numeric selects right alignment
// by default.
func applyWidth(s string, sp fmtSpec, numeric bool) string {
	n := utf8.RuneCountInString(s)
	if sp.width <= n {
		return s
	}
	fill := sp.fill
	if fill == 0 {
		fill = ' '
	}
	align := sp.align
	if align == 0 {
		if numeric {
			align = '>'
		} else {
			align = '<'
		}
	}
	padn := sp.width - n
	f := string(fill)
	switch align {
	case '<':
		return s + strings.Repeat(f, padn)
	case '^':
		return strings.Repeat(f, padn/2) + s + strings.Repeat(f, padn-padn/2)
	case '=':
		if s != "" && (s[0] == '-' || s[0] == '+' || s[0] == ' ') {
			return s[:1] + strings.Repeat(f, padn) + s[1:]
		}
		if len(s) > 1 && s[0] == '0' && strings.IndexByte("xXob", s[1]) >= 0 {
			return s[:2] + strings.Repeat(f, padn) + s[2:]
		}
	}
	return strings.Repeat(f, padn) + s
}

// formatValue is Python's format(v, spec) for the built-in types.
func formatValue(v Value, spec string) (string, error) {
	if spec == "" {
		return str(v), nil
	}
	sp, err := parseSpec(spec)
	if err != nil {
		return "", err
	}
	if _, ok := asNumOK(v); ok {
		if _, isBool := v.(Bool); isBool && sp.typ == 0 {
			return applyWidth(str(v), sp, false), nil
		}
		return formatNumber(v, sp, -1)
	}
	if s, ok := isString(v); ok {
		if sp.typ != 0 && sp.typ != 's' {
			return "", newErr(errValue, "Unknown format code '%c' for object of type 'str'", sp.typ)
		}
		if sp.sign != 0 {
			return "", newErr(errValue, "Sign not allowed in string format specifier")
		}
		if sp.align == '=' {
			return "", newErr(errValue, "'=' alignment not allowed in string format specifier")
		}
		if sp.prec >= 0 {
			s = truncRunes(s, sp.prec)
		}
		return applyWidth(s, sp, false), nil
	}
	if u, ok := v.(*Undefined); ok {
		return "", u.err()
	}
	return "", typeErr("unsupported format string passed to %s.__format__", v.pyType())
}

// formatNumber formats an int or float per spec; intPrec is the minimum
// digit count of %-style integer conversions (-1 if none).
func formatNumber(v Value, sp fmtSpec, intPrec int) (string, error) {
	n := asNum(v)
	typ := sp.typ
	var body string
	neg := false
	isInt := n.k != kFloat
	switch typ {
	case 0, 'd', 'n', 'b', 'o', 'x', 'X', 'c':
		if !isInt {
			if typ == 0 || typ == 'n' {
				break
			}
			return "", newErr(errValue, "Unknown format code '%c' for object of type 'float'", typ)
		}
		bi := n.big()
		neg = bi.Sign() < 0
		abs := new(big.Int).Abs(bi)
		switch typ {
		case 'b':
			body = abs.Text(2)
		case 'o':
			body = abs.Text(8)
		case 'x':
			body = abs.Text(16)
		case 'X':
			body = strings.ToUpper(abs.Text(16))
		case 'c':
			if !abs.IsInt64() || abs.Int64() > 0x10ffff {
				return "", newErr(errOverflow, "%%c arg not in range(0x110000)")
			}
			return applyWidth(string(rune(abs.Int64())), sp, false), nil
		default:
			body = abs.String()
		}
		for intPrec > 0 && len(body) < intPrec {
			body = "0" + body
		}
		if sp.grouping != 0 && (typ == 0 || typ == 'd' || typ == 'n') {
			body = group(body, sp.grouping, 3)
		} else if sp.grouping == '_' {
			body = group(body, '_', 4)
		}
		if sp.alt {
			switch typ {
			case 'b':
				body = "0b" + body
			case 'o':
				body = "0o" + body
			case 'x':
				body = "0x" + body
			case 'X':
				body = "0X" + body
			}
		}
		return finishNumber(body, neg, sp), nil
	}
	f, err := n.float()
	if err != nil {
		return "", err
	}
	neg = math.Signbit(f) && !math.IsNaN(f)
	af := math.Abs(f)
	prec := sp.prec
	switch typ {
	case 'f', 'F', '%':
		if prec < 0 {
			prec = 6
		}
		if typ == '%' {
			af *= 100
		}
		body = strconv.FormatFloat(af, 'f', prec, 64)
		if sp.alt && prec == 0 {
			body += "."
		}
		if typ == '%' {
			body += "%"
		}
	case 'e', 'E':
		if prec < 0 {
			prec = 6
		}
		body = strconv.FormatFloat(af, 'e', prec, 64)
		if sp.alt && prec == 0 {
			body = strings.Replace(body, "e", ".e", 1)
		}
	case 'g', 'G':
		if prec < 0 {
			prec = 6
		}
		body = formatG(af, prec, sp.alt)
	case 0, 'n':
		if prec < 0 {
			body = floatRepr(af)
		} else {
			body = formatG(af, prec, sp.alt)
			if !strings.ContainsAny(body, ".en") {
				body += ".0"
			}
		}
	default:
		return "", newErr(errValue, "Unknown format code '%c' for object of type '%s'", typ, v.pyType())
	}
	if math.IsInf(af, 0) {
		body = "inf"
	} else if math.IsNaN(af) {
		body = "nan"
	}
	if typ == 'E' || typ == 'G' || typ == 'F' {
		body = strings.ToUpper(body)
	}
	if sp.grouping != 0 {
		intPart, rest := body, ""
		if i := strings.IndexAny(body, ".e%"); i >= 0 {
			intPart, rest = body[:i], body[i:]
		}
		body = group(intPart, sp.grouping, 3) + rest
	}
	return finishNumber(body, neg, sp), nil
}

// formatG is C's %g with Python's rules.
func formatG(f float64, prec int, alt bool) string {
	if prec == 0 {
		prec = 1
	}
	if f == 0 {
		if alt {
			return "0." + strings.Repeat("0", prec-1)
		}
		return "0"
	}
	e := strconv.FormatFloat(f, 'e', prec-1, 64)
	exp, _ := strconv.Atoi(e[strings.IndexByte(e, 'e')+1:])
	var s string
	if exp < -4 || exp >= prec {
		s = e
		if !alt {
			mant, ex := s[:strings.IndexByte(s, 'e')], s[strings.IndexByte(s, 'e'):]
			if strings.Contains(mant, ".") {
				mant = strings.TrimRight(strings.TrimRight(mant, "0"), ".")
			}
			s = mant + ex
		}
	} else {
		s = strconv.FormatFloat(f, 'f', prec-1-exp, 64)
		if !alt && strings.Contains(s, ".") {
			s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
		}
	}
	return s
}

func group(digits string, sep byte, size int) string {
	if len(digits) <= size {
		return digits
	}
	var b strings.Builder
	first := len(digits) % size
	if first > 0 {
		b.WriteString(digits[:first])
	}
	for i := first; i < len(digits); i += size {
		if b.Len() > 0 {
			b.WriteByte(sep)
		}
		b.WriteString(digits[i : i+size])
	}
	return b.String()
}

func finishNumber(body string, neg bool, sp fmtSpec) string {
	sign := ""
	switch {
	case neg:
		sign = "-"
	case sp.sign == '+':
		sign = "+"
	case sp.sign == ' ':
		sign = " "
	}
	return applyWidth(sign+body, sp, true)
}

// strFormat is str.format with positional args and keyword mapping kw.
func (r *renderer) strFormat(f string, args []Value, kw *Dict) (string, error) {
	return r.vformat(f, args, kw, 2, new(int))
}

func (r *renderer) vformat(f string, args []Value, kw *Dict, depth int, auto *int) (string, error) {
	if depth < 0 {
		return "", newErr(errValue, "Max string recursion exceeded")
	}
	var b strings.Builder
	for i := 0; i < len(f); {
		c := f[i]
		if c == '}' {
			if i+1 < len(f) && f[i+1] == '}' {
				b.WriteByte('}')
				i += 2
				continue
			}
			return "", newErr(errValue, "Single '}' encountered in format string")
		}
		if c != '{' {
			j := strings.IndexAny(f[i:], "{}")
			if j < 0 {
				j = len(f) - i
			}
			b.WriteString(f[i : i+j])
			i += j
			continue
		}
		if i+1 < len(f) && f[i+1] == '{' {
			b.WriteByte('{')
			i += 2
			continue
		}
		// find the matching close brace
		lvl, j := 1, i+1
		for j < len(f) && lvl > 0 {
			if f[j] == '{' {
				lvl++
			} else if f[j] == '}' {
				lvl--
			}
			j++
		}
		if lvl > 0 {
			return "", newErr(errValue, "expected '}' before end of string")
		}
		field := f[i+1 : j-1]
		i = j
		var conv byte
		spec := ""
		// split field_name[!conv][:spec]
		k := strings.IndexAny(field, "!:")
		name := field
		if k >= 0 {
			name = field[:k]
			rest := field[k:]
			if rest[0] == '!' {
				if len(rest) < 2 {
					return "", newErr(errValue, "end of string while looking for conversion specifier")
				}
				conv = rest[1]
				rest = rest[2:]
				if rest != "" && rest[0] != ':' {
					return "", newErr(errValue, "expected ':' after conversion specifier")
				}
			}
			if rest != "" {
				spec = rest[1:]
			}
		}
		v, err := r.formatField(name, args, kw, auto)
		if err != nil {
			return "", err
		}
		switch conv {
		case 0:
		case 'r', 'a':
			v = Str(repr(v))
		case 's':
			v = Str(str(v))
		default:
			return "", newErr(errValue, "Unknown conversion specifier %c", conv)
		}
		if strings.Contains(spec, "{") {
			if spec, err = r.vformat(spec, args, kw, depth-1, auto); err != nil {
				return "", err
			}
		}
		s, err := formatValue(v, spec)
		if err != nil {
			return "", err
		}
		b.WriteString(s)
		if err := r.checkLen(b.Len()); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// formatField resolves a str.format field name: index or name, then .attr
// and [key] parts through the sandbox.
func (r *renderer) formatField(name string, args []Value, kw *Dict, auto *int) (Value, error) {
	end := strings.IndexAny(name, ".[")
	first := name
	if end >= 0 {
		first = name[:end]
	}
	var v Value
	if first == "" {
		if *auto < 0 {
			return nil, newErr(errValue, "cannot switch from manual field specification to automatic field numbering")
		}
		if *auto >= len(args) {
			return nil, newErr(errIndex, "tuple index out of range")
		}
		v = args[*auto]
		*auto++
	} else if idx, err := strconv.Atoi(first); err == nil {
		if *auto > 0 {
			return nil, newErr(errValue, "cannot switch from automatic field numbering to manual field specification")
		}
		*auto = -1
		if idx >= len(args) {
			return nil, newErr(errIndex, "tuple index out of range")
		}
		v = args[idx]
	} else {
		x, ok := kw.GetStr(first)
		if !ok {
			return nil, newErr(errKey, "%s", repr(Str(first)))
		}
		v = x
	}
	rest := ""
	if end >= 0 {
		rest = name[end:]
	}
	for rest != "" {
		var err error
		if rest[0] == '.' {
			k := strings.IndexAny(rest[1:], ".[")
			attr := rest[1:]
			if k >= 0 {
				attr = rest[1 : k+1]
				rest = rest[k+1:]
			} else {
				rest = ""
			}
			if v, err = r.getattr(v, attr); err != nil {
				return nil, err
			}
			continue
		}
		k := strings.IndexByte(rest, ']')
		if k < 0 {
			return nil, newErr(errValue, "Missing ']' in format string")
		}
		key := rest[1:k]
		rest = rest[k+1:]
		var kv Value = Str(key)
		if n, err := strconv.Atoi(key); err == nil {
			kv = Int(n)
		}
		if v, err = r.getitem(v, kv); err != nil {
			return nil, err
		}
	}
	return v, nil
}
