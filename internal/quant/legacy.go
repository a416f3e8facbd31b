package quant

import (
	"encoding/binary"
	"math"
)

// The 32-value formats: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0 and the activation
// format Q8_1. Element j of a block is the low nibble of qs[j], element
// j+16 the high nibble (4- and 5-bit types).

const qk = 32 // values per block of the 32-value formats

// Block sizes in bytes.
const (
	q4_0Bytes = 18 // fp16 d; qs[16]
	q4_1Bytes = 20 // fp16 d; fp16 m; qs[16]
	q5_0Bytes = 22 // fp16 d; qh[4]; qs[16]
	q5_1Bytes = 24 // fp16 d; fp16 m; qh[4]; qs[16]
	q8_0Bytes = 34 // fp16 d; int8 qs[32]
	q8_1Bytes = 36 // fp16 d; fp16 s; int8 qs[32]
)

// absMax returns the value of largest magnitude in x (the first one on
// ties) and its magnitude, as ggml's `if (amax < fabsf(v))` loops do.
func absMax(x []float32) (max, amax float32) {
	for _, v := range x {
		if a := absf(v); amax < a {
			amax, max = a, v
		}
	}
	return max, amax
}

// minMax returns the smallest and largest value of x, starting from
// ±FLT_MAX as quantize_row_q4_1_ref does.
func minMax(x []float32) (min, max float32) {
	min, max = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		if v < min {
			min = v
		}
		if v > max {
			max = v
		}
	}
	return min, max
}

func dequantQ4_0(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qk; i++ {
		b := src[i*q4_0Bytes : (i+1)*q4_0Bytes]
		y := dst[i*qk : (i+1)*qk]
		d := f16At(b, 0)
		qs := b[2:18]
		for j := 0; j < qk/2; j++ {
			y[j] = float32(int32(qs[j]&0xf)-8) * d
			y[j+qk/2] = float32(int32(qs[j]>>4)-8) * d
		}
	}
}

// quantQ4_0 is quantize_row_q4_0_ref.
func quantQ4_0(dst []byte, src []float32) {
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : (i+1)*qk]
		b := dst[i*q4_0Bytes : (i+1)*q4_0Bytes]
		max, _ := absMax(x)
		d := max / -8
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, 0, d)
		qs := b[2:18]
		for j := 0; j < qk/2; j++ {
			x0 := float32(x[j] * id)
			x1 := float32(x[j+qk/2] * id)
			xi0 := min(15, int32(int8(cvtt(x0+8.5))))
			xi1 := min(15, int32(int8(cvtt(x1+8.5))))
			qs[j] = uint8(xi0) | uint8(xi1)<<4
		}
	}
}

func dequantQ4_1(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qk; i++ {
		b := src[i*q4_1Bytes : (i+1)*q4_1Bytes]
		y := dst[i*qk : (i+1)*qk]
		d, m := f16At(b, 0), f16At(b, 2)
		qs := b[4:20]
		for j := 0; j < qk/2; j++ {
			y[j] = float32(float32(qs[j]&0xf)*d) + m
			y[j+qk/2] = float32(float32(qs[j]>>4)*d) + m
		}
	}
}

// quantQ4_1 is quantize_row_q4_1_ref.
func quantQ4_1(dst []byte, src []float32) {
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : (i+1)*qk]
		b := dst[i*q4_1Bytes : (i+1)*q4_1Bytes]
		lo, hi := minMax(x)
		d := (hi - lo) / 15
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, 0, d)
		putF16(b, 2, lo)
		qs := b[4:20]
		for j := 0; j < qk/2; j++ {
			x0 := float32((x[j] - lo) * id)
			x1 := float32((x[j+qk/2] - lo) * id)
			xi0 := uint8(min(15, int32(int8(cvtt(x0+0.5)))))
			xi1 := uint8(min(15, int32(int8(cvtt(x1+0.5)))))
			qs[j] = xi0 | xi1<<4
		}
	}
}

func dequantQ5_0(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qk; i++ {
		b := src[i*q5_0Bytes : (i+1)*q5_0Bytes]
		y := dst[i*qk : (i+1)*qk]
		d := f16At(b, 0)
		qh := binary.LittleEndian.Uint32(b[2:])
		qs := b[6:22]
		for j := 0; j < qk/2; j++ {
			xh0 := uint8(qh>>j<<4) & 0x10
			xh1 := uint8(qh>>(j+12)) & 0x10
			y[j] = float32(int32(qs[j]&0xf|xh0)-16) * d
			y[j+qk/2] = float32(int32(qs[j]>>4|xh1)-16) * d
		}
	}
}

