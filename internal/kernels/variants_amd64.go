//go:build amd64 && !purego

package kernels

import (
	"golang.org/x/sys/cpu"

	"github.com/memfit/memfit/internal/tensor"
)

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C {
		register(&Variant{Name: "avx2", rowBlock: map[tensor.DType]rowBlockFunc{
			tensor.F32: rowBlockAVX2, tensor.F16: rowBlockAVX2, tensor.BF16: rowBlockAVX2,
		}})
	}
}

// dot4AVX2 calls the assembly kernel for weights of type t.
func dot4AVX2(t tensor.DType, p *[4]*byte, x *float32, n int, out *[4]float32) {
	switch t {
	case tensor.F32:
		dot4F32AVX2(p[0], p[1], p[2], p[3], x, n, out)
	case tensor.F16:
		dot4F16AVX2(p[0], p[1], p[2], p[3], x, n, out)
	case tensor.BF16:
		dot4BF16AVX2(p[0], p[1], p[2], p[3], x, n, out)
	}
}

// rowBlockAVX2 runs the assembly dot4 kernels over the rows four at a time,
// reading the weights in place; the tail of each row (len mod 16) and of the
// rows (count mod 4) is finished in Go.
func rowBlockAVX2(w *tensor.Tensor, lo, hi int, x []float32, T int, y []float32, ldy int, buf []float32) {
	in := w.RowLen()
	main := in &^ 15
	rb := w.RowBytes()
	var out [4]float32
	var p [4]*byte
	var tails [4][]float32
	for r := lo; r < hi; r += 4 {
		nr := min(4, hi-r)
		for k := range p {
			p[k] = &w.Data[(r+min(k, nr-1))*rb]
		}
		if main < in {
			for k := 0; k < nr; k++ {
				tails[k] = RowF32Tail(w, r+k, main, buf[k*in:(k+1)*in])
			}
		}
		for t := 0; t < T; t++ {
			xt := x[t*in : (t+1)*in]
			if main > 0 {
				dot4AVX2(w.Type, &p, &xt[0], main, &out)
			} else {
				out = [4]float32{}
			}
			for k := 0; k < nr; k++ {
				v := out[k]
				if main < in {
					v += Dot(tails[k], xt[main:])
				}
				y[t*ldy+r+k] = v
			}
		}
	}
}
