package chat

import "time"

// Jinja's compiler evaluates constant expressions at compile time
// (Node.as_const). The results are what runtime evaluation gives, with one
// difference this file reproduces: a constant slice goes through
// environment.getitem, which turns a failed slice into Undefined, so
// {{ (-3)[1:2] }} prints "" where {{ x[1:2] }} raises TypeError. Printed
// expressions ({{ ... }}) are folded whatever their value; other
// expressions only when the value is a literal ("safe repr").

// foldConstants rewrites the constant expressions of a template body that
// contain a slice.
func foldConstants(body []stmt) {
	for _, st := range body {
		foldStmt(st)
	}
}

func foldStmt(st stmt) {
	switch s := st.(type) {
	case *outputStmt:
		for i, p := range s.parts {
			if p.x == nil {
				continue
			}
			if containsSlice(p.x) {
				if v, ok := constEval(p.x); ok {
					if text, err := strErr(v); err == nil {
						s.parts[i] = outPart{text: text}
						continue
					}
				}
			}
			s.parts[i].x = fold(p.x)
		}
	case *ifStmt:
		for i := range s.tests {
			s.tests[i] = fold(s.tests[i])
			foldConstants(s.bodies[i])
		}
		foldConstants(s.els)
	case *forStmt:
		s.iter = fold(s.iter)
		if s.filter != nil {
			s.filter = fold(s.filter)
		}
		foldConstants(s.body)
		foldConstants(s.els)
	case *setStmt:
		s.value = fold(s.value)
	case *setBlockStmt:
		foldConstants(s.body)
	case *macroStmt:
		foldMacro(s.m)
	case *callBlockStmt:
		foldMacro(s.caller)
		foldCallArgs(&s.call.callArgs)
	case *filterBlockStmt:
		foldConstants(s.body)
	case *withStmt:
		for i := range s.values {
			s.values[i] = fold(s.values[i])
		}
		foldConstants(s.body)
	case *scopeStmt:
		foldConstants(s.body)
	case *autoescapeStmt:
		foldConstants(s.body)
	}
}

func foldMacro(m *macroDef) {
	for i := range m.defaults {
		m.defaults[i] = fold(m.defaults[i])
	}
	foldConstants(m.body)
}

func foldCallArgs(ca *callArgs) {
	for i := range ca.args {
		ca.args[i] = fold(ca.args[i])
	}
	for i := range ca.kwVals {
		ca.kwVals[i] = fold(ca.kwVals[i])
	}
}

// fold replaces the largest constant sub-expressions that contain a slice
// and have a literal value by that value.
func fold(x expr) expr {
	if x == nil || !containsSlice(x) {
		return x
	}
	if v, ok := constEval(x); ok && safeRepr(v) {
		return &constExpr{v}
	}
	switch e := x.(type) {
	case *getattrExpr:
		e.x = fold(e.x)
	case *getitemExpr:
		e.x, e.key = fold(e.x), fold(e.key)
	case *sliceExpr:
		e.x, e.start, e.stop, e.step = fold(e.x), fold(e.start), fold(e.stop), fold(e.step)
	case *listExpr:
		foldAll(e.items)
	case *tupleExpr:
		foldAll(e.items)
	case *dictExpr:
		foldAll(e.keys)
		foldAll(e.vals)
	case *binExpr:
		e.l, e.r = fold(e.l), fold(e.r)
	case *andExpr:
		e.l, e.r = fold(e.l), fold(e.r)
	case *orExpr:
		e.l, e.r = fold(e.l), fold(e.r)
	case *notExpr:
		e.x = fold(e.x)
	case *negExpr:
		e.x = fold(e.x)
	case *posExpr:
		e.x = fold(e.x)
	case *concatExpr:
		foldAll(e.args)
	case *compareExpr:
		e.first = fold(e.first)
		foldAll(e.rights)
	case *condExpr:
		e.test, e.a, e.b = fold(e.test), fold(e.a), fold(e.b)
	case *callExpr:
		e.fn = fold(e.fn)
		foldCallArgs(&e.callArgs)
	case *filterExpr:
		e.x = fold(e.x)
		foldCallArgs(&e.callArgs)
	case *testExpr:
		e.x = fold(e.x)
		foldCallArgs(&e.callArgs)
	}
	return x
}

