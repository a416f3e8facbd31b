package quant

import (
	"math"

	"github.com/memfit/memfit/internal/tensor"
)

// splitmix64 is a small deterministic PRNG for test inputs.
type splitmix64 uint64

func (s *splitmix64) next() uint64 {
	*s += 0x9e3779b97f4a7c15
	z := uint64(*s)
	z = (z ^ z>>30) * 0xbf58476d1ce4e5b9
	z = (z ^ z>>27) * 0x94d049bb133111eb
	return z ^ z>>31
}

// uniform returns a value in [0, 1).
func (s *splitmix64) uniform() float64 { return float64(s.next()>>11) / (1 << 53) }

// normal returns a standard normal value (Box–Muller).
func (s *splitmix64) normal() float64 {
	u1 := s.uniform()
	for u1 == 0 {
		u1 = s.uniform()
	}
	return math.Sqrt(-2*math.Log(u1)) * math.Cos(2*math.Pi*s.uniform())
}

// randomValues fills x with one of several kinds of data per 32-value
// block: Gaussian, uniform, constant, zero, sparse, outliers, one sign,
// exact quantization ties and mixed magnitudes, scaled by sigma.
func randomValues(rng *splitmix64, x []float32, sigma float64) {
	for b := 0; b < len(x); b += 32 {
		blk := x[b:min(b+32, len(x))]
		kind := rng.next() % 9
		for i := range blk {
			var v float64
			switch kind {
			case 0, 1: // Gaussian
				v = rng.normal()
			case 2: // uniform
				v = 2*rng.uniform() - 1
			case 3: // constant
				v = 0.75
			case 4: // zero
				v = 0
			case 5: // sparse: a few non-zeros
				if rng.next()%8 == 0 {
					v = rng.normal()
				}
			case 6: // negative only
				v = -math.Abs(rng.normal()) - 0.01
			case 7: // ties: (k+½)/64 with one value at 127/64
				v = (float64(int(rng.next()%254)-127) + 0.5) / 64
				if i == 0 {
					v = 127.0 / 64
				}
			case 8: // mixed magnitudes
				v = rng.normal() * math.Pow(10, float64(int(rng.next()%5)-3))
			}
			if rng.next()%97 == 0 {
				v *= 8 + 22*rng.uniform() // outlier
			}
			blk[i] = float32(v * sigma)
		}
	}
}

// scaleField locates one scale of a block: an fp16 or float32 at off,
// multiplying quants of magnitude at most mul.
type scaleField struct {
	off int
	f32 bool
	mul float64
}

// blockScales lists, per type, the scale fields of a block and the largest
// quant magnitude each multiplies, so that |value| ≤ Σ mul·|scale|. MXFP4
// (an E8M0 exponent) and the plain types are handled separately.
var blockScales = map[tensor.DType][]scaleField{
	tensor.Q4_0:   {{0, false, 8}},
	tensor.Q4_1:   {{0, false, 15}, {2, false, 1}},
	tensor.Q5_0:   {{0, false, 16}},
	tensor.Q5_1:   {{0, false, 31}, {2, false, 1}},
	tensor.Q8_0:   {{0, false, 128}},
	tensor.Q8_1:   {{0, false, 128}},
	tensor.Q2_K:   {{80, false, 15 * 3}, {82, false, 15}},
	tensor.Q3_K:   {{108, false, 32 * 4}},
	tensor.Q4_K:   {{0, false, 63 * 15}, {2, false, 63}},
	tensor.Q5_K:   {{0, false, 63 * 31}, {2, false, 63}},
	tensor.Q6_K:   {{208, false, 128 * 32}},
	tensor.Q8_K:   {{0, true, 128}},
	tensor.IQ4_NL: {{0, false, 127}},
	tensor.IQ4_XS: {{0, false, 32 * 127}},
	tensor.TQ1_0:  {{52, false, 1}},
	tensor.TQ2_0:  {{64, false, 2}}, // code 3 decodes to +2·d
}

