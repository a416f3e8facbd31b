package kernels

import "math"

// SiLU in float32 with one fixed sequence of operations, so that the plain
// Go body and the SIMD bodies give the same bits: silu(g) = g / (1 + e^−g)
// with e^x from a Cody–Waite range reduction (x = n·ln2 + r) and Cephes'
// expf polynomial, every product and sum rounded to float32 on its own (no
// fused multiply-add). Its error against the exact function is a few ulps
// (tested); for g < −88 the result is g / (1 + e^88) instead of a value
// below 1e−36.

// Constants of the float32 exp.
const (
	expMax   = 89.0  // e^89 overflows: the result is then −0
	expMin   = -87.0 // keeps 2^n normal
	log2e    = float32(1.44269504088896341)
	ln2Hi    = float32(0.693359375)
	ln2Lo    = float32(-2.12194440e-4)
	expP0    = float32(1.9875691500e-4)
	expP1    = float32(1.3981999507e-3)
	expP2    = float32(8.3334519073e-3)
	expP3    = float32(4.1665795894e-2)
	expP4    = float32(1.6666665459e-1)
	expP5    = float32(5.0000001201e-1)
	expScale = 127 // exponent bias
)

// exp32 is e^x for x in [expMin, expMax] with the kernels' operation
// order; it is +Inf for x above about 88.4 (n = 128 makes 2^n +Inf).
func exp32(x float32) float32 {
	n := float32(math.RoundToEven(float64(float32(x * log2e))))
	r := x - float32(n*ln2Hi)
	r = r - float32(n*ln2Lo)
	z := float32(r * r)
	p := float32(expP0*r) + expP1
	p = float32(p*r) + expP2
	p = float32(p*r) + expP3
	p = float32(p*r) + expP4
	p = float32(p*r) + expP5
	p = float32(p*z) + r
	p = p + 1
	return float32(p * math.Float32frombits(uint32(int32(n)+expScale)<<23))
}

// silu32 is silu(g) as the kernels compute it. The clamps follow x86
// minps/maxps: a NaN input becomes the bound (and the division then gives
// NaN again, since g is NaN).
func silu32(g float32) float32 {
	x := -g
	if !(x < expMax) {
		x = expMax
	}
	if !(x > expMin) {
		x = expMin
	}
	return g / (1 + exp32(x))
}

// siluMulGo is the plain Go SiLUMul: out[i] = silu32(gate[i])·up[i].
func siluMulGo(out, gate, up []float32) {
	up = up[:len(gate)]
	out = out[:len(gate)]
	for i, g := range gate {
		out[i] = float32(silu32(g) * up[i])
	}
}

// SiLUMul writes silu(gate)·up to out (len(gate) values).
func SiLUMul(out, gate, up []float32) { active.siluMul(out, gate, up) }

// expMinusGo replaces v[i] with exp32(v[i] − m), the exponent clamped as
// silu32 clamps it.
func expMinusGo(v []float32, m float32) {
	for i, x := range v {
		x -= m
		if !(x < expMax) {
			x = expMax
		}
		if !(x > expMin) {
			x = expMin
		}
		v[i] = exp32(x)
	}
}
