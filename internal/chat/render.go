package chat

import (
	"strings"
	"time"
)

// renderer holds the state of one render.
type renderer struct {
	vars       map[string]Value
	now        func() time.Time
	lim        Limits
	out        *strings.Builder
	steps      int
	depth      int
	autoescape bool
	groups     map[*Value]bool // tuples made by groupby: they have .grouper and .list
	constMode  bool            // evaluating a constant expression at compile time
}

// scope is one level of variables: the template's top level, a loop
// iteration, a macro call, a with block...
type scope struct {
	parent *scope
	names  []string
	vals   []Value
}

func (s *scope) set(name string, v Value) {
	for i := len(s.names) - 1; i >= 0; i-- {
		if s.names[i] == name {
			s.vals[i] = v
			return
		}
	}
	s.names = append(s.names, name)
	s.vals = append(s.vals, v)
}

// lookup resolves a name: scopes from the innermost out, then the render
// variables, then the globals.
func (r *renderer) lookup(s *scope, name string) (Value, bool) {
	for sc := s; sc != nil; sc = sc.parent {
		for i := len(sc.names) - 1; i >= 0; i-- {
			if sc.names[i] == name {
				return sc.vals[i], true
			}
		}
	}
	if v, ok := r.vars[name]; ok {
		return v, true
	}
	if g, ok := globals[name]; ok {
		return g, true
	}
	return nil, false
}

// step counts n units of work and fails past the limit.
func (r *renderer) step(n int) error {
	r.steps += n
	if r.steps > r.lim.MaxSteps {
		return newErr(errLimit, "template exceeded %d steps of work", r.lim.MaxSteps)
	}
	return nil
}

// charge counts the work of processing v once (its size, not its depth).
func (r *renderer) charge(v Value) error {
	switch x := v.(type) {
	case Str:
		return r.step(len(x) / 64)
	case Markup:
		return r.step(len(x) / 64)
	case List:
		return r.step(len(x) / 8)
	case Tuple:
		return r.step(len(x) / 8)
	case *Dict:
		return r.step(x.Len() / 8)
	}
	return nil
}

// write appends output, enforcing the output limit.
func (r *renderer) write(s string) error {
	if r.out.Len()+len(s) > r.lim.MaxOutput {
		return newErr(errLimit, "template output exceeds %d bytes", r.lim.MaxOutput)
	}
	r.out.WriteString(s)
	return nil
}

// checkLen fails when a string or sequence of n bytes/items would be built.
func (r *renderer) checkLen(n int) error {
	if n > r.lim.MaxOutput || n < 0 {
		return newErr(errLimit, "value of %d bytes/items exceeds the limit of %d", n, r.lim.MaxOutput)
	}
	return r.step(n / 64)
}

// capture runs f with output redirected to a fresh buffer and returns it.
func (r *renderer) capture(f func() error) (string, error) {
	saved := r.out
	r.out = &strings.Builder{}
	err := f()
	s := r.out.String()
	r.out = saved
	return s, err
}

// enterCall tracks call depth.
func (r *renderer) enterCall() error {
	r.depth++
	if r.depth > r.lim.MaxDepth {
		r.depth--
		return newErr(errLimit, "template recursion deeper than %d", r.lim.MaxDepth)
	}
	return r.step(1)
}

func (r *renderer) leaveCall() { r.depth-- }

func (r *renderer) execBody(body []stmt, s *scope) (ctrl, error) {
	for _, st := range body {
		c, err := st.exec(r, s)
		if err != nil || c != ctrlNone {
			return c, err
		}
	}
	return ctrlNone, nil
}

// toOutput converts a printed value to text (str(), escaped when
// autoescaping).
func (r *renderer) toOutput(v Value) (string, error) {
	s, err := strErr(v)
	if err != nil {
		return "", err
	}
	if r.autoescape {
		if _, ok := v.(Markup); !ok {
			s = escapeString(s)
		}
	}
	return s, nil
}

// writeValue prints a value.
func (r *renderer) writeValue(v Value) error {
	s, err := r.toOutput(v)
	if err != nil {
		return err
	}
	return r.write(s)
}

func (o *outputStmt) exec(r *renderer, s *scope) (ctrl, error) {
	for _, p := range o.parts {
		if p.x == nil {
			if err := r.write(p.text); err != nil {
				return 0, err
			}
			continue
		}
		v, err := p.x.eval(r, s)
		if err != nil {
			return 0, err
		}
		if err := r.writeValue(v); err != nil {
			return 0, err
		}
	}
	return ctrlNone, nil
}

