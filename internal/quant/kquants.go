package quant

import "encoding/binary"

// The K-quants: 256-value super-blocks with 16- or 32-value sub-blocks, and
// their activation format Q8_K. The quantizers are quantize_row_q*_K_ref;
// they keep ggml's float32 operation order exactly.

const qkK = 256 // values per super-block

// Super-block sizes in bytes and field offsets.
const (
	q2KBytes = 84  // scales[16]; qs[64]; fp16 d; fp16 dmin
	q3KBytes = 110 // hmask[32]; qs[64]; scales[12]; fp16 d
	q4KBytes = 144 // fp16 d; fp16 dmin; scales[12]; qs[128]
	q5KBytes = 176 // fp16 d; fp16 dmin; scales[12]; qh[32]; qs[128]
	q6KBytes = 210 // ql[128]; qh[64]; int8 scales[16]; fp16 d
	q8KBytes = 292 // float32 d; int8 qs[256]; int16 bsums[16]
)

// makeQXQuants is make_qx_quants with rmse_type 1 and no importance
// weights (w = x²), as quantize_row_q6_K_ref calls it. L receives values in
// [0, 2·nmax).
func makeQXQuants(nmax int32, x []float32, L []int8) float32 {
	max, amax := absMaxGT(x)
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	iscale := float32(-nmax) / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampI(nearestInt(float32(iscale*v)), -nmax, nmax-1)
		L[i] = int8(l + nmax)
		w := float32(v * v)
		fl := float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	var scale float32
	if suml2 != 0 {
		scale = sumlx / suml2
	}
	best := float32(scale * sumlx)
	for is := int32(-9); is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + float32(0.1*float32(is))) / max
		sumlx, suml2 = 0, 0
		for _, v := range x {
			l := clampI(nearestInt(float32(iscale*v)), -nmax, nmax-1)
			w := float32(v * v)
			fl := float32(l)
			sumlx += float32(float32(w*v) * fl)
			suml2 += float32(float32(w*fl) * fl)
		}
		if suml2 > 0 && float32(sumlx*sumlx) > float32(best*suml2) {
			for i, v := range x {
				L[i] = int8(nmax + clampI(nearestInt(float32(iscale*v)), -nmax, nmax-1))
			}
			scale = sumlx / suml2
			best = float32(scale * sumlx)
		}
	}
	return scale
}

// absMaxGT returns the value of largest magnitude (the first one on ties)
// with the `if (ax > amax)` comparison of the K-quant helpers.
func absMaxGT(x []float32) (max, amax float32) {
	for _, v := range x {
		if a := absf(v); a > amax {
			amax, max = a, v
		}
	}
	return max, amax
}

// makeQ3Quants is make_q3_quants with do_rmse, as quantize_row_q3_K_ref
// calls it. L receives values in [0, 2·nmax) (all zero for a zero group).
func makeQ3Quants(nmax int32, x []float32, L []int8) float32 {
	max, amax := absMaxGT(x)
	if amax < groupMaxEps {
		clear(L)
		return 0
	}
	iscale := float32(-nmax) / max
	var sumlx, suml2 float32
	for i, v := range x {
		l := clampI(nearestInt(float32(iscale*v)), -nmax, nmax-1)
		L[i] = int8(l)
		w := float32(v * v)
		fl := float32(l)
		sumlx += float32(float32(w*v) * fl)
		suml2 += float32(float32(w*fl) * fl)
	}
	for itry := 0; itry < 5; itry++ {
		changed := 0
		for i, v := range x {
			w := float32(v * v)
			li := float32(L[i])
			slx := sumlx - float32(float32(w*v)*li)
			if slx > 0 {
				sl2 := suml2 - float32(float32(w*li)*li)
				newL := clampI(nearestInt(float32(v*sl2)/slx), -nmax, nmax-1)
				if newL != int32(L[i]) {
					fl := float32(newL)
					slx += float32(float32(w*v) * fl)
					sl2 += float32(float32(w*fl) * fl)
					if sl2 > 0 && float32(float32(slx*slx)*suml2) > float32(float32(sumlx*sumlx)*sl2) {
						L[i] = int8(newL)
						sumlx, suml2 = slx, sl2
						changed++
					}
				}
			}
		}
		if changed == 0 {
			break
		}
	}
	for i := range L {
		L[i] += int8(nmax)
	}
	if suml2 > 0 {
		return sumlx / suml2
	}
	return 0
}

