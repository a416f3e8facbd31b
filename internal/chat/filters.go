package chat

import (
	"math"
	"math/big"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// filterDef is a Jinja filter: fn receives the value and the arguments
// bound to params (nil when not given).
type filterDef struct {
	name   string
	params []string
	nreq   int
	// raw filters take their arguments unbound (map, select, format...).
	raw func(r *renderer, v Value, args []Value, kw []kwarg) (Value, error)
	fn  func(r *renderer, v Value, a []Value) (Value, error)
}

func (f *filterDef) call(r *renderer, v Value, args []Value, kw []kwarg) (Value, error) {
	if f.raw != nil {
		return f.raw(r, v, args, kw)
	}
	a, err := bindArgs("do_"+f.name, f.params, f.nreq, args, kw)
	if err != nil {
		return nil, err
	}
	return f.fn(r, v, a)
}

// filters are Jinja's built-in filters with transformers' tojson.
var filters map[string]*filterDef

// lazy turns a filter into a Python generator function: calling it only
// binds the arguments; the body runs (and raises) when the result is first
// iterated.
func lazy(name string, f func(r *renderer, v Value, a []Value) (Value, error)) func(r *renderer, v Value, a []Value) (Value, error) {
	return func(r *renderer, v Value, a []Value) (Value, error) {
		return &generator{name: name, compute: func() ([]Value, error) {
			out, err := f(r, v, a)
			if err != nil {
				return nil, err
			}
			return r.iterate(out)
		}}, nil
	}
}

// lazyRaw is lazy for filters that take their arguments unbound.
func lazyRaw(name string, f func(r *renderer, v Value, args []Value, kw []kwarg) (Value, error)) func(r *renderer, v Value, args []Value, kw []kwarg) (Value, error) {
	return func(r *renderer, v Value, args []Value, kw []kwarg) (Value, error) {
		return &generator{name: name, compute: func() ([]Value, error) {
			out, err := f(r, v, args, kw)
			if err != nil {
				return nil, err
			}
			return r.iterate(out)
		}}, nil
	}
}

func def(name string, params []string, nreq int, fn func(r *renderer, v Value, a []Value) (Value, error)) *filterDef {
	return &filterDef{name: name, params: params, nreq: nreq, fn: fn}
}

func init() {
	list := []*filterDef{
		def("abs", nil, 0, filterAbs),
		def("attr", []string{"name"}, 1, filterAttr),
		def("batch", []string{"linecount", "fill_with"}, 1, lazy("do_batch", filterBatch)),
		def("capitalize", nil, 0, strFilter(pyCapitalize)),
		def("center", []string{"width"}, 0, filterCenter),
		def("count", nil, 0, filterLength),
		def("default", []string{"default_value", "boolean"}, 0, filterDefault),
		def("dictsort", []string{"case_sensitive", "by", "reverse"}, 0, filterDictsort),
		def("escape", nil, 0, func(r *renderer, v Value, a []Value) (Value, error) { return escapeValue(v), nil }),
		def("filesizeformat", []string{"binary"}, 0, filterFilesize),
		def("first", nil, 0, filterFirst),
		def("float", []string{"default"}, 0, filterFloat),
		def("forceescape", nil, 0, func(r *renderer, v Value, a []Value) (Value, error) {
			return Markup(escapeString(str(v))), nil
		}),
		{name: "format", raw: filterFormat},
		{name: "groupby", params: []string{"attribute", "default", "case_sensitive"}, nreq: 1, fn: filterGroupby},
		def("indent", []string{"width", "first", "blank"}, 0, filterIndent),
		def("int", []string{"default", "base"}, 0, filterInt),
		def("items", nil, 0, lazy("do_items", filterItems)),
		def("join", []string{"d", "attribute"}, 0, filterJoin),
		def("last", nil, 0, filterLast),
		def("length", nil, 0, filterLength),
		def("list", nil, 0, func(r *renderer, v Value, a []Value) (Value, error) {
			items, err := r.iterate(v)
			return append(List{}, items...), err
		}),
		def("lower", nil, 0, strFilter(pyLower)),
		{name: "map", raw: lazyRaw("sync_do_map", filterMap)},
		def("max", []string{"case_sensitive", "attribute"}, 0, minMax(1)),
		def("min", []string{"case_sensitive", "attribute"}, 0, minMax(-1)),
		def("pprint", nil, 0, func(r *renderer, v Value, a []Value) (Value, error) { return Str(pformat(v)), nil }),
		def("random", nil, 0, func(r *renderer, v Value, a []Value) (Value, error) {
			return nil, newErr(errRuntime, "the random filter is not supported: its output is random")
		}),
		{name: "reject", raw: lazyRaw("select_or_reject", selectFilter(false, false))},
		{name: "rejectattr", raw: lazyRaw("select_or_reject", selectFilter(false, true))},
		def("replace", []string{"old", "new", "count"}, 2, filterReplace),
		def("reverse", nil, 0, filterReverse),
		def("round", []string{"precision", "method"}, 0, filterRound),
		def("safe", nil, 0, func(r *renderer, v Value, a []Value) (Value, error) { return Markup(str(v)), nil }),
		{name: "select", raw: lazyRaw("select_or_reject", selectFilter(true, false))},
		{name: "selectattr", raw: lazyRaw("select_or_reject", selectFilter(true, true))},
		def("slice", []string{"slices", "fill_with"}, 1, lazy("sync_do_slice", filterSlice)),
		def("sort", []string{"reverse", "case_sensitive", "attribute"}, 0, filterSort),
		def("string", nil, 0, func(r *renderer, v Value, a []Value) (Value, error) {
			if m, ok := v.(Markup); ok {
				return m, nil
			}
			return Str(str(v)), nil
		}),
		def("striptags", nil, 0, func(r *renderer, v Value, a []Value) (Value, error) { return Str(stripTags(str(v))), nil }),
		def("sum", []string{"attribute", "start"}, 0, filterSum),
		def("title", nil, 0, func(r *renderer, v Value, a []Value) (Value, error) { return Str(jinjaTitle(str(v))), nil }),
		def("tojson", []string{"ensure_ascii", "indent", "separators", "sort_keys"}, 0, filterToJSON),
		def("trim", []string{"chars"}, 0, filterTrim),
		def("truncate", []string{"length", "killwords", "end", "leeway"}, 0, filterTruncate),
		def("unique", []string{"case_sensitive", "attribute"}, 0, lazy("sync_do_unique", filterUnique)),
		def("upper", nil, 0, strFilter(pyUpper)),
		def("urlencode", nil, 0, filterURLEncode),
		def("urlize", []string{"trim_url_limit", "nofollow", "target", "rel", "extra_schemes"}, 0, func(r *renderer, v Value, a []Value) (Value, error) {
			return nil, newErr(errRuntime, "the urlize filter is not supported")
		}),
		def("wordcount", nil, 0, func(r *renderer, v Value, a []Value) (Value, error) {
			return Int(len(wordRE.FindAllStringIndex(str(v), -1))), nil
		}),
		def("wordwrap", []string{"width", "break_long_words", "wrapstring", "break_on_hyphens"}, 0, filterWordwrap),
		def("xmlattr", []string{"autospace"}, 0, filterXMLAttr),
	}
	filters = map[string]*filterDef{}
	for _, f := range list {
		filters[f.name] = f
	}
	filters["d"] = filters["default"]
	filters["e"] = filters["escape"]
}

var wordRE = regexp.MustCompile(`[\p{L}\p{N}_]+`)

// strFilter wraps a str -> str function as a filter on soft_str(value).
func strFilter(f func(string) string) func(r *renderer, v Value, a []Value) (Value, error) {
	return func(r *renderer, v Value, a []Value) (Value, error) {
		if m, ok := v.(Markup); ok {
			return Markup(f(string(m))), nil
		}
		return Str(f(str(v))), nil
	}
}

// jinjaTitle is Jinja's title filter: capitalize each word, where words
// start after -, whitespace, (, {, [ or <.
func jinjaTitle(s string) string {
	var b strings.Builder
	rs := []rune(s)
	start := true
	for i := 0; i < len(rs); {
		j := i
		if isTitleSep(rs[i]) {
			for j < len(rs) && isTitleSep(rs[j]) {
				j++
			}
			b.WriteString(string(rs[i:j]))
			start = true
			i = j
			continue
		}
		for j < len(rs) && !isTitleSep(rs[j]) {
			j++
		}
		word := string(rs[i:j])
		if start {
			first := []rune(word)[0]
			b.WriteString(pyUpper(string(first)))
			b.WriteString(pyLower(word[len(string(first)):]))
		}
		i = j
	}
	return b.String()
}

func isTitleSep(r rune) bool {
	return r == '-' || r == '(' || r == '{' || r == '[' || r == '<' || pyIsSpace(r)
}

func filterAbs(r *renderer, v Value, a []Value) (Value, error) {
	n := asNum(v)
	switch n.k {
	case kInt, kBig:
		if intOrBigSign(n) < 0 {
			return negate(v)
		}
		return positive(v)
	case kFloat:
		return Float(math.Abs(n.f)), nil
	}
	return nil, typeErr("bad operand type for abs(): '%s'", v.pyType())
}

func intOrBigSign(n num) int {
	if n.k == kBig {
		return n.b.Sign()
	}
	switch {
	case n.i < 0:
		return -1
	case n.i > 0:
		return 1
	}
	return 0
}

func filterAttr(r *renderer, v Value, a []Value) (Value, error) {
	name, ok := isString(a[0])
	if !ok {
		return nil, typeErr("attribute name must be string, not '%s'", a[0].pyType())
	}
	if u, ok := v.(*Undefined); ok {
		return nil, u.err()
	}
	val, found := r.pyAttr(v, name)
	if !found {
		return undefAttr(v, Str(name)), nil
	}
	if val == nil || strings.HasPrefix(name, "_") {
		return unsafeUndefined(v, name), nil
	}
	return val, nil
}

func filterBatch(r *renderer, v Value, a []Value) (Value, error) {
	n, err := toInt(a[0], "linecount")
	if err != nil {
		return nil, err
	}
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	var out []Value
	cur := List{}
	for _, it := range items {
		if len(cur) == n {
			out = append(out, cur)
			cur = List{}
		}
		cur = append(cur, it)
	}
	if len(cur) > 0 {
		if !isNone(a[1]) && len(cur) < n {
			if err := r.checkLen(n); err != nil {
				return nil, err
			}
			for len(cur) < n {
				cur = append(cur, a[1])
			}
		}
		out = append(out, cur)
	}
	return List(out), nil
}

func filterCenter(r *renderer, v Value, a []Value) (Value, error) {
	w := 80
	if a[0] != nil {
		var err error
		if w, err = toInt(a[0], "width"); err != nil {
			return nil, err
		}
	}
	if err := r.checkLen(max(w, 0)); err != nil { // a negative width pads nothing
		return nil, err
	}
	return Str(pad(str(v), w, " ", "center")), nil
}

// pyLen is Python len(v).
func pyLen(v Value) (int, error) {
	switch x := v.(type) {
	case Str:
		return runeLen(string(x)), nil
	case Markup:
		return runeLen(string(x)), nil
	case List:
		return len(x), nil
	case Tuple:
		return len(x), nil
	case *Dict:
		return x.Len(), nil
	case *dictView:
		return x.d.Len(), nil
	case rangeValue:
		return x.length(), nil
	case *Undefined:
		return 0, nil
	case *loopContext:
		return len(x.items), nil
	case *Namespace:
		return 0, typeErr("object of type 'Namespace' has no len()")
	}
	return 0, typeErr("object of type '%s' has no len()", v.pyType())
}

func filterLength(r *renderer, v Value, a []Value) (Value, error) {
	n, err := pyLen(v)
	if err != nil {
		return nil, err
	}
	return Int(n), nil
}

func filterDefault(r *renderer, v Value, a []Value) (Value, error) {
	var dflt Value = Str("")
	if a[0] != nil {
		dflt = a[0]
	}
	if isUndefined(v) || (a[1] != nil && truthy(a[1]) && !truthy(v)) {
		return dflt, nil
	}
	return v, nil
}

// sortKey prepares a sort key: lower-cased strings unless case sensitive.
func sortKey(v Value, caseSensitive bool) Value {
	if !caseSensitive {
		if s, ok := v.(Str); ok {
			return Str(pyLower(string(s)))
		}
		if s, ok := v.(Markup); ok {
			return Markup(pyLower(string(s)))
		}
	}
	return v
}

// sortValues sorts items by keys (stable, like Python's sorted).
func (r *renderer) sortValues(items, keys []Value, reverse bool) error {
	idx := make([]int, len(items))
	for i := range idx {
		idx[i] = i
	}
	var sortErr error
	sort.SliceStable(idx, func(i, j int) bool {
		a, b := keys[idx[i]], keys[idx[j]]
		if reverse {
			a, b = b, a
		}
		if sortErr != nil {
			return false
		}
		c, err := r.order("lt", a, b)
		if err != nil {
			sortErr = err
		}
		return c == -1
	})
	if sortErr != nil {
		return sortErr
	}
	sorted := make([]Value, len(items))
	for i, k := range idx {
		sorted[i] = items[k]
	}
	copy(items, sorted)
	return nil
}

func filterDictsort(r *renderer, v Value, a []Value) (Value, error) {
	pos := 0
	if a[1] != nil {
		by, _ := isString(a[1])
		switch by {
		case "key":
		case "value":
			pos = 1
		default:
			return nil, newErr(errFilterArg, `You can only sort by either "key" or "value"`)
		}
	}
	d, ok := v.(*Dict)
	if !ok {
		if u, isU := v.(*Undefined); isU {
			return nil, u.err()
		}
		return nil, newErr("AttributeError", "'%s' object has no attribute 'items'", v.pyType())
	}
	cs := a[0] != nil && truthy(a[0])
	items := make([]Value, d.Len())
	keys := make([]Value, d.Len())
	for i, k := range d.keys {
		items[i] = Tuple{k, d.vals[i]}
		keys[i] = sortKey(items[i].(Tuple)[pos], cs)
	}
	if err := r.sortValues(items, keys, a[2] != nil && truthy(a[2])); err != nil {
		return nil, err
	}
	return List(items), nil
}

func filterFilesize(r *renderer, v Value, a []Value) (Value, error) {
	fv, err := pyFloat(v)
	if err != nil {
		return nil, err
	}
	binary := a[0] != nil && truthy(a[0])
	base := 1000.0
	prefixes := []string{"kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"}
	if binary {
		base = 1024
		prefixes = []string{"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"}
	}
	if fv == 1 {
		return Str("1 Byte"), nil
	}
	if fv < base {
		return Str(strconv.FormatInt(int64(fv), 10) + " Bytes"), nil
	}
	var unit float64
	var prefix string
	for i, p := range prefixes {
		unit = math.Pow(base, float64(i+2))
		prefix = p
		if fv < unit {
			break
		}
	}
	return Str(strconv.FormatFloat(base*fv/unit, 'f', 1, 64) + " " + prefix), nil
}

func filterFirst(r *renderer, v Value, a []Value) (Value, error) {
	if g, ok := v.(*generator); ok {
		if err := g.force(); err != nil {
			return nil, err
		}
		if g.pos < len(g.items) {
			g.pos++
			return g.items[g.pos-1], nil
		}
		return undefHint("No first item, sequence was empty."), nil
	}
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return undefHint("No first item, sequence was empty."), nil
	}
	return items[0], nil
}