// quantQ5_0 is quantize_row_q5_0_ref.
func quantQ5_0(dst []byte, src []float32) {
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : (i+1)*qk]
		b := dst[i*q5_0Bytes : (i+1)*q5_0Bytes]
		max, _ := absMax(x)
		d := max / -16
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, 0, d)
		qs := b[6:22]
		var qh uint32
		for j := 0; j < qk/2; j++ {
			x0 := float32(x[j] * id)
			x1 := float32(x[j+qk/2] * id)
			xi0 := uint8(min(31, int32(int8(cvtt(x0+16.5)))))
			xi1 := uint8(min(31, int32(int8(cvtt(x1+16.5)))))
			qs[j] = xi0&0xf | (xi1&0xf)<<4
			qh |= uint32(xi0&0x10) >> 4 << j
			qh |= uint32(xi1&0x10) >> 4 << (j + qk/2)
		}
		binary.LittleEndian.PutUint32(b[2:], qh)
	}
}

func dequantQ5_1(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qk; i++ {
		b := src[i*q5_1Bytes : (i+1)*q5_1Bytes]
		y := dst[i*qk : (i+1)*qk]
		d, m := f16At(b, 0), f16At(b, 2)
		qh := binary.LittleEndian.Uint32(b[4:])
		qs := b[8:24]
		for j := 0; j < qk/2; j++ {
			xh0 := uint8(qh>>j<<4) & 0x10
			xh1 := uint8(qh>>(j+12)) & 0x10
			y[j] = float32(float32(qs[j]&0xf|xh0)*d) + m
			y[j+qk/2] = float32(float32(qs[j]>>4|xh1)*d) + m
		}
	}
}

// quantQ5_1 is quantize_row_q5_1_ref.
func quantQ5_1(dst []byte, src []float32) {
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : (i+1)*qk]
		b := dst[i*q5_1Bytes : (i+1)*q5_1Bytes]
		lo, hi := minMax(x)
		d := (hi - lo) / 31
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, 0, d)
		putF16(b, 2, lo)
		qs := b[8:24]
		var qh uint32
		for j := 0; j < qk/2; j++ {
			x0 := float32((x[j] - lo) * id)
			x1 := float32((x[j+qk/2] - lo) * id)
			xi0 := uint8(cvtt(x0 + 0.5))
			xi1 := uint8(cvtt(x1 + 0.5))
			qs[j] = xi0&0xf | (xi1&0xf)<<4
			qh |= uint32(xi0&0x10) >> 4 << j
			qh |= uint32(xi1&0x10) >> 4 << (j + qk/2)
		}
		binary.LittleEndian.PutUint32(b[4:], qh)
	}
}

func dequantQ8_0(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qk; i++ {
		b := src[i*q8_0Bytes : (i+1)*q8_0Bytes]
		y := dst[i*qk : (i+1)*qk]
		d := f16At(b, 0)
		qs := b[2:34]
		for j := range y {
			y[j] = float32(int8(qs[j])) * d
		}
	}
}

// refAbsMax is the amax loop of quantize_row_q8_0_ref:
// amax = MAX(amax, fabsf(v)).
func refAbsMax(x []float32) float32 {
	var amax float32
	for _, v := range x {
		amax = cmaxf(amax, absf(v))
	}
	return amax
}

// quantQ8_0 is quantize_row_q8_0_ref: d = amax/127, id = 1/d, q =
// roundf(x·id) (half away from zero).
func quantQ8_0(dst []byte, src []float32) {
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : (i+1)*qk]
		b := dst[i*q8_0Bytes : (i+1)*q8_0Bytes]
		d := refAbsMax(x) / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, 0, d)
		qs := b[2:34]
		for j, v := range x {
			qs[j] = uint8(cvtt(roundf(float32(v * id))))
		}
	}
}