// makeQKX2Quants is make_qkx2_quants: an asymmetric (scale, min) fit of x
// to [0, nmax] minimising the weighted error, searching nstep+1 scales. It
// returns the scale and the (non-negative) min to subtract.
func makeQKX2Quants(nmax int32, x, weights []float32, L, Laux []uint8, rmin, rdelta float32, nstep int, useMAD bool) (scale, theMin float32) {
	n := len(x)
	weights, L, Laux = weights[:n], L[:n], Laux[:n]
	min, max := x[0], x[0]
	sumW := weights[0]
	sumX := float32(sumW * x[0])
	for i := 1; i < n; i++ {
		if x[i] < min {
			min = x[i]
		}
		if x[i] > max {
			max = x[i]
		}
		w := weights[i]
		sumW += w
		sumX += float32(w * x[i])
	}
	if min > 0 {
		min = 0
	}
	if max == min {
		clear(L)
		return 0, -min
	}
	iscale := float32(nmax) / (max - min)
	scale = 1 / iscale
	var bestError float32
	for i, v := range x {
		l := nearestInt(float32(iscale * (v - min)))
		L[i] = uint8(clampI(l, 0, nmax))
		diff := float32(scale*float32(L[i])) + min - v
		if useMAD {
			diff = absf(diff)
		} else {
			diff = float32(diff * diff)
		}
		bestError += float32(weights[i] * diff)
	}
	if nstep < 1 {
		return scale, -min
	}
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + float32(rdelta*float32(is)) + float32(nmax)) / (max - min)
		var sumL, sumL2, sumXL float32
		for i, v := range x {
			l := clampI(nearestInt(float32(iscale*(v-min))), 0, nmax)
			Laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			sumL += float32(w * fl)
			sumL2 += float32(float32(w*fl) * fl)
			sumXL += float32(float32(w*fl) * v)
		}
		D := float32(sumW*sumL2) - float32(sumL*sumL)
		if D > 0 {
			thisScale := (float32(sumW*sumXL) - float32(sumX*sumL)) / D
			thisMin := (float32(sumL2*sumX) - float32(sumL*sumXL)) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var curError float32
			for i, v := range x {
				diff := float32(thisScale*float32(Laux[i])) + thisMin - v
				if useMAD {
					diff = absf(diff)
				} else {
					diff = float32(diff * diff)
				}
				curError += float32(weights[i] * diff)
			}
			if curError < bestError {
				copy(L, Laux)
				bestError = curError
				scale, min = thisScale, thisMin
			}
		}
	}
	return scale, -min
}

// getScaleMinK4 unpacks the 6-bit scale and min of sub-block j from the 12
// packed scale bytes of Q4_K and Q5_K.
func getScaleMinK4(j int, q []byte) (d, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// packScaleMinK4 packs 8 six-bit scales and mins as quantize_row_q4_K_ref
// does (every byte is assigned before it is or-ed into).
func packScaleMinK4(sc []byte, j int, ls, lm uint8) {
	if j < 4 {
		sc[j] = ls
		sc[j+4] = lm
		return
	}
	sc[j+4] = ls&0xf | (lm&0xf)<<4
	sc[j-4] |= (ls >> 4) << 6
	sc[j] |= (lm >> 4) << 6
}

// unpackQ3KScales returns the 16 six-bit scales of a Q3_K block (0..63;
// the signed scale is the value minus 32).
func unpackQ3KScales(s []byte) (out [16]int8) {
	const kmask1, kmask2 = 0x03030303, 0x0f0f0f0f
	a0 := binary.LittleEndian.Uint32(s[0:])
	a1 := binary.LittleEndian.Uint32(s[4:])
	tmp := binary.LittleEndian.Uint32(s[8:])
	aux := [4]uint32{
		a0&kmask2 | (tmp>>0&kmask1)<<4,
		a1&kmask2 | (tmp>>2&kmask1)<<4,
		(a0>>4)&kmask2 | (tmp>>4&kmask1)<<4,
		(a1>>4)&kmask2 | (tmp>>6&kmask1)<<4,
	}
	for k, a := range aux {
		for b := 0; b < 4; b++ {
			out[4*k+b] = int8(a >> (8 * b))
		}
	}
	return out
}

// ---- Q2_K

func dequantQ2K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*q2KBytes : (i+1)*q2KBytes]
		y := dst[i*qkK : (i+1)*qkK]
		d, min := f16At(b, 80), f16At(b, 82)
		sc := b[0:16]
		q := b[16:80]
		is, k := 0, 0
		for n := 0; n < qkK; n += 128 {
			for shift := uint(0); shift < 8; shift += 2 {
				for h := 0; h < 2; h++ {
					s := sc[is]
					is++
					dl := float32(d * float32(s&0xf))
					ml := float32(min * float32(s>>4))
					for l := 16 * h; l < 16*h+16; l++ {
						y[k] = float32(dl*float32((q[l]>>shift)&3)) - ml
						k++
					}
				}
			}
			q = q[32:]
		}
	}
}

