package chat

import (
	"math/big"
)

// Value is a template value. Its dynamic type is one of the types of this
// package that mirror Python's: None, Bool, Int, *BigInt, Float, Str,
// Markup, List, Tuple, *Dict, and the engine's own objects (Undefined,
// namespaces, macros, loop contexts, bound methods, generators, ranges, dict
// views). Build values with the constructors and types here or decode JSON
// with ParseJSON.
type Value interface {
	// pyType returns the Python class name (for error messages).
	pyType() string
}

// NoneType is Python's None.
type NoneType struct{}

// None is the Python None value.
var None Value = NoneType{}

// Bool is a Python bool.
type Bool bool

// Int is a Python int that fits in 64 bits. Larger ints are *BigInt.
type Int int64

// BigInt is a Python int outside the int64 range. It is never modified after
// creation.
type BigInt struct{ v *big.Int }

// Float is a Python float.
type Float float64

// Str is a Python str.
type Str string

// Markup is markupsafe.Markup: a str that is already HTML-escaped.
type Markup string

// List is a Python list. The sandbox makes lists immutable in templates, so
// a List is never modified after creation.
type List []Value

// Tuple is a Python tuple.
type Tuple []Value

// Undefined is Jinja's default Undefined: printed as "", falsy, iterable as
// empty; most other operations raise UndefinedError (or the recorded
// exception type) with the message of the first miss.
type Undefined struct {
	hint    string
	obj     Value // the object the lookup was made on, nil if none
	name    Value // the missing name (Str) or item key
	excType string
}

// Namespace is the object created by namespace(): the one mutable object
// templates can change, with {% set ns.attr = value %}.
type Namespace struct{ attrs *Dict }

func (NoneType) pyType() string   { return "NoneType" }
func (Bool) pyType() string       { return "bool" }
func (Int) pyType() string        { return "int" }
func (*BigInt) pyType() string    { return "int" }
func (Float) pyType() string      { return "float" }
func (Str) pyType() string        { return "str" }
func (Markup) pyType() string     { return "Markup" }
func (List) pyType() string       { return "list" }
func (Tuple) pyType() string      { return "tuple" }
func (*Undefined) pyType() string { return "Undefined" }
func (*Namespace) pyType() string { return "Namespace" }

// NewBigInt returns v as a template int (an Int when it fits in 64 bits).
func NewBigInt(v *big.Int) Value {
	if v.IsInt64() {
		return Int(v.Int64())
	}
	return &BigInt{v: new(big.Int).Set(v)}
}

// undefName returns the Undefined for a missing variable.
func undefName(name string) *Undefined { return &Undefined{name: Str(name)} }

// undefHint returns an Undefined carrying an explicit message.
func undefHint(hint string) *Undefined { return &Undefined{hint: hint} }

// undefAttr returns the Undefined for a missing attribute or item of obj.
func undefAttr(obj, name Value) *Undefined {
	if obj == nil {
		obj = None
	}
	return &Undefined{obj: obj, name: name}
}

// message is Jinja's Undefined._undefined_message.
func (u *Undefined) message() string {
	if u.hint != "" {
		return u.hint
	}
	if u.obj == nil {
		return repr(u.name) + " is undefined"
	}
	if _, ok := u.name.(Str); !ok {
		return objectTypeRepr(u.obj) + " has no element " + repr(u.name)
	}
	return repr(Str(objectTypeRepr(u.obj))) + " has no attribute " + repr(u.name)
}

// err returns the error raised by an operation on u.
func (u *Undefined) err() *Error {
	t := u.excType
	if t == "" {
		t = errUndefined
	}
	return &Error{Type: t, Msg: u.message()}
}

// objectTypeRepr is jinja2.utils.object_type_repr.
func objectTypeRepr(v Value) string {
	switch v.(type) {
	case NoneType:
		return "None"
	case *Undefined:
		return "jinja2.runtime.Undefined object"
	case *Namespace:
		return "jinja2.utils.Namespace object"
	case *loopContext:
		return "jinja2.runtime.LoopContext object"
	case *Macro:
		return "jinja2.runtime.Macro object"
	case Markup:
		return "markupsafe.Markup object"
	}
	return v.pyType() + " object"
}

// truthy is Python's bool(v).
func truthy(v Value) bool {
	switch x := v.(type) {
	case NoneType:
		return false
	case Bool:
		return bool(x)
	case Int:
		return x != 0
	case *BigInt:
		return x.v.Sign() != 0
	case Float:
		return x != 0
	case Str:
		return x != ""
	case Markup:
		return x != ""
	case List:
		return len(x) > 0
	case Tuple:
		return len(x) > 0
	case *Dict:
		return x.Len() > 0
	case *Undefined:
		return false
	case *dictView:
		return x.d.Len() > 0
	case rangeValue:
		return x.length() > 0
	}
	return true
}

// isUndefined reports whether v is an Undefined.
func isUndefined(v Value) bool {
	_, ok := v.(*Undefined)
	return ok
}

// isString reports whether v is a str (Str or Markup) and returns it.
func isString(v Value) (string, bool) {
	switch x := v.(type) {
	case Str:
		return string(x), true
	case Markup:
		return string(x), true
	}
	return "", false
}