// x86AbsMax is the amax of a 32-value block as ggml-cpu's AVX2 code computes
// it: four 8-lane maxps, then a horizontal reduction. maxps(a, b) returns b
// when either is NaN, so the lane order matters (only) for NaN inputs.
func x86AbsMax(x []float32) float32 {
	x = x[:32]
	var m [8]float32
	for l := range m {
		m[l] = absf(x[l])
	}
	for k := 8; k < 32; k += 8 {
		for l := range m {
			m[l] = cmaxf(m[l], absf(x[k+l]))
		}
	}
	var m4 [4]float32
	for l := range m4 {
		m4[l] = cmaxf(m[4+l], m[l]) // _mm_max_ps(high half, low half)
	}
	m4[0] = cmaxf(m4[0], m4[2]) // _mm_max_ps(max4, movehl(max4, max4))
	m4[1] = cmaxf(m4[1], m4[3])
	return cmaxf(m4[0], m4[1]) // _mm_max_ss(max4, movehdup(max4))
}

// x86Quant8 quantizes a 32-value block as ggml-cpu's AVX2 quantize_row_q8_0
// and quantize_row_q8_1 do: d = amax/127, id = 127/amax, q = x·id rounded
// half to even (cvtps2dq: NaN and overflow give MinInt32), then saturated to
// int8 by the packs instructions. It returns d and the wrapping int32 sum of
// the unsaturated integers (what the Q8_1 `s` is computed from).
func x86Quant8(qs []byte, x []float32) (d float32, sum int32) {
	amax := x86AbsMax(x)
	d = amax / 127
	var id float32
	if amax != 0 {
		id = 127 / amax
	}
	qs = qs[:32]
	for j := range qs {
		q := cvtt(roundEven(float32(x[j] * id)))
		sum += q
		qs[j] = uint8(int8(clampI(q, -128, 127)))
	}
	return d, sum
}

// actQ8_0 is ggml-cpu's x86 AVX/AVX2 quantize_row_q8_0 (the activation
// quantizer of Q4_0, Q5_0, Q8_0, IQ4_NL and MXFP4).
func actQ8_0(dst []byte, src []float32) {
	for i := 0; i < len(src)/qk; i++ {
		b := dst[i*q8_0Bytes : (i+1)*q8_0Bytes]
		d, _ := x86Quant8(b[2:34], src[i*qk:(i+1)*qk])
		putF16(b, 0, d)
	}
}

func dequantQ8_1(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qk; i++ {
		b := src[i*q8_1Bytes : (i+1)*q8_1Bytes]
		y := dst[i*qk : (i+1)*qk]
		d := f16At(b, 0)
		qs := b[4:36]
		for j := range y {
			y[j] = float32(int8(qs[j])) * d
		}
	}
}

// quantQ8_1 is quantize_row_q8_1_ref: as Q8_0, plus s = fp16(d·Σq).
func quantQ8_1(dst []byte, src []float32) {
	for i := 0; i < len(src)/qk; i++ {
		x := src[i*qk : (i+1)*qk]
		b := dst[i*q8_1Bytes : (i+1)*q8_1Bytes]
		d := refAbsMax(x) / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, 0, d)
		qs := b[4:36]
		var sum int32
		for j, v := range x {
			q := int8(cvtt(roundf(float32(v * id))))
			qs[j] = uint8(q)
			sum += int32(q)
		}
		putF16(b, 2, float32(sum)*d)
	}
}

// actQ8_1 is ggml-cpu's x86 AVX2 quantize_row_q8_1 (the activation
// quantizer of Q4_1 and Q5_1).
func actQ8_1(dst []byte, src []float32) {
	for i := 0; i < len(src)/qk; i++ {
		b := dst[i*q8_1Bytes : (i+1)*q8_1Bytes]
		d, sum := x86Quant8(b[4:36], src[i*qk:(i+1)*qk])
		putF16(b, 0, d)
		putF16(b, 2, d*float32(sum))
	}
}

// vecDotQ4_0 is ggml_vec_dot_q4_0_q8_0.
func vecDotQ4_0(n int, w, xq []byte) float32 {
	var sumf float32
	for i := 0; i < n/qk; i++ {
		x := w[i*q4_0Bytes : (i+1)*q4_0Bytes]
		y := xq[i*q8_0Bytes : (i+1)*q8_0Bytes]
		xs, ys := x[2:18], y[2:34]
		var sumi0, sumi1 int32
		for j := 0; j < qk/2; j++ {
			sumi0 += (int32(xs[j]&0xf) - 8) * int32(int8(ys[j]))
			sumi1 += (int32(xs[j]>>4) - 8) * int32(int8(ys[j+qk/2]))
		}
		sumf += float32(float32(float32(sumi0+sumi1)*f16At(x, 0)) * f16At(y, 0))
	}
	return sumf
}

