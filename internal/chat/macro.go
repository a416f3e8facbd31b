package chat

// Macro is a template macro (or the caller of a {% call %} block) bound to
// the scope it was defined in.
type Macro struct {
	def     *macroDef
	name    string
	closure *scope
}

func (*Macro) pyType() string { return "Macro" }

// attr returns a macro attribute.
func (m *Macro) attr(name string) (Value, bool) {
	switch name {
	case "name":
		return Str(m.name), true
	case "arguments":
		t := make(Tuple, len(m.def.params))
		for i, p := range m.def.params {
			t[i] = Str(p)
		}
		return t, true
	case "catch_kwargs":
		return Bool(m.def.catchKwargs), true
	case "catch_varargs":
		return Bool(m.def.catchVarargs), true
	case "caller":
		return Bool(m.def.caller), true
	}
	return nil, false
}

// call binds arguments the way jinja2.runtime.Macro.__call__ does and
// renders the body.
func (m *Macro) call(r *renderer, args []Value, kw []kwarg) (Value, error) {
	d := m.def
	nparams := len(d.params)
	s := &scope{parent: m.closure}
	rest := kw
	take := func(name string) (Value, bool) {
		for i, k := range rest {
			if k.name == name {
				v := k.val
				rest = append(append([]kwarg(nil), rest[:i]...), rest[i+1:]...)
				return v, true
			}
		}
		return nil, false
	}
	bound := make([]Value, nparams) // nil = missing
	npos := len(args)
	if npos > nparams {
		npos = nparams
	}
	copy(bound, args[:npos])
	foundCaller := false
	if npos != nparams {
		for i := npos; i < nparams; i++ {
			if v, ok := take(d.params[i]); ok {
				bound[i] = v
			}
			if d.params[i] == "caller" {
				foundCaller = true
			}
		}
	} else {
		for _, p := range d.params {
			if p == "caller" {
				foundCaller = true
			}
		}
	}
	var callerV Value
	if d.caller && !foundCaller {
		if v, ok := take("caller"); ok {
			callerV = v
		} else {
			callerV = &Undefined{hint: "No caller defined", name: Str("caller")}
		}
	}
	var kwargsV Value
	if d.catchKwargs {
		kd := NewDict()
		for _, k := range rest {
			kd.SetStr(k.name, k.val)
		}
		kwargsV = kd
	} else if len(rest) > 0 {
		for _, k := range rest {
			if k.name == "caller" {
				return nil, typeErr("macro %s was invoked with two values for the special caller argument. This is most likely a bug.", repr(Str(m.name)))
			}
		}
		return nil, typeErr("macro %s takes no keyword argument %s", repr(Str(m.name)), repr(Str(rest[0].name)))
	}
	var varargsV Value
	if d.catchVarargs {
		if len(args) > nparams {
			varargsV = Tuple(append([]Value(nil), args[nparams:]...))
		} else {
			varargsV = Tuple{}
		}
	} else if len(args) > nparams {
		return nil, typeErr("macro %s takes not more than %d argument(s)", repr(Str(m.name)), nparams)
	}
	if err := r.enterCall(); err != nil {
		return nil, err
	}
	defer r.leaveCall()
	// Parameters are bound in order; defaults are evaluated in the macro
	// scope, so they can refer to earlier parameters.
	for i, p := range d.params {
		v := bound[i]
		if v == nil {
			if di := i - (nparams - len(d.defaults)); di >= 0 {
				var err error
				if v, err = d.defaults[di].eval(r, s); err != nil {
					return nil, err
				}
			} else {
				v = &Undefined{hint: "parameter " + repr(Str(p)) + " was not provided", name: Str(p)}
			}
		}
		s.set(p, v)
	}
	if callerV != nil {
		s.set("caller", callerV)
	}
	if kwargsV != nil {
		s.set("kwargs", kwargsV)
	}
	if varargsV != nil {
		s.set("varargs", varargsV)
	}
	text, err := r.capture(func() error {
		_, err := r.execBody(d.body, s)
		return err
	})
	if err != nil {
		return nil, err
	}
	return r.blockValue(text), nil
}