func filterLast(r *renderer, v Value, a []Value) (Value, error) {
	switch v.(type) {
	case Str, Markup, List, Tuple, *Dict, rangeValue, *Undefined:
	default:
		return nil, typeErr("'%s' object is not reversible", v.pyType())
	}
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return undefHint("No last item, sequence was empty."), nil
	}
	return items[len(items)-1], nil
}

// pyFloat is Python float(v).
func pyFloat(v Value) (float64, error) {
	if n, ok := asNumOK(v); ok {
		return n.float()
	}
	if s, ok := isString(v); ok {
		t := strings.ToLower(strings.TrimFunc(s, pyIsSpace))
		switch strings.TrimLeft(t, "+-") {
		case "inf", "infinity", "nan":
			f, _ := strconv.ParseFloat(t, 64)
			return f, nil
		}
		if strings.Contains(t, "_") {
			if strings.HasPrefix(t, "_") || strings.HasSuffix(t, "_") || strings.Contains(t, "__") {
				return 0, newErr(errValue, "could not convert string to float: %s", repr(Str(s)))
			}
			t = strings.ReplaceAll(t, "_", "")
		}
		if t == "" || strings.ContainsAny(t, "xp") {
			return 0, newErr(errValue, "could not convert string to float: %s", repr(Str(s)))
		}
		f, err := strconv.ParseFloat(t, 64)
		if err != nil && !isRangeErr(err) {
			return 0, newErr(errValue, "could not convert string to float: %s", repr(Str(s)))
		}
		return f, nil
	}
	if u, ok := v.(*Undefined); ok {
		return 0, u.err()
	}
	return 0, typeErr("float() argument must be a string or a real number, not '%s'", v.pyType())
}

