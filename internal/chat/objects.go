package chat

import (
	"math"
	"math/big"
)

// rangeValue is a Python range object; n is its length.
type rangeValue struct{ start, stop, step, n int64 }

func (rangeValue) pyType() string { return "range" }

// newRange builds a range, computing its length without overflow; the
// length saturates at math.MaxInt64.
func newRange(start, stop, step int64) rangeValue {
	r := rangeValue{start: start, stop: stop, step: step}
	lo, hi, st := big.NewInt(start), big.NewInt(stop), big.NewInt(step)
	if step < 0 {
		lo, hi, st = hi, lo, st.Neg(st)
	}
	if lo.Cmp(hi) < 0 {
		d := new(big.Int).Sub(hi, lo)
		d.Add(d, st).Sub(d, big.NewInt(1)).Quo(d, st)
		if d.IsInt64() {
			r.n = d.Int64()
		} else {
			r.n = math.MaxInt64
		}
	}
	return r
}

func (x rangeValue) length() int {
	if x.n > math.MaxInt32 {
		return math.MaxInt32
	}
	return int(x.n)
}

func (x rangeValue) list() []Value {
	n := x.length()
	out := make([]Value, n)
	for i := 0; i < n; i++ {
		out[i] = Int(x.start + int64(i)*x.step)
	}
	return out
}

// dictView is dict.items(), dict.keys() or dict.values().
type dictView struct {
	d    *Dict
	kind byte // 'i', 'k', 'v'
}

func (v *dictView) pyType() string {
	switch v.kind {
	case 'i':
		return "dict_items"
	case 'k':
		return "dict_keys"
	}
	return "dict_values"
}

func (v *dictView) items() []Value {
	switch v.kind {
	case 'k':
		return v.d.keys
	case 'v':
		return v.d.vals
	}
	out := make([]Value, len(v.d.keys))
	for i, k := range v.d.keys {
		out[i] = Tuple{k, v.d.vals[i]}
	}
	return out
}

// generator is a one-shot iterator (the result of map, select, reverse...).
// Its items are computed eagerly.
type generator struct {
	name     string // the generator function's name, for repr
	iterName string // for iterators that are not generators: the type name ("list_reverseiterator")
	items    []Value
	pos      int
	// compute, when set, produces the items on first use: the body of a
	// Python generator function runs (and raises) only when iterated.
	compute func() ([]Value, error)
}

// force runs a lazy generator's body once.
func (g *generator) force() error {
	if g.compute == nil {
		return nil
	}
	f := g.compute
	g.compute = nil
	items, err := f()
	if err != nil {
		return err
	}
	g.items = items
	return nil
}

func (g *generator) pyType() string {
	if g.iterName != "" {
		return g.iterName
	}
	return "generator"
}

func newGenerator(items []Value) *generator { return &generator{items: items} }

// newGen returns a generator made by the Python generator function name.
func newGen(name string, items []Value) *generator { return &generator{name: name, items: items} }

// cycler is jinja2.utils.Cycler.
type cycler struct {
	items []Value
	pos   int
}

func (*cycler) pyType() string { return "Cycler" }

func (c *cycler) attr(name string) (Value, bool) {
	switch name {
	case "current":
		return c.items[c.pos], true
	case "next":
		return &builtinFunc{name: "next", self: c, fn: func(*renderer, []Value, []kwarg) (Value, error) {
			v := c.items[c.pos]
			c.pos = (c.pos + 1) % len(c.items)
			return v, nil
		}}, true
	case "reset":
		return &builtinFunc{name: "reset", self: c, fn: func(*renderer, []Value, []kwarg) (Value, error) {
			c.pos = 0
			return None, nil
		}}, true
	case "items":
		return Tuple(c.items), true
	}
	return nil, false
}