// quantQ2K is quantize_row_q2_K_ref.
func quantQ2K(dst []byte, src []float32) {
	var (
		L       [qkK]uint8
		Laux    [16]uint8
		weights [16]float32
		mins    [16]float32
		scales  [16]float32
	)
	const q4scale = 15
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*q2KBytes : (i+1)*q2KBytes]
		sc := b[0:16]
		var maxScale, maxMin float32
		for j := 0; j < 16; j++ {
			xs := x[16*j : 16*j+16]
			for l, v := range xs {
				weights[l] = absf(v)
			}
			scales[j], mins[j] = makeQKX2Quants(3, xs, weights[:], L[16*j:16*j+16], Laux[:], -0.5, 0.1, 15, true)
			if scales[j] > maxScale {
				maxScale = scales[j]
			}
			if mins[j] > maxMin {
				maxMin = mins[j]
			}
		}
		if maxScale > 0 {
			iscale := q4scale / maxScale
			for j := range sc {
				sc[j] = uint8(nearestInt(float32(iscale * scales[j])))
			}
			putF16(b, 80, maxScale/q4scale)
		} else {
			clear(sc)
			putF16(b, 80, 0)
		}
		if maxMin > 0 {
			iscale := q4scale / maxMin
			for j := range sc {
				sc[j] |= uint8(nearestInt(float32(iscale*mins[j])) << 4)
			}
			putF16(b, 82, maxMin/q4scale)
		} else {
			putF16(b, 82, 0)
		}
		dAll, dMin := f16At(b, 80), f16At(b, 82)
		for j := 0; j < 16; j++ {
			d := float32(dAll * float32(sc[j]&0xf))
			if d == 0 {
				continue
			}
			dm := float32(dMin * float32(sc[j]>>4))
			for ii := 0; ii < 16; ii++ {
				L[16*j+ii] = uint8(clampI(nearestInt((x[16*j+ii]+dm)/d), 0, 3))
			}
		}
		qs := b[16:80]
		for j := 0; j < qkK; j += 128 {
			for l := 0; l < 32; l++ {
				qs[j/4+l] = L[j+l] | L[j+l+32]<<2 | L[j+l+64]<<4 | L[j+l+96]<<6
			}
		}
	}
}

// vecDotQ2K is ggml_vec_dot_q2_K_q8_K.
func vecDotQ2K(n int, w, xq []byte) float32 {
	var sumf float32
	for i := 0; i < n/qkK; i++ {
		x := w[i*q2KBytes : (i+1)*q2KBytes]
		y := xq[i*q8KBytes : (i+1)*q8KBytes]
		sc := x[0:16]
		q2 := x[16:80]
		q8 := y[4:260]
		var summs int32
		for j := 0; j < 16; j++ {
			summs += int32(int16(binary.LittleEndian.Uint16(y[260+2*j:]))) * int32(sc[j]>>4)
		}
		yd := f32At(y, 0)
		dall := float32(yd * f16At(x, 80))
		dmin := float32(yd * f16At(x, 82))
		var isum int32
		is := 0
		for k := 0; k < qkK/128; k++ {
			for shift := uint(0); shift < 8; shift += 2 {
				for h := 0; h < 2; h++ {
					d := int32(sc[is] & 0xf)
					is++
					var isuml int32
					for l := 16 * h; l < 16*h+16; l++ {
						isuml += int32(int8(q8[l])) * int32((q2[l]>>shift)&3)
					}
					isum += d * isuml
				}
				q8 = q8[32:]
			}
			q2 = q2[32:]
		}
		sumf += float32(dall*float32(isum)) - float32(dmin*float32(summs))
	}
	return sumf
}

