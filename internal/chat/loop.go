package chat

// loopContext is the `loop` variable of a for loop (Jinja's LoopContext).
// Items are materialised, so length, last and nextitem need no lookahead.
type loopContext struct {
	items       []Value
	index0      int
	depth0      int
	lastChanged Value // nil until changed() is first called
	recurse     func(r *renderer, items []Value, depth int) (Value, error)
}

func (*loopContext) pyType() string { return "LoopContext" }

func (l *loopContext) length() (int, error) { return len(l.items), nil }

// attr returns a loop attribute.
func (l *loopContext) attr(name string) (Value, bool) {
	n := len(l.items)
	switch name {
	case "index":
		return Int(l.index0 + 1), true
	case "index0":
		return Int(l.index0), true
	case "revindex":
		return Int(n - l.index0), true
	case "revindex0":
		return Int(n - l.index0 - 1), true
	case "first":
		return Bool(l.index0 == 0), true
	case "last":
		return Bool(l.index0 == n-1), true
	case "length":
		return Int(n), true
	case "depth":
		return Int(l.depth0 + 1), true
	case "depth0":
		return Int(l.depth0), true
	case "previtem":
		if l.index0 == 0 {
			return undefHint("there is no previous item"), true
		}
		return l.items[l.index0-1], true
	case "nextitem":
		if l.index0+1 >= n {
			return undefHint("there is no next item"), true
		}
		return l.items[l.index0+1], true
	case "cycle":
		return &builtinFunc{name: "cycle", self: l, fn: func(r *renderer, args []Value, kw []kwarg) (Value, error) {
			if len(args) == 0 {
				return nil, typeErr("no items for cycling given")
			}
			return args[l.index0%len(args)], nil
		}}, true
	case "changed":
		return &builtinFunc{name: "changed", self: l, fn: func(r *renderer, args []Value, kw []kwarg) (Value, error) {
			v := Tuple(append([]Value(nil), args...))
			if l.lastChanged == nil || !pyEqual(l.lastChanged, v) {
				l.lastChanged = v
				return Bool(true), nil
			}
			return Bool(false), nil
		}}, true
	}
	return nil, false
}

func (f *forStmt) exec(r *renderer, s *scope) (ctrl, error) {
	iv, err := f.iter.eval(r, s)
	if err != nil {
		return 0, err
	}
	items, err := r.iterate(iv)
	if err != nil {
		return 0, err
	}
	if f.recursive {
		v, err := f.runRecursive(r, s, items, 0)
		if err != nil {
			return 0, err
		}
		return ctrlNone, r.write(str(v))
	}
	return ctrlNone, f.run(r, s, items, 0)
}

// runRecursive renders a recursive loop level into a string.
func (f *forStmt) runRecursive(r *renderer, s *scope, items []Value, depth int) (Value, error) {
	if err := r.enterCall(); err != nil {
		return nil, err
	}
	defer r.leaveCall()
	text, err := r.capture(func() error { return f.run(r, s, items, depth) })
	if err != nil {
		return nil, err
	}
	return r.blockValue(text), nil
}

// run executes the loop over items at the given recursion depth.
func (f *forStmt) run(r *renderer, s *scope, items []Value, depth int) error {
	if f.filter != nil {
		kept := items[:0:0]
		for _, it := range items {
			if err := r.step(1); err != nil {
				return err
			}
			ts := &scope{parent: s}
			if err := r.assign(ts, f.target, it); err != nil {
				return err
			}
			v, err := f.filter.eval(r, ts)
			if err != nil {
				return err
			}
			if truthy(v) {
				kept = append(kept, it)
			}
		}
		items = kept
	}
	lc := &loopContext{items: items, depth0: depth}
	if f.recursive {
		lc.recurse = func(r *renderer, sub []Value, d int) (Value, error) {
			return f.runRecursive(r, s, sub, d)
		}
	}
	completed := false
	for i, it := range items {
		if err := r.step(1); err != nil {
			return err
		}
		lc.index0 = i
		is := &scope{parent: s, names: make([]string, 0, 4), vals: make([]Value, 0, 4)}
		if err := r.assign(is, f.target, it); err != nil {
			return err
		}
		is.set("loop", lc)
		c, err := r.execBody(f.body, is)
		if err != nil {
			return err
		}
		if c == ctrlBreak {
			break
		}
		if c == ctrlNone {
			completed = true
		}
	}
	if !completed && f.els != nil {
		_, err := r.execBody(f.els, &scope{parent: s})
		return err
	}
	return nil
}
