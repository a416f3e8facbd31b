package chat

import (
	"strings"
)

// builtinFunc is a callable implemented in Go: a global function or a
// method bound to self.
type builtinFunc struct {
	name string
	self Value // receiver of a bound method, nil for functions
	fn   func(r *renderer, args []Value, kw []kwarg) (Value, error)
}

func (b *builtinFunc) pyType() string {
	if b.self != nil {
		return "builtin_function_or_method"
	}
	return "function"
}

// mutating lists the methods the immutable sandbox refuses, per type.
var mutating = map[string]map[string]bool{
	"list": {"append": true, "clear": true, "pop": true, "reverse": true, "insert": true, "sort": true, "extend": true, "remove": true},
	"dict": {"clear": true, "pop": true, "popitem": true, "setdefault": true, "update": true},
}

// unsafeUndefined is SandboxedEnvironment.unsafe_undefined.
func unsafeUndefined(obj Value, attr string) *Undefined {
	return &Undefined{
		hint:    "access to attribute " + repr(Str(attr)) + " of " + repr(Str(obj.pyType())) + " object is unsafe.",
		obj:     obj,
		name:    Str(attr),
		excType: errSecurity,
	}
}

// pyAttr is Python getattr(obj, name) for the attributes templates can
// reach. found reports whether the attribute exists; a nil value with
// found=true means the attribute exists but is unsafe.
func (r *renderer) pyAttr(obj Value, name string) (v Value, found bool) {
	if strings.HasPrefix(name, "__") && strings.HasSuffix(name, "__") && len(name) > 4 {
		return nil, true // dunder attributes exist but are never safe
	}
	switch x := obj.(type) {
	case Str:
		if m := strMethod(x, name, false); m != nil {
			return m, true
		}
	case Markup:
		if m := strMethod(Str(x), name, true); m != nil {
			return m, true
		}
	case *Dict:
		if mutating["dict"][name] {
			return nil, true
		}
		if m := dictMethod(x, name); m != nil {
			return m, true
		}
	case List:
		if mutating["list"][name] {
			return nil, true
		}
		if m := seqMethod(x, []Value(x), name); m != nil {
			return m, true
		}
	case Tuple:
		if m := seqMethod(x, []Value(x), name); m != nil {
			return m, true
		}
		if len(x) == 2 && r.groups[&x[0]] {
			switch name {
			case "grouper":
				return x[0], true
			case "list":
				return x[1], true
			}
		}
	case *Namespace:
		if v, ok := x.attrs.GetStr(name); ok {
			return v, true
		}
	case *loopContext:
		if v, ok := x.attr(name); ok {
			return v, true
		}
	case *cycler:
		if v, ok := x.attr(name); ok {
			return v, true
		}
	case *Macro:
		if v, ok := x.attr(name); ok {
			return v, true
		}
	case Int, Bool, *BigInt:
		switch name {
		case "real", "numerator":
			n, _ := positive(obj)
			return n, true
		case "imag":
			return Int(0), true
		case "denominator":
			return Int(1), true
		}
	case Float:
		switch name {
		case "real":
			return x, true
		case "imag":
			return Float(0), true
		case "is_integer":
			return &builtinFunc{name: name, self: x, fn: func(*renderer, []Value, []kwarg) (Value, error) {
				return Bool(float64(x) == float64(int64(x))), nil
			}}, true
		}
	case rangeValue:
		switch name {
		case "start":
			return Int(x.start), true
		case "stop":
			return Int(x.stop), true
		case "step":
			return Int(x.step), true
		}
	case *generator:
		// no safe attributes
	}
	return nil, false
}

// getattr is the sandbox's getattr(obj, attr): attribute first, then item.
func (r *renderer) getattr(obj Value, attr string) (Value, error) {
	if u, ok := obj.(*Undefined); ok {
		return nil, u.err()
	}
	v, found := r.pyAttr(obj, attr)
	if found {
		if v == nil || strings.HasPrefix(attr, "_") {
			return unsafeUndefined(obj, attr), nil
		}
		return v, nil
	}
	if v, ok, err := r.item(obj, Str(attr)); err != nil {
		return nil, err
	} else if ok {
		return v, nil
	}
	return undefAttr(obj, Str(attr)), nil
}