// ---- Q3_K

func dequantQ3K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*q3KBytes : (i+1)*q3KBytes]
		y := dst[i*qkK : (i+1)*qkK]
		dAll := f16At(b, 108)
		hm := b[0:32]
		q := b[32:96]
		scales := unpackQ3KScales(b[96:108])
		m := uint8(1)
		is, k := 0, 0
		for n := 0; n < qkK; n += 128 {
			for shift := uint(0); shift < 8; shift += 2 {
				for h := 0; h < 2; h++ {
					dl := float32(dAll * float32(int32(scales[is])-32))
					is++
					for l := 16 * h; l < 16*h+16; l++ {
						v := int32((q[l] >> shift) & 3)
						if hm[l]&m == 0 {
							v -= 4
						}
						y[k] = dl * float32(v)
						k++
					}
				}
				m <<= 1
			}
			q = q[32:]
		}
	}
}

// quantQ3K is quantize_row_q3_K_ref.
func quantQ3K(dst []byte, src []float32) {
	var (
		L      [qkK]int8
		scales [16]float32
	)
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*q3KBytes : (i+1)*q3KBytes]
		var maxScale, amax float32
		for j := 0; j < 16; j++ {
			scales[j] = makeQ3Quants(4, x[16*j:16*j+16], L[16*j:16*j+16])
			if s := absf(scales[j]); s > amax {
				amax, maxScale = s, scales[j]
			}
		}
		sc := b[96:108]
		clear(sc)
		if maxScale != 0 {
			iscale := -32 / maxScale
			for j := 0; j < 16; j++ {
				l := int8(nearestInt(float32(iscale * scales[j])))
				l = int8(clampI(int32(l), -32, 31)) + 32
				if j < 8 {
					sc[j] = uint8(l) & 0xf
				} else {
					sc[j-8] |= (uint8(l) & 0xf) << 4
				}
				l >>= 4
				sc[j%4+8] |= uint8(l) << (2 * (j / 4))
			}
			putF16(b, 108, 1/iscale)
		} else {
			putF16(b, 108, 0)
		}
		dAll := f16At(b, 108)
		for j := 0; j < 16; j++ {
			var s int8
			if j < 8 {
				s = int8(sc[j] & 0xf)
			} else {
				s = int8(sc[j-8] >> 4)
			}
			s = int8(uint8(s)|((sc[8+j%4]>>(2*(j/4)))&3)<<4) - 32
			d := float32(dAll * float32(s))
			if d == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				l := clampI(nearestInt(x[16*j+ii]/d), -4, 3)
				L[16*j+ii] = int8(l + 4)
			}
		}
		hmask := b[0:32]
		clear(hmask)
		m, hm := 0, uint8(1)
		for j := 0; j < qkK; j++ {
			if L[j] > 3 {
				hmask[m] |= hm
				L[j] -= 4
			}
			if m++; m == qkK/8 {
				m, hm = 0, hm<<1
			}
		}
		qs := b[32:96]
		for j := 0; j < qkK; j += 128 {
			for l := 0; l < 32; l++ {
				qs[j/4+l] = uint8(L[j+l]) | uint8(L[j+l+32])<<2 | uint8(L[j+l+64])<<4 | uint8(L[j+l+96])<<6
			}
		}
	}
}