func filterFloat(r *renderer, v Value, a []Value) (Value, error) {
	f, err := pyFloat(v)
	if err != nil {
		if e, ok := err.(*Error); ok && (e.Type == errValue || e.Type == errType) {
			if a[0] != nil {
				return a[0], nil
			}
			return Float(0), nil
		}
		return nil, err
	}
	return Float(f), nil
}

func filterFormat(r *renderer, v Value, args []Value, kw []kwarg) (Value, error) {
	if len(args) > 0 && len(kw) > 0 {
		return nil, newErr(errFilterArg, "can't handle positional and keyword arguments at the same time")
	}
	var arg Value = Tuple(args)
	if len(kw) > 0 {
		d := NewDict()
		for _, k := range kw {
			d.SetStr(k.name, k.val)
		}
		arg = d
	}
	_, markup := v.(Markup)
	return r.percentFormat(str(v), arg, markup)
}

// attrGetter is make_attrgetter: look up a dotted attribute path with
// getitem (integer parts index).
func (r *renderer) attrGetter(attribute Value) func(Value) (Value, error) {
	var parts []Value
	if s, ok := isString(attribute); ok {
		for _, p := range strings.Split(s, ".") {
			if allRunes(p, isDigitRune) {
				if n, err := strconv.Atoi(p); err == nil {
					parts = append(parts, Int(n))
					continue
				}
			}
			parts = append(parts, Str(p))
		}
	} else if !isNone(attribute) {
		parts = []Value{attribute}
	}
	return func(item Value) (Value, error) {
		for _, p := range parts {
			var err error
			if item, err = r.getitem(item, p); err != nil {
				return nil, err
			}
		}
		return item, nil
	}
}

