package chat

import (
	"math"
	"strings"
)

// Dict is a Python dict: insertion-ordered, with Python key equality
// (1 == 1.0 == True are one key). Templates cannot modify a dict (the
// sandbox refuses mutating methods); Set is for building values in Go.
type Dict struct {
	keys  []Value
	vals  []Value
	index map[hashKey]int
}

func (*Dict) pyType() string { return "dict" }

// hashKey is a comparable form of a hashable Python value under Python
// equality.
type hashKey struct {
	kind byte // 's' str, 'i' int, 'f' non-integral float, 'b' big int, 'n' None, 't' tuple, 'u' undefined
	s    string
	i    int64
	f    float64
}

// NewDict returns an empty dict.
func NewDict() *Dict { return &Dict{index: map[hashKey]int{}} }

// Len returns the number of items.
func (d *Dict) Len() int { return len(d.keys) }

// Keys returns the keys in insertion order. The slice must not be modified.
func (d *Dict) Keys() []Value { return d.keys }

// Values returns the values in insertion order. The slice must not be
// modified.
func (d *Dict) Values() []Value { return d.vals }

// Set sets key k to v (keeping k's position if present). It fails for an
// unhashable key (list, dict).
func (d *Dict) Set(k, v Value) error {
	hk, err := keyOf(k)
	if err != nil {
		return err
	}
	if i, ok := d.index[hk]; ok {
		d.vals[i] = v
		return nil
	}
	d.index[hk] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
	return nil
}

// SetStr sets the string key k to v.
func (d *Dict) SetStr(k string, v Value) { _ = d.Set(Str(k), v) }

// Get returns the value of key k.
func (d *Dict) Get(k Value) (Value, bool) {
	hk, err := keyOf(k)
	if err != nil {
		return nil, false
	}
	i, ok := d.index[hk]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// GetStr returns the value of the string key k.
func (d *Dict) GetStr(k string) (Value, bool) {
	i, ok := d.index[hashKey{kind: 's', s: k}]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// copyDict returns a shallow copy of d.
func (d *Dict) copyDict() *Dict {
	n := &Dict{keys: append([]Value(nil), d.keys...), vals: append([]Value(nil), d.vals...), index: make(map[hashKey]int, len(d.keys))}
	for k, v := range d.index {
		n.index[k] = v
	}
	return n
}

// keyOf returns the hash key of v, or a TypeError for an unhashable value.
func keyOf(v Value) (hashKey, error) { return keyOfDepth(v, 0) }

func keyOfDepth(v Value, depth int) (hashKey, error) {
	if depth > maxCmpDepth {
		return hashKey{}, newErr("RecursionError", "maximum recursion depth exceeded while hashing")
	}
	switch x := v.(type) {
	case Str:
		return hashKey{kind: 's', s: string(x)}, nil
	case Markup:
		return hashKey{kind: 's', s: string(x)}, nil
	case Int:
		return hashKey{kind: 'i', i: int64(x)}, nil
	case Bool:
		if x {
			return hashKey{kind: 'i', i: 1}, nil
		}
		return hashKey{kind: 'i'}, nil
	case *BigInt:
		return hashKey{kind: 'b', s: x.v.String()}, nil
	case Float:
		f := float64(x)
		if f == math.Trunc(f) && !math.IsInf(f, 0) {
			if f >= -9.2e18 && f <= 9.2e18 {
				return hashKey{kind: 'i', i: int64(f)}, nil
			}
			if bi, ok := floatToBig(f); ok {
				return keyOf(NewBigInt(bi))
			}
		}
		if f != f {
			return hashKey{kind: 'f', s: "nan"}, nil
		}
		return hashKey{kind: 'f', f: f}, nil
	case NoneType:
		return hashKey{kind: 'n'}, nil
	case *Undefined:
		return hashKey{kind: 'u'}, nil
	case Tuple:
		var b strings.Builder
		for _, e := range x {
			if b.Len() > maxReprLen {
				return hashKey{}, newErr(errLimit, "tuple key too large")
			}
			k, err := keyOfDepth(e, depth+1)
			if err != nil {
				return hashKey{}, err
			}
			b.WriteByte(k.kind)
			switch k.kind {
			case 'i':
				b.WriteString(itoa(k.i))
			case 'f':
				b.WriteString(floatRepr(k.f))
			default:
				b.WriteString(repr(Str(k.s)))
			}
			b.WriteByte(',')
		}
		return hashKey{kind: 't', s: b.String()}, nil
	case List, *Dict, *dictView:
		return hashKey{}, typeErr("unhashable type: '%s'", v.pyType())
	}
	// Other objects hash by identity; approximate with their repr.
	return hashKey{kind: 'o', s: v.pyType() + ":" + identity(v)}, nil
}