// getitem is the sandbox's getitem(obj, key): item first, then attribute
// for string keys.
func (r *renderer) getitem(obj Value, key Value) (Value, error) {
	if u, ok := obj.(*Undefined); ok {
		return nil, u.err()
	}
	v, ok, err := r.item(obj, key)
	if err != nil {
		return nil, err
	}
	if ok {
		return v, nil
	}
	if ks, isStr := isString(key); isStr {
		v, found := r.pyAttr(obj, ks)
		if found {
			if v == nil || strings.HasPrefix(ks, "_") {
				return unsafeUndefined(obj, ks), nil
			}
			return v, nil
		}
	}
	return undefAttr(obj, key), nil
}

// item is Python obj[key]; ok is false where Python raises TypeError or
// LookupError (which the sandbox turns into Undefined).
func (r *renderer) item(obj, key Value) (Value, bool, error) {
	switch x := obj.(type) {
	case *Dict:
		v, ok := x.Get(key)
		return v, ok, nil
	case List:
		return indexSeq([]Value(x), key)
	case Tuple:
		return indexSeq([]Value(x), key)
	case Str, Markup:
		s, _ := isString(x)
		n := asNum(key)
		if n.k != kInt {
			return nil, false, nil
		}
		if isASCII(s) {
			i := n.i
			if i < 0 {
				i += int64(len(s))
			}
			if i < 0 || i >= int64(len(s)) {
				return nil, false, nil
			}
			return Str(s[i : i+1]), true, nil
		}
		if err := r.charge(x); err != nil {
			return nil, false, err
		}
		rs := []rune(s)
		i := n.i
		if i < 0 {
			i += int64(len(rs))
		}
		if i < 0 || i >= int64(len(rs)) {
			return nil, false, nil
		}
		return Str(string(rs[i])), true, nil
	case rangeValue:
		return indexSeq(x.list(), key)
	}
	return nil, false, nil
}

func indexSeq(items []Value, key Value) (Value, bool, error) {
	n := asNum(key)
	if n.k != kInt {
		return nil, false, nil
	}
	i := n.i
	if i < 0 {
		i += int64(len(items))
	}
	if i < 0 || i >= int64(len(items)) {
		return nil, false, nil
	}
	return items[i], true, nil
}

// sliceIndex converts a slice bound (int, bool or None).
func sliceIndex(v Value) (int64, bool, error) {
	if _, ok := v.(NoneType); ok {
		return 0, false, nil
	}
	n := asNum(v)
	switch n.k {
	case kInt:
		return n.i, true, nil
	case kBig:
		if n.b.Sign() < 0 {
			return -1 << 62, true, nil
		}
		return 1 << 62, true, nil
	}
	if u, ok := v.(*Undefined); ok {
		return 0, false, u.err()
	}
	return 0, false, typeErr("slice indices must be integers or None or have an __index__ method")
}

// sliceBounds returns the indices obj[start:stop:step] takes from a
// sequence of length n.
func sliceBounds(n int, start, stop, step Value) ([]int, error) {
	a, b, st, err := sliceAdjust(n, start, stop, step)
	if err != nil {
		return nil, err
	}
	var idx []int
	if st > 0 {
		for i := a; i < b; i += st {
			idx = append(idx, int(i))
		}
	} else {
		for i := a; i > b; i += st {
			idx = append(idx, int(i))
		}
	}
	return idx, nil
}

