package chat

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

type strFn func(r *renderer, s string, args []Value, kw []kwarg) (Value, error)

// strMethods are the Python str methods templates may call.
var strMethods map[string]strFn

func init() {
	strMethods = map[string]strFn{
		"upper":        simpleStr(pyUpper),
		"lower":        simpleStr(pyLower),
		"title":        simpleStr(pyTitle),
		"capitalize":   simpleStr(pyCapitalize),
		"swapcase":     simpleStr(pySwapcase),
		"casefold":     simpleStr(pyCasefold),
		"strip":        stripMethod("strip", true, true),
		"lstrip":       stripMethod("lstrip", true, false),
		"rstrip":       stripMethod("rstrip", false, true),
		"split":        splitMethod("split", false),
		"rsplit":       splitMethod("rsplit", true),
		"splitlines":   strSplitlines,
		"startswith":   affixMethod("startswith", false),
		"endswith":     affixMethod("endswith", true),
		"replace":      strReplace,
		"find":         findMethod("find", false, false),
		"rfind":        findMethod("rfind", true, false),
		"index":        findMethod("index", false, true),
		"rindex":       findMethod("rindex", true, true),
		"count":        strCount,
		"join":         strJoin,
		"format":       strFormatMethod,
		"format_map":   strFormatMap,
		"center":       padMethod("center"),
		"ljust":        padMethod("ljust"),
		"rjust":        padMethod("rjust"),
		"zfill":        strZfill,
		"partition":    partitionMethod("partition", false),
		"rpartition":   partitionMethod("rpartition", true),
		"removeprefix": removeAffix("removeprefix", false),
		"removesuffix": removeAffix("removesuffix", true),
		"expandtabs":   strExpandtabs,
		"isdigit":      predicate("isdigit", func(s string) bool { return allRunes(s, isDigitRune) }),
		"isdecimal":    predicate("isdecimal", func(s string) bool { return allRunes(s, isDecimalRune) }),
		"isnumeric":    predicate("isnumeric", func(s string) bool { return allRunes(s, isNumericRune) }),
		"isalpha":      predicate("isalpha", func(s string) bool { return allRunes(s, unicode.IsLetter) }),
		"isalnum": predicate("isalnum", func(s string) bool {
			return allRunes(s, func(r rune) bool { return unicode.IsLetter(r) || isNumericRune(r) || isDigitRune(r) })
		}),
		"isspace":     predicate("isspace", func(s string) bool { return allRunes(s, pyIsSpace) }),
		"islower":     predicate("islower", func(s string) bool { return caseCheck(s, isLowerRune, isUpperRune) }),
		"isupper":     predicate("isupper", func(s string) bool { return caseCheck(s, isUpperRune, isLowerRune) }),
		"istitle":     predicate("istitle", pyIsTitle),
		"isascii":     predicate("isascii", isASCII),
		"isprintable": predicate("isprintable", func(s string) bool { return s == "" || allRunes(s, isPrintable) }),
		"isidentifier": predicate("isidentifier", func(s string) bool {
			for i, r := range s {
				if i == 0 && !(r == '_' || isIdentStart(r)) || i > 0 && !isIdentCont(r) {
					return false
				}
			}
			return s != ""
		}),
	}
}

// strMethod returns the bound method name of s, or nil.
func strMethod(s Str, name string, markup bool) Value {
	if markup {
		switch name {
		case "escape":
			return &builtinFunc{name: name, self: Markup(s), fn: func(*renderer, []Value, []kwarg) (Value, error) { return Markup(s), nil }}
		case "unescape":
			return &builtinFunc{name: name, self: Markup(s), fn: func(*renderer, []Value, []kwarg) (Value, error) { return Str(unescapeHTML(string(s))), nil }}
		case "striptags":
			return &builtinFunc{name: name, self: Markup(s), fn: func(*renderer, []Value, []kwarg) (Value, error) { return Str(stripTags(string(s))), nil }}
		}
	}
	fn, ok := strMethods[name]
	if !ok {
		return nil
	}
	var self Value = s
	if markup {
		self = Markup(s)
	}
	return &builtinFunc{name: name, self: self, fn: func(r *renderer, args []Value, kw []kwarg) (Value, error) {
		v, err := fn(r, string(s), args, kw)
		if err != nil || !markup {
			return v, err
		}
		return toMarkup(v), nil
	}}
}