// vecDotQ4_1 is ggml_vec_dot_q4_1_q8_1: Σ d_w·d_x·Σq_w·q_x + m_w·s_x.
func vecDotQ4_1(n int, w, xq []byte) float32 {
	var sumf float32
	for i := 0; i < n/qk; i++ {
		x := w[i*q4_1Bytes : (i+1)*q4_1Bytes]
		y := xq[i*q8_1Bytes : (i+1)*q8_1Bytes]
		xs, ys := x[4:20], y[4:36]
		var sumi0, sumi1 int32
		for j := 0; j < qk/2; j++ {
			sumi0 += int32(xs[j]&0xf) * int32(int8(ys[j]))
			sumi1 += int32(xs[j]>>4) * int32(int8(ys[j+qk/2]))
		}
		dd := float32(f16At(x, 0) * f16At(y, 0))
		sumf += float32(dd*float32(sumi0+sumi1)) + float32(f16At(x, 2)*f16At(y, 2))
	}
	return sumf
}

// vecDotQ5_0 is ggml_vec_dot_q5_0_q8_0.
func vecDotQ5_0(n int, w, xq []byte) float32 {
	var sumf float32
	for i := 0; i < n/qk; i++ {
		x := w[i*q5_0Bytes : (i+1)*q5_0Bytes]
		y := xq[i*q8_0Bytes : (i+1)*q8_0Bytes]
		qh := binary.LittleEndian.Uint32(x[2:])
		xs, ys := x[6:22], y[2:34]
		var sumi0, sumi1 int32
		for j := 0; j < qk/2; j++ {
			xh0 := uint8(qh>>j<<4) & 0x10
			xh1 := uint8(qh>>(j+12)) & 0x10
			sumi0 += (int32(xs[j]&0xf|xh0) - 16) * int32(int8(ys[j]))
			sumi1 += (int32(xs[j]>>4|xh1) - 16) * int32(int8(ys[j+qk/2]))
		}
		dd := float32(f16At(x, 0) * f16At(y, 0))
		sumf += float32(dd * float32(sumi0+sumi1))
	}
	return sumf
}

// vecDotQ5_1 is ggml_vec_dot_q5_1_q8_1.
func vecDotQ5_1(n int, w, xq []byte) float32 {
	var sumf float32
	for i := 0; i < n/qk; i++ {
		x := w[i*q5_1Bytes : (i+1)*q5_1Bytes]
		y := xq[i*q8_1Bytes : (i+1)*q8_1Bytes]
		qh := binary.LittleEndian.Uint32(x[4:])
		xs, ys := x[8:24], y[4:36]
		var sumi0, sumi1 int32
		for j := 0; j < qk/2; j++ {
			xh0 := uint8(qh>>j<<4) & 0x10
			xh1 := uint8(qh>>(j+12)) & 0x10
			sumi0 += int32(xs[j]&0xf|xh0) * int32(int8(ys[j]))
			sumi1 += int32(xs[j]>>4|xh1) * int32(int8(ys[j+qk/2]))
		}
		dd := float32(f16At(x, 0) * f16At(y, 0))
		sumf += float32(dd*float32(sumi0+sumi1)) + float32(f16At(x, 2)*f16At(y, 2))
	}
	return sumf
}

// vecDotQ8_0 is ggml_vec_dot_q8_0_q8_0.
func vecDotQ8_0(n int, w, xq []byte) float32 {
	var sumf float32
	for i := 0; i < n/qk; i++ {
		x := w[i*q8_0Bytes : (i+1)*q8_0Bytes]
		y := xq[i*q8_0Bytes : (i+1)*q8_0Bytes]
		xs, ys := x[2:34], y[2:34]
		var sumi int32
		for j := range xs {
			sumi += int32(int8(xs[j])) * int32(int8(ys[j]))
		}
		sumf += float32(float32(sumi) * float32(f16At(x, 0)*f16At(y, 0)))
	}
	return sumf
}
