package chat

// dictMethod returns the bound non-mutating dict method name of d, or nil.
func dictMethod(d *Dict, name string) Value {
	var fn func(r *renderer, args []Value, kw []kwarg) (Value, error)
	switch name {
	case "items", "keys", "values":
		kind := name[0]
		fn = func(r *renderer, args []Value, kw []kwarg) (Value, error) {
			if err := argCount(name, args, 0, 0); err != nil {
				return nil, err
			}
			return &dictView{d: d, kind: kind}, nil
		}
	case "get":
		fn = func(r *renderer, args []Value, kw []kwarg) (Value, error) {
			if err := noKwargs("get", kw); err != nil {
				return nil, err
			}
			if err := argCount("get", args, 1, 2); err != nil {
				return nil, err
			}
			if _, err := keyOf(args[0]); err != nil {
				return nil, err
			}
			if v, ok := d.Get(args[0]); ok {
				return v, nil
			}
			if len(args) == 2 {
				return args[1], nil
			}
			return None, nil
		}
	case "copy":
		fn = func(r *renderer, args []Value, kw []kwarg) (Value, error) {
			return d.copyDict(), nil
		}
	default:
		return nil
	}
	return &builtinFunc{name: name, self: d, fn: fn}
}

// seqMethod returns the bound non-mutating list/tuple method, or nil.
func seqMethod(self Value, items []Value, name string) Value {
	var fn func(r *renderer, args []Value, kw []kwarg) (Value, error)
	switch name {
	case "count":
		fn = func(r *renderer, args []Value, kw []kwarg) (Value, error) {
			if err := argCount("count", args, 1, 1); err != nil {
				return nil, err
			}
			n := 0
			for _, it := range items {
				if pyEqual(it, args[0]) {
					n++
				}
			}
			return Int(n), nil
		}
	case "index":
		fn = func(r *renderer, args []Value, kw []kwarg) (Value, error) {
			if err := argCount("index", args, 1, 3); err != nil {
				return nil, err
			}
			for i, it := range items {
				if pyEqual(it, args[0]) {
					return Int(i), nil
				}
			}
			return nil, newErr(errValue, "%s is not in %s", repr(args[0]), self.pyType())
		}
	case "copy":
		if _, ok := self.(List); !ok {
			return nil
		}
		fn = func(r *renderer, args []Value, kw []kwarg) (Value, error) {
			return append(List(nil), items...), nil
		}
	default:
		return nil
	}
	return &builtinFunc{name: name, self: self, fn: fn}
}