// vecDotQ3K is ggml_vec_dot_q3_K_q8_K (one integer sum per super-block).
func vecDotQ3K(n int, w, xq []byte) float32 {
	var sumf float32
	for i := 0; i < n/qkK; i++ {
		x := w[i*q3KBytes : (i+1)*q3KBytes]
		y := xq[i*q8KBytes : (i+1)*q8KBytes]
		hm := x[0:32]
		q3 := x[32:96]
		scales := unpackQ3KScales(x[96:108])
		q8 := y[4:260]
		var isum int32
		m := uint8(1)
		is := 0
		for c := 0; c < 2; c++ {
			for shift := uint(0); shift < 8; shift += 2 {
				for h := 0; h < 2; h++ {
					var s int32
					for l := 16 * h; l < 16*h+16; l++ {
						v := int32((q3[l] >> shift) & 3)
						if hm[l]&m == 0 {
							v -= 4
						}
						s += v * int32(int8(q8[l]))
					}
					isum += (int32(scales[is]) - 32) * s
					is++
				}
				m <<= 1
				q8 = q8[32:]
			}
			q3 = q3[32:]
		}
		d := float32(f16At(x, 108) * f32At(y, 0))
		sumf += float32(d * float32(isum))
	}
	return sumf
}

// ---- Q4_K

func dequantQ4K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*q4KBytes : (i+1)*q4KBytes]
		y := dst[i*qkK : (i+1)*qkK]
		d, min := f16At(b, 0), f16At(b, 2)
		scales := b[4:16]
		q := b[16:144]
		for j := 0; j < 4; j++ {
			sc, m := getScaleMinK4(2*j, scales)
			d1, m1 := float32(d*float32(sc)), float32(min*float32(m))
			sc, m = getScaleMinK4(2*j+1, scales)
			d2, m2 := float32(d*float32(sc)), float32(min*float32(m))
			qq := q[32*j : 32*j+32]
			yy := y[64*j : 64*j+64]
			for l, v := range qq {
				yy[l] = float32(d1*float32(v&0xf)) - m1
				yy[l+32] = float32(d2*float32(v>>4)) - m2
			}
		}
	}
}

// kquantScales is the first half of quantize_row_q4_K_ref and
// quantize_row_q5_K_ref: fit each 32-value sub-block, then pack the
// six-bit scales and mins and the fp16 d and dmin into b (d at 0, dmin at
// 2, scales at 4..16). L receives the sub-block fits.
func kquantScales(b []byte, x []float32, L []uint8, nmax int32, rmin, rdelta float32, nstep int) {
	var (
		Laux    [32]uint8
		weights [32]float32
		mins    [8]float32
		scales  [8]float32
	)
	var maxScale, maxMin float32
	for j := 0; j < 8; j++ {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += float32(v * v)
		}
		avX := sqrtf(sumX2 / 32)
		for l, v := range xs {
			weights[l] = avX + absf(v)
		}
		scales[j], mins[j] = makeQKX2Quants(nmax, xs, weights[:], L[32*j:32*j+32], Laux[:], rmin, rdelta, nstep, false)
		if scales[j] > maxScale {
			maxScale = scales[j]
		}
		if mins[j] > maxMin {
			maxMin = mins[j]
		}
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := b[4:16]
	for j := 0; j < 8; j++ {
		ls := min(63, uint8(nearestInt(float32(invScale*scales[j]))))
		lm := min(63, uint8(nearestInt(float32(invMin*mins[j]))))
		packScaleMinK4(sc, j, ls, lm)
	}
	putF16(b, 0, maxScale/63)
	putF16(b, 2, maxMin/63)
}

// kquantRequant is the second half of quantize_row_q4_K_ref and
// quantize_row_q5_K_ref: requantize every sub-block with its packed scale
// and min (sub-blocks whose scale is zero keep their fit).
func kquantRequant(b []byte, x []float32, L []uint8, nmax int32) {
	d0, dmin0 := f16At(b, 0), f16At(b, 2)
	for j := 0; j < 8; j++ {
		sc, m := getScaleMinK4(j, b[4:16])
		d := float32(d0 * float32(sc))
		if d == 0 {
			continue
		}
		dm := float32(dmin0 * float32(m))
		for ii := 0; ii < 32; ii++ {
			L[32*j+ii] = uint8(clampI(nearestInt((x[32*j+ii]+dm)/d), 0, nmax))
		}
	}
}

