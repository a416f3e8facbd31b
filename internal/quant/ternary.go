package quant

// The ternary formats TQ1_0 (1.6875 bits per value: five trits per byte in
// base-3 fixed point) and TQ2_0 (2 bits per value). x = (t − 1)·d.

const (
	tq1Bytes = 54 // qs[48]; qh[4]; fp16 d
	tq2Bytes = 66 // qs[64]; fp16 d
)

// pow3 are the powers of three that shift a packed trit to the top of a
// byte.
var pow3 = [6]uint8{1, 3, 9, 27, 81, 243}

// tritAt extracts the trit selected by multiplier p from a TQ1_0 byte.
func tritAt(q, p uint8) int32 {
	return int32(uint16(q*p)*3>>8) - 1
}

// tq1Pack stores the trits of x (one per byte position m, value n·stride+m
// for n < count) into out, as quantize_row_tq1_0_ref does.
func tq1Pack(out []byte, x []float32, id float32, stride, count int, extra bool) {
	for m := range out {
		var q uint8
		for n := 0; n < count; n++ {
			q = q*3 + uint8(lroundTrit(float32(x[m+n*stride]*id)))
		}
		if extra {
			q *= 3 // qh: shift the first trit to the most significant place
		}
		out[m] = uint8((uint32(q)*256 + 242) / 243)
	}
}

// quantTQ1 is quantize_row_tq1_0_ref.
func quantTQ1(dst []byte, src []float32) {
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*tq1Bytes : (i+1)*tq1Bytes]
		d := refAbsMax(x)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, 52, d)
		tq1Pack(b[0:32], x[0:160], id, 32, 5, false)
		tq1Pack(b[32:48], x[160:240], id, 16, 5, false)
		tq1Pack(b[48:52], x[240:256], id, 4, 4, true)
	}
}

func dequantTQ1(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*tq1Bytes : (i+1)*tq1Bytes]
		y := dst[i*qkK : (i+1)*qkK]
		d := f16At(b, 52)
		k := 0
		for _, part := range [3]struct{ lo, hi, trits int }{{0, 32, 5}, {32, 48, 5}, {48, 52, 4}} {
			for n := 0; n < part.trits; n++ {
				for _, q := range b[part.lo:part.hi] {
					y[k] = float32(tritAt(q, pow3[n])) * d
					k++
				}
			}
		}
	}
}

// vecDotTQ1 is ggml_vec_dot_tq1_0_q8_K.
func vecDotTQ1(n int, w, xq []byte) float32 {
	var sumf float32
	for i := 0; i < n/qkK; i++ {
		x := w[i*tq1Bytes : (i+1)*tq1Bytes]
		y := xq[i*q8KBytes : (i+1)*q8KBytes]
		q8 := y[4:260]
		var sum int32
		k := 0
		for _, part := range [3]struct{ lo, hi, trits int }{{0, 32, 5}, {32, 48, 5}, {48, 52, 4}} {
			for n := 0; n < part.trits; n++ {
				for _, q := range x[part.lo:part.hi] {
					sum += tritAt(q, pow3[n]) * int32(int8(q8[k]))
					k++
				}
			}
		}
		sumf += float32(float32(sum) * float32(f16At(x, 52)*f32At(y, 0)))
	}
	return sumf
}

// quantTQ2 is quantize_row_tq2_0_ref: element m + 32n of each 128-value
// chunk goes to bits 2n of byte m.
func quantTQ2(dst []byte, src []float32) {
	for i := 0; i < len(src)/qkK; i++ {
		x := src[i*qkK : (i+1)*qkK]
		b := dst[i*tq2Bytes : (i+1)*tq2Bytes]
		d := refAbsMax(x)
		var id float32
		if d != 0 {
			id = 1 / d
		}
		putF16(b, 64, d)
		for j := 0; j < 64; j += 32 {
			xc := x[4*j : 4*j+128]
			for m := 0; m < 32; m++ {
				var q uint8
				for n := 0; n < 4; n++ {
					xi := lroundTrit(float32(xc[m+n*32] * id))
					q += uint8((xi & 3) << (2 * n))
				}
				b[j+m] = q
			}
		}
	}
}

func dequantTQ2(dst []float32, src []byte) {
	for i := 0; i < len(dst)/qkK; i++ {
		b := src[i*tq2Bytes : (i+1)*tq2Bytes]
		y := dst[i*qkK : (i+1)*qkK]
		d := f16At(b, 64)
		k := 0
		for j := 0; j < 64; j += 32 {
			for l := uint(0); l < 4; l++ {
				for _, q := range b[j : j+32] {
					y[k] = float32(int32(q>>(2*l)&3)-1) * d
					k++
				}
			}
		}
	}
}

// vecDotTQ2 is ggml_vec_dot_tq2_0_q8_K.
func vecDotTQ2(n int, w, xq []byte) float32 {
	var sumf float32
	for i := 0; i < n/qkK; i++ {
		x := w[i*tq2Bytes : (i+1)*tq2Bytes]
		y := xq[i*q8KBytes : (i+1)*q8KBytes]
		q8 := y[4:260]
		var sumi int32
		k := 0
		for j := 0; j < 64; j += 32 {
			for l := uint(0); l < 4; l++ {
				for _, q := range x[j : j+32] {
					sumi += int32(int8(q8[k])) * (int32(q>>(2*l)&3) - 1)
					k++
				}
			}
		}
		d := float32(f32At(y, 0) * f16At(x, 64))
		sumf += float32(float32(sumi) * d)
	}
	return sumf
}
