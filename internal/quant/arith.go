package quant

import (
	"encoding/binary"
	"math"

	"github.com/memfit/memfit/internal/tensor"
)

// groupMaxEps is ggml's GROUP_MAX_EPS: a group whose largest magnitude is
// below it is treated as all zero.
const groupMaxEps = 1e-15

// nearestInt is ggml's nearest_int: round half to even in float32 through
// the 1.5·2^23 trick. It is exact for |f| ≤ 4194303; outside that range it
// returns what the C code returns (the low mantissa bits), never panicking.
func nearestInt(f float32) int32 {
	v := f + 12582912
	return int32(math.Float32bits(v)&0x7fffff) - 0x400000
}

// cvtt converts f to int32 as x86-64 cvttss2si does, which is what ggml's
// C casts from float to an integer type compile to: truncation toward zero,
// and math.MinInt32 for NaN and values outside the int32 range. A cast to a
// narrower C type keeps the low bits of this result.
func cvtt(f float32) int32 {
	if f >= -2147483648 && f < 2147483648 {
		return int32(f)
	}
	return math.MinInt32
}

// lroundTrit is C's `int xi = lroundf(f) + 1` as glibc and gcc compute it
// on x86-64: round half away from zero to a long, add one, keep the low 32
// bits. NaN and out-of-range values give LONG_MIN + 1, whose low bits are 1.
func lroundTrit(f float32) int32 {
	r := math.Round(float64(f))
	if r >= -9223372036854775808 && r < 9223372036854775808 {
		return int32(int64(r) + 1)
	}
	return 1
}

// roundf is C's roundf: round half away from zero (exact for float32).
func roundf(f float32) float32 { return float32(math.Round(float64(f))) }

// roundEven rounds half to even, as _mm256_round_ps(_MM_ROUND_NEAREST).
func roundEven(f float32) float32 { return float32(math.RoundToEven(float64(f))) }

// sqrtf is C's sqrtf, correctly rounded (a float64 square root rounded to
// float32 is exact: 53 ≥ 2·24+2).
func sqrtf(f float32) float32 { return float32(math.Sqrt(float64(f))) }

// log2f is C's log2f, rounded to float32.
func log2f(f float32) float32 { return float32(math.Log2(float64(f))) }

// floorf is C's floorf.
func floorf(f float32) float32 { return float32(math.Floor(float64(f))) }

// absf is C's fabsf: it clears the sign bit, also of NaN.
func absf(f float32) float32 { return math.Float32frombits(math.Float32bits(f) &^ (1 << 31)) }

// cmaxf is ggml's MAX(a, b) macro on floats: a > b ? a : b. With a NaN it
// returns b, exactly like x86 maxps(a, b).
func cmaxf(a, b float32) float32 {
	if a > b {
		return a
	}
	return b
}

// clampI returns v limited to [lo, hi] (ggml's MAX(lo, MIN(hi, v))).
func clampI(v, lo, hi int32) int32 {
	if v > hi {
		v = hi
	}
	if v < lo {
		v = lo
	}
	return v
}

// f16At reads the little-endian fp16 at b[off:] as float32.
func f16At(b []byte, off int) float32 {
	return tensor.F16ToF32(binary.LittleEndian.Uint16(b[off:]))
}

// putF16 stores f rounded to fp16 (ggml's GGML_FP32_TO_FP16) at b[off:].
func putF16(b []byte, off int, f float32) {
	binary.LittleEndian.PutUint16(b[off:], tensor.F32ToF16(f))
}

// f32At reads the little-endian float32 at b[off:].
func f32At(b []byte, off int) float32 {
	return math.Float32frombits(binary.LittleEndian.Uint32(b[off:]))
}

// putF32 stores the float32 f at b[off:].
func putF32(b []byte, off int, f float32) {
	binary.LittleEndian.PutUint32(b[off:], math.Float32bits(f))
}