// quantQ4K is quantize_row_q4_K_ref.
func quantQ4K(dst []byte, src []float32) {
	var L [qkK]uint8
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*q4KBytes : (i+1)*q4KBytes]
		kquantScales(b, x, L[:], 15, -1, 0.1, 20)
		kquantRequant(b, x, L[:], 15)
		q := b[16:144]
		for j := 0; j < 4; j++ {
			for l := 0; l < 32; l++ {
				q[32*j+l] = L[64*j+l] | L[64*j+l+32]<<4
			}
		}
	}
}

// vecDotQ4K is ggml_vec_dot_q4_K_q8_K (one integer sum per super-block).
func vecDotQ4K(n int, w, xq []byte) float32 {
	var sumf float32
	for i := 0; i < n/qkK; i++ {
		x := w[i*q4KBytes : (i+1)*q4KBytes]
		y := xq[i*q8KBytes : (i+1)*q8KBytes]
		scales := x[4:16]
		q4 := x[16:144]
		q8 := y[4:260]
		var summs, isum int32
		for j := 0; j < 16; j++ {
			_, m := getScaleMinK4(j/2, scales)
			summs += int32(int16(binary.LittleEndian.Uint16(y[260+2*j:]))) * int32(m)
		}
		for j := 0; j < 4; j++ {
			sc1, _ := getScaleMinK4(2*j, scales)
			sc2, _ := getScaleMinK4(2*j+1, scales)
			qq := q4[32*j : 32*j+32]
			lo, hi := q8[64*j:64*j+32], q8[64*j+32:64*j+64]
			var s1, s2 int32
			for l, v := range qq {
				s1 += int32(v&0xf) * int32(int8(lo[l]))
				s2 += int32(v>>4) * int32(int8(hi[l]))
			}
			isum += int32(sc1)*s1 + int32(sc2)*s2
		}
		yd := f32At(y, 0)
		d := float32(f16At(x, 0) * yd)
		dmin := float32(f16At(x, 2) * yd)
		sumf += float32(d*float32(isum)) - float32(dmin*float32(summs))
	}
	return sumf
}

// ---- Q5_K

func dequantQ5K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*q5KBytes : (i+1)*q5KBytes]
		y := dst[i*qkK : (i+1)*qkK]
		d, min := f16At(b, 0), f16At(b, 2)
		scales := b[4:16]
		qh := b[16:48]
		ql := b[48:176]
		u1, u2 := uint8(1), uint8(2)
		for j := 0; j < 4; j++ {
			sc, m := getScaleMinK4(2*j, scales)
			d1, m1 := float32(d*float32(sc)), float32(min*float32(m))
			sc, m = getScaleMinK4(2*j+1, scales)
			d2, m2 := float32(d*float32(sc)), float32(min*float32(m))
			qq := ql[32*j : 32*j+32]
			yy := y[64*j : 64*j+64]
			for l, v := range qq {
				lo, hi := int32(v&0xf), int32(v>>4)
				if qh[l]&u1 != 0 {
					lo += 16
				}
				if qh[l]&u2 != 0 {
					hi += 16
				}
				yy[l] = float32(d1*float32(lo)) - m1
				yy[l+32] = float32(d2*float32(hi)) - m2
			}
			u1 <<= 2
			u2 <<= 2
		}
	}
}

// quantQ5K is quantize_row_q5_K_ref.
func quantQ5K(dst []byte, src []float32) {
	var L [qkK]uint8
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*q5KBytes : (i+1)*q5KBytes]
		kquantScales(b, x, L[:], 31, -0.5, 0.1, 15)
		kquantRequant(b, x, L[:], 31)
		qh := b[16:48]
		ql := b[48:176]
		clear(qh)
		m1, m2 := uint8(1), uint8(2)
		for j := 0; j < 4; j++ {
			for l := 0; l < 32; l++ {
				l1, l2 := L[64*j+l], L[64*j+l+32]
				if l1 > 15 {
					l1 -= 16
					qh[l] |= m1
				}
				if l2 > 15 {
					l2 -= 16
					qh[l] |= m2
				}
				ql[32*j+l] = l1 | l2<<4
			}
			m1 <<= 2
			m2 <<= 2
		}
	}
}