// valueBound returns the largest |value| a block of t can decode to, from
// its scale fields, and whether that bound is finite in float32 (so every
// decoded value must be finite). ok is false for the plain types.
func valueBound(t tensor.DType, blk []byte) (bound float64, finite, ok bool) {
	if t == tensor.MXFP4 {
		bound = 12 * float64(e8m0Half(blk[0]))
		return bound, bound <= math.MaxFloat32, true
	}
	fields, ok := blockScales[t]
	if !ok {
		return 0, false, false
	}
	for _, f := range fields {
		var s float64
		if f.f32 {
			s = float64(f32At(blk, f.off))
		} else {
			s = float64(f16At(blk, f.off))
		}
		bound += f.mul * math.Abs(s)
	}
	// A few float32 roundings on the way.
	bound *= 1 + 1e-6
	return bound, !math.IsNaN(bound) && bound <= math.MaxFloat32, true
}

// roundTripBound is the largest |x − dequantize(quantize(x))| allowed for a
// block whose largest magnitude is amax: rel·amax plus abs (fp16 scales
// lose precision, then underflow, for tiny blocks).
type roundTripBound struct{ rel, abs float64 }

// roundTripBounds per type. The fixed-grid types follow from their step
// and clamping (e.g. Q4_0: the clamp at 15 costs one step, amax/8; Q8_0:
// amax/254 plus 127·|d − fp16(d)|; ternary: amax/2; MXFP4: amax/4). The
// fitted types (K-quants, IQ4) have no simple worst case; their bounds are
// the maxima measured over many random inputs with a margin, and still far
// below the errors of a wrong bit layout (≈ amax).
var roundTripBounds = map[tensor.DType]roundTripBound{
	tensor.F32:    {0, 0},
	tensor.F16:    {1.0 / 2048, 0x1p-25},
	tensor.BF16:   {1.0 / 256, 0},
	tensor.Q8_0:   {0.0045, 128 * 0x1p-25},
	tensor.Q8_1:   {0.0045, 128 * 0x1p-25},
	tensor.Q8_K:   {0.004, 0},
	tensor.Q4_0:   {0.126, 8 * 0x1p-24},
	tensor.Q4_1:   {0.068, 16 * 0x1p-24},
	tensor.Q5_0:   {0.0635, 16 * 0x1p-24},
	tensor.Q5_1:   {0.034, 32 * 0x1p-24},
	tensor.TQ1_0:  {0.5005, 0x1p-24},
	tensor.TQ2_0:  {0.5005, 0x1p-24},
	tensor.MXFP4:  {0.2501, 0},
	tensor.IQ4_NL: {0.25, 127 * 0x1p-24},
	tensor.IQ4_XS: {0.25, 32 * 127 * 0x1p-24},
	tensor.Q2_K:   {0.5, 2 * (45 + 15) * 0x1p-24},
	tensor.Q3_K:   {0.5, 2 * 128 * 0x1p-24},
	tensor.Q4_K:   {0.25, 2 * (945 + 63) * 0x1p-24},
	tensor.Q5_K:   {0.125, 2 * (1953 + 63) * 0x1p-24},
	tensor.Q6_K:   {0.0625, 2 * 4096 * 0x1p-24},
}

// roundTripErr returns, per block of t (super-blocks for the 256-value
// types), the largest error of got against x divided by the bound for that
// block; a value above 1 violates the bound.
func roundTripErr(t tensor.DType, x, got []float32) (worst float64, at int) {
	b := roundTripBounds[t]
	be := t.BlockElems()
	if be == 1 {
		be = 32 // plain types: the bound is per value, amax per 32 is looser
	}
	for s := 0; s < len(x); s += be {
		var amax, maxErr float64
		for i := s; i < s+be; i++ {
			amax = max(amax, math.Abs(float64(x[i])))
			maxErr = max(maxErr, math.Abs(float64(x[i])-float64(got[i])))
		}
		lim := (b.rel*amax + b.abs) * 1.001 // float32 rounding slack
		var r float64
		switch {
		case maxErr == 0:
			r = 0
		case lim == 0:
			r = math.Inf(1)
		default:
			r = maxErr / lim
		}
		if r > worst {
			worst, at = r, s
		}
	}
	return worst, at
}
