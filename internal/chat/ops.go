package chat

import (
	"math"
	"strings"
	"unicode/utf8"
)

// binop applies an arithmetic operator with Python semantics.
func (r *renderer) binop(op string, a, b Value) (Value, error) {
	if v, ok, err := arith(op, a, b); ok {
		return v, err
	}
	if op == "%" {
		// str % anything is string formatting (the argument may even be
		// Undefined).
		if s, ok := a.(Str); ok {
			return r.percentFormat(string(s), b, false)
		}
		if s, ok := a.(Markup); ok {
			return r.percentFormat(string(s), b, true)
		}
	}
	if u, ok := a.(*Undefined); ok {
		return nil, u.err()
	}
	if u, ok := b.(*Undefined); ok {
		return nil, u.err()
	}
	switch op {
	case "+":
		return r.add(a, b)
	case "*":
		return r.mul(a, b)
	case "%":
		if s, ok := a.(Str); ok {
			return r.percentFormat(string(s), b, false)
		}
		if s, ok := a.(Markup); ok {
			return r.percentFormat(string(s), b, true)
		}
	}
	name := op
	if op == "**" {
		name = "** or pow()"
	}
	return nil, typeErr("unsupported operand type(s) for %s: '%s' and '%s'", name, a.pyType(), b.pyType())
}

func (r *renderer) add(a, b Value) (Value, error) {
	switch x := a.(type) {
	case Str:
		switch y := b.(type) {
		case Str:
			if err := r.checkLen(len(x) + len(y)); err != nil {
				return nil, err
			}
			return x + y, nil
		case Markup:
			return Markup(escapeString(string(x))) + y, nil
		}
		return nil, typeErr("can only concatenate str (not \"%s\") to str", b.pyType())
	case Markup:
		switch y := b.(type) {
		case Str:
			return x + Markup(escapeString(string(y))), nil
		case Markup:
			return x + y, nil
		}
	case List:
		if y, ok := b.(List); ok {
			if err := r.checkLen(len(x) + len(y)); err != nil {
				return nil, err
			}
			out := make(List, 0, len(x)+len(y))
			return append(append(out, x...), y...), nil
		}
		return nil, typeErr("can only concatenate list (not \"%s\") to list", b.pyType())
	case Tuple:
		if y, ok := b.(Tuple); ok {
			if err := r.checkLen(len(x) + len(y)); err != nil {
				return nil, err
			}
			out := make(Tuple, 0, len(x)+len(y))
			return append(append(out, x...), y...), nil
		}
		return nil, typeErr("can only concatenate tuple (not \"%s\") to tuple", b.pyType())
	}
	return nil, typeErr("unsupported operand type(s) for +: '%s' and '%s'", a.pyType(), b.pyType())
}

// repeatCount returns n for a sequence repetition operand.
func repeatCount(v Value) (int64, bool) {
	n := asNum(v)
	switch n.k {
	case kInt:
		return n.i, true
	case kBig:
		return math.MaxInt64, true // too big for an index: see mul
	}
	return 0, false
}

func isSeq(v Value) bool {
	switch v.(type) {
	case Str, Markup, List, Tuple:
		return true
	}
	return false
}

func (r *renderer) mul(a, b Value) (Value, error) {
	seq, cnt := a, b
	if !isSeq(a) && isSeq(b) {
		seq, cnt = b, a
	}
	n, isInt := repeatCount(cnt)
	switch x := seq.(type) {
	case Str, Markup, List, Tuple:
		if !isInt {
			return nil, typeErr("can't multiply sequence by non-int of type '%s'", cnt.pyType())
		}
		if asNum(cnt).k == kBig {
			return nil, newErr(errOverflow, "cannot fit 'int' into an index-sized integer")
		}
		size := int64(seqLen(x))
		if n <= 0 || size == 0 {
			n = 0
		}
		if size > 0 && n > int64(r.lim.MaxOutput)/size+1 {
			return nil, newErr(errLimit, "repetition result exceeds %d bytes/items", r.lim.MaxOutput)
		}
		if err := r.checkLen(int(size * n)); err != nil {
			return nil, err
		}
		switch x := x.(type) {
		case Str:
			return Str(strings.Repeat(string(x), int(n))), nil
		case Markup:
			return Markup(strings.Repeat(string(x), int(n))), nil
		case List:
			out := make(List, 0, int(size*n))
			for i := int64(0); i < n; i++ {
				out = append(out, x...)
			}
			return out, nil
		case Tuple:
			out := make(Tuple, 0, int(size*n))
			for i := int64(0); i < n; i++ {
				out = append(out, x...)
			}
			return out, nil
		}
	}
	return nil, typeErr("unsupported operand type(s) for *: '%s' and '%s'", a.pyType(), b.pyType())
}

