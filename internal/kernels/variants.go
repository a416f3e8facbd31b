package kernels

import (
	"fmt"

	"github.com/memfit/memfit/internal/tensor"
)

// rowBlockFunc multiplies rows [r0, r1) of w with T tokens of x into y
// (y[t·ldy + r]). scratch holds at least 4·RowLen floats.
type rowBlockFunc func(w *tensor.Tensor, r0, r1 int, x []float32, T int, y []float32, ldy int, scratch []float32)

// Variant is one implementation of the matrix-product inner kernels. "go"
// (plain Go) is always available; others are added by files built for the
// CPU architecture and registered only where the CPU supports them.
type Variant struct {
	Name     string
	rowBlock map[tensor.DType]rowBlockFunc
	// kvDot4 and kvAxpy4 are attention's inner loops over four cache
	// positions: scores q·k, and the weighted sum of values.
	kvDot4  func(kv *KVLayer, offs *[4]int, q []float32, out *[4]float32)
	kvAxpy4 func(kv *KVLayer, offs *[4]int, ws *[4]float32, dst []float32)
	// quant holds the block-quantized matrix kernels by weight type and
	// act the activation quantizers by vec_dot type; a type missing from
	// either runs the internal/quant reference.
	quant map[tensor.DType]*quantKernels
	act   map[tensor.DType]actFunc
}

var (
	variants = []*Variant{goVariant}
	active   = goVariant
)

var goVariant = &Variant{Name: "go", rowBlock: map[tensor.DType]rowBlockFunc{
	tensor.F32: rowBlockGo, tensor.F16: rowBlockGo, tensor.BF16: rowBlockGo,
}, kvDot4: kvDot4Go, kvAxpy4: kvAxpy4Go}

// register adds a variant and makes it the active one.
func register(v *Variant) {
	variants = append(variants, v)
	active = v
}

// Variants returns the names of the variants this CPU can run, the plain Go
// one first.
func Variants() []string {
	names := make([]string, len(variants))
	for i, v := range variants {
		names[i] = v.Name
	}
	return names
}

// Active returns the name of the variant in use.
func Active() string { return active.Name }

// Use selects a variant by name (for tests and benchmarks) and returns a
// function that restores the previous one. Not safe to call while kernels
// run.
func Use(name string) (restore func(), err error) {
	for _, v := range variants {
		if v.Name == name {
			prev := active
			active = v
			return func() { active = prev }, nil
		}
	}
	return nil, fmt.Errorf("kernels: no variant %q on this CPU (have %v)", name, Variants())
}

// rowBlock returns the active variant's kernel for weights of type t,
// falling back to plain Go.
func rowBlock(t tensor.DType) rowBlockFunc {
	if f, ok := active.rowBlock[t]; ok {
		return f
	}
	return goVariant.rowBlock[t]
}

// rowBlockGo converts four rows at a time to float32 and takes their dot
// products with every token.
func rowBlockGo(w *tensor.Tensor, lo, hi int, x []float32, T int, y []float32, ldy int, buf []float32) {
	in := w.RowLen()
	r := lo
	for ; r+4 <= hi; r += 4 {
		r0 := RowF32(w, r, buf[0:in])
		r1 := RowF32(w, r+1, buf[in:2*in])
		r2 := RowF32(w, r+2, buf[2*in:3*in])
		r3 := RowF32(w, r+3, buf[3*in:4*in])
		for t := 0; t < T; t++ {
			a, b, c, d := dot4(r0, r1, r2, r3, x[t*in:(t+1)*in])
			yr := y[t*ldy+r : t*ldy+r+4]
			yr[0], yr[1], yr[2], yr[3] = a, b, c, d
		}
	}
	for ; r < hi; r++ {
		row := RowF32(w, r, buf[0:in])
		for t := 0; t < T; t++ {
			y[t*ldy+r] = Dot(row, x[t*in:(t+1)*in])
		}
	}
}
