//go:build amd64 && !purego

package kernels

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestExpMinusAVX2 checks the assembly softmax exponentials against the Go
// body bit for bit, including clamped and non-finite inputs.
func TestExpMinusAVX2(t *testing.T) {
	r := rand.New(rand.NewPCG(51, 52))
	for _, m := range []float32{0, 3.5, -2, 88, -100, float32(math.Inf(1))} {
		v := siluInputs(r)
		v = v[:len(v)&^7]
		want := append([]float32(nil), v...)
		expMinusGo(want, m)
		got := append([]float32(nil), v...)
		expMinusAVX2(&got[0], len(got), m)
		for i := range got {
			if !sameFloat(got[i], want[i]) {
				t.Fatalf("m=%v: exp(%v − m) = %v, Go body %v", m, v[i], got[i], want[i])
			}
		}
	}
}
