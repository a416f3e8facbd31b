package kernels

import (
	"math"

	"github.com/memfit/memfit/internal/tensor"
)

// Ops runs the parallel kernels on a pool. Its tasks and per-worker scratch
// are allocated once and reused, so a step of the forward pass allocates
// nothing after the first.
type Ops struct {
	Pool *Pool
	mm   matmulTask
	qm   quantTask
	qa   actTask
	att  attentionTask
}

// NewOps returns kernels that run on pool.
func NewOps(pool *Pool) *Ops {
	o := &Ops{Pool: pool}
	o.mm.scratch = make([][]float32, pool.Threads())
	o.att.scores = make([][]float32, pool.Threads())
	o.att.groups = make([]kvGroup, pool.Threads())
	return o
}

// MatMul computes, for each of T tokens, y[t·ldy + r] = Σ_i w[r][i]·x[t·in + i]
// over every row r of w (in = w.RowLen()). w must be a type Supports accepts.
func (o *Ops) MatMul(w *tensor.Tensor, x []float32, T int, y []float32, ldy int) {
	in, rows := w.RowLen(), w.NumRows()
	if len(x) < T*in || len(y) < (T-1)*ldy+rows {
		panic("kernels: MatMul buffers too small")
	}
	if !isFloat(w.Type) {
		o.matMulQuant(w, x, T, y, ldy)
		return
	}
	for i := range o.mm.scratch {
		if len(o.mm.scratch[i]) < 4*in {
			o.mm.scratch[i] = make([]float32, 4*in)
		}
	}
	o.mm.w, o.mm.x, o.mm.y, o.mm.t, o.mm.ldy = w, x, y, T, ldy
	// Aim for chunks of about 64 KiB of weights and at least 4 rows.
	grain := max(4, (64<<10)/max(1, w.RowBytes()))
	grain = min(grain, o.Pool.Grain(rows, 4))
	o.Pool.Run(rows, grain&^3, &o.mm)
	o.mm.w, o.mm.x, o.mm.y = nil, nil, nil
}

// RMSNorm writes x / sqrt(mean(x²) + eps) · w to out (w nil: no weight).
// The mean of squares is accumulated in float64.
func RMSNorm(out, x, w []float32, eps float32) {
	var ss float64
	for _, v := range x {
		ss += float64(v) * float64(v)
	}
	scale := float32(1 / math.Sqrt(ss/float64(len(x))+float64(eps)))
	if w == nil {
		for i, v := range x {
			out[i] = v * scale
		}
		return
	}
	w = w[:len(x)]
	for i, v := range x {
		out[i] = v * scale * w[i]
	}
}

// SiLUMul writes silu(gate)·up to out.
func SiLUMul(out, gate, up []float32) {
	up = up[:len(gate)]
	for i, g := range gate {
		out[i] = float32(float64(g)/(1+math.Exp(-float64(g)))) * up[i]
	}
}

// GELUTanhMul writes gelu_tanh(gate)·up to out, with GELU's tanh
// approximation evaluated in float64.
func GELUTanhMul(out, gate, up []float32) {
	const c = 0.7978845608028654 // sqrt(2/π)
	up = up[:len(gate)]
	for i, g := range gate {
		x := float64(g)
		out[i] = float32(0.5*x*(1+math.Tanh(c*(x+0.044715*x*x*x)))) * up[i]
	}
}

// Softcap replaces every v with tanh(v/c)·c.
func Softcap(v []float32, c float32) {
	for i, x := range v {
		v[i] = float32(math.Tanh(float64(x)/float64(c)) * float64(c))
	}
}

// Softmax normalises v in place to probabilities (max-subtracted, float64
// sum).
func Softmax(v []float32) {
	if len(v) == 0 {
		return
	}
	m := v[0]
	for _, x := range v[1:] {
		m = max(m, x)
	}
	var sum float64
	for i, x := range v {
		e := math.Exp(float64(x - m))
		v[i] = float32(e)
		sum += e
	}
	inv := 1 / sum
	for i := range v {
		v[i] = float32(float64(v[i]) * inv)
	}
}

// AddScaled does dst[i] += s·src[i].
func AddScaled(dst, src []float32, s float32) {
	src = src[:len(dst)]
	if s == 1 {
		for i := range dst {
			dst[i] += src[i]
		}
		return
	}
	for i := range dst {
		dst[i] += s * src[i]
	}
}

// Scale does v[i] *= s.
func Scale(v []float32, s float32) {
	for i := range v {
		v[i] *= s
	}
}

// RopeNeoX rotates each head of v (heads of headDim values) by the angles
// whose cosines and sines are cos, sin (len = rotated dims / 2), pairing
// dimension i with i + dims/2 (transformers' rotate_half).
func RopeNeoX(v []float32, headDim int, cos, sin []float32) {
	half := len(cos)
	for h := 0; h+headDim <= len(v); h += headDim {
		a, b := v[h:h+half], v[h+half:h+2*half]
		for i, c := range cos {
			s := sin[i]
			x, y := a[i], b[i]
			a[i] = x*c - y*s
			b[i] = y*c + x*s
		}
	}
}

// RopeInterleaved rotates each head of v pairing dimensions 2i and 2i+1
// (llama.cpp's normal RoPE).
func RopeInterleaved(v []float32, headDim int, cos, sin []float32) {
	for h := 0; h+headDim <= len(v); h += headDim {
		for i, c := range cos {
			s := sin[i]
			x, y := v[h+2*i], v[h+2*i+1]
			v[h+2*i] = x*c - y*s
			v[h+2*i+1] = x*s + y*c
		}
	}
}

// RopeAngles fills cos and sin for position pos from the inverse
// frequencies, computing the angles in float64.
func RopeAngles(cos, sin []float32, invFreq []float64, pos int) {
	for i, f := range invFreq {
		s, c := math.Sincos(float64(pos) * f)
		cos[i], sin[i] = float32(c), float32(s)
	}
}