func filterGroupby(r *renderer, v Value, a []Value) (Value, error) {
	get := r.attrGetter(a[0])
	cs := a[2] != nil && truthy(a[2])
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	keys := make([]Value, len(items))
	for i, it := range items {
		k, err := get(it)
		if err != nil {
			return nil, err
		}
		if isUndefined(k) && !isNone(a[1]) {
			k = a[1]
		}
		keys[i] = sortKey(k, cs)
	}
	sorted := append([]Value(nil), items...)
	sortedKeys := append([]Value(nil), keys...)
	idx := make([]Value, len(items))
	for i := range idx {
		idx[i] = Int(i)
	}
	if err := r.sortValues(idx, sortedKeys, false); err != nil {
		return nil, err
	}
	for i, ix := range idx {
		sorted[i] = items[ix.(Int)]
		sortedKeys[i] = keys[ix.(Int)]
	}
	var out List
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) {
			same, err := r.eq(sortedKeys[j], sortedKeys[i])
			if err != nil {
				return nil, err
			}
			if !same {
				break
			}
			j++
		}
		grouper := sortedKeys[i]
		if !cs {
			if grouper, err = get(sorted[i]); err != nil {
				return nil, err
			}
			if isUndefined(grouper) && !isNone(a[1]) {
				grouper = a[1]
			}
		}
		gt := Tuple{grouper, List(append([]Value(nil), sorted[i:j]...))}
		if r.groups == nil {
			r.groups = map[*Value]bool{}
		}
		r.groups[&gt[0]] = true
		out = append(out, gt)
		i = j
	}
	if out == nil {
		out = List{}
	}
	return out, nil
}

func filterIndent(r *renderer, v Value, a []Value) (Value, error) {
	ind := "    "
	if a[0] != nil {
		if s, ok := isString(a[0]); ok {
			ind = s
		} else {
			w, err := toInt(a[0], "width")
			if err != nil {
				return nil, err
			}
			w = max(w, 0) // " " * -1 is ""
			if err := r.checkLen(w); err != nil {
				return nil, err
			}
			ind = strings.Repeat(" ", w)
		}
	}
	s, ok := isString(v)
	if !ok {
		// s += "\n" then s.splitlines(), on a non-string
		switch v.(type) {
		case *Undefined:
			return nil, v.(*Undefined).err()
		case List:
			return nil, newErr("AttributeError", "'list' object has no attribute 'splitlines'")
		case Tuple:
			return nil, typeErr("can only concatenate tuple (not \"str\") to tuple")
		}
		return nil, typeErr("unsupported operand type(s) for +=: '%s' and 'str'", v.pyType())
	}
	s += "\n"
	lines := pySplitlines(s, false)
	var out string
	if a[2] != nil && truthy(a[2]) {
		parts := make([]string, len(lines))
		for i, l := range lines {
			parts[i] = string(l.(Str))
		}
		out = strings.Join(parts, "\n"+ind)
	} else {
		var b strings.Builder
		b.WriteString(string(lines[0].(Str)))
		for _, l := range lines[1:] {
			b.WriteByte('\n')
			if l.(Str) != "" {
				b.WriteString(ind)
			}
			b.WriteString(string(l.(Str)))
		}
		out = b.String()
	}
	if a[1] != nil && truthy(a[1]) {
		out = ind + out
	}
	if err := r.checkLen(len(out)); err != nil {
		return nil, err
	}
	if _, ok := v.(Markup); ok {
		return Markup(out), nil
	}
	return Str(out), nil
}