// vecDotQ5K is ggml_vec_dot_q5_K_q8_K (one integer sum per super-block).
func vecDotQ5K(n int, w, xq []byte) float32 {
	var sumf float32
	for i := 0; i < n/qkK; i++ {
		x := w[i*q5KBytes : (i+1)*q5KBytes]
		y := xq[i*q8KBytes : (i+1)*q8KBytes]
		scales := x[4:16]
		qh := x[16:48]
		ql := x[48:176]
		q8 := y[4:260]
		var summs, isum int32
		for j := 0; j < 16; j++ {
			_, m := getScaleMinK4(j/2, scales)
			summs += int32(int16(binary.LittleEndian.Uint16(y[260+2*j:]))) * int32(m)
		}
		u1, u2 := uint8(1), uint8(2)
		for j := 0; j < 4; j++ {
			sc1, _ := getScaleMinK4(2*j, scales)
			sc2, _ := getScaleMinK4(2*j+1, scales)
			qq := ql[32*j : 32*j+32]
			lo8, hi8 := q8[64*j:64*j+32], q8[64*j+32:64*j+64]
			var s1, s2 int32
			for l, v := range qq {
				lo, hi := int32(v&0xf), int32(v>>4)
				if qh[l]&u1 != 0 {
					lo += 16
				}
				if qh[l]&u2 != 0 {
					hi += 16
				}
				s1 += lo * int32(int8(lo8[l]))
				s2 += hi * int32(int8(hi8[l]))
			}
			isum += int32(sc1)*s1 + int32(sc2)*s2
			u1 <<= 2
			u2 <<= 2
		}
		yd := f32At(y, 0)
		d := float32(f16At(x, 0) * yd)
		dmin := float32(f16At(x, 2) * yd)
		sumf += float32(d*float32(isum)) - float32(dmin*float32(summs))
	}
	return sumf
}

// ---- Q6_K

func dequantQ6K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*q6KBytes : (i+1)*q6KBytes]
		y := dst[i*qkK : (i+1)*qkK]
		d := f16At(b, 208)
		ql, qh, sc := b[0:128], b[128:192], b[192:208]
		for c := 0; c < 2; c++ {
			qlc, qhc, scc := ql[64*c:64*c+64], qh[32*c:32*c+32], sc[8*c:8*c+8]
			yc := y[128*c : 128*c+128]
			for l := 0; l < 32; l++ {
				is := l / 16
				q1 := int32(qlc[l]&0xf|(qhc[l]>>0&3)<<4) - 32
				q2 := int32(qlc[l+32]&0xf|(qhc[l]>>2&3)<<4) - 32
				q3 := int32(qlc[l]>>4|(qhc[l]>>4&3)<<4) - 32
				q4 := int32(qlc[l+32]>>4|(qhc[l]>>6&3)<<4) - 32
				yc[l] = float32(d*float32(int8(scc[is]))) * float32(q1)
				yc[l+32] = float32(d*float32(int8(scc[is+2]))) * float32(q2)
				yc[l+64] = float32(d*float32(int8(scc[is+4]))) * float32(q3)
				yc[l+96] = float32(d*float32(int8(scc[is+6]))) * float32(q4)
			}
		}
	}
}

// quantQ6K is quantize_row_q6_K_ref.
func quantQ6K(dst []byte, src []float32) {
	var (
		L      [qkK]int8
		scales [16]float32
	)
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*q6KBytes : (i+1)*q6KBytes]
		var maxScale, maxAbsScale float32
		for ib := 0; ib < 16; ib++ {
			scale := makeQXQuants(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16])
			scales[ib] = scale
			if a := absf(scale); a > maxAbsScale {
				maxAbsScale, maxScale = a, scale
			}
		}
		if maxAbsScale < groupMaxEps {
			clear(b)
			putF16(b, 208, 0)
			continue
		}
		iscale := -128 / maxScale
		putF16(b, 208, 1/iscale)
		sc := b[192:208]
		for ib := range sc {
			sc[ib] = uint8(int8(min(127, nearestInt(float32(iscale*scales[ib])))))
		}
		d0 := f16At(b, 208)
		for j := 0; j < 16; j++ {
			d := float32(d0 * float32(int8(sc[j])))
			if d == 0 {
				continue
			}
			for ii := 0; ii < 16; ii++ {
				l := clampI(nearestInt(x[16*j+ii]/d), -32, 31)
				L[16*j+ii] = int8(l + 32)
			}
		}
		ql, qh := b[0:128], b[128:192]
		for c := 0; c < 2; c++ {
			Lc := L[128*c : 128*c+128]
			qlc, qhc := ql[64*c:64*c+64], qh[32*c:32*c+32]
			for l := 0; l < 32; l++ {
				q1 := uint8(Lc[l]) & 0xf
				q2 := uint8(Lc[l+32]) & 0xf
				q3 := uint8(Lc[l+64]) & 0xf
				q4 := uint8(Lc[l+96]) & 0xf
				qlc[l] = q1 | q3<<4
				qlc[l+32] = q2 | q4<<4
				qhc[l] = uint8(Lc[l]>>4) | uint8(Lc[l+32]>>4)<<2 | uint8(Lc[l+64]>>4)<<4 | uint8(Lc[l+96]>>4)<<6
			}
		}
	}
}

