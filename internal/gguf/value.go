package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// ValueType is the type tag of a metadata value (enum gguf_type).
type ValueType uint32

// The metadata value types of GGUF v2 and v3.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var typeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool", "string", "array", "uint64", "int64", "float64"}

// String returns the type's name as the GGUF specification spells it.
func (t ValueType) String() string {
	if int(t) < len(typeNames) {
		return typeNames[t]
	}
	return fmt.Sprintf("type(%d)", uint32(t))
}

// fixedSize is the encoded size of a scalar of type t, or 0 for strings,
// arrays and unknown types.
func (t ValueType) fixedSize() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// minSize is the smallest encoded size of one value of type t: a string is at
// least its 8-byte length, an array its 4-byte type and 8-byte count.
func (t ValueType) minSize() int {
	switch t {
	case TypeString:
		return 8
	case TypeArray:
		return 12
	}
	return t.fixedSize()
}

func (t ValueType) integer() bool {
	switch t {
	case TypeUint8, TypeInt8, TypeUint16, TypeInt16, TypeUint32, TypeInt32, TypeUint64, TypeInt64:
		return true
	}
	return false
}

func (t ValueType) signed() bool {
	return t == TypeInt8 || t == TypeInt16 || t == TypeInt32 || t == TypeInt64
}

// Value is one metadata value: a scalar, a string or an array.
type Value struct {
	Type ValueType
	bits uint64 // scalars: the value's bits, sign-extended for signed integers
	str  string
	arr  *Array
}

// Array is a metadata array. Numeric and bool elements are kept as their
// little-endian encoding, strings as strings, nested arrays as Values.
type Array struct {
	Elem ValueType
	Len  int
	raw  []byte   // numeric and bool elements
	strs []string // string elements
	vals []Value  // array elements
}

// Scalar constructors, for building files to write.

// Uint8 returns a uint8 value.
func Uint8(v uint8) Value { return Value{Type: TypeUint8, bits: uint64(v)} }

// Int8 returns an int8 value.
func Int8(v int8) Value { return Value{Type: TypeInt8, bits: uint64(int64(v))} }

// Uint16 returns a uint16 value.
func Uint16(v uint16) Value { return Value{Type: TypeUint16, bits: uint64(v)} }

// Int16 returns an int16 value.
func Int16(v int16) Value { return Value{Type: TypeInt16, bits: uint64(int64(v))} }

// Uint32 returns a uint32 value.
func Uint32(v uint32) Value { return Value{Type: TypeUint32, bits: uint64(v)} }

// Int32 returns an int32 value.
func Int32(v int32) Value { return Value{Type: TypeInt32, bits: uint64(int64(v))} }

// Uint64 returns a uint64 value.
func Uint64(v uint64) Value { return Value{Type: TypeUint64, bits: v} }

// Int64 returns an int64 value.
func Int64(v int64) Value { return Value{Type: TypeInt64, bits: uint64(v)} }

// Float32 returns a float32 value.
func Float32(v float32) Value { return Value{Type: TypeFloat32, bits: uint64(math.Float32bits(v))} }

// Float64 returns a float64 value.
func Float64(v float64) Value { return Value{Type: TypeFloat64, bits: math.Float64bits(v)} }

// Bool returns a bool value.
func Bool(v bool) Value {
	if v {
		return Value{Type: TypeBool, bits: 1}
	}
	return Value{Type: TypeBool}
}

// String returns a string value.
func String(s string) Value { return Value{Type: TypeString, str: s} }

// Strings returns an array of strings.
func Strings(s []string) Value {
	return Value{Type: TypeArray, arr: &Array{Elem: TypeString, Len: len(s), strs: s}}
}

// Float32s returns an array of float32.
func Float32s(v []float32) Value {
	raw := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(f))
	}
	return Value{Type: TypeArray, arr: &Array{Elem: TypeFloat32, Len: len(v), raw: raw}}
}

// Int32s returns an array of int32.
func Int32s(v []int32) Value {
	raw := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(raw[4*i:], uint32(x))
	}
	return Value{Type: TypeArray, arr: &Array{Elem: TypeInt32, Len: len(v), raw: raw}}
}

// Values returns an array whose elements are the given values, which must
// all have type elem (nested arrays have elem TypeArray).
func Values(elem ValueType, v []Value) (Value, error) {
	a := &Array{Elem: elem, Len: len(v)}
	switch {
	case elem == TypeString:
		a.strs = make([]string, len(v))
	case elem == TypeArray:
		a.vals = make([]Value, len(v))
	case elem.fixedSize() > 0:
		a.raw = make([]byte, elem.fixedSize()*len(v))
	default:
		return Value{}, fmt.Errorf("array of unknown type %v", elem)
	}
	for i, x := range v {
		if x.Type != elem {
			return Value{}, fmt.Errorf("array element %d has type %v, want %v", i, x.Type, elem)
		}
		switch elem {
		case TypeString:
			a.strs[i] = x.str
		case TypeArray:
			a.vals[i] = x
		default:
			putScalar(a.raw[i*elem.fixedSize():], elem, x.bits)
		}
	}
	return Value{Type: TypeArray, arr: a}, nil
}