// toMarkup converts the str results of a Markup method (also inside
// lists and tuples) to Markup, as markupsafe does.
func toMarkup(v Value) Value {
	switch x := v.(type) {
	case Str:
		return Markup(x)
	case List:
		out := make(List, len(x))
		for i, e := range x {
			out[i] = toMarkup(e)
		}
		return out
	case Tuple:
		out := make(Tuple, len(x))
		for i, e := range x {
			out[i] = toMarkup(e)
		}
		return out
	}
	return v
}

func simpleStr(f func(string) string) strFn {
	return func(r *renderer, s string, args []Value, kw []kwarg) (Value, error) {
		if err := argCount("method", args, 0, 0); err != nil {
			return nil, err
		}
		return Str(f(s)), noKwargs("method", kw)
	}
}

func predicate(name string, f func(string) bool) strFn {
	return func(r *renderer, s string, args []Value, kw []kwarg) (Value, error) {
		if err := argCount(name, args, 0, 0); err != nil {
			return nil, err
		}
		return Bool(f(s)), noKwargs(name, kw)
	}
}

// pyStrip strips the code points in chars (Python whitespace if nil).
func pyStrip(s string, chars *string, left, right bool) string {
	in := pyIsSpace
	if chars != nil {
		set := *chars
		in = func(r rune) bool { return strings.ContainsRune(set, r) }
	}
	if left {
		s = strings.TrimLeftFunc(s, in)
	}
	if right {
		s = strings.TrimRightFunc(s, in)
	}
	return s
}

func stripMethod(name string, left, right bool) strFn {
	return func(r *renderer, s string, args []Value, kw []kwarg) (Value, error) {
		if err := argCount(name, args, 0, 1); err != nil {
			return nil, err
		}
		if err := noKwargs(name, kw); err != nil {
			return nil, err
		}
		var chars *string
		if len(args) == 1 && !isNone(args[0]) {
			c, ok := isString(args[0])
			if !ok {
				return nil, typeErr("%s arg must be None or str", name)
			}
			chars = &c
		}
		return Str(pyStrip(s, chars, left, right)), nil
	}
}

// pySplit is str.split / str.rsplit.
func pySplit(s string, sep *string, maxsplit int, fromRight bool) []Value {
	var parts []string
	if sep == nil {
		parts = splitWhitespace(s, maxsplit, fromRight)
	} else if maxsplit < 0 {
		parts = strings.Split(s, *sep)
	} else if !fromRight {
		parts = strings.SplitN(s, *sep, maxsplit+1)
	} else {
		for maxsplit > 0 {
			i := strings.LastIndex(s, *sep)
			if i < 0 {
				break
			}
			parts = append(parts, s[i+len(*sep):])
			s = s[:i]
			maxsplit--
		}
		parts = append(parts, s)
		for i, j := 0, len(parts)-1; i < j; i, j = i+1, j-1 {
			parts[i], parts[j] = parts[j], parts[i]
		}
	}
	out := make([]Value, len(parts))
	for i, p := range parts {
		out[i] = Str(p)
	}
	return out
}

// splitWhitespace is str.split() / str.rsplit() without a separator.
func splitWhitespace(s string, maxsplit int, fromRight bool) []string {
	if !fromRight {
		var parts []string
		for {
			s = strings.TrimLeftFunc(s, pyIsSpace)
			if s == "" {
				return parts
			}
			if maxsplit >= 0 && len(parts) == maxsplit {
				return append(parts, s)
			}
			i := strings.IndexFunc(s, pyIsSpace)
			if i < 0 {
				return append(parts, s)
			}
			parts = append(parts, s[:i])
			s = s[i:]
		}
	}
	var rev []string
	for {
		s = strings.TrimRightFunc(s, pyIsSpace)
		if s == "" {
			break
		}
		if maxsplit >= 0 && len(rev) == maxsplit {
			rev = append(rev, s)
			break
		}
		i := strings.LastIndexFunc(s, pyIsSpace)
		if i < 0 {
			rev = append(rev, s)
			break
		}
		_, n := utf8.DecodeRuneInString(s[i:])
		rev = append(rev, s[i+n:])
		s = s[:i+n]
	}
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	return rev
}

