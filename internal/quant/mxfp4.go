package quant

import "math"

// MXFP4: 32 E2M1 values sharing one E8M0 exponent. ggml stores the E2M1
// values doubled (kvaluesMXFP4) and halves the exponent instead.

const mxfp4Bytes = 17 // uint8 e; qs[16]

// kvaluesMXFP4 is ggml's kvalues_mxfp4 (E2M1 values times two).
var kvaluesMXFP4 = [16]int8{0, 1, 2, 3, 4, 6, 8, 12, 0, -1, -2, -3, -4, -6, -8, -12}

// e8m0Half is ggml_e8m0_to_fp32_half: 2^(e−128), subnormal for e < 2.
func e8m0Half(e uint8) float32 {
	if e < 2 {
		return math.Float32frombits(0x00200000 << e)
	}
	return math.Float32frombits(uint32(e-1) << 23)
}

// bestIndexMXFP4 is ggml's best_index_mxfp4: a linear search where the
// first minimum of |kvalues[i]·d − x| wins.
func bestIndexMXFP4(x, d float32) uint8 {
	best := 0
	bestErr := absf(float32(float32(kvaluesMXFP4[0])*d) - x)
	for i := 1; i < 16; i++ {
		if err := absf(float32(float32(kvaluesMXFP4[i])*d) - x); err < bestErr {
			best, bestErr = i, err
		}
	}
	return uint8(best)
}

// quantMXFP4 is quantize_row_mxfp4_ref: e = floor(log2f(amax)) − 2 + 127
// (0 for an all-zero block), then the nearest table value per element.
func quantMXFP4(dst []byte, src []float32) {
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : (i+1)*qk]
		b := dst[i*mxfp4Bytes : (i+1)*mxfp4Bytes]
		_, amax := absMax(x)
		var e uint8
		if amax > 0 {
			e = uint8(cvtt(floorf(log2f(amax)) - 2 + 127))
		}
		d := e8m0Half(e)
		b[0] = e
		qs := b[1:17]
		for j := 0; j < 16; j++ {
			qs[j] = bestIndexMXFP4(x[j], d) | bestIndexMXFP4(x[j+16], d)<<4
		}
	}
}

func dequantMXFP4(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qk; i++ {
		b := src[i*mxfp4Bytes : (i+1)*mxfp4Bytes]
		y := dst[i*qk : (i+1)*qk]
		d := e8m0Half(b[0])
		qs := b[1:17]
		for j := 0; j < 16; j++ {
			y[j] = float32(kvaluesMXFP4[qs[j]&0xf]) * d
			y[j+16] = float32(kvaluesMXFP4[qs[j]>>4]) * d
		}
	}
}

// vecDotMXFP4 is ggml_vec_dot_mxfp4_q8_0.
func vecDotMXFP4(n int, w, xq []byte) float32 {
	var sumf float32
	for i := 0; i < n/qk; i++ {
		x := w[i*mxfp4Bytes : (i+1)*mxfp4Bytes]
		y := xq[i*q8_0Bytes : (i+1)*q8_0Bytes]
		d := float32(f16At(y, 0) * e8m0Half(x[0]))
		xs, ys := x[1:17], y[2:34]
		var sumi1, sumi2 int32
		for j := 0; j < 16; j++ {
			sumi1 += int32(int8(ys[j])) * int32(kvaluesMXFP4[xs[j]&0xf])
			sumi2 += int32(int8(ys[j+16])) * int32(kvaluesMXFP4[xs[j]>>4])
		}
		sumf += float32(d * float32(sumi1+sumi2))
	}
	return sumf
}
