package quant

import "encoding/binary"

// The non-linear 4-bit formats IQ4_NL (32-value blocks) and IQ4_XS
// (256-value super-blocks with 6-bit sub-block scales). Both map a nibble
// to kvaluesIQ4NL and scale it.

const (
	iq4nlBytes = 18  // fp16 d; qs[16]
	iq4xsBytes = 136 // fp16 d; uint16 scales_h; scales_l[4]; qs[128]
)

// kvaluesIQ4NL is ggml's kvalues_iq4nl.
var kvaluesIQ4NL = [16]int8{-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113}

// iq4Tries is the ntry ggml_quantize_chunk uses for IQ4_NL and IQ4_XS
// (quantize_iq4_nl / quantize_iq4_xs): scales (k − 127)/max for k in ±7.
const iq4Tries = 7

// bestIndexInt8 is ggml's best_index_int8 over kvaluesIQ4NL: a binary
// search, and the upper neighbour unless the lower one is strictly closer.
func bestIndexInt8(x float32) int {
	val := &kvaluesIQ4NL
	if x <= float32(val[0]) {
		return 0
	}
	if x >= float32(val[15]) {
		return 15
	}
	ml, mu := 0, 15
	for mu-ml > 1 {
		mav := (ml + mu) / 2
		if x < float32(val[mav]) {
			mu = mav
		} else {
			ml = mav
		}
	}
	if x-float32(val[mu-1]) < float32(val[mu])-x {
		return mu - 1
	}
	return mu
}

// iq4Scratch holds the per-super-block work arrays of quantIQ4.
type iq4Scratch struct {
	L      [qkK]uint8
	scales [qkK / 32]float32
}

// quantIQ4 is quantize_row_iq4_nl_impl with block_size 32, no importance
// weights (w = x²) and ntry = 7, for one super-block x of 32 (IQ4_NL) or
// 256 (IQ4_XS) values. It writes the packed nibbles to q4 (len(x)/2 bytes)
// and, for more than one block, the six-bit block scales to scalesL and
// scalesH; it returns the super-block scale to be stored as fp16.
func quantIQ4(x []float32, q4 []byte, scalesH *uint16, scalesL []byte, s *iq4Scratch) float32 {
	nb := len(x) / 32
	L := s.L[:len(x)]
	scales := s.scales[:nb]
	clear(q4)
	var weight [32]float32
	var maxScale, amaxScale float32
	for ib := range scales {
		xb := x[32*ib : 32*ib+32]
		Lb := L[32*ib : 32*ib+32]
		for j, v := range xb {
			weight[j] = float32(v * v)
		}
		max, amax := absMaxGT(xb)
		if amax < groupMaxEps {
			scales[ib] = 0
			continue
		}
		d := -max / float32(kvaluesIQ4NL[0])
		id := 1 / d
		var sumqx, sumq2 float32
		for j, v := range xb {
			l := bestIndexInt8(float32(id * v))
			Lb[j] = uint8(l)
			q := float32(kvaluesIQ4NL[l])
			w := weight[j]
			sumqx += float32(float32(w*q) * v)
			sumq2 += float32(float32(w*q) * q)
		}
		d = 0
		if sumq2 > 0 {
			d = sumqx / sumq2
		}
		best := float32(d * sumqx)
		for itry := -iq4Tries; itry <= iq4Tries; itry++ {
			id = float32(itry+int(kvaluesIQ4NL[0])) / max
			sumqx, sumq2 = 0, 0
			for j, v := range xb {
				q := float32(kvaluesIQ4NL[bestIndexInt8(float32(id*v))])
				w := weight[j]
				sumqx += float32(float32(w*q) * v)
				sumq2 += float32(float32(w*q) * q)
			}
			if sumq2 > 0 && float32(sumqx*sumqx) > float32(best*sumq2) {
				d = sumqx / sumq2
				best = float32(d * sumqx)
			}
		}
		scales[ib] = d
		if a := absf(d); a > amaxScale {
			amaxScale, maxScale = a, d
		}
	}

	var dh float32
	if nb > 1 {
		*scalesH = 0
		d := -maxScale / 32
		dh = d
		var id float32
		if d != 0 {
			id = 1 / d
		}
		for ib := range scales {
			l := clampI(nearestInt(float32(id*scales[ib])), -32, 31)
			dl := float32(d * float32(l))
			var idl float32
			if dl != 0 {
				idl = 1 / dl
			}
			xb := x[32*ib : 32*ib+32]
			Lb := L[32*ib : 32*ib+32]
			for j, v := range xb {
				Lb[j] = uint8(bestIndexInt8(float32(idl * v)))
			}
			l += 32
			lLow, lHigh := uint8(l)&0xf, uint8(l>>4)
			if ib%2 == 0 {
				scalesL[ib/2] = lLow
			} else {
				scalesL[ib/2] |= lLow << 4
			}
			*scalesH |= uint16(lHigh) << (2 * (ib % 8))
		}
	} else {
		dh = scales[0]
		var id float32
		if scales[0] != 0 {
			id = 1 / scales[0]
		}
		for j, v := range x {
			L[j] = uint8(bestIndexInt8(float32(id * v)))
		}
	}
	for i := 0; i < nb; i++ {
		for j := 0; j < 16; j++ {
			q4[16*i+j] = L[32*i+j] | L[32*i+16+j]<<4
		}
	}
	return dh
}