func putScalar(b []byte, t ValueType, bits uint64) {
	switch t.fixedSize() {
	case 1:
		b[0] = byte(bits)
	case 2:
		binary.LittleEndian.PutUint16(b, uint16(bits))
	case 4:
		binary.LittleEndian.PutUint32(b, uint32(bits))
	case 8:
		binary.LittleEndian.PutUint64(b, bits)
	}
}

// scalarBits decodes one scalar of type t from b, sign-extending signed
// integers.
func scalarBits(b []byte, t ValueType) uint64 {
	switch t {
	case TypeUint8, TypeBool:
		return uint64(b[0])
	case TypeInt8:
		return uint64(int64(int8(b[0])))
	case TypeUint16:
		return uint64(binary.LittleEndian.Uint16(b))
	case TypeInt16:
		return uint64(int64(int16(binary.LittleEndian.Uint16(b))))
	case TypeUint32, TypeFloat32:
		return uint64(binary.LittleEndian.Uint32(b))
	case TypeInt32:
		return uint64(int64(int32(binary.LittleEndian.Uint32(b))))
	default:
		return binary.LittleEndian.Uint64(b)
	}
}

// Str returns the string held by a string value.
func (v Value) Str() (string, bool) { return v.str, v.Type == TypeString }

// Bool returns the value of a bool.
func (v Value) Bool() (bool, bool) { return v.bits != 0, v.Type == TypeBool }

// Uint returns an integer value as uint64; false if v is not an integer or
// is negative.
func (v Value) Uint() (uint64, bool) {
	if !v.Type.integer() || (v.Type.signed() && int64(v.bits) < 0) {
		return 0, false
	}
	return v.bits, true
}

// Int returns an integer value as int64; false if v is not an integer or
// does not fit.
func (v Value) Int() (int64, bool) {
	if !v.Type.integer() || (!v.Type.signed() && v.bits > math.MaxInt64) {
		return 0, false
	}
	return int64(v.bits), true
}

// Float returns a float or integer value as float64.
func (v Value) Float() (float64, bool) {
	switch {
	case v.Type == TypeFloat32:
		return float64(math.Float32frombits(uint32(v.bits))), true
	case v.Type == TypeFloat64:
		return math.Float64frombits(v.bits), true
	case v.Type.signed():
		return float64(int64(v.bits)), true
	case v.Type.integer():
		return float64(v.bits), true
	}
	return 0, false
}

// Array returns the array held by an array value.
func (v Value) Array() (*Array, bool) { return v.arr, v.Type == TypeArray && v.arr != nil }

// Strings returns the elements of an array of strings.
func (a *Array) Strings() ([]string, bool) { return a.strs, a.Elem == TypeString }

// Values returns the elements of an array of arrays.
func (a *Array) Values() ([]Value, bool) { return a.vals, a.Elem == TypeArray }

// At returns element i as a Value.
func (a *Array) At(i int) Value {
	switch {
	case a.Elem == TypeString:
		return Value{Type: TypeString, str: a.strs[i]}
	case a.Elem == TypeArray:
		return a.vals[i]
	}
	sz := a.Elem.fixedSize()
	return Value{Type: a.Elem, bits: scalarBits(a.raw[i*sz:], a.Elem)}
}

// Float32s returns the elements of a numeric array converted to float32.
func (a *Array) Float32s() ([]float32, bool) {
	if a.Elem.fixedSize() == 0 || a.Elem == TypeBool {
		return nil, false
	}
	out := make([]float32, a.Len)
	for i := range out {
		f, _ := a.At(i).Float()
		out[i] = float32(f)
	}
	return out, true
}

// Ints returns the elements of an integer array as int64 (false if an
// element does not fit).
func (a *Array) Ints() ([]int64, bool) {
	if !a.Elem.integer() {
		return nil, false
	}
	out := make([]int64, a.Len)
	for i := range out {
		x, ok := a.At(i).Int()
		if !ok {
			return nil, false
		}
		out[i] = x
	}
	return out, true
}

// Bools returns the elements of a bool array.
func (a *Array) Bools() ([]bool, bool) {
	if a.Elem != TypeBool {
		return nil, false
	}
	out := make([]bool, a.Len)
	for i := range out {
		out[i] = a.raw[i] != 0
	}
	return out, true
}

// GoValue converts v to plain Go values for printing: integers as int64 or
// uint64, floats as float64, strings, bools, and arrays as []any.
func (v Value) GoValue() any {
	switch {
	case v.Type == TypeString:
		return v.str
	case v.Type == TypeBool:
		return v.bits != 0
	case v.Type == TypeFloat32 || v.Type == TypeFloat64:
		f, _ := v.Float()
		return f
	case v.Type.signed():
		return int64(v.bits)
	case v.Type.integer():
		return v.bits
	case v.Type == TypeArray && v.arr != nil:
		out := make([]any, v.arr.Len)
		for i := range out {
			out[i] = v.arr.At(i).GoValue()
		}
		return out
	}
	return nil
}
