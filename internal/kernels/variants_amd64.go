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
		v := &Variant{Name: "avx2", rowBlock: map[tensor.DType]rowBlockFunc{
			tensor.F32: rowBlockAVX2, tensor.F16: rowBlockAVX2, tensor.BF16: rowBlockAVX2,
		}, quant: q, act: a, siluMul: siluMulAVX2Go, attnHead: attnHeadAVX2}
		register(v)
		x := cpu.X86
		if x.HasAVX512F && x.HasAVX512BW && x.HasAVX512VL && x.HasAVX512VNNI {
			v512 := *v
			v512.Name = "avx512"
			v512.quant = avx512Quant()
			register(&v512)
		}
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

func f32Byte(p *float32) *byte { return (*byte)(unsafe.Pointer(p)) }
func u16Byte(p *uint16) *byte  { return (*byte)(unsafe.Pointer(p)) }

// siluMulAVX2Go runs the assembly SiLU over the multiple-of-8 prefix and
// the Go body over the rest (both give the same bits).
func siluMulAVX2Go(out, gate, up []float32) {
	n := len(gate)
	main := n &^ 7
	if main > 0 {
		_, _ = out[n-1], up[n-1]
		siluMulAVX2(&out[0], &gate[0], &up[0], main)
	}
	if main < n {
		siluMulGo(out[main:n], gate[main:], up[main:n])
	}
}

// attnHeadAVX2 is one head's attention with the assembly kernels: all
// scores in one call (four positions at a time), float32 exponentials
// (exp32, bit-identical in Go and assembly), the weighted sum of values in
// one call. Heads whose dimension is not a multiple of 8 use the Go body.
func attnHeadAVX2(a *Attention, kv *KVLayer, q, out []float32, kvOff, first, last int, buf []float32, g *kvGroup) {
	hd := a.HeadDim
	if hd%8 != 0 {
		attnHeadGo(a, kv, q, out, kvOff, first, last, buf, g)
		return
	}
	n := last - first + 1
	scores := buf[:n]
	_ = buf[(n+3)&^3-1]
	stride := a.KVStride
	if kv.K != nil {
		_ = kv.K[last*stride+kvOff+hd-1]
		attnScoresF32AVX2(&q[0], f32Byte(&kv.K[first*stride+kvOff]), 4*stride, n, hd, &buf[0])
	} else {
		_ = kv.K16[last*stride+kvOff+hd-1]
		attnScoresF16AVX2(&q[0], u16Byte(&kv.K16[first*stride+kvOff]), 2*stride, n, hd, &buf[0])
	}
	m := a.scaleMax(scores)
	main := n &^ 7
	if main > 0 {
		expMinusAVX2(&scores[0], main, m)
	}
	expMinusGo(scores[main:], m)
	var sum float64
	for _, e := range scores {
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range scores {
		scores[i] *= inv
	}
	if kv.V != nil {
		_ = kv.V[last*stride+kvOff+hd-1]
		attnOutF32AVX2(&scores[0], f32Byte(&kv.V[first*stride+kvOff]), 4*stride, n, hd, &out[0])
	} else {
		_ = kv.V16[last*stride+kvOff+hd-1]
		attnOutF16AVX2(&scores[0], u16Byte(&kv.V16[first*stride+kvOff]), 2*stride, n, hd, &out[0])
	}
}