func splitMethod(name string, fromRight bool) strFn {
	return func(r *renderer, s string, args []Value, kw []kwarg) (Value, error) {
		a, err := bindArgs(name, []string{"sep", "maxsplit"}, 0, args, kw)
		if err != nil {
			return nil, err
		}
		var sep *string
		if !isNone(a[0]) {
			sv, ok := isString(a[0])
			if !ok {
				return nil, typeErr("must be str or None, not %s", a[0].pyType())
			}
			if sv == "" {
				return nil, newErr(errValue, "empty separator")
			}
			sep = &sv
		}
		maxsplit := -1
		if a[1] != nil {
			if maxsplit, err = toInt(a[1], "maxsplit"); err != nil {
				return nil, err
			}
		}
		return List(pySplit(s, sep, maxsplit, fromRight)), nil
	}
}

// pySplitlines is str.splitlines.
func pySplitlines(s string, keepends bool) []Value {
	var out []Value
	start := 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		end := i + n
		isBreak := false
		switch r {
		case '\n', '\v', '\f', 0x1c, 0x1d, 0x1e, 0x85, 0x2028, 0x2029:
			isBreak = true
		case '\r':
			isBreak = true
			if end < len(s) && s[end] == '\n' {
				end++
			}
		}
		if isBreak {
			if keepends {
				out = append(out, Str(s[start:end]))
			} else {
				out = append(out, Str(s[start:i]))
			}
			start = end
		}
		i = end
	}
	if start < len(s) {
		out = append(out, Str(s[start:]))
	}
	if out == nil {
		out = []Value{}
	}
	return out
}

func strSplitlines(r *renderer, s string, args []Value, kw []kwarg) (Value, error) {
	a, err := bindArgs("splitlines", []string{"keepends"}, 0, args, kw)
	if err != nil {
		return nil, err
	}
	return List(pySplitlines(s, a[0] != nil && truthy(a[0]))), nil
}

// runeRange converts optional start/end arguments to a code-point window
// of s, returning the byte offsets.
func runeRange(s string, start, end Value) (int, int, bool, error) {
	n := runeLen(s)
	lo, hi := 0, n
	if start != nil && !isNone(start) {
		v, err := toInt(start, "start")
		if err != nil {
			return 0, 0, false, err
		}
		lo = v
	}
	if end != nil && !isNone(end) {
		v, err := toInt(end, "end")
		if err != nil {
			return 0, 0, false, err
		}
		hi = v
	}
	if lo < 0 {
		lo += n
		if lo < 0 {
			lo = 0
		}
	}
	if hi < 0 {
		hi += n
		if hi < 0 {
			hi = 0
		}
	}
	if hi > n {
		hi = n
	}
	if lo > n {
		return 0, 0, false, nil
	}
	if lo > hi {
		return byteOffset(s, lo), byteOffset(s, lo), false, nil
	}
	return byteOffset(s, lo), byteOffset(s, hi), true, nil
}

// byteOffset returns the byte offset of code point index i in s.
func byteOffset(s string, i int) int {
	if isASCII(s) {
		if i > len(s) {
			return len(s)
		}
		return i
	}
	for off := range s {
		if i == 0 {
			return off
		}
		i--
	}
	return len(s)
}

func affixMethod(name string, suffix bool) strFn {
	return func(r *renderer, s string, args []Value, kw []kwarg) (Value, error) {
		if err := noKwargs(name, kw); err != nil {
			return nil, err
		}
		if err := argCount(name, args, 1, 3); err != nil {
			return nil, err
		}
		var start, end Value
		if len(args) > 1 {
			start = args[1]
		}
		if len(args) > 2 {
			end = args[2]
		}
		lo, hi, ok, err := runeRange(s, start, end)
		if err != nil {
			return nil, err
		}
		var cands []Value
		switch x := args[0].(type) {
		case Tuple:
			cands = x
		case Str, Markup:
			cands = []Value{x}
		default:
			return nil, typeErr("%s first arg must be str or a tuple of str, not %s", name, args[0].pyType())
		}
		if !ok {
			return Bool(false), nil
		}
		sub := s[lo:hi]
		for _, c := range cands {
			cs, isStr := isString(c)
			if !isStr {
				return nil, typeErr("tuple for %s must only contain str, not %s", name, c.pyType())
			}
			if suffix && strings.HasSuffix(sub, cs) || !suffix && strings.HasPrefix(sub, cs) {
				return Bool(true), nil
			}
		}
		return Bool(false), nil
	}
}

