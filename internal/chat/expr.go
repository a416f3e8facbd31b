package chat

import (
	"strconv"
	"strings"
)

func (e *constExpr) eval(*renderer, *scope) (Value, error) { return e.v, nil }

func (e *nameExpr) eval(r *renderer, s *scope) (Value, error) {
	if r.constMode {
		return nil, errImpossible
	}
	if v, ok := r.lookup(s, e.name); ok {
		return v, nil
	}
	return undefName(e.name), nil
}

func (e *getattrExpr) eval(r *renderer, s *scope) (Value, error) {
	obj, err := e.x.eval(r, s)
	if err != nil {
		return nil, err
	}
	return r.getattr(obj, e.attr)
}

func (e *getitemExpr) eval(r *renderer, s *scope) (Value, error) {
	obj, err := e.x.eval(r, s)
	if err != nil {
		return nil, err
	}
	key, err := e.key.eval(r, s)
	if err != nil {
		return nil, err
	}
	return r.getitem(obj, key)
}

func (sliceLit) eval(*renderer, *scope) (Value, error) {
	return nil, typeErr("slices inside a subscript tuple are not supported")
}

func (e *sliceExpr) eval(r *renderer, s *scope) (Value, error) {
	obj, err := e.x.eval(r, s)
	if err != nil {
		return nil, err
	}
	var parts [3]Value
	for i, x := range []expr{e.start, e.stop, e.step} {
		if x == nil {
			parts[i] = None
			continue
		}
		if parts[i], err = x.eval(r, s); err != nil {
			return nil, err
		}
	}
	return r.slice(obj, parts[0], parts[1], parts[2])
}

