package kernels

import (
	"encoding/binary"
	"math"
	"math/rand/v2"
	"testing"
)

// siluInputs returns gate values: a sweep over [−100, 100], random values
// at several scales, every power of two, and the edge cases.
func siluInputs(r *rand.Rand) []float32 {
	var g []float32
	for x := float32(-100); x <= 100; x += 0.0137 {
		g = append(g, x)
	}
	for range 20000 {
		g = append(g, float32(r.NormFloat64()*[]float64{1, 4, 30, 1e-3}[r.IntN(4)]))
	}
	for e := -149; e <= 127; e++ {
		v := float32(math.Ldexp(1, e))
		g = append(g, v, -v)
	}
	inf := float32(math.Inf(1))
	g = append(g, 0, float32(math.Copysign(0, -1)), inf, -inf, float32(math.NaN()),
		87, -87, 88, -88, 87.0001, -87.0001, 88.0001, -88.0001, math.MaxFloat32, -math.MaxFloat32)
	return g
}

// TestSiLUVariantsAgree checks every variant's SiLUMul against the Go body
// bit for bit, at every length (SIMD bodies and their tails).
func TestSiLUVariantsAgree(t *testing.T) {
	r := rand.New(rand.NewPCG(41, 42))
	g := siluInputs(r)
	up := make([]float32, len(g))
	for i := range up {
		up[i] = float32(r.NormFloat64())
	}
	want := make([]float32, len(g))
	siluMulGo(want, g, up)
	eachVariant(t, func(t *testing.T) {
		for _, n := range []int{len(g), 1, 7, 8, 9, 31, 1000} {
			got := make([]float32, n)
			SiLUMul(got, g[:n], up[:n])
			for i := range got {
				if !sameFloat(got[i], want[i]) {
					t.Fatalf("n=%d: silu(%v)·%v = %v (%#x), Go body %v (%#x)", n, g[i], up[i], got[i], math.Float32bits(got[i]), want[i], math.Float32bits(want[i]))
				}
			}
		}
	})
}

// TestSiLUAccuracy bounds silu32's error against the function computed in
// float64: at most 4 ulps of the result where it is a normal float32 (g ≥
// −87), and below 4e−37 in absolute value elsewhere.
func TestSiLUAccuracy(t *testing.T) {
	r := rand.New(rand.NewPCG(43, 44))
	worst := 0.0
	for _, g := range siluInputs(r) {
		got := float64(silu32(g))
		x := float64(g)
		want := x / (1 + math.Exp(-x))
		switch {
		case math.IsNaN(x):
			if !math.IsNaN(got) {
				t.Errorf("silu(NaN) = %v", got)
			}
			continue
		case math.IsInf(x, 1):
			if got != x {
				t.Errorf("silu(+Inf) = %v", got)
			}
			continue
		case math.IsInf(x, -1):
			if !math.IsNaN(got) {
				t.Errorf("silu(-Inf) = %v, want NaN (−Inf/Inf)", got)
			}
			continue
		}
		if x < -87 || math.Abs(want) < 1e-30 {
			if d := math.Abs(got - want); d > 4e-37 {
				t.Errorf("silu(%v) = %v, want %v", g, got, want)
			}
			continue
		}
		ulp := float64(math.Nextafter32(float32(math.Abs(want)), math.MaxFloat32)) - math.Abs(want)
		if e := math.Abs(got-want) / ulp; e > worst {
			worst = e
		}
		if d := math.Abs(got - want); d > 4*ulp {
			t.Errorf("silu(%v) = %v, want %v (%.1f ulps)", g, got, want, d/ulp)
		}
	}
	t.Logf("worst error %.2f ulps", worst)
}

func FuzzSiLU(f *testing.F) {
	f.Add([]byte{0, 0, 128, 63, 0, 0, 192, 194, 1, 0, 128, 127})
	f.Fuzz(func(t *testing.T, b []byte) {
		n := len(b) / 4
		g := make([]float32, n)
		up := make([]float32, n)
		for i := range g {
			g[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
			up[i] = float32(i%7) - 3
		}
		want := make([]float32, n)
		siluMulGo(want, g, up)
		for _, v := range Variants() {
			restore, _ := Use(v)
			got := make([]float32, n)
			SiLUMul(got, g, up)
			restore()
			for i := range got {
				if !sameFloat(got[i], want[i]) {
					t.Fatalf("%s: silu(%v)·%v = %v, Go body %v", v, g[i], up[i], got[i], want[i])
				}
			}
		}
	})
}

func BenchmarkSiLUMul(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 2))
	g, u, out := randVec(r, 8192), randVec(r, 8192), make([]float32, 8192)
	for _, v := range Variants() {
		b.Run(v, func(b *testing.B) {
			restore, _ := Use(v)
			defer restore()
			b.SetBytes(3 * 4 * 8192)
			for b.Loop() {
				SiLUMul(out, g, u)
			}
		})
	}
}