func foldAll(xs []expr) {
	for i := range xs {
		xs[i] = fold(xs[i])
	}
}

// contextFilters are the filters Jinja passes the context to; they are
// never evaluated at compile time.
var contextFilters = map[string]bool{"map": true, "select": true, "reject": true, "selectattr": true, "rejectattr": true, "random": true}

// errImpossible is nodes.Impossible: the expression is not constant.
var errImpossible = newErr("Impossible", "not a constant expression")

// containsSlice reports whether x has a slice subscript anywhere.
func containsSlice(x expr) bool {
	switch e := x.(type) {
	case *sliceExpr:
		return true
	case *getattrExpr:
		return containsSlice(e.x)
	case *getitemExpr:
		return containsSlice(e.x) || containsSlice(e.key)
	case *listExpr:
		return anySlice(e.items)
	case *tupleExpr:
		return anySlice(e.items)
	case *dictExpr:
		return anySlice(e.keys) || anySlice(e.vals)
	case *binExpr:
		return containsSlice(e.l) || containsSlice(e.r)
	case *andExpr:
		return containsSlice(e.l) || containsSlice(e.r)
	case *orExpr:
		return containsSlice(e.l) || containsSlice(e.r)
	case *notExpr:
		return containsSlice(e.x)
	case *negExpr:
		return containsSlice(e.x)
	case *posExpr:
		return containsSlice(e.x)
	case *concatExpr:
		return anySlice(e.args)
	case *compareExpr:
		return containsSlice(e.first) || anySlice(e.rights)
	case *condExpr:
		return containsSlice(e.test) || containsSlice(e.a) || (e.b != nil && containsSlice(e.b))
	case *callExpr:
		return containsSlice(e.fn) || argsSlice(&e.callArgs)
	case *filterExpr:
		return (e.x != nil && containsSlice(e.x)) || argsSlice(&e.callArgs)
	case *testExpr:
		return containsSlice(e.x) || argsSlice(&e.callArgs)
	}
	return false
}

func anySlice(xs []expr) bool {
	for _, x := range xs {
		if containsSlice(x) {
			return true
		}
	}
	return false
}

func argsSlice(ca *callArgs) bool {
	return anySlice(ca.args) || anySlice(ca.kwVals) ||
		(ca.dynArgs != nil && containsSlice(ca.dynArgs)) || (ca.dynKwargs != nil && containsSlice(ca.dynKwargs))
}

// constEval evaluates an expression the way Jinja's as_const does: names,
// calls and context filters are not constant; and/or and conditional
// expressions only need the operands they evaluate. ok is false if the
// expression is not constant or raised (Jinja then evaluates it at
// runtime).
func constEval(x expr) (Value, bool) {
	r := &renderer{
		now:       time.Now,
		lim:       Limits{MaxOutput: 1 << 20, MaxSteps: 100_000, MaxDepth: 20},
		constMode: true,
	}
	r.out = nil
	v, err := x.eval(r, &scope{})
	if err != nil {
		return nil, false
	}
	return v, true
}

// safeRepr is Jinja's has_safe_repr: values that can be embedded as
// literals.
func safeRepr(v Value) bool {
	switch x := v.(type) {
	case NoneType, Bool, Int, *BigInt, Float, Str, Markup, rangeValue:
		return true
	case List:
		for _, e := range x {
			if !safeRepr(e) {
				return false
			}
		}
		return true
	case Tuple:
		for _, e := range x {
			if !safeRepr(e) {
				return false
			}
		}
		return true
	case *Dict:
		for i, k := range x.keys {
			if !safeRepr(k) || !safeRepr(x.vals[i]) {
				return false
			}
		}
		return true
	}
	return false
}
