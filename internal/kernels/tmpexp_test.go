package kernels

import (
	"math/rand/v2"
	"testing"

	"github.com/memfit/memfit/internal/tensor"
)

func BenchmarkTmpExperts(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	const E = 64
	gate := make([]tensor.Tensor, E)
	up := make([]tensor.Tensor, E)
	down := make([]tensor.Tensor, E)
	for e := range E {
		gate[e] = quantMatrix(r, tensor.Q4_K, 2048, 768, 0, false)
		up[e] = quantMatrix(r, tensor.Q4_K, 2048, 768, 0, false)
		down[e] = quantMatrix(r, tensor.Q4_K, 768, 2048, 0, false)
	}
	x := randVec(r, 2048)
	g := make([]float32, 8*768)
	u := make([]float32, 8*768)
	a := make([]float32, 8*768)
	y := make([]float32, 8*2048)
	ops := NewOps(NewPool(2))
	defer ops.Pool.Close()
	b.Run("each", func(b *testing.B) {
		i := 0
		for b.Loop() {
			for k := 0; k < 8; k++ {
				e := (i*8 + k) % E
				jobs := [2]MatJob{{W: &gate[e], Y: g[:768], LDY: 768}, {W: &up[e], Y: u[:768], LDY: 768}}
				ops.MatMuls(x, 1, jobs[:])
				SiLUMul(a[:768], g[:768], u[:768])
				ops.MatMul(&down[e], a[:768], 1, y[k*2048:(k+1)*2048], 2048)
			}
			i++
		}
	})
	b.Run("batched", func(b *testing.B) {
		i := 0
		var jobs [16]MatJob
		var dj [8]MatJob
		for b.Loop() {
			for k := 0; k < 8; k++ {
				e := (i*8 + k) % E
				jobs[2*k] = MatJob{W: &gate[e], Y: g[k*768 : (k+1)*768], LDY: 768}
				jobs[2*k+1] = MatJob{W: &up[e], Y: u[k*768 : (k+1)*768], LDY: 768}
				dj[k] = MatJob{W: &down[e], Y: y[k*2048 : (k+1)*2048], LDY: 2048}
			}
			ops.MatMuls(x, 1, jobs[:])
			SiLUMul(a, g, u)
			ops.MatMuls(a[:768], 1, dj[:])
			i++
		}
	})
}
