package tensor

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Shape holds tensor dimensions innermost first, as ggml's ne: Shape[0] is the
// length of one contiguous row. A weight matrix that PyTorch stores as
// [out, in] has Shape{in, out}.
type Shape []int64

// Elems returns the number of values, or -1 if it overflows int64 or a
// dimension is negative.
func (s Shape) Elems() int64 {
	n := int64(1)
	for _, d := range s {
		if d < 0 {
			return -1
		}
		if d != 0 && n > math.MaxInt64/d {
			return -1
		}
		n *= d
	}
	return n
}

// Rows returns the number of rows: the product of every dimension but the
// first (1 for a vector).
func (s Shape) Rows() int64 {
	if len(s) == 0 {
		return 1
	}
	return Shape(s[1:]).Elems()
}

// String formats the shape as [a, b, c].
func (s Shape) String() string {
	parts := make([]string, len(s))
	for i, d := range s {
		parts[i] = strconv.FormatInt(d, 10)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// Equal reports whether s and t have the same dimensions.
func (s Shape) Equal(t Shape) bool {
	if len(s) != len(t) {
		return false
	}
	for i := range s {
		if s[i] != t[i] {
			return false
		}
	}
	return true
}

// Bytes returns the storage size of a tensor of this shape and type.
func Bytes(t DType, s Shape) (int64, error) {
	if len(s) == 0 {
		return t.RowBytes(1)
	}
	rb, err := t.RowBytes(s[0])
	if err != nil {
		return 0, err
	}
	rows := s.Rows()
	if rows < 0 || (rows != 0 && rb > math.MaxInt64/rows) {
		return 0, fmt.Errorf("tensor of shape %v is too large", s)
	}
	return rb * rows, nil
}

// Tensor is a typed view over bytes it does not own.
type Tensor struct {
	Name  string
	Type  DType
	Shape Shape
	Data  []byte
}

// RowLen is the number of values in one row.
func (t *Tensor) RowLen() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return int(t.Shape[0])
}

// NumRows is the number of rows.
func (t *Tensor) NumRows() int { return int(t.Shape.Rows()) }

// RowBytes is the storage size of one row.
func (t *Tensor) RowBytes() int {
	n, _ := t.Type.RowBytes(int64(t.RowLen()))
	return int(n)
}

// Row returns the bytes of row i.
func (t *Tensor) Row(i int) []byte {
	rb := t.RowBytes()
	return t.Data[i*rb : (i+1)*rb]
}
