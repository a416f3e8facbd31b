//go:build amd64 && !purego

package kernels

import (
	"unsafe"

	"golang.org/x/sys/cpu"

	"github.com/memfit/memfit/internal/tensor"
)

func init() {
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA && cpu.X86.HasF16C {
		q, a := avx2Quant()
		register(&Variant{Name: "avx2", rowBlock: map[tensor.DType]rowBlockFunc{
			tensor.F32: rowBlockAVX2, tensor.F16: rowBlockAVX2, tensor.BF16: rowBlockAVX2,
		}, kvDot4: kvDot4AVX2, kvAxpy4: kvAxpy4AVX2, quant: q, act: a})
	}
}

// dot4xAVX2 calls the assembly kernel for weights of type t and m tokens
// (1 to 3) of x, ldx values apart.
func dot4xAVX2(t tensor.DType, p *[4]*byte, x *float32, ldx, n, m int, out *[12]float32) {
	switch m {
	case 3:
		switch t {
		case tensor.F32:
			dot4x3F32AVX2(p[0], p[1], p[2], p[3], x, ldx, n, out)
		case tensor.F16:
			dot4x3F16AVX2(p[0], p[1], p[2], p[3], x, ldx, n, out)
		case tensor.BF16:
			dot4x3BF16AVX2(p[0], p[1], p[2], p[3], x, ldx, n, out)
		}
	case 2:
		o := (*[8]float32)(out[:8])
		switch t {
		case tensor.F32:
			dot4x2F32AVX2(p[0], p[1], p[2], p[3], x, ldx, n, o)
		case tensor.F16:
			dot4x2F16AVX2(p[0], p[1], p[2], p[3], x, ldx, n, o)
		case tensor.BF16:
			dot4x2BF16AVX2(p[0], p[1], p[2], p[3], x, ldx, n, o)
		}
	default:
		o := (*[4]float32)(out[:4])
		switch t {
		case tensor.F32:
			dot4x1F32AVX2(p[0], p[1], p[2], p[3], x, ldx, n, o)
		case tensor.F16:
			dot4x1F16AVX2(p[0], p[1], p[2], p[3], x, ldx, n, o)
		case tensor.BF16:
			dot4x1BF16AVX2(p[0], p[1], p[2], p[3], x, ldx, n, o)
		}
	}
}

// dot8x1AVX2 calls the eight-row, one-token assembly kernel.
func dot8x1AVX2(t tensor.DType, p *[8]*byte, x *float32, n int, out *[8]float32) {
	switch t {
	case tensor.F32:
		dot8x1F32AVX2(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], x, 0, n, out)
	case tensor.F16:
		dot8x1F16AVX2(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], x, 0, n, out)
	case tensor.BF16:
		dot8x1BF16AVX2(p[0], p[1], p[2], p[3], p[4], p[5], p[6], p[7], x, 0, n, out)
	}
}

// rowBlockAVX2 runs the assembly kernels over the rows (eight at a time
// for one token, else four) and the tokens up to three at a time, reading
// the weights in place (each weight vector once per group of tokens); the
// tail of each row (len mod 8) and of the rows (count mod 4) is finished in
// Go. A token's result is the same whatever group it is computed in.
func rowBlockAVX2(w *tensor.Tensor, lo, hi int, x []float32, T int, y []float32, ldy int, buf []float32) {
	in := w.RowLen()
	main := in &^ 7
	rb := w.RowBytes()
	r := lo
	if T == 1 && main == in {
		var p8 [8]*byte
		var out8 [8]float32
		for ; r+8 <= hi; r += 8 {
			for k := range p8 {
				p8[k] = &w.Data[(r+k)*rb]
			}
			dot8x1AVX2(w.Type, &p8, &x[0], main, &out8)
			copy(y[r:r+8], out8[:])
		}
	}
	var out [12]float32
	var p [4]*byte
	var tails [4][]float32
	for ; r < hi; r += 4 {
		nr := min(4, hi-r)
		for k := range p {
			p[k] = &w.Data[(r+min(k, nr-1))*rb]
		}
		if main < in {
			for k := 0; k < nr; k++ {
				tails[k] = RowF32Tail(w, r+k, main, buf[k*in:(k+1)*in])
			}
		}
		for t := 0; t < T; {
			m := min(3, T-t)
			if main > 0 {
				dot4xAVX2(w.Type, &p, &x[t*in], in, main, m, &out)
			} else {
				out = [12]float32{}
			}
			for j := 0; j < m; j++ {
				xt := x[(t+j)*in : (t+j+1)*in]
				for k := 0; k < nr; k++ {
					v := out[j*4+k]
					if main < in {
						v += Dot(tails[k], xt[main:])
					}
					y[(t+j)*ldy+r+k] = v
				}
			}
			t += m
		}
	}
}

// kvDot4AVX2 is kvDot4 with the assembly dot kernel; the head dimension's
// tail (len mod 8) is finished in Go.
func kvDot4AVX2(kv *KVLayer, offs *[4]int, q []float32, out *[4]float32) {
	n := len(q)
	main := n &^ 7
	if main == 0 {
		kvDot4Go(kv, offs, q, out)
		return
	}
	if kv.K != nil {
		k := kv.K
		for _, off := range offs {
			_ = k[off+n-1]
		}
		dot4x1F32AVX2(f32Byte(&k[offs[0]]), f32Byte(&k[offs[1]]), f32Byte(&k[offs[2]]), f32Byte(&k[offs[3]]), &q[0], 0, main, out)
		if main < n {
			for j, off := range offs {
				out[j] += Dot(q[main:], k[off+main:off+n])
			}
		}
		return
	}
	k := kv.K16
	for _, off := range offs {
		_ = k[off+n-1]
	}
	dot4x1F16AVX2(u16Byte(&k[offs[0]]), u16Byte(&k[offs[1]]), u16Byte(&k[offs[2]]), u16Byte(&k[offs[3]]), &q[0], 0, main, out)
	if main < n {
		for j, off := range offs {
			out[j] += dotF16(q[main:], k[off+main:off+n])
		}
	}
}

// kvAxpy4AVX2 is kvAxpy4 with the assembly kernel.
func kvAxpy4AVX2(kv *KVLayer, offs *[4]int, ws *[4]float32, dst []float32) {
	n := len(dst)
	main := n &^ 7
	if main == 0 {
		kvAxpy4Go(kv, offs, ws, dst)
		return
	}
	if kv.V != nil {
		v := kv.V
		for _, off := range offs {
			_ = v[off+n-1]
		}
		axpy4F32AVX2(f32Byte(&v[offs[0]]), f32Byte(&v[offs[1]]), f32Byte(&v[offs[2]]), f32Byte(&v[offs[3]]), ws, &dst[0], main)
		if main < n {
			for j, off := range offs {
				AddScaled(dst[main:], v[off+main:off+n], ws[j])
			}
		}
		return
	}
	v := kv.V16
	for _, off := range offs {
		_ = v[off+n-1]
	}
	axpy4F16AVX2(u16Byte(&v[offs[0]]), u16Byte(&v[offs[1]]), u16Byte(&v[offs[2]]), u16Byte(&v[offs[3]]), ws, &dst[0], main)
	if main < n {
		for j, off := range offs {
			addScaledF16(dst[main:], v[off+main:off+n], ws[j])
		}
	}
}

func f32Byte(p *float32) *byte { return (*byte)(unsafe.Pointer(p)) }
func u16Byte(p *uint16) *byte  { return (*byte)(unsafe.Pointer(p)) }