// parsePyInt is int(s, base) for a string.
func parsePyInt(s string, base int) (Value, bool) {
	t := strings.TrimFunc(s, pyIsSpace)
	neg := false
	if t != "" && (t[0] == '+' || t[0] == '-') {
		neg = t[0] == '-'
		t = t[1:]
	}
	if base == 0 || base == 16 || base == 8 || base == 2 {
		lower := strings.ToLower(t)
		switch {
		case strings.HasPrefix(lower, "0x") && (base == 0 || base == 16):
			t, base = t[2:], 16
		case strings.HasPrefix(lower, "0o") && (base == 0 || base == 8):
			t, base = t[2:], 8
		case strings.HasPrefix(lower, "0b") && (base == 0 || base == 2):
			t, base = t[2:], 2
		case base == 0:
			if len(t) > 1 && strings.Trim(t, "0_") != "" && t[0] == '0' {
				return nil, false
			}
			base = 10
		}
		t = strings.TrimPrefix(t, "_")
	}
	if t == "" || strings.HasPrefix(t, "_") || strings.HasSuffix(t, "_") || strings.Contains(t, "__") {
		return nil, false
	}
	t = strings.ReplaceAll(t, "_", "")
	if base < 2 || base > 36 {
		return nil, false
	}
	bi, ok, _ := parseBigDigits(t, base)
	if !ok {
		return nil, false
	}
	if neg {
		bi.Neg(bi)
	}
	return NewBigInt(bi), true
}

func filterInt(r *renderer, v Value, a []Value) (Value, error) {
	var dflt Value = Int(0)
	if a[0] != nil {
		dflt = a[0]
	}
	base := 10
	if a[1] != nil {
		var err error
		if base, err = toInt(a[1], "base"); err != nil {
			return nil, err
		}
	}
	if s, ok := isString(v); ok {
		if n, ok := parsePyInt(s, base); ok {
			return n, nil
		}
		f, err := pyFloat(v)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return dflt, nil
		}
		bi, _ := floatToBig(math.Trunc(f))
		return NewBigInt(bi), nil
	}
	n := asNum(v)
	switch n.k {
	case kInt:
		return Int(n.i), nil
	case kBig:
		return v, nil
	case kFloat:
		if math.IsInf(n.f, 0) || math.IsNaN(n.f) {
			return dflt, nil
		}
		bi, _ := floatToBig(math.Trunc(n.f))
		return NewBigInt(bi), nil
	}
	if u, ok := v.(*Undefined); ok {
		return nil, u.err()
	}
	return dflt, nil
}

func filterItems(r *renderer, v Value, a []Value) (Value, error) {
	switch x := v.(type) {
	case *Undefined:
		return List(nil), nil
	case *Dict:
		return List((&dictView{d: x, kind: 'i'}).items()), nil
	}
	return nil, typeErr("Can only get item pairs from a mapping.")
}

func filterJoin(r *renderer, v Value, a []Value) (Value, error) {
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	if a[1] != nil {
		get := r.attrGetter(a[1])
		mapped := make([]Value, len(items))
		for i, it := range items {
			if mapped[i], err = get(it); err != nil {
				return nil, err
			}
		}
		items = mapped
	}
	sep := ""
	if a[0] != nil {
		sep = str(a[0])
	}
	var b strings.Builder
	for i, it := range items {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(str(it))
		if err := r.checkLen(b.Len()); err != nil {
			return nil, err
		}
	}
	return Str(b.String()), nil
}

func filterMap(r *renderer, v Value, args []Value, kw []kwarg) (Value, error) {
	if !truthy(v) {
		return List(nil), nil
	}
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	var fn func(Value) (Value, error)
	if len(args) == 0 && hasKw(kw, "attribute") {
		var attr, dflt Value
		for _, k := range kw {
			switch k.name {
			case "attribute":
				attr = k.val
			case "default":
				dflt = k.val
			default:
				return nil, newErr(errFilterArg, "Unexpected keyword argument %s", repr(Str(k.name)))
			}
		}
		get := r.attrGetter(attr)
		fn = func(it Value) (Value, error) {
			x, err := get(it)
			if err == nil && dflt != nil && !isNone(dflt) && isUndefined(x) {
				return dflt, nil
			}
			return x, err
		}
	} else {
		if len(args) == 0 {
			return nil, newErr(errFilterArg, "map requires a filter argument")
		}
		name, _ := isString(args[0])
		f := filters[name]
		rest := args[1:]
		fn = func(it Value) (Value, error) {
			if f == nil {
				return nil, newErr(errRuntime, "No filter named %s.", repr(args[0]))
			}
			return f.call(r, it, rest, kw)
		}
	}
	out := make([]Value, 0, len(items))
	for _, it := range items {
		if err := r.step(1); err != nil {
			return nil, err
		}
		x, err := fn(it)
		if err != nil {
			return nil, err
		}
		out = append(out, x)
	}
	return List(out), nil
}

func hasKw(kw []kwarg, name string) bool {
	for _, k := range kw {
		if k.name == name {
			return true
		}
	}
	return false
}

// selectFilter implements select, reject, selectattr and rejectattr.
func selectFilter(keep, lookupAttr bool) func(r *renderer, v Value, args []Value, kw []kwarg) (Value, error) {
	return func(r *renderer, v Value, args []Value, kw []kwarg) (Value, error) {
		if !truthy(v) {
			return List(nil), nil
		}
		items, err := r.iterate(v)
		if err != nil {
			return nil, err
		}
		trans := func(x Value) (Value, error) { return x, nil }
		off := 0
		if lookupAttr {
			if len(args) == 0 {
				return nil, newErr(errFilterArg, "Missing parameter for attribute name")
			}
			trans = r.attrGetter(args[0])
			off = 1
		}
		test := func(x Value) (bool, error) { return truthy(x), nil }
		if len(args) > off {
			name, _ := isString(args[off])
			t := tests[name]
			rest := args[off+1:]
			test = func(x Value) (bool, error) {
				if t == nil {
					return false, newErr(errRuntime, "No test named %s.", repr(args[off]))
				}
				return t.call(r, x, rest, kw)
			}
		}
		var out []Value
		for _, it := range items {
			if err := r.step(1); err != nil {
				return nil, err
			}
			x, err := trans(it)
			if err != nil {
				return nil, err
			}
			ok, err := test(x)
			if err != nil {
				return nil, err
			}
			if ok == keep {
				out = append(out, it)
			}
		}
		return List(out), nil
	}
}

