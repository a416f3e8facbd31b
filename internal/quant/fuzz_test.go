package quant

import (
	"encoding/binary"
	"math"
	"testing"

	"github.com/memfit/memfit/internal/tensor"
)

// sentinel marks output not yet written: a signalling NaN with a payload no
// dequantizer produces (arithmetic quiets NaNs, fp16/bf16 widening leaves
// the low bits zero).
const sentinel = 0x7fa5a5a5

// fuzzSeeds are byte patterns every fuzz target starts from: zeros, ones,
// fp16 infinities and NaNs in scale positions, and pseudo-random blocks.
func fuzzSeeds() [][]byte {
	seeds := [][]byte{
		nil,
		make([]byte, 600),
		bytesOf(0xff, 600),
		bytesOf(0x7c, 600), // fp16 0x7c7c: NaN; as floats: huge
		bytesOf(0x3c, 600), // fp16 1.0 patterns
		bytesOf(0x80, 600),
	}
	rng := splitmix64(42)
	for _, n := range []int{17, 34, 292, 600, 1200} {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(rng.next())
		}
		seeds = append(seeds, b)
	}
	// A float32 row with ties and outliers, as bytes.
	x := make([]float32, 512)
	randomValues(&rng, x, 1)
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return append(seeds, b)
}

func bytesOf(v byte, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = v
	}
	return b
}

// FuzzDequantize decodes arbitrary bytes as every type under every
// variant. It must never panic; the checked API must reject a partial
// block; every value must be written, bit-identical across variants, and
// within the bound the block's scales allow — finite whenever that bound is.
func FuzzDequantize(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, typ := range Types() {
			be, bb := typ.BlockElems(), typ.BlockBytes()
			nb := min(len(data)/bb, 64)
			src := data[:nb*bb]
			dst := make([]float32, nb*be)
			if err := Dequantize(typ, dst, data); (err == nil) != (len(data) == nb*bb) {
				t.Fatalf("%v: Dequantize of %d bytes into %d values: error %v", typ, len(data), len(dst), err)
			}
			var ref []float32
			for _, v := range Variants(typ) {
				if v.Dequantize == nil {
					continue
				}
				got := make([]float32, len(dst))
				for i := range got {
					got[i] = math.Float32frombits(sentinel)
				}
				v.Dequantize(got, src)
				if ref == nil {
					ref = got
					checkDecoded(t, typ, src, got)
					continue
				}
				if i := firstF32Diff(got, ref); i >= 0 {
					t.Fatalf("%v %s: value %d = %#08x, reference %#08x", typ, v.Name, i, math.Float32bits(got[i]), math.Float32bits(ref[i]))
				}
			}
		}
	})
}

// checkDecoded checks the reference decoding of the blocks in src.
func checkDecoded(t *testing.T, typ tensor.DType, src []byte, y []float32) {
	be, bb := typ.BlockElems(), typ.BlockBytes()
	for b := 0; b < len(y)/be; b++ {
		blk, yb := src[b*bb:(b+1)*bb], y[b*be:(b+1)*be]
		if typ == tensor.F32 {
			if got := math.Float32bits(yb[0]); got != binary.LittleEndian.Uint32(blk) {
				t.Fatalf("F32 value %d = %#08x, bytes %x", b, got, blk)
			}
			continue
		}
		for i, v := range yb {
			if math.Float32bits(v) == sentinel {
				t.Fatalf("%v block %d: value %d not written", typ, b, i)
			}
		}
		bound, finite, ok := valueBound(typ, blk)
		if !ok {
			// F16, BF16: one exact conversion per value.
			want := tensor.F16ToF32(binary.LittleEndian.Uint16(blk))
			if typ == tensor.BF16 {
				want = tensor.BF16ToF32(binary.LittleEndian.Uint16(blk))
			}
			if math.Float32bits(yb[0]) != math.Float32bits(want) {
				t.Fatalf("%v value %d = %#08x, want %#08x", typ, b, math.Float32bits(yb[0]), math.Float32bits(want))
			}
			continue
		}
		if !finite {
			continue
		}
		for i, v := range yb {
			if math.IsNaN(float64(v)) || math.Abs(float64(v)) > bound {
				t.Fatalf("%v block %d (%x): value %d = %g, scales bound |value| ≤ %g", typ, b, blk, i, v, bound)
			}
		}
	}
}

// floatsFrom reads little-endian float32 values from data, repeated to
// fill n values (zeros if data is shorter than one value).
func floatsFrom(data []byte, n int) []float32 {
	x := make([]float32, n)
	m := len(data) / 4
	if m == 0 {
		return x
	}
	for i := range x {
		x[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*(i%m):]))
	}
	return x
}

// sanitize makes x a valid weight row: non-finite values and values below
// 1e-30 in magnitude become 0, and magnitudes are limited to 1e4 so that
// no fp16 scale overflows.
func sanitize(x []float32) {
	for i, v := range x {
		a := math.Abs(float64(v))
		switch {
		case math.IsNaN(a) || a < 1e-30:
			x[i] = 0
		case a > 1e4:
			x[i] = float32(math.Copysign(1e4, float64(v)))
		}
	}
}