// sliceAdjust is PySlice_Unpack + PySlice_AdjustIndices.
func sliceAdjust(n int, start, stop, step Value) (int64, int64, int64, error) {
	st, hasStep, err := sliceIndex(step)
	if err != nil {
		return 0, 0, 0, err
	}
	if !hasStep {
		st = 1
	}
	if st == 0 {
		return 0, 0, 0, newErr(errValue, "slice step cannot be zero")
	}
	lo, hasLo, err := sliceIndex(start)
	if err != nil {
		return 0, 0, 0, err
	}
	hi, hasHi, err := sliceIndex(stop)
	if err != nil {
		return 0, 0, 0, err
	}
	ln := int64(n)
	adjust := func(v int64, has bool, dflt int64) int64 {
		if !has {
			return dflt
		}
		if v < 0 {
			v += ln
			if v < 0 {
				if st < 0 {
					return -1
				}
				return 0
			}
		} else if v >= ln {
			if st < 0 {
				return ln - 1
			}
			return ln
		}
		return v
	}
	if st > 0 {
		return adjust(lo, hasLo, 0), adjust(hi, hasHi, ln), st, nil
	}
	return adjust(lo, hasLo, ln-1), adjust(hi, hasHi, -1), st, nil
}

// slice is Python obj[start:stop:step].
func (r *renderer) slice(obj, start, stop, step Value) (Value, error) {
	switch x := obj.(type) {
	case Str, Markup:
		s, _ := isString(x)
		if err := r.charge(x); err != nil {
			return nil, err
		}
		rs := []rune(s)
		idx, err := sliceBounds(len(rs), start, stop, step)
		if err != nil {
			return nil, err
		}
		out := make([]rune, len(idx))
		for i, j := range idx {
			out[i] = rs[j]
		}
		if _, ok := x.(Markup); ok {
			return Markup(string(out)), nil
		}
		return Str(string(out)), nil
	case rangeValue:
		a, b, st, err := sliceAdjust(x.length(), start, stop, step)
		if err != nil {
			return nil, err
		}
		return newRange(x.start+a*x.step, x.start+b*x.step, x.step*st), nil
	case List, Tuple:
		var items []Value
		switch y := x.(type) {
		case List:
			items = y
		case Tuple:
			items = y
		}
		idx, err := sliceBounds(len(items), start, stop, step)
		if err != nil {
			return nil, err
		}
		out := make([]Value, len(idx))
		for i, j := range idx {
			out[i] = items[j]
		}
		if _, ok := x.(Tuple); ok {
			return Tuple(out), nil
		}
		return List(out), nil
	case *Undefined:
		return nil, x.err()
	case *Dict:
		if r.constMode {
			return undefAttr(obj, sliceObj{start, stop, step}), nil
		}
		return nil, typeErr("unhashable type: 'slice'")
	}
	if r.constMode {
		// Jinja folds constant expressions through environment.getitem,
		// which turns the TypeError into Undefined.
		return undefAttr(obj, sliceObj{start, stop, step}), nil
	}
	return nil, typeErr("'%s' object is not subscriptable", obj.pyType())
}

// sliceObj is a Python slice object (only ever shown in messages).
type sliceObj struct{ start, stop, step Value }

func (sliceObj) pyType() string { return "slice" }

// call calls a callable value with Python argument semantics.
func (r *renderer) call(fn Value, args []Value, kw []kwarg) (Value, error) {
	switch f := fn.(type) {
	case *builtinFunc:
		if err := r.step(1); err != nil {
			return nil, err
		}
		if err := r.charge(f.self); err != nil {
			return nil, err
		}
		return f.fn(r, args, kw)
	case *Macro:
		return f.call(r, args, kw)
	case *loopContext:
		if f.recurse == nil {
			return nil, typeErr("The loop must have the 'recursive' marker to be called recursively.")
		}
		if len(args) != 1 || len(kw) > 0 {
			return nil, typeErr("__call__() takes 2 positional arguments but %d were given", len(args)+1)
		}
		items, err := r.iterate(args[0])
		if err != nil {
			return nil, err
		}
		return f.recurse(r, items, f.depth0+1)
	case *Undefined:
		return nil, f.err()
	}
	return nil, typeErr("'%s' object is not callable", fn.pyType())
}