func strReplace(r *renderer, s string, args []Value, kw []kwarg) (Value, error) {
	a, err := bindArgs("replace", []string{"old", "new", "count"}, 2, args, kw)
	if err != nil {
		return nil, err
	}
	old, err := toStr(a[0], "replace")
	if err != nil {
		return nil, err
	}
	nw, err := toStr(a[1], "replace")
	if err != nil {
		return nil, err
	}
	count := -1
	if a[2] != nil {
		if count, err = toInt(a[2], "count"); err != nil {
			return nil, err
		}
	}
	return r.pyReplace(s, old, nw, count)
}

// pyReplace is str.replace (an empty old inserts between code points).
func (r *renderer) pyReplace(s, old, nw string, count int) (Value, error) {
	n := strings.Count(s, old)
	if old == "" {
		n = runeLen(s) + 1
	}
	if count >= 0 && count < n {
		n = count
	}
	if err := r.checkLen(len(s) + n*(len(nw)-len(old))); err != nil {
		return nil, err
	}
	return Str(strings.Replace(s, old, nw, n)), nil
}

func findMethod(name string, fromRight, raise bool) strFn {
	return func(r *renderer, s string, args []Value, kw []kwarg) (Value, error) {
		if err := noKwargs(name, kw); err != nil {
			return nil, err
		}
		if err := argCount(name, args, 1, 3); err != nil {
			return nil, err
		}
		sub, ok := isString(args[0])
		if !ok {
			return nil, typeErr("must be str, not %s", args[0].pyType())
		}
		var start, end Value
		if len(args) > 1 {
			start = args[1]
		}
		if len(args) > 2 {
			end = args[2]
		}
		lo, hi, ok, err := runeRange(s, start, end)
		if err != nil {
			return nil, err
		}
		idx := -1
		if ok || (sub == "" && lo == hi && lo <= len(s)) {
			var i int
			if fromRight {
				i = strings.LastIndex(s[lo:hi], sub)
			} else {
				i = strings.Index(s[lo:hi], sub)
			}
			if i >= 0 {
				idx = runeLen(s[:lo+i])
			}
		}
		if idx < 0 && raise {
			return nil, newErr(errValue, "substring not found")
		}
		return Int(idx), nil
	}
}

func strCount(r *renderer, s string, args []Value, kw []kwarg) (Value, error) {
	if err := noKwargs("count", kw); err != nil {
		return nil, err
	}
	if err := argCount("count", args, 1, 3); err != nil {
		return nil, err
	}
	sub, ok := isString(args[0])
	if !ok {
		return nil, typeErr("must be str, not %s", args[0].pyType())
	}
	var start, end Value
	if len(args) > 1 {
		start = args[1]
	}
	if len(args) > 2 {
		end = args[2]
	}
	lo, hi, ok, err := runeRange(s, start, end)
	if err != nil {
		return nil, err
	}
	if !ok {
		return Int(0), nil
	}
	if sub == "" {
		return Int(runeLen(s[lo:hi]) + 1), nil
	}
	return Int(strings.Count(s[lo:hi], sub)), nil
}

func strJoin(r *renderer, s string, args []Value, kw []kwarg) (Value, error) {
	if err := noKwargs("join", kw); err != nil {
		return nil, err
	}
	if err := argCount("join", args, 1, 1); err != nil {
		return nil, err
	}
	items, err := r.iterate(args[0])
	if err != nil {
		if _, ok := args[0].(*Undefined); !ok {
			return nil, typeErr("can only join an iterable")
		}
		return nil, err
	}
	var b strings.Builder
	for i, it := range items {
		is, ok := isString(it)
		if !ok {
			return nil, typeErr("sequence item %d: expected str instance, %s found", i, it.pyType())
		}
		if i > 0 {
			b.WriteString(s)
		}
		b.WriteString(is)
		if err := r.checkLen(b.Len()); err != nil {
			return nil, err
		}
	}
	return Str(b.String()), nil
}

func padMethod(name string) strFn {
	return func(r *renderer, s string, args []Value, kw []kwarg) (Value, error) {
		if err := noKwargs(name, kw); err != nil {
			return nil, err
		}
		if err := argCount(name, args, 1, 2); err != nil {
			return nil, err
		}
		width, err := toInt(args[0], "width")
		if err != nil {
			return nil, err
		}
		fill := " "
		if len(args) == 2 {
			f, ok := isString(args[1])
			if !ok || runeLen(f) != 1 {
				return nil, typeErr("The fill character must be exactly one character long")
			}
			fill = f
		}
		if err := r.checkLen(max(width, 0)); err != nil { // a negative width pads nothing
			return nil, err
		}
		return Str(pad(s, width, fill, name)), nil
	}
}

