package kernels

import "math"

// KVLayer is one sequence's cached keys and values for one layer: position
// p's values are at [p·kvDim, (p+1)·kvDim), stored as float32 (K, V) or as
// IEEE binary16 (K16, V16, when K is nil), or as ggml blocks (Q, when it
// is set; see attention_q.go).
type KVLayer struct {
	K, V     []float32
	K16, V16 []uint16
	Q        *QuantKV
}

// Attention describes one layer's attention for a batch of query tokens,
// each attending to the KV cache of its own sequence.
type Attention struct {
	Q        []float32  // T × heads·headDim queries (RoPE applied)
	KV       []*KVLayer // per token: the cache of its sequence
	Out      []float32  // T × heads·headDim
	Pos      []int      // absolute position of each query token
	Heads    int
	KVHeads  int
	HeadDim  int
	Window   int     // a query at p sees keys at k with p-k < Window; 0: all k ≤ p
	Scale    float32 // scores are q·k·Scale
	Softcap  float32 // scores → tanh(s/c)·c when > 0
	MaxPos   int     // highest position in the cache + 1 (sizes the score scratch)
	KVStride int     // values between consecutive positions (kvDim)
}

// key returns cached key element idx as float64.
func (l *KVLayer) key(idx int) float64 {
	if l.K != nil {
		return float64(l.K[idx])
	}
	if l.Q != nil {
		return float64(l.Q.elem(l.Q.K, idx))
	}
	return float64(f16Table[l.K16[idx]])
}

// value returns cached value element idx as float64.
func (l *KVLayer) value(idx int) float64 {
	if l.V != nil {
		return float64(l.V[idx])
	}
	if l.Q != nil {
		return float64(l.Q.elem(l.Q.V, idx))
	}
	return float64(f16Table[l.V16[idx]])
}

// span returns the cache positions [lo, hi] a query at pos attends to.
func (a *Attention) span(pos int) (int, int) {
	lo := 0
	if a.Window > 0 {
		lo = max(0, pos-a.Window+1)
	}
	return lo, pos
}

// AttentionRef is the reference attention: per token and head, scores in
// float64, softmax, weighted sum of values.
func AttentionRef(a *Attention) {
	qDim := a.Heads * a.HeadDim
	group := a.Heads / a.KVHeads
	for t, pos := range a.Pos {
		lo, hi := a.span(pos)
		for h := 0; h < a.Heads; h++ {
			q := a.Q[t*qDim+h*a.HeadDim : t*qDim+(h+1)*a.HeadDim]
			kvOff := (h / group) * a.HeadDim
			kv := a.KV[t]
			scores := make([]float64, hi-lo+1)
			m := math.Inf(-1)
			for k := lo; k <= hi; k++ {
				var s float64
				for i, x := range q {
					s += float64(x) * kv.key(k*a.KVStride+kvOff+i)
				}
				s *= float64(a.Scale)
				if a.Softcap > 0 {
					s = math.Tanh(s/float64(a.Softcap)) * float64(a.Softcap)
				}
				scores[k-lo] = s
				m = max(m, s)
			}
			var sum float64
			for i := range scores {
				scores[i] = math.Exp(scores[i] - m)
				sum += scores[i]
			}
			out := a.Out[t*qDim+h*a.HeadDim : t*qDim+(h+1)*a.HeadDim]
			for i := range out {
				var o float64
				for k := lo; k <= hi; k++ {
					o += scores[k-lo] / sum * kv.value(k*a.KVStride+kvOff+i)
				}
				out[i] = float32(o)
			}
		}
	}
}

// attentionTask splits attention over (token, head) pairs.
type attentionTask struct {
	a      *Attention
	scores [][]float32    // per worker
	groups []kvGroup      // per worker
	quant  []quantScratch // per worker, for quantized caches (attention_q.go)
}

// kvGroup is a worker's arguments for the four-position kernels (kept off
// the stack: they are passed through function values, so they would escape).
type kvGroup struct {
	offs [4]int
	vals [4]float32
}

// ReserveAttention sizes the per-worker score scratch for contexts of up to
// maxPos positions, so Attention never allocates. It returns the bytes the
// scratch holds.
func (o *Ops) ReserveAttention(maxPos int) int64 {
	// Room for maxPos scores rounded up to 8 (the SIMD bodies write whole
	// groups).
	n := maxPos + 8
	for i := range o.att.scores {
		if len(o.att.scores[i]) < n {
			o.att.scores[i] = make([]float32, n)
		}
	}
	return int64(len(o.att.scores)) * int64(n) * 4
}

