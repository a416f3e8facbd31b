package chat

// maxRange is the sandbox's MAX_RANGE.
const maxRange = 100000

// globals are the names every template sees: Jinja's defaults (range, dict,
// lipsum, cycler, joiner, namespace) and transformers' raise_exception and
// strftime_now.
var globals map[string]Value

func init() {
	globals = map[string]Value{
		"range":           &builtinFunc{name: "safe_range", fn: globalRange},
		"dict":            &builtinFunc{name: "dict", fn: globalDict},
		"namespace":       &builtinFunc{name: "Namespace", fn: globalNamespace},
		"lipsum":          &builtinFunc{name: "generate_lorem_ipsum", fn: globalLipsum},
		"cycler":          &builtinFunc{name: "Cycler", fn: globalCycler},
		"joiner":          &builtinFunc{name: "Joiner", fn: globalJoiner},
		"raise_exception": &builtinFunc{name: "raise_exception", fn: globalRaise},
		"strftime_now":    &builtinFunc{name: "strftime_now", fn: globalStrftimeNow},
	}
}

func globalRange(r *renderer, args []Value, kw []kwarg) (Value, error) {
	if len(kw) > 0 {
		return nil, typeErr("range() takes no keyword arguments")
	}
	if len(args) == 0 {
		return nil, typeErr("range expected at least 1 argument, got 0")
	}
	if len(args) > 3 {
		return nil, typeErr("range expected at most 3 arguments, got %d", len(args))
	}
	var vals [3]int64
	for i, a := range args {
		n := asNum(a)
		switch n.k {
		case kInt:
			vals[i] = n.i
		case kBig:
			return nil, newErr(errOverflow, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).", maxRange)
		default:
			if u, ok := a.(*Undefined); ok {
				return nil, u.err()
			}
			return nil, typeErr("'%s' object cannot be interpreted as an integer", a.pyType())
		}
	}
	start, stop, step := int64(0), int64(0), int64(1)
	switch len(args) {
	case 1:
		stop = vals[0]
	case 2:
		start, stop = vals[0], vals[1]
	case 3:
		start, stop, step = vals[0], vals[1], vals[2]
		if step == 0 {
			return nil, newErr(errValue, "range() arg 3 must not be zero")
		}
	}
	rg := newRange(start, stop, step)
	if rg.n > maxRange {
		return nil, newErr(errOverflow, "Range too big. The sandbox blocks ranges larger than MAX_RANGE (%d).", maxRange)
	}
	return rg, nil
}

// dictFromArgs is dict(*args, **kwargs).
func (r *renderer) dictFromArgs(fname string, args []Value, kw []kwarg) (*Dict, error) {
	if len(args) > 1 {
		return nil, typeErr("%s expected at most 1 argument, got %d", fname, len(args))
	}
	d := NewDict()
	if len(args) == 1 {
		switch src := args[0].(type) {
		case *Dict:
			d = src.copyDict()
		case *Namespace:
			return nil, typeErr("'Namespace' object is not iterable")
		default:
			items, err := r.iterate(src)
			if err != nil {
				return nil, err
			}
			for i, it := range items {
				pair, err := r.iterate(it)
				if err != nil {
					return nil, typeErr("cannot convert dictionary update sequence element #%d to a sequence", i)
				}
				if len(pair) != 2 {
					return nil, newErr(errValue, "dictionary update sequence element #%d has length %d; 2 is required", i, len(pair))
				}
				if err := d.Set(pair[0], pair[1]); err != nil {
					return nil, err
				}
			}
		}
	}
	for _, k := range kw {
		d.SetStr(k.name, k.val)
	}
	return d, nil
}

func globalDict(r *renderer, args []Value, kw []kwarg) (Value, error) {
	return r.dictFromArgs("dict", args, kw)
}

func globalNamespace(r *renderer, args []Value, kw []kwarg) (Value, error) {
	d, err := r.dictFromArgs("dict", args, kw)
	if err != nil {
		return nil, err
	}
	return &Namespace{attrs: d}, nil
}

func globalLipsum(r *renderer, args []Value, kw []kwarg) (Value, error) {
	return nil, newErr(errRuntime, "lipsum() is not supported: its output is random")
}

func globalCycler(r *renderer, args []Value, kw []kwarg) (Value, error) {
	if len(kw) > 0 {
		return nil, typeErr("Cycler.__init__() got an unexpected keyword argument %s", repr(Str(kw[0].name)))
	}
	if len(args) == 0 {
		return nil, newErr("RuntimeError", "at least one item has to be provided")
	}
	return &cycler{items: append([]Value(nil), args...)}, nil
}

func globalJoiner(r *renderer, args []Value, kw []kwarg) (Value, error) {
	a, err := bindArgs("Joiner.__init__", []string{"sep"}, 0, args, kw)
	if err != nil {
		return nil, err
	}
	var sep Value = Str(", ")
	if a[0] != nil {
		sep = a[0]
	}
	used := false
	return &builtinFunc{name: "Joiner", self: Str(""), fn: func(*renderer, []Value, []kwarg) (Value, error) {
		if !used {
			used = true
			return Str(""), nil
		}
		return sep, nil
	}}, nil
}

func globalRaise(r *renderer, args []Value, kw []kwarg) (Value, error) {
	a, err := bindArgs("raise_exception", []string{"message"}, 1, args, kw)
	if err != nil {
		return nil, err
	}
	return nil, &Error{Type: errTemplate, Msg: str(a[0])}
}

func globalStrftimeNow(r *renderer, args []Value, kw []kwarg) (Value, error) {
	a, err := bindArgs("strftime_now", []string{"format"}, 1, args, kw)
	if err != nil {
		return nil, err
	}
	f, ok := isString(a[0])
	if !ok {
		return nil, typeErr("strftime() argument 1 must be str, not %s", a[0].pyType())
	}
	return Str(strftime(r.now(), f)), nil
}
