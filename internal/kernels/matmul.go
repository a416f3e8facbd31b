package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"unsafe"

	"github.com/memfit/memfit/internal/quant"
	"github.com/memfit/memfit/internal/tensor"
)

// f16Table maps every binary16 bit pattern to its float32 value.
var f16Table = func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = tensor.F16ToF32(uint16(i))
	}
	return &t
}()

// Supports reports whether the matrix products accept weights of type t:
// F32, F16, BF16 and every ggml block type with a dot product in
// internal/quant.
func Supports(t tensor.DType) bool {
	switch t {
	case tensor.F32, tensor.F16, tensor.BF16:
		return true
	}
	tr, err := quant.Traits(t)
	return err == nil && tr.VecDot != nil
}

// isFloat reports whether t is a float type the f32 kernels read directly.
func isFloat(t tensor.DType) bool {
	return t == tensor.F32 || t == tensor.F16 || t == tensor.BF16
}

// F32View returns b as float32 values without copying when b is 4-byte
// aligned, else a copy in dst (which must hold len(b)/4 values).
func F32View(b []byte, dst []float32) []float32 {
	n := len(b) / 4
	if n == 0 {
		return dst[:0]
	}
	if uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), n)
	}
	for i := range n {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return dst[:n]
}

// RowF32 returns row r of w as float32 values: a view for aligned F32 data,
// else converted (or dequantized) into dst (len ≥ row length).
func RowF32(w *tensor.Tensor, r int, dst []float32) []float32 {
	n := w.RowLen()
	switch w.Type {
	case tensor.F32:
		return F32View(w.Data[r*4*n:(r+1)*4*n], dst)
	case tensor.F16:
		src := w.Data[r*2*n : (r+1)*2*n]
		dst = dst[:n]
		for i := range dst {
			dst[i] = f16Table[uint16(src[2*i])|uint16(src[2*i+1])<<8]
		}
		return dst
	case tensor.BF16:
		src := w.Data[r*2*n : (r+1)*2*n]
		dst = dst[:n]
		for i := range dst {
			dst[i] = math.Float32frombits(uint32(src[2*i])<<16 | uint32(src[2*i+1])<<24)
		}
		return dst
	}
	if err := quant.Dequantize(w.Type, dst[:n], w.Row(r)); err != nil {
		panic(fmt.Sprintf("kernels: RowF32: %v", err))
	}
	return dst[:n]
}

// Dot returns Σ a[i]·b[i] over len(a) values.
func Dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// dot4 returns the dot products of x with four rows at once, loading x once.
func dot4(r0, r1, r2, r3, x []float32) (float32, float32, float32, float32) {
	n := len(x)
	r0, r1, r2, r3 = r0[:n], r1[:n], r2[:n], r3[:n]
	var s0, s1, s2, s3 float32
	var t0, t1, t2, t3 float32
	i := 0
	for ; i+2 <= n; i += 2 {
		a, b := x[i], x[i+1]
		s0 += r0[i] * a
		s1 += r1[i] * a
		s2 += r2[i] * a
		s3 += r3[i] * a
		t0 += r0[i+1] * b
		t1 += r1[i+1] * b
		t2 += r2[i+1] * b
		t3 += r3[i+1] * b
	}
	if i < n {
		a := x[i]
		s0 += r0[i] * a
		s1 += r1[i] * a
		s2 += r2[i] * a
		s3 += r3[i] * a
	}
	return s0 + t0, s1 + t1, s2 + t2, s3 + t3
}

// MatMulRef is the reference matrix product: for each of T tokens,
// y[t·ldy + r] = Σ_i w[r][i]·x[t·in + i] for every row r of w, summed in
// float64.
func MatMulRef(w *tensor.Tensor, x []float32, T int, y []float32, ldy int) {
	in, rows := w.RowLen(), w.NumRows()
	buf := make([]float32, in)
	for r := 0; r < rows; r++ {
		row := RowF32(w, r, buf)
		for t := 0; t < T; t++ {
			var s float64
			for i, v := range row {
				s += float64(v) * float64(x[t*in+i])
			}
			y[t*ldy+r] = float32(s)
		}
	}
}

// matmulTask is one matrix product split by rows of the weight.
type matmulTask struct {
	w       *tensor.Tensor
	x, y    []float32
	t, ldy  int
	scratch [][]float32 // per worker: 4 converted rows
}

func (m *matmulTask) Do(wk, lo, hi int) {
	rowBlock(m.w.Type)(m.w, lo, hi, m.x, m.t, m.y, m.ldy, m.scratch[wk])
}

// RowF32Tail converts values [from, RowLen) of row r of w to float32 in dst.
func RowF32Tail(w *tensor.Tensor, r, from int, dst []float32) []float32 {
	n := w.RowLen()
	tmp := tensor.Tensor{Type: w.Type, Shape: tensor.Shape{int64(n - from), 1}}
	size := 4
	if w.Type != tensor.F32 {
		size = 2
	}
	tmp.Data = w.Data[(r*n+from)*size : (r+1)*n*size]
	return RowF32(&tmp, 0, dst[:n-from])
}