// Attention runs a over the pool, (token, head) pairs split across workers.
func (o *Ops) Attention(a *Attention) {
	o.ReserveAttention(a.MaxPos)
	o.att.a = a
	n := len(a.Pos) * a.Heads
	var task Task = &o.att
	if a.quantizedKV() {
		task, n = o.quantAttention()
	}
	o.Pool.Run(n, o.Pool.Grain(n, 1), task)
	o.att.a = nil
}

func (t *attentionTask) Do(w, lo, hi int) {
	a := t.a
	qDim := a.Heads * a.HeadDim
	group := a.Heads / a.KVHeads
	for item := lo; item < hi; item++ {
		tok, h := item/a.Heads, item%a.Heads
		first, last := a.span(a.Pos[tok])
		q := a.Q[tok*qDim+h*a.HeadDim : tok*qDim+(h+1)*a.HeadDim]
		out := a.Out[tok*qDim+h*a.HeadDim : tok*qDim+(h+1)*a.HeadDim]
		kvOff := (h / group) * a.HeadDim
		active.attnHead(a, a.KV[tok], q, out, kvOff, first, last, t.scores[w], &t.groups[w])
	}
}

// scaleMax applies the score scale and soft cap to s and returns the
// largest score.
func (a *Attention) scaleMax(s []float32) float32 {
	m := float32(math.Inf(-1))
	for i, v := range s {
		v *= a.Scale
		if a.Softcap > 0 {
			v = float32(math.Tanh(float64(v)/float64(a.Softcap)) * float64(a.Softcap))
		}
		s[i] = v
		m = max(m, v)
	}
	return m
}

// attnHeadGo is one head's attention to positions [first, last] in plain Go
// (scores four positions at a time, float64 exponentials).
func attnHeadGo(a *Attention, kv *KVLayer, q, out []float32, kvOff, first, last int, buf []float32, g *kvGroup) {
	hd := a.HeadDim
	scores := buf[:last-first+1]
	k := first
	for ; k+4 <= last+1; k += 4 {
		for j := range g.offs {
			g.offs[j] = (k+j)*a.KVStride + kvOff
		}
		kvDot4Go(kv, &g.offs, q, &g.vals)
		copy(scores[k-first:], g.vals[:])
	}
	for ; k <= last; k++ {
		off := k*a.KVStride + kvOff
		if kv.K != nil {
			scores[k-first] = Dot(q, kv.K[off:off+hd])
		} else {
			scores[k-first] = dotF16(q, kv.K16[off:off+hd])
		}
	}
	m := a.scaleMax(scores)
	var sum float64
	for i, s := range scores {
		e := math.Exp(float64(s - m))
		scores[i] = float32(e)
		sum += e
	}
	inv := float32(1 / sum)
	clear(out)
	k = first
	for ; k+4 <= last+1; k += 4 {
		for j := range g.offs {
			g.offs[j] = (k+j)*a.KVStride + kvOff
			g.vals[j] = scores[k+j-first] * inv
		}
		kvAxpy4Go(kv, &g.offs, &g.vals, out)
	}
	for ; k <= last; k++ {
		off := k*a.KVStride + kvOff
		if kv.V != nil {
			AddScaled(out, kv.V[off:off+hd], scores[k-first]*inv)
		} else {
			addScaledF16(out, kv.V16[off:off+hd], scores[k-first]*inv)
		}
	}
}

// kvDot4Go computes the dot products of q with the keys at four offsets.
func kvDot4Go(kv *KVLayer, offs *[4]int, q []float32, out *[4]float32) {
	n := len(q)
	for j, off := range offs {
		if kv.K != nil {
			out[j] = Dot(q, kv.K[off:off+n])
		} else {
			out[j] = dotF16(q, kv.K16[off:off+n])
		}
	}
}

// kvAxpy4Go adds the values at four offsets, scaled by ws, to dst.
func kvAxpy4Go(kv *KVLayer, offs *[4]int, ws *[4]float32, dst []float32) {
	n := len(dst)
	for j, off := range offs {
		if kv.V != nil {
			AddScaled(dst, kv.V[off:off+n], ws[j])
		} else {
			addScaledF16(dst, kv.V16[off:off+n], ws[j])
		}
	}
}

// dotF16 returns Σ a[i]·b[i] with b in binary16.
func dotF16(a []float32, b []uint16) float32 {
	b = b[:len(a)]
	var s0, s1 float32
	i := 0
	for ; i+2 <= len(a); i += 2 {
		s0 += a[i] * f16Table[b[i]]
		s1 += a[i+1] * f16Table[b[i+1]]
	}
	if i < len(a) {
		s0 += a[i] * f16Table[b[i]]
	}
	return s0 + s1
}

// addScaledF16 does dst[i] += s·src[i] with src in binary16.
func addScaledF16(dst []float32, src []uint16, s float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += s * f16Table[src[i]]
	}
}