// pad is str.center / ljust / rjust.
func pad(s string, width int, fill, how string) string {
	n := runeLen(s)
	if width <= n {
		return s
	}
	total := width - n
	var left int
	switch how {
	case "ljust":
		left = 0
	case "rjust":
		left = total
	default:
		left = total / 2
		if total%2 == 1 && width%2 == 1 {
			left++
		}
	}
	return strings.Repeat(fill, left) + s + strings.Repeat(fill, total-left)
}

func strZfill(r *renderer, s string, args []Value, kw []kwarg) (Value, error) {
	if err := argCount("zfill", args, 1, 1); err != nil {
		return nil, err
	}
	width, err := toInt(args[0], "width")
	if err != nil {
		return nil, err
	}
	if err := r.checkLen(max(width, 0)); err != nil { // a negative width pads nothing
		return nil, err
	}
	n := runeLen(s)
	if width <= n {
		return Str(s), nil
	}
	zeros := strings.Repeat("0", width-n)
	if s != "" && (s[0] == '+' || s[0] == '-') {
		return Str(s[:1] + zeros + s[1:]), nil
	}
	return Str(zeros + s), nil
}

func partitionMethod(name string, fromRight bool) strFn {
	return func(r *renderer, s string, args []Value, kw []kwarg) (Value, error) {
		if err := argCount(name, args, 1, 1); err != nil {
			return nil, err
		}
		sep, err := toStr(args[0], name)
		if err != nil {
			return nil, err
		}
		if sep == "" {
			return nil, newErr(errValue, "empty separator")
		}
		var i int
		if fromRight {
			i = strings.LastIndex(s, sep)
		} else {
			i = strings.Index(s, sep)
		}
		if i < 0 {
			if fromRight {
				return Tuple{Str(""), Str(""), Str(s)}, nil
			}
			return Tuple{Str(s), Str(""), Str("")}, nil
		}
		return Tuple{Str(s[:i]), Str(sep), Str(s[i+len(sep):])}, nil
	}
}

func removeAffix(name string, suffix bool) strFn {
	return func(r *renderer, s string, args []Value, kw []kwarg) (Value, error) {
		if err := argCount(name, args, 1, 1); err != nil {
			return nil, err
		}
		a, err := toStr(args[0], name)
		if err != nil {
			return nil, err
		}
		if suffix {
			return Str(strings.TrimSuffix(s, a)), nil
		}
		return Str(strings.TrimPrefix(s, a)), nil
	}
}

func strExpandtabs(r *renderer, s string, args []Value, kw []kwarg) (Value, error) {
	a, err := bindArgs("expandtabs", []string{"tabsize"}, 0, args, kw)
	if err != nil {
		return nil, err
	}
	size := 8
	if a[0] != nil {
		if size, err = toInt(a[0], "tabsize"); err != nil {
			return nil, err
		}
	}
	var b strings.Builder
	col := 0
	for _, c := range s {
		switch c {
		case '\t':
			if size > 0 {
				n := size - col%size
				if err := r.checkLen(b.Len() + n); err != nil {
					return nil, err
				}
				b.WriteString(strings.Repeat(" ", n))
				col += n
			}
		case '\n', '\r':
			b.WriteRune(c)
			col = 0
		default:
			b.WriteRune(c)
			col++
		}
	}
	return Str(b.String()), nil
}

func strFormatMethod(r *renderer, s string, args []Value, kw []kwarg) (Value, error) {
	d := NewDict()
	for _, k := range kw {
		d.SetStr(k.name, k.val)
	}
	out, err := r.strFormat(s, args, d)
	if err != nil {
		return nil, err
	}
	return Str(out), nil
}

func strFormatMap(r *renderer, s string, args []Value, kw []kwarg) (Value, error) {
	if len(kw) > 0 {
		return nil, typeErr("format_map() takes no keyword arguments")
	}
	if len(args) != 1 {
		return nil, typeErr("format_map() takes exactly one argument (%d given)", len(args))
	}
	d, ok := args[0].(*Dict)
	if !ok {
		return nil, typeErr("format_map() argument must be a mapping")
	}
	out, err := r.strFormat(s, nil, d)
	if err != nil {
		return nil, err
	}
	return Str(out), nil
}