func (st *ifStmt) exec(r *renderer, s *scope) (ctrl, error) {
	for i, t := range st.tests {
		v, err := t.eval(r, s)
		if err != nil {
			return 0, err
		}
		if truthy(v) {
			return r.execBody(st.bodies[i], s)
		}
	}
	return r.execBody(st.els, s)
}

func (st *setStmt) exec(r *renderer, s *scope) (ctrl, error) {
	v, err := st.value.eval(r, s)
	if err != nil {
		return 0, err
	}
	return ctrlNone, r.assign(s, st.target, v)
}

// blockValue is the value of captured block text.
func (r *renderer) blockValue(text string) Value {
	if r.autoescape {
		return Markup(text)
	}
	return Str(text)
}

func (st *setBlockStmt) exec(r *renderer, s *scope) (ctrl, error) {
	inner := &scope{parent: s}
	text, err := r.capture(func() error {
		_, err := r.execBody(st.body, inner)
		return err
	})
	if err != nil {
		return 0, err
	}
	var v Value = r.blockValue(text)
	if st.filter != nil {
		if v, err = r.applyFilterChain(st.filter, v, inner); err != nil {
			return 0, err
		}
	}
	return ctrlNone, r.assign(s, st.target, v)
}

func (st *macroStmt) exec(r *renderer, s *scope) (ctrl, error) {
	s.set(st.m.name, &Macro{def: st.m, name: st.m.name, closure: s})
	return ctrlNone, nil
}

func (st *callBlockStmt) exec(r *renderer, s *scope) (ctrl, error) {
	caller := &Macro{def: st.caller, name: "caller", closure: s}
	v, err := r.evalCall(st.call, s, caller)
	if err != nil {
		return 0, err
	}
	return ctrlNone, r.writeValue(v)
}

func (st *filterBlockStmt) exec(r *renderer, s *scope) (ctrl, error) {
	inner := &scope{parent: s}
	text, err := r.capture(func() error {
		_, err := r.execBody(st.body, inner)
		return err
	})
	if err != nil {
		return 0, err
	}
	v, err := r.applyFilterChain(st.filter, r.blockValue(text), inner)
	if err != nil {
		return 0, err
	}
	return ctrlNone, r.writeValue(v)
}

func (st *withStmt) exec(r *renderer, s *scope) (ctrl, error) {
	inner := &scope{parent: s}
	for i, tg := range st.targets {
		v, err := st.values[i].eval(r, s)
		if err != nil {
			return 0, err
		}
		if err := r.assign(inner, tg, v); err != nil {
			return 0, err
		}
	}
	return r.execBody(st.body, inner)
}

func (st *scopeStmt) exec(r *renderer, s *scope) (ctrl, error) {
	return r.execBody(st.body, &scope{parent: s})
}

func (st *autoescapeStmt) exec(r *renderer, s *scope) (ctrl, error) {
	v, err := st.value.eval(r, s)
	if err != nil {
		return 0, err
	}
	saved := r.autoescape
	r.autoescape = truthy(v)
	c, err := r.execBody(st.body, &scope{parent: s})
	r.autoescape = saved
	return c, err
}

func (breakStmt) exec(*renderer, *scope) (ctrl, error)    { return ctrlBreak, nil }
func (continueStmt) exec(*renderer, *scope) (ctrl, error) { return ctrlContinue, nil }
func (st *failStmt) exec(*renderer, *scope) (ctrl, error) { return 0, st.err }

// assign binds a value to an assignment target in scope s.
func (r *renderer) assign(s *scope, tg target, v Value) error {
	switch t := tg.(type) {
	case nameTarget:
		s.set(t.name, v)
		return nil
	case nsTarget:
		nsv, _ := r.lookup(s, t.name)
		ns, ok := nsv.(*Namespace)
		if !ok {
			return newErr(errRuntime, "cannot assign attribute on non-namespace object")
		}
		ns.attrs.SetStr(t.attr, v)
		return nil
	case tupleTarget:
		items, err := r.iterate(v)
		if err != nil {
			if _, ok := v.(*Undefined); !ok {
				return typeErr("cannot unpack non-iterable %s object", v.pyType())
			}
			return err
		}
		if len(items) < len(t.items) {
			return newErr(errValue, "not enough values to unpack (expected %d, got %d)", len(t.items), len(items))
		}
		if len(items) > len(t.items) {
			return newErr(errValue, "too many values to unpack (expected %d)", len(t.items))
		}
		for i, sub := range t.items {
			if err := r.assign(s, sub, items[i]); err != nil {
				return err
			}
		}
		return nil
	}
	return newErr(errRuntime, "bad assignment target")
}