func (e *listExpr) eval(r *renderer, s *scope) (Value, error) {
	out := make(List, len(e.items))
	for i, x := range e.items {
		v, err := x.eval(r, s)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (e *tupleExpr) eval(r *renderer, s *scope) (Value, error) {
	out := make(Tuple, len(e.items))
	for i, x := range e.items {
		v, err := x.eval(r, s)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func (e *dictExpr) eval(r *renderer, s *scope) (Value, error) {
	d := NewDict()
	for i, kx := range e.keys {
		k, err := kx.eval(r, s)
		if err != nil {
			return nil, err
		}
		v, err := e.vals[i].eval(r, s)
		if err != nil {
			return nil, err
		}
		if err := d.Set(k, v); err != nil {
			return nil, err
		}
	}
	return d, nil
}

func (e *binExpr) eval(r *renderer, s *scope) (Value, error) {
	a, err := e.l.eval(r, s)
	if err != nil {
		return nil, err
	}
	b, err := e.r.eval(r, s)
	if err != nil {
		return nil, err
	}
	return r.binop(e.op, a, b)
}

func (e *andExpr) eval(r *renderer, s *scope) (Value, error) {
	a, err := e.l.eval(r, s)
	if err != nil || !truthy(a) {
		return a, err
	}
	return e.r.eval(r, s)
}

func (e *orExpr) eval(r *renderer, s *scope) (Value, error) {
	a, err := e.l.eval(r, s)
	if err != nil || truthy(a) {
		return a, err
	}
	return e.r.eval(r, s)
}

func (e *notExpr) eval(r *renderer, s *scope) (Value, error) {
	v, err := e.x.eval(r, s)
	if err != nil {
		return nil, err
	}
	return Bool(!truthy(v)), nil
}

func (e *negExpr) eval(r *renderer, s *scope) (Value, error) {
	v, err := e.x.eval(r, s)
	if err != nil {
		return nil, err
	}
	return negate(v)
}

func (e *posExpr) eval(r *renderer, s *scope) (Value, error) {
	v, err := e.x.eval(r, s)
	if err != nil {
		return nil, err
	}
	return positive(v)
}

func (e *concatExpr) eval(r *renderer, s *scope) (Value, error) {
	var b strings.Builder
	for _, x := range e.args {
		v, err := x.eval(r, s)
		if err != nil {
			return nil, err
		}
		part, err := strErr(v)
		if err != nil {
			return nil, err
		}
		if err := r.checkLen(b.Len() + len(part)); err != nil {
			return nil, err
		}
		b.WriteString(part)
	}
	if r.autoescape {
		return Markup(b.String()), nil
	}
	return Str(b.String()), nil
}

func (e *compareExpr) eval(r *renderer, s *scope) (Value, error) {
	left, err := e.first.eval(r, s)
	if err != nil {
		return nil, err
	}
	var res bool
	for i, op := range e.ops {
		right, err := e.rights[i].eval(r, s)
		if err != nil {
			return nil, err
		}
		if res, err = r.compare(op, left, right); err != nil {
			return nil, err
		}
		if !res {
			return Bool(false), nil
		}
		left = right
	}
	return Bool(res), nil
}

func (e *condExpr) eval(r *renderer, s *scope) (Value, error) {
	t, err := e.test.eval(r, s)
	if err != nil {
		return nil, err
	}
	if truthy(t) {
		return e.a.eval(r, s)
	}
	if e.b == nil {
		if r.constMode {
			return nil, errImpossible
		}
		return undefHint("the inline if-expression on line " + strconv.Itoa(e.line) + " evaluated to false and no else section was defined."), nil
	}
	return e.b.eval(r, s)
}

// kwarg is one keyword argument of a call.
type kwarg struct {
	name string
	val  Value
}

// evalArgs evaluates call arguments, expanding *args and **kwargs.
func (r *renderer) evalArgs(ca *callArgs, s *scope) ([]Value, []kwarg, error) {
	args := make([]Value, 0, len(ca.args))
	for _, x := range ca.args {
		v, err := x.eval(r, s)
		if err != nil {
			return nil, nil, err
		}
		args = append(args, v)
	}
	var kw []kwarg
	for i, x := range ca.kwVals {
		v, err := x.eval(r, s)
		if err != nil {
			return nil, nil, err
		}
		kw = append(kw, kwarg{ca.kwNames[i], v})
	}
	if ca.dynArgs != nil {
		v, err := ca.dynArgs.eval(r, s)
		if err != nil {
			return nil, nil, err
		}
		more, err := r.iterate(v)
		if err != nil {
			return nil, nil, err
		}
		args = append(args, more...)
	}
	if ca.dynKwargs != nil {
		v, err := ca.dynKwargs.eval(r, s)
		if err != nil {
			return nil, nil, err
		}
		d, ok := v.(*Dict)
		if !ok {
			return nil, nil, typeErr("argument after ** must be a mapping, not %s", v.pyType())
		}
		for i, k := range d.keys {
			ks, ok := isString(k)
			if !ok {
				return nil, nil, typeErr("keywords must be strings")
			}
			kw = append(kw, kwarg{ks, d.vals[i]})
		}
	}
	return args, kw, nil
}

func (e *callExpr) eval(r *renderer, s *scope) (Value, error) {
	return r.evalCall(e, s, nil)
}

// evalCall evaluates a call; caller, if set, is passed as the caller
// keyword ({% call %} blocks).
func (r *renderer) evalCall(e *callExpr, s *scope, caller *Macro) (Value, error) {
	if r.constMode {
		return nil, errImpossible
	}
	fn, err := e.fn.eval(r, s)
	if err != nil {
		return nil, err
	}
	args, kw, err := r.evalArgs(&e.callArgs, s)
	if err != nil {
		return nil, err
	}
	if caller != nil {
		kw = append(kw, kwarg{"caller", caller})
	}
	return r.call(fn, args, kw)
}

func (e *filterExpr) eval(r *renderer, s *scope) (Value, error) {
	if r.constMode && (e.fn == nil || contextFilters[e.name]) {
		return nil, errImpossible
	}
	v, err := e.x.eval(r, s)
	if err != nil {
		return nil, err
	}
	return r.applyFilter(e, v, s)
}

// applyFilterChain applies a chain of filters whose innermost input is v
// (a {% filter %} block or {% set x | f %}).
func (r *renderer) applyFilterChain(f *filterExpr, v Value, s *scope) (Value, error) {
	if f.x != nil {
		inner, ok := f.x.(*filterExpr)
		if !ok {
			return nil, newErr(errRuntime, "bad filter chain")
		}
		var err error
		if v, err = r.applyFilterChain(inner, v, s); err != nil {
			return nil, err
		}
	}
	return r.applyFilter(f, v, s)
}

func (r *renderer) applyFilter(e *filterExpr, v Value, s *scope) (Value, error) {
	if e.fn == nil {
		return nil, newErr(errRuntime, "No filter named %s found.", repr(Str(e.name)))
	}
	args, kw, err := r.evalArgs(&e.callArgs, s)
	if err != nil {
		return nil, err
	}
	if err := r.step(1); err != nil {
		return nil, err
	}
	if err := r.charge(v); err != nil {
		return nil, err
	}
	out, err := e.fn.call(r, v, args, kw)
	if err != nil {
		return nil, err
	}
	return out, r.charge(out)
}

func (e *testExpr) eval(r *renderer, s *scope) (Value, error) {
	if r.constMode && e.fn == nil {
		return nil, errImpossible
	}
	v, err := e.x.eval(r, s)
	if err != nil {
		return nil, err
	}
	if e.fn == nil {
		return nil, newErr(errRuntime, "No test named %s found.", repr(Str(e.name)))
	}
	args, kw, err := r.evalArgs(&e.callArgs, s)
	if err != nil {
		return nil, err
	}
	ok, err := e.fn.call(r, v, args, kw)
	if err != nil {
		return nil, err
	}
	return Bool(ok), nil
}
