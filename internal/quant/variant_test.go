package quant

import (
	"math"

	"github.com/memfit/memfit/internal/tensor"
)

// blockwiseName is the test-only variant registered for every type: it
// runs the reference one block at a time, and sums the dot product in
// another order (per block, in float64). It exercises the variant
// machinery — every variant check in this package runs against it — and
// checks that ggml's kernels are independent per block, which assembly
// variants rely on.
const blockwiseName = "blockwise-test"

func init() {
	for _, t := range Types() {
		Register(t, blockwise(t))
	}
}

func blockwise(t tensor.DType) Kernels {
	ref := Variants(t)[0]
	be, bb := t.BlockElems(), t.BlockBytes()
	k := Kernels{
		Name: blockwiseName,
		Dequantize: func(dst []float32, src []byte) {
			for i := 0; i < len(dst)/be; i++ {
				ref.Dequantize(dst[i*be:(i+1)*be], src[i*bb:(i+1)*bb])
			}
		},
		Quantize: func(dst []byte, src []float32) {
			for i := 0; i < len(src)/be; i++ {
				ref.Quantize(dst[i*bb:(i+1)*bb], src[i*be:(i+1)*be])
			}
		},
	}
	if ref.QuantizeActivation != nil {
		k.QuantizeActivation = func(dst []byte, src []float32) {
			for i := 0; i < len(src)/be; i++ {
				ref.QuantizeActivation(dst[i*bb:(i+1)*bb], src[i*be:(i+1)*be])
			}
		}
	}
	if ref.VecDot != nil {
		e := registry[t]
		vt := e.vecDotType
		// The smallest run of whole blocks of both operands.
		step := max(be, vt.BlockElems())
		wStep, xStep := step/be*bb, step/vt.BlockElems()*vt.BlockBytes()
		k.VecDot = func(n int, w, xq []byte) float32 {
			var sum float64
			for i := 0; i < n/step; i++ {
				sum += float64(ref.VecDot(step, w[i*wStep:(i+1)*wStep], xq[i*xStep:(i+1)*xStep]))
			}
			return float32(sum)
		}
	}
	return k
}

// dotAgrees reports whether a variant's dot product got agrees with the
// reference's want within the tolerance of t relative to l1 (Σ|w·x|).
// Non-finite results must be equal (NaN matches NaN).
func dotAgrees(t tensor.DType, got, want float32, l1 float64) bool {
	g, w := float64(got), float64(want)
	if math.IsNaN(g) || math.IsNaN(w) || math.IsInf(g, 0) || math.IsInf(w, 0) || math.IsInf(l1, 0) || math.IsNaN(l1) {
		return math.IsNaN(g) && math.IsNaN(w) || g == w || math.IsInf(l1, 0) || math.IsNaN(l1)
	}
	return math.Abs(g-w) <= vecDotRTol[t]*l1+1e-30
}