func asNumOK(v Value) (num, bool) {
	n := asNum(v)
	return n, n.k != notNum
}

func seqLen(v Value) int {
	switch x := v.(type) {
	case Str:
		return len(x)
	case Markup:
		return len(x)
	case List:
		return len(x)
	case Tuple:
		return len(x)
	}
	return 0
}

// cmpBudget bounds the work of one deep comparison: each value visited
// costs one unit; when the budget runs out the comparison gives up.
type cmpBudget struct{ n, depth int }

// maxCmpDepth is how deep comparisons descend into nested containers.
const maxCmpDepth = 900

// defaultCmpBudget is the budget of comparisons made outside a renderer.
const defaultCmpBudget = 1 << 20

// pyEqual is Python == (with a fixed work budget).
func pyEqual(a, b Value) bool {
	c := cmpBudget{n: defaultCmpBudget}
	return c.eq(a, b)
}

// eq is Python ==. Containers compare element-wise, with Python's identity
// shortcut for elements that are the same object.
func (c *cmpBudget) eq(a, b Value) bool {
	c.n--
	if c.n < 0 || c.depth > maxCmpDepth {
		c.n = -1
		return false
	}
	c.depth++
	defer func() { c.depth-- }()
	if x, ok := asNumOK(a); ok {
		if y, ok := asNumOK(b); ok {
			return numCompare(x, y) == 0
		}
		return false
	}
	switch x := a.(type) {
	case Str, Markup:
		xs, _ := isString(x)
		ys, ok := isString(b)
		return ok && xs == ys
	case NoneType:
		_, ok := b.(NoneType)
		return ok
	case *Undefined:
		_, ok := b.(*Undefined)
		return ok
	case List:
		y, ok := b.(List)
		return ok && c.seqEqual(x, y)
	case Tuple:
		y, ok := b.(Tuple)
		return ok && c.seqEqual(x, y)
	case *Dict:
		y, ok := b.(*Dict)
		if !ok || x.Len() != y.Len() {
			return false
		}
		if x == y {
			return true
		}
		for i, k := range x.keys {
			v, found := y.Get(k)
			if !found || !c.eq(x.vals[i], v) {
				return false
			}
		}
		return true
	case rangeValue:
		y, ok := b.(rangeValue)
		return ok && c.seqEqual(x.list(), y.list())
	}
	return sameObject(a, b)
}

func (c *cmpBudget) seqEqual(x, y []Value) bool {
	if len(x) != len(y) {
		return false
	}
	if len(x) > 0 && &x[0] == &y[0] {
		return true
	}
	for i := range x {
		if !identical(x[i], y[i]) && !c.eq(x[i], y[i]) {
			return false
		}
	}
	return true
}

// identical reports whether two container values are the same object.
func identical(a, b Value) bool {
	switch x := a.(type) {
	case List:
		y, ok := b.(List)
		return ok && len(x) > 0 && len(x) == len(y) && &x[0] == &y[0]
	case Tuple:
		y, ok := b.(Tuple)
		return ok && len(x) > 0 && len(x) == len(y) && &x[0] == &y[0]
	case *Dict:
		y, ok := b.(*Dict)
		return ok && x == y
	}
	return false
}

// eq is Python == charged to the render's work budget.
func (r *renderer) eq(a, b Value) (bool, error) {
	c := cmpBudget{n: r.lim.MaxSteps - r.steps + 1}
	start := c.n
	res := c.eq(a, b)
	if c.n < 0 {
		return false, newErr(errLimit, "comparison exceeds the work or nesting limit")
	}
	if err := r.step(start - c.n); err != nil {
		return false, err
	}
	return res, nil
}

// order compares for <, <=, >, >= charged to the render's work budget.
func (r *renderer) order(op string, a, b Value) (int, error) {
	c := cmpBudget{n: r.lim.MaxSteps - r.steps + 1}
	start := c.n
	res, err := c.order(op, a, b)
	if serr := r.step(start - c.n); serr != nil {
		return 0, serr
	}
	return res, err
}

// sameObject is Python `is` (approximated for immutable values).
func sameObject(a, b Value) bool {
	switch x := a.(type) {
	case NoneType, Bool:
		return a == b
	case Int:
		y, ok := b.(Int)
		return ok && x == y && x >= -5 && x <= 256
	case Str:
		y, ok := b.(Str)
		return ok && x == y
	case List, Tuple:
		if seqLen(a) == 0 || seqLen(b) == 0 {
			return false
		}
		return identity(a) == identity(b)
	case Float, *BigInt, Markup:
		return false
	case *Undefined:
		return a == b
	case rangeValue:
		return false
	}
	defer func() { recover() }()
	return a == b
}

