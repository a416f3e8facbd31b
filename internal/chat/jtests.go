package chat

// testDef is a Jinja test (`x is name`).
type testDef struct {
	name   string
	params []string // parameter names after the value
	nreq   int      // required parameters after the value
	fn     func(r *renderer, v Value, a []Value) (bool, error)
}

func (t *testDef) call(r *renderer, v Value, args []Value, kw []kwarg) (bool, error) {
	a, err := bindArgs("test_"+t.name, t.params, t.nreq, args, kw)
	if err != nil {
		return false, err
	}
	return t.fn(r, v, a)
}

// tests are Jinja's built-in tests.
var tests map[string]*testDef

func unaryTest(name string, f func(v Value) bool) *testDef {
	return &testDef{name: name, fn: func(r *renderer, v Value, a []Value) (bool, error) { return f(v), nil }}
}

func compareTest(name, op string) *testDef {
	return &testDef{name: name, params: []string{"other"}, nreq: 1, fn: func(r *renderer, v Value, a []Value) (bool, error) {
		return r.compare(op, v, a[0])
	}}
}

func modTest(name string, want int64) *testDef {
	return &testDef{name: name, fn: func(r *renderer, v Value, a []Value) (bool, error) {
		m, err := r.binop("%", v, Int(2))
		if err != nil {
			return false, err
		}
		return pyEqual(m, Int(want)), nil
	}}
}

func init() {
	tests = map[string]*testDef{
		"odd":  modTest("odd", 1),
		"even": modTest("even", 0),
		"divisibleby": {name: "divisibleby", params: []string{"num"}, nreq: 1, fn: func(r *renderer, v Value, a []Value) (bool, error) {
			m, err := r.binop("%", v, a[0])
			if err != nil {
				return false, err
			}
			return pyEqual(m, Int(0)), nil
		}},
		"defined":   unaryTest("defined", func(v Value) bool { return !isUndefined(v) }),
		"undefined": unaryTest("undefined", isUndefined),
		"filter": unaryTest("filter", func(v Value) bool {
			s, ok := isString(v)
			return ok && filters[s] != nil
		}),
		"test": unaryTest("test", func(v Value) bool {
			s, ok := isString(v)
			return ok && tests[s] != nil
		}),
		"none":    unaryTest("none", func(v Value) bool { _, ok := v.(NoneType); return ok }),
		"boolean": unaryTest("boolean", func(v Value) bool { _, ok := v.(Bool); return ok }),
		"false":   unaryTest("false", func(v Value) bool { b, ok := v.(Bool); return ok && !bool(b) }),
		"true":    unaryTest("true", func(v Value) bool { b, ok := v.(Bool); return ok && bool(b) }),
		"integer": unaryTest("integer", func(v Value) bool {
			switch v.(type) {
			case Int, *BigInt:
				return true
			}
			return false
		}),
		"float":  unaryTest("float", func(v Value) bool { _, ok := v.(Float); return ok }),
		"lower":  unaryTest("lower", func(v Value) bool { return caseCheck(str(v), isLowerRune, isUpperRune) }),
		"upper":  unaryTest("upper", func(v Value) bool { return caseCheck(str(v), isUpperRune, isLowerRune) }),
		"string": unaryTest("string", func(v Value) bool { _, ok := isString(v); return ok }),
		"mapping": unaryTest("mapping", func(v Value) bool {
			_, ok := v.(*Dict)
			return ok
		}),
		"number": unaryTest("number", func(v Value) bool { _, ok := asNumOK(v); return ok }),
		"sequence": unaryTest("sequence", func(v Value) bool {
			switch v.(type) {
			case Str, Markup, List, Tuple, *Dict, rangeValue, *Undefined:
				return true
			}
			return false
		}),
		"iterable": unaryTest("iterable", func(v Value) bool {
			switch v.(type) {
			case Str, Markup, List, Tuple, *Dict, rangeValue, *Undefined, *dictView, *generator, *loopContext:
				return true
			}
			return false
		}),
		"callable": unaryTest("callable", func(v Value) bool {
			switch v.(type) {
			case *builtinFunc, *Macro, *loopContext, *Undefined:
				return true
			}
			return false
		}),
		"escaped": unaryTest("escaped", func(v Value) bool { _, ok := v.(Markup); return ok }),
		"sameas": {name: "sameas", params: []string{"other"}, nreq: 1, fn: func(r *renderer, v Value, a []Value) (bool, error) {
			return sameObject(v, a[0]), nil
		}},
		"in": {name: "in", params: []string{"seq"}, nreq: 1, fn: func(r *renderer, v Value, a []Value) (bool, error) {
			return r.contains(a[0], v)
		}},
	}
	for _, c := range []struct {
		op    string
		names []string
	}{
		{"eq", []string{"==", "eq", "equalto"}},
		{"ne", []string{"!=", "ne"}},
		{"gt", []string{">", "gt", "greaterthan"}},
		{"gteq", []string{">=", "ge"}},
		{"lt", []string{"<", "lt", "lessthan"}},
		{"lteq", []string{"<=", "le"}},
	} {
		for _, n := range c.names {
			tests[n] = compareTest(n, c.op)
		}
	}
}