func minMax(want int) func(r *renderer, v Value, a []Value) (Value, error) {
	return func(r *renderer, v Value, a []Value) (Value, error) {
		items, err := r.iterate(v)
		if err != nil {
			return nil, err
		}
		if len(items) == 0 {
			return undefHint("No aggregated item, sequence was empty."), nil
		}
		cs := a[0] != nil && truthy(a[0])
		get := r.attrGetter(a[1])
		best := items[0]
		bk, err := get(best)
		if err != nil {
			return nil, err
		}
		bk = sortKey(bk, cs)
		for _, it := range items[1:] {
			k, err := get(it)
			if err != nil {
				return nil, err
			}
			k = sortKey(k, cs)
			op := "lt"
			if want == 1 {
				op = "gt"
			}
			c, err := r.order(op, k, bk)
			if err != nil {
				return nil, err
			}
			if c == want {
				best, bk = it, k
			}
		}
		return best, nil
	}
}

func filterReplace(r *renderer, v Value, a []Value) (Value, error) {
	count := -1
	if !isNone(a[2]) {
		var err error
		if count, err = toInt(a[2], "count"); err != nil {
			return nil, err
		}
	}
	return r.pyReplace(str(v), str(a[0]), str(a[1]), count)
}

func filterReverse(r *renderer, v Value, a []Value) (Value, error) {
	if s, ok := isString(v); ok {
		rs := []rune(s)
		for i, j := 0, len(rs)-1; i < j; i, j = i+1, j-1 {
			rs[i], rs[j] = rs[j], rs[i]
		}
		if _, m := v.(Markup); m {
			return Markup(string(rs)), nil
		}
		return Str(string(rs)), nil
	}
	items, err := r.iterate(v)
	if err != nil {
		return nil, newErr(errFilterArg, "argument must be iterable")
	}
	out := make([]Value, len(items))
	for i, it := range items {
		out[len(items)-1-i] = it
	}
	switch v.(type) {
	case *generator:
		return List(out), nil
	}
	g := newGenerator(out)
	g.iterName = v.pyType() + "_reverseiterator"
	if _, ok := v.(*Dict); ok {
		g.iterName = "dict_reversekeyiterator"
	}
	return g, nil
}

// Python's bounds on round(float, ndigits): beyond pyRoundMax digits a
// float rounds to itself, below pyRoundMin to a zero of its sign
// (CPython's NDIGITS_MAX and NDIGITS_MIN).
const (
	pyRoundMax = 323
	pyRoundMin = -308
)

// pyRound is Python's round(x, ndigits) for a float: correctly rounded,
// ties to even on the float's exact value.
func pyRound(x float64, nd int) (float64, error) {
	switch {
	case math.IsInf(x, 0) || math.IsNaN(x) || nd > pyRoundMax:
		return x, nil
	case nd < pyRoundMin:
		return 0 * x, nil
	case nd >= 0:
		f, _ := strconv.ParseFloat(strconv.FormatFloat(x, 'f', nd, 64), 64)
		return f, nil
	}
	scale := pow10Big(-nd)
	r := new(big.Rat).SetFloat64(x)
	q := roundHalfEven(r.Num(), new(big.Int).Mul(r.Denom(), scale))
	f, _ := new(big.Float).SetInt(q.Mul(q, scale)).Float64()
	if math.IsInf(f, 0) {
		return 0, newErr(errOverflow, "rounded value too large to represent")
	}
	if f == 0 {
		f = 0 * x // keep the sign, as Python does
	}
	return f, nil
}

// pow10Big returns 10**k as a big.Int.
func pow10Big(k int) *big.Int {
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(k)), nil)
}

// roundHalfEven returns a/b (b > 0) rounded to the nearest integer, ties to
// even.
func roundHalfEven(a, b *big.Int) *big.Int {
	q, m := new(big.Int).DivMod(a, b, new(big.Int)) // floor division: 0 <= m < b
	switch c := new(big.Int).Lsh(m, 1).Cmp(b); {
	case c > 0, c == 0 && q.Bit(0) == 1:
		q.Add(q, big.NewInt(1))
	}
	return q
}

// maxIntDigits bounds the decimal digits of an int of maxIntBits bits.
var maxIntDigits = int(maxIntBits*math.Log10(2)) + 1