func dequantIQ4NL(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qk; i++ {
		b := src[i*iq4nlBytes : (i+1)*iq4nlBytes]
		y := dst[i*qk : (i+1)*qk]
		d := f16At(b, 0)
		qs := b[2:18]
		for j := 0; j < 16; j++ {
			y[j] = d * float32(kvaluesIQ4NL[qs[j]&0xf])
			y[j+16] = d * float32(kvaluesIQ4NL[qs[j]>>4])
		}
	}
}

// quantIQ4NL is quantize_iq4_nl without an importance matrix (the path of
// ggml_quantize_chunk; note quantize_row_iq4_nl_ref uses ntry = −1).
func quantIQ4NL(dst []byte, src []float32) {
	var s iq4Scratch
	var unused uint16
	for i := 0; i < len(src)/qk; i++ {
		b := dst[i*iq4nlBytes : (i+1)*iq4nlBytes]
		d := quantIQ4(src[i*qk:(i+1)*qk], b[2:18], &unused, nil, &s)
		putF16(b, 0, d)
	}
}

// vecDotIQ4NL is ggml_vec_dot_iq4_nl_q8_0.
func vecDotIQ4NL(n int, w, xq []byte) float32 {
	var sumf float32
	for i := 0; i < n/qk; i++ {
		x := w[i*iq4nlBytes : (i+1)*iq4nlBytes]
		y := xq[i*q8_0Bytes : (i+1)*q8_0Bytes]
		xs, ys := x[2:18], y[2:34]
		var sumi1, sumi2 int32
		for j := 0; j < 16; j++ {
			sumi1 += int32(int8(ys[j])) * int32(kvaluesIQ4NL[xs[j]&0xf])
			sumi2 += int32(int8(ys[j+16])) * int32(kvaluesIQ4NL[xs[j]>>4])
		}
		d := float32(f16At(y, 0) * f16At(x, 0))
		sumf += float32(d * float32(sumi1+sumi2))
	}
	return sumf
}

// iq4xsScale returns the signed six-bit scale (ls − 32) of block ib.
func iq4xsScale(b []byte, ib int) int32 {
	h := binary.LittleEndian.Uint16(b[2:])
	ls := int32(b[4+ib/2]>>(4*(ib%2)))&0xf | int32(h>>(2*ib)&3)<<4
	return ls - 32
}

func dequantIQ4XS(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*iq4xsBytes : (i+1)*iq4xsBytes]
		y := dst[i*qkK : (i+1)*qkK]
		d := f16At(b, 0)
		qs := b[8:136]
		for ib := 0; ib < 8; ib++ {
			dl := float32(d * float32(iq4xsScale(b, ib)))
			q := qs[16*ib : 16*ib+16]
			yb := y[32*ib : 32*ib+32]
			for j := 0; j < 16; j++ {
				yb[j] = dl * float32(kvaluesIQ4NL[q[j]&0xf])
				yb[j+16] = dl * float32(kvaluesIQ4NL[q[j]>>4])
			}
		}
	}
}

// quantIQ4XS is quantize_iq4_xs without an importance matrix.
func quantIQ4XS(dst []byte, src []float32) {
	var s iq4Scratch
	for i := 0; i < len(src)/qkK; i++ {
		b := dst[i*iq4xsBytes : (i+1)*iq4xsBytes]
		var scalesH uint16
		d := quantIQ4(src[i*qkK:(i+1)*qkK], b[8:136], &scalesH, b[4:8], &s)
		putF16(b, 0, d)
		binary.LittleEndian.PutUint16(b[2:], scalesH)
	}
}

// vecDotIQ4XS is ggml_vec_dot_iq4_xs_q8_K.
func vecDotIQ4XS(n int, w, xq []byte) float32 {
	var sumf float32
	for i := 0; i < n/qkK; i++ {
		x := w[i*iq4xsBytes : (i+1)*iq4xsBytes]
		y := xq[i*q8KBytes : (i+1)*q8KBytes]
		d4d8 := float32(f16At(x, 0) * f32At(y, 0))
		qs := x[8:136]
		q8 := y[4:260]
		for ib := 0; ib < 8; ib++ {
			dl := float32(d4d8 * float32(iq4xsScale(x, ib)))
			q := qs[16*ib : 16*ib+16]
			y8 := q8[32*ib : 32*ib+32]
			var sumi1, sumi2 int32
			for j := 0; j < 16; j++ {
				sumi1 += int32(int8(y8[j])) * int32(kvaluesIQ4NL[q[j]&0xf])
				sumi2 += int32(int8(y8[j+16])) * int32(kvaluesIQ4NL[q[j]>>4])
			}
			sumf += float32(dl * float32(sumi1+sumi2))
		}
	}
	return sumf
}