// compare evaluates one comparison operator.
func (r *renderer) compare(op string, a, b Value) (bool, error) {
	switch op {
	case "eq":
		return r.eq(a, b)
	case "ne":
		ok, err := r.eq(a, b)
		return !ok, err
	case "in":
		return r.contains(b, a)
	case "notin":
		ok, err := r.contains(b, a)
		return !ok, err
	}
	c, err := r.order(op, a, b)
	if err != nil {
		return false, err
	}
	switch op {
	case "lt":
		return c == -1, nil
	case "lteq":
		return c == -1 || c == 0, nil
	case "gt":
		return c == 1, nil
	}
	return c == 1 || c == 0, nil
}

var opSymbols = map[string]string{"lt": "<", "lteq": "<=", "gt": ">", "gteq": ">="}

// order compares a and b for <, <=, >, >=: -1, 0, 1, or 2 (unordered NaN),
// with a fixed work budget.
func order(op string, a, b Value) (int, error) {
	c := cmpBudget{n: defaultCmpBudget}
	return c.order(op, a, b)
}

func (c *cmpBudget) order(op string, a, b Value) (int, error) {
	c.n--
	if c.n < 0 || c.depth > maxCmpDepth {
		c.n = -1
		return 0, newErr(errLimit, "comparison exceeds the work or nesting limit")
	}
	c.depth++
	defer func() { c.depth-- }()
	if x, ok := asNumOK(a); ok {
		if y, ok := asNumOK(b); ok {
			return numCompare(x, y), nil
		}
	}
	if u, ok := a.(*Undefined); ok {
		return 0, u.err()
	}
	if u, ok := b.(*Undefined); ok {
		return 0, u.err()
	}
	if xs, ok := isString(a); ok {
		if ys, ok := isString(b); ok {
			return strings.Compare(xs, ys), nil
		}
	}
	switch x := a.(type) {
	case List:
		if y, ok := b.(List); ok {
			return c.seqOrder(op, x, y)
		}
	case Tuple:
		if y, ok := b.(Tuple); ok {
			return c.seqOrder(op, x, y)
		}
	}
	return 0, typeErr("'%s' not supported between instances of '%s' and '%s'", opSymbols[op], a.pyType(), b.pyType())
}

func (c *cmpBudget) seqOrder(op string, x, y []Value) (int, error) {
	for i := 0; i < len(x) && i < len(y); i++ {
		if !identical(x[i], y[i]) && !c.eq(x[i], y[i]) {
			if c.n < 0 {
				return 0, newErr(errLimit, "comparison exceeds the work limit")
			}
			return c.order(op, x[i], y[i])
		}
	}
	switch {
	case len(x) < len(y):
		return -1, nil
	case len(x) > len(y):
		return 1, nil
	}
	return 0, nil
}

// contains is Python `item in container`.
func (r *renderer) contains(container, item Value) (bool, error) {
	switch c := container.(type) {
	case Str, Markup:
		cs, _ := isString(c)
		is, ok := isString(item)
		if !ok {
			return false, typeErr("'in <string>' requires string as left operand, not %s", item.pyType())
		}
		if err := r.charge(c); err != nil {
			return false, err
		}
		return strings.Contains(cs, is), nil
	case *Dict:
		if _, err := keyOf(item); err != nil {
			return false, err
		}
		_, ok := c.Get(item)
		return ok, nil
	case *Undefined:
		return false, nil
	case *Namespace, NoneType, Bool, Int, *BigInt, Float, *Macro, *builtinFunc:
		return false, typeErr("argument of type '%s' is not iterable", container.pyType())
	}
	items, err := r.iterate(container)
	if err != nil {
		return false, err
	}
	for _, it := range items {
		ok, err := r.eq(it, item)
		if err != nil || ok {
			return ok, err
		}
	}
	return false, nil
}

// iterate returns the items Python's iter(v) yields.
func (r *renderer) iterate(v Value) ([]Value, error) {
	switch x := v.(type) {
	case List:
		return x, nil
	case Tuple:
		return x, nil
	case *Dict:
		return x.keys, nil
	case Str:
		return strChars(string(x)), nil
	case Markup:
		return strChars(string(x)), nil
	case *Undefined:
		return nil, nil
	case *dictView:
		return x.items(), nil
	case rangeValue:
		return x.list(), nil
	case *generator:
		if err := x.force(); err != nil {
			return nil, err
		}
		items := x.items[x.pos:]
		x.pos = len(x.items)
		return items, nil
	case *loopContext:
		return x.items[x.index0+1:], nil
	}
	return nil, typeErr("'%s' object is not iterable", v.pyType())
}

// strChars splits a string into one-code-point strings.
func strChars(s string) []Value {
	out := make([]Value, 0, len(s))
	for i := 0; i < len(s); {
		_, n := utf8.DecodeRuneInString(s[i:])
		out = append(out, Str(s[i:i+n]))
		i += n
	}
	return out
}