// FuzzQuantize quantizes arbitrary float32 rows with every type under every
// variant. Any input, NaN and infinities included, must quantize without a
// panic, identically under every variant for finite input, and a sanitized
// row must decode back within the type's error bound.
func FuzzQuantize(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, uint8(1))
	}
	f.Fuzz(func(t *testing.T, data []byte, blocks uint8) {
		n := 256 * (1 + int(blocks%4))
		raw := floatsFrom(data, n)
		clean := append([]float32(nil), raw...)
		sanitize(clean)
		for _, typ := range Types() {
			size := n / typ.BlockElems() * typ.BlockBytes()
			y := make([]float32, n)
			var ref []byte
			for _, v := range Variants(typ) {
				if v.Quantize == nil {
					continue
				}
				q := make([]byte, size)
				v.Quantize(q, raw) // anything goes, but no panic
				Variants(typ)[0].Dequantize(y, q)
				v.Quantize(q, clean)
				if ref == nil {
					ref = q
					continue
				}
				if i := firstByteDiff(q, ref); i >= 0 {
					t.Fatalf("%v %s: byte %d = %#02x, reference %#02x", typ, v.Name, i, q[i], ref[i])
				}
			}
			Variants(typ)[0].Dequantize(y, ref)
			if worst, at := roundTripErr(typ, clean, y); worst > 1 {
				b := roundTripBounds[typ]
				be := max(typ.BlockElems(), 32)
				t.Fatalf("%v: block at %d: error %.3g × the bound (%.3g·amax + %.3g)\ninput %v\ndecoded %v",
					typ, at, worst, b.rel, b.abs, clean[at:at+be], y[at:at+be])
			}
		}
	})
}

// FuzzVariants compares every registered variant's kernels with the
// reference on arbitrary data: Dequantize bit for bit, Quantize and
// QuantizeActivation byte for byte, VecDot within the type's tolerance of
// Σ|w·x|. Assembly variants register themselves and are checked here.
func FuzzVariants(f *testing.F) {
	for _, s := range fuzzSeeds() {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, wdata, xdata []byte) {
		const n = 512
		x := floatsFrom(xdata, n)
		sanitize(x)
		for _, typ := range Types() {
			vs := Variants(typ)
			ref := vs[0]
			tr, _ := Traits(typ)
			vt, _ := Traits(tr.VecDotType)
			w := make([]byte, n/tr.BlockElems*tr.BlockBytes)
			// Weights: the fuzzer's bytes (repeated), and a quantized row.
			for i := range w {
				if len(wdata) > 0 {
					w[i] = wdata[i%len(wdata)]
				}
			}
			wq := make([]byte, len(w))
			ref.Quantize(wq, floatsFrom(wdata, n))
			xq := make([]byte, n/vt.BlockElems*vt.BlockBytes)
			vt.QuantizeActivation(xq, x)
			wantDeq := make([]float32, n)
			ref.Dequantize(wantDeq, w)
			xd := make([]float32, n)
			vt.Dequantize(xd, xq)
			for _, v := range vs[1:] {
				if v.Dequantize != nil {
					got := make([]float32, n)
					v.Dequantize(got, w)
					if i := firstF32Diff(got, wantDeq); i >= 0 {
						t.Fatalf("%v %s Dequantize: value %d = %#08x, reference %#08x", typ, v.Name, i, math.Float32bits(got[i]), math.Float32bits(wantDeq[i]))
					}
				}
				if v.Quantize != nil {
					got := make([]byte, len(w))
					v.Quantize(got, x)
					want := make([]byte, len(w))
					ref.Quantize(want, x)
					if i := firstByteDiff(got, want); i >= 0 {
						t.Fatalf("%v %s Quantize: byte %d = %#02x, reference %#02x", typ, v.Name, i, got[i], want[i])
					}
				}
				if v.QuantizeActivation != nil {
					got := make([]byte, len(w))
					v.QuantizeActivation(got, x)
					want := make([]byte, len(w))
					ref.QuantizeActivation(want, x)
					if i := firstByteDiff(got, want); i >= 0 {
						t.Fatalf("%v %s QuantizeActivation: byte %d = %#02x, reference %#02x", typ, v.Name, i, got[i], want[i])
					}
				}
				if v.VecDot != nil {
					for _, row := range [][]byte{w, wq} {
						wd := make([]float32, n)
						ref.Dequantize(wd, row)
						// The scale is the L1 of the dequantized terms, or of the
						// raw activation when that is larger: for Q4_1/Q5_1 a Q8_1
						// scale d that underflows fp16 dequantizes x to zeros while
						// its sum s does not, leaving m·s as the whole product.
						l1 := math.Max(dotL1(wd, xd), dotL1(wd, x))
						want := ref.VecDot(n, row, xq)
						if got := v.VecDot(n, row, xq); !dotAgrees(typ, got, want, l1) {
							t.Fatalf("%v %s VecDot = %g, reference %g (L1 %g, rtol %g)", typ, v.Name, got, want, l1, vecDotRTol[typ])
						}
					}
				}
			}
		}
	})
}