// filterRound is Jinja's round: Python's round(value, precision) for
// "common", else math.floor/ceil(value * 10**precision) / 10**precision,
// with Python's int and float arithmetic.
func filterRound(r *renderer, v Value, a []Value) (Value, error) {
	prec := 0
	if a[0] != nil {
		var err error
		if prec, err = toInt(a[0], "precision"); err != nil {
			return nil, err
		}
	}
	method := "common"
	if a[1] != nil {
		method, _ = isString(a[1])
	}
	if method != "common" && method != "ceil" && method != "floor" {
		return nil, newErr(errFilterArg, "method must be common, ceil or floor")
	}
	n := asNum(v)
	if n.k == notNum && method == "common" {
		return nil, typeErr("type %s doesn't define __round__ method", v.pyType())
	}
	if n.k == notNum {
		if u, ok := v.(*Undefined); ok {
			return nil, u.err()
		}
		return nil, typeErr("unsupported operand type(s) for *: '%s' and 'int'", v.pyType())
	}
	if method == "common" {
		switch {
		case n.k == kFloat:
			f, err := pyRound(n.f, prec)
			if err != nil {
				return nil, err
			}
			return Float(f), nil
		case prec >= 0:
			return positive(v)
		case -prec > maxIntDigits:
			return Int(0), nil // |v| < 10**-prec / 2
		}
		scale := pow10Big(-prec)
		q := roundHalfEven(n.big(), scale)
		return bigResult(q.Mul(q, scale))
	}
	round := math.Floor
	if method == "ceil" {
		round = math.Ceil
	}
	if prec >= 0 {
		if n.k != kFloat {
			// An int times 10**prec is an int, which floor and ceil leave
			// as it is; dividing gives back the int, as a float.
			f, _ := new(big.Float).SetInt(n.big()).Float64()
			if math.IsInf(f, 0) {
				return nil, newErr(errOverflow, "integer division result too large for a float")
			}
			return Float(f), nil
		}
		if prec > 308 {
			return nil, newErr(errOverflow, "int too large to convert to float")
		}
		scale, _ := strconv.ParseFloat("1e"+strconv.Itoa(prec), 64) // float(10**prec), correctly rounded
		y := n.f * scale
		if math.IsInf(y, 0) {
			return nil, newErr(errOverflow, "cannot convert float infinity to integer")
		}
		if math.IsNaN(y) {
			return nil, newErr(errValue, "cannot convert float NaN to integer")
		}
		// An int divided by an int: correctly rounded.
		k, _ := new(big.Float).SetFloat64(round(y)).Int(nil)
		f, _ := new(big.Rat).SetFrac(k, pow10Big(prec)).Float64()
		return Float(f), nil
	}
	// 10**prec is a float for prec < 0; C's pow is correctly rounded there.
	scale, _ := strconv.ParseFloat("1e"+strconv.Itoa(prec), 64)
	x, err := n.float()
	if err != nil {
		return nil, err
	}
	y := x * scale
	if math.IsInf(y, 0) {
		return nil, newErr(errOverflow, "cannot convert float infinity to integer")
	}
	if math.IsNaN(y) {
		return nil, newErr(errValue, "cannot convert float NaN to integer")
	}
	if scale == 0 {
		return nil, newErr(errZeroDiv, "float division by zero")
	}
	k := round(y) + 0 // math.floor and math.ceil return ints: no -0
	return Float(k / scale), nil
}

func filterSlice(r *renderer, v Value, a []Value) (Value, error) {
	slices, err := toInt(a[0], "slices")
	if err != nil {
		return nil, err
	}
	if slices <= 0 {
		return nil, newErr(errZeroDiv, "integer division or modulo by zero")
	}
	seq, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	if slices > len(seq)+1 && slices > 1<<16 {
		return nil, newErr(errLimit, "too many slices")
	}
	per, extra := len(seq)/slices, len(seq)%slices
	offset := 0
	var out []Value
	for i := 0; i < slices; i++ {
		start := offset + i*per
		if i < extra {
			offset++
		}
		end := offset + (i+1)*per
		tmp := append(List{}, seq[start:end]...)
		if !isNone(a[1]) && i >= extra {
			tmp = append(tmp, a[1])
		}
		out = append(out, tmp)
	}
	return List(out), nil
}

func filterSort(r *renderer, v Value, a []Value) (Value, error) {
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	items = append([]Value(nil), items...)
	cs := a[1] != nil && truthy(a[1])
	// make_multi_attrgetter: comma-separated attributes compare as a list.
	var getters []func(Value) (Value, error)
	if s, ok := isString(a[2]); ok {
		for _, part := range strings.Split(s, ",") {
			getters = append(getters, r.attrGetter(Str(part)))
		}
	} else {
		getters = []func(Value) (Value, error){r.attrGetter(a[2])}
	}
	keys := make([]Value, len(items))
	for i, it := range items {
		k := make(List, len(getters))
		for j, g := range getters {
			x, err := g(it)
			if err != nil {
				return nil, err
			}
			k[j] = sortKey(x, cs)
		}
		keys[i] = k
	}
	if err := r.sortValues(items, keys, a[0] != nil && truthy(a[0])); err != nil {
		return nil, err
	}
	return List(items), nil
}

func filterSum(r *renderer, v Value, a []Value) (Value, error) {
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	var total Value = Int(0)
	if a[1] != nil {
		total = a[1]
	}
	get := r.attrGetter(a[0])
	for _, it := range items {
		x, err := get(it)
		if err != nil {
			return nil, err
		}
		if total, err = r.binop("+", total, x); err != nil {
			return nil, err
		}
	}
	return total, nil
}

func filterToJSON(r *renderer, v Value, a []Value) (Value, error) {
	o := jsonOpts{itemSep: ", ", keySep: ": "}
	o.ensureASCII = a[0] != nil && truthy(a[0])
	if !isNone(a[1]) {
		if s, ok := isString(a[1]); ok {
			o.indent, o.hasIndent = s, true
		} else {
			n, err := toInt(a[1], "indent")
			if err != nil {
				return nil, err
			}
			if n > 1<<10 {
				return nil, newErr(errLimit, "tojson indent too large")
			}
			if n < 0 {
				n = 0
			}
			o.indent, o.hasIndent = strings.Repeat(" ", n), true
		}
		o.itemSep = ","
	}
	if !isNone(a[2]) {
		seps, err := r.iterate(a[2])
		if err != nil {
			return nil, err
		}
		if len(seps) != 2 {
			return nil, newErr(errValue, "too many values to unpack (expected 2)")
		}
		o.itemSep, o.keySep = str(seps[0]), str(seps[1])
	}
	o.sortKeys = a[3] != nil && truthy(a[3])
	s, err := r.toJSON(v, o)
	if err != nil {
		return nil, err
	}
	return Str(s), nil
}

func filterTrim(r *renderer, v Value, a []Value) (Value, error) {
	var chars *string
	if !isNone(a[0]) {
		c, ok := isString(a[0])
		if !ok {
			return nil, typeErr("strip arg must be None or str")
		}
		chars = &c
	}
	out := pyStrip(str(v), chars, true, true)
	if _, ok := v.(Markup); ok {
		return Markup(out), nil
	}
	return Str(out), nil
}