// vecDotQ6K is ggml_vec_dot_q6_K_q8_K (one integer sum per super-block).
func vecDotQ6K(n int, w, xq []byte) float32 {
	var sumf float32
	for i := 0; i < n/qkK; i++ {
		x := w[i*q6KBytes : (i+1)*q6KBytes]
		y := xq[i*q8KBytes : (i+1)*q8KBytes]
		ql, qh, sc := x[0:128], x[128:192], x[192:208]
		q8 := y[4:260]
		var isum int32
		for c := 0; c < 2; c++ {
			qlc, qhc := ql[64*c:64*c+64], qh[32*c:32*c+32]
			q8c := q8[128*c : 128*c+128]
			var s [8]int32 // one per 16-value sub-block of this half
			for l := 0; l < 32; l++ {
				h := l / 16
				q1 := int32(qlc[l]&0xf|(qhc[l]>>0&3)<<4) - 32
				q2 := int32(qlc[l+32]&0xf|(qhc[l]>>2&3)<<4) - 32
				q3 := int32(qlc[l]>>4|(qhc[l]>>4&3)<<4) - 32
				q4 := int32(qlc[l+32]>>4|(qhc[l]>>6&3)<<4) - 32
				s[h] += q1 * int32(int8(q8c[l]))
				s[h+2] += q2 * int32(int8(q8c[l+32]))
				s[h+4] += q3 * int32(int8(q8c[l+64]))
				s[h+6] += q4 * int32(int8(q8c[l+96]))
			}
			for k, v := range s {
				isum += int32(int8(sc[8*c+k])) * v
			}
		}
		d := float32(f16At(x, 208) * f32At(y, 0))
		sumf += float32(d * float32(isum))
	}
	return sumf
}

// ---- Q8_K

func dequantQ8K(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*q8KBytes : (i+1)*q8KBytes]
		y := dst[i*qkK : (i+1)*qkK]
		d := f32At(b, 0)
		qs := b[4:260]
		for j := range y {
			y[j] = d * float32(int8(qs[j]))
		}
	}
}

// quantQ8K is quantize_row_q8_K_ref, which ggml-cpu also uses for
// activations on x86: iscale = −127/max (max signed), q = min(127,
// nearest_int(iscale·x)), d = 1/iscale in float32, bsums = Σ of each 16 q.
// ggml leaves bsums unwritten for an all-zero super-block; here they are 0.
func quantQ8K(dst []byte, src []float32) {
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*q8KBytes : (i+1)*q8KBytes]
		qs := b[4:260]
		bsums := b[260:292]
		max, amax := absMaxGT(x)
		if amax == 0 {
			putF32(b, 0, 0)
			clear(qs)
			clear(bsums)
			continue
		}
		iscale := -127 / max
		for j, v := range x {
			qs[j] = uint8(int8(min(127, nearestInt(float32(iscale*v)))))
		}
		for j := 0; j < 16; j++ {
			var sum int32
			for _, q := range qs[16*j : 16*j+16] {
				sum += int32(int8(q))
			}
			binary.LittleEndian.PutUint16(bsums[2*j:], uint16(int16(sum)))
		}
		putF32(b, 0, 1/iscale)
	}
}