func filterTruncate(r *renderer, v Value, a []Value) (Value, error) {
	length, leeway := 255, 5
	var err error
	if a[0] != nil {
		if length, err = toInt(a[0], "length"); err != nil {
			return nil, err
		}
	}
	end := "..."
	if a[2] != nil {
		end = str(a[2])
	}
	if !isNone(a[3]) {
		if leeway, err = toInt(a[3], "leeway"); err != nil {
			return nil, err
		}
	}
	if length < runeLen(end) {
		return nil, newErr("AssertionError", "expected length >= %d, got %d", runeLen(end), length)
	}
	if leeway < 0 {
		return nil, newErr("AssertionError", "expected leeway >= 0, got %d", leeway)
	}
	n, err := pyLen(v)
	if err != nil {
		return nil, err
	}
	if n <= length+leeway {
		return v, nil
	}
	s, ok := isString(v)
	if !ok {
		// s[:n] + end on a non-string
		cut, err := r.slice(v, None, Int(length-runeLen(end)), None)
		if err != nil {
			return nil, err
		}
		return r.binop("+", cut, Str(end))
	}
	rs := []rune(s)
	cut := string(rs[:length-runeLen(end)])
	if a[1] != nil && truthy(a[1]) {
		return Str(cut + end), nil
	}
	if i := strings.LastIndex(cut, " "); i >= 0 {
		cut = cut[:i]
	}
	return Str(cut + end), nil
}

func filterUnique(r *renderer, v Value, a []Value) (Value, error) {
	items, err := r.iterate(v)
	if err != nil {
		return nil, err
	}
	cs := a[0] != nil && truthy(a[0])
	get := r.attrGetter(a[1])
	seen := map[hashKey]bool{}
	var out []Value
	for _, it := range items {
		k, err := get(it)
		if err != nil {
			return nil, err
		}
		hk, err := keyOf(sortKey(k, cs))
		if err != nil {
			return nil, err
		}
		if !seen[hk] {
			seen[hk] = true
			out = append(out, it)
		}
	}
	return List(out), nil
}

func filterURLEncode(r *renderer, v Value, a []Value) (Value, error) {
	quote := func(x Value, forQS bool) string {
		s := str(x)
		var b strings.Builder
		for i := 0; i < len(s); i++ {
			c := s[i]
			switch {
			case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9', strings.IndexByte("_.-~", c) >= 0:
				b.WriteByte(c)
			case c == '/' && !forQS:
				b.WriteByte(c)
			case c == ' ' && forQS:
				b.WriteByte('+')
			default:
				b.WriteString("%" + strings.ToUpper(hex(int(c), 2)))
			}
		}
		return b.String()
	}
	switch x := v.(type) {
	case Str, Markup:
		return Str(quote(x, false)), nil
	case *Dict:
		var parts []string
		for i, k := range x.keys {
			parts = append(parts, quote(k, true)+"="+quote(x.vals[i], true))
		}
		return Str(strings.Join(parts, "&")), nil
	}
	items, err := r.iterate(v)
	if err != nil {
		return Str(quote(v, false)), nil
	}
	var parts []string
	for _, it := range items {
		kv, err := r.iterate(it)
		if err != nil || len(kv) != 2 {
			return nil, newErr(errValue, "too many values to unpack (expected 2)")
		}
		parts = append(parts, quote(kv[0], true)+"="+quote(kv[1], true))
	}
	return Str(strings.Join(parts, "&")), nil
}

func filterWordwrap(r *renderer, v Value, a []Value) (Value, error) {
	width := 79
	if a[0] != nil {
		var err error
		if width, err = toInt(a[0], "width"); err != nil {
			return nil, err
		}
	}
	sep := "\n"
	if a[2] != nil {
		sep = str(a[2])
	}
	text, ok := isString(v)
	if !ok { // Jinja calls s.splitlines()
		if u, isU := v.(*Undefined); isU {
			return nil, u.err()
		}
		return nil, newErr("AttributeError", "'%s' object has no attribute 'splitlines'", v.pyType())
	}
	var lines []string
	for _, l := range pySplitlines(text, false) {
		if width <= 0 { // textwrap checks the width when it wraps a line
			return nil, newErr(errValue, "invalid width %d (must be > 0)", width)
		}
		words := strings.Fields(string(l.(Str)))
		var cur string
		var wrapped []string
		for _, w := range words {
			for runeLen(w) > width && (a[1] == nil || truthy(a[1])) {
				if cur != "" {
					wrapped = append(wrapped, cur)
					cur = ""
				}
				rs := []rune(w)
				wrapped = append(wrapped, string(rs[:width]))
				w = string(rs[width:])
			}
			switch {
			case cur == "":
				cur = w
			case runeLen(cur)+1+runeLen(w) <= width:
				cur += " " + w
			default:
				wrapped = append(wrapped, cur)
				cur = w
			}
		}
		if cur != "" {
			wrapped = append(wrapped, cur)
		}
		lines = append(lines, strings.Join(wrapped, sep))
	}
	return Str(strings.Join(lines, sep)), nil
}

var xmlKeyRE = regexp.MustCompile(`[\s/>=]`)

func filterXMLAttr(r *renderer, v Value, a []Value) (Value, error) {
	d, ok := v.(*Dict)
	if !ok {
		return nil, newErr(errUndefined, "%s has no attribute 'items'", repr(Str(objectTypeRepr(v))))
	}
	var parts []string
	for i, k := range d.keys {
		val := d.vals[i]
		if isNone(val) || isUndefined(val) {
			continue
		}
		ks := str(k)
		if xmlKeyRE.MatchString(ks) {
			return nil, newErr(errValue, "Invalid character in attribute name: %s", repr(k))
		}
		parts = append(parts, escapeString(ks)+`="`+string(escapeValue(val))+`"`)
	}
	out := strings.Join(parts, " ")
	if (a[0] == nil || truthy(a[0])) && out != "" {
		out = " " + out
	}
	return Str(out), nil
}
