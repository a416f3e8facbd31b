package model

import (
	"fmt"
	"math"

	"github.com/memfit/memfit/internal/arch"
	"github.com/memfit/memfit/internal/kernels"
	"github.com/memfit/memfit/internal/kv"
	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/tensor"
)

// State is one sequence's KV cache and the scratch buffers of the forward
// pass, sized for batches of up to Batch tokens. It is allocated once and
// reused: Forward allocates nothing.
type State struct {
	Cache *kv.Cache
	Pos   int // tokens in the cache
	Batch int // largest micro-batch

	x, h, q, k, v, att, o []float32
	gate, up, act, ffn    []float32
	moeIn, moeOut         []float32
	router                []float32
	route, routeSorted    []routeEntry
	order                 []int32
	cos, sin              []float32 // per rope table: Batch × dims/2
	pos                   []int
	attn                  kernels.Attention
	res                   *ledger.Reservation
}

// routeEntry is one token's choice of one expert.
type routeEntry struct {
	tok    int32
	expert int32
	weight float32
}

// NewState allocates a KV cache of ctx positions and scratch for batches of
// up to batch tokens, all reserved on the model's ledger.
func (m *Model) NewState(ctx, batch int) (*State, error) {
	s := m.Spec
	if ctx <= 0 {
		return nil, fmt.Errorf("context of %d tokens: want at least 1", ctx)
	}
	batch = max(1, min(batch, ctx))
	ffn := max(s.FFN, s.SharedFFN, s.ExpertFFN)
	half := 0
	for _, r := range m.ropes {
		half = max(half, len(r))
	}
	floats := batch*(3*s.Hidden+3*s.QDim()+2*s.KVDim()+3*ffn+2*s.Hidden+s.Experts+2*len(m.ropes)*half) + s.Vocab
	scoreBytes := int64(m.ops.Pool.Threads()) * int64(ctx) * 4
	res, err := m.ledger.Reserve("scratch", int64(floats)*4+int64(batch)*int64(s.ExpertsUsed)*24+scoreBytes)
	if err != nil {
		return nil, err
	}
	cache, err := kv.New(m.ledger, len(s.Layers), ctx, s.KVDim())
	if err != nil {
		res.Release()
		return nil, err
	}
	m.ops.ReserveAttention(ctx)
	f := func(n int) []float32 { return make([]float32, n) }
	st := &State{
		Cache: cache, Batch: batch, res: res,
		x: f(batch * s.Hidden), h: f(batch * s.Hidden), o: f(batch * s.Hidden),
		q: f(batch * s.QDim()), att: f(batch * s.QDim()),
		k: f(batch * s.KVDim()), v: f(batch * s.KVDim()),
		gate: f(batch * ffn), up: f(batch * ffn), act: f(batch * ffn), ffn: f(batch * s.Hidden),
		cos: f(len(m.ropes) * batch * half), sin: f(len(m.ropes) * batch * half),
		pos: make([]int, batch),
	}
	if s.Experts > 0 {
		st.router = f(batch * s.Experts)
		st.moeIn = f(batch * s.Hidden)
		st.moeOut = f(batch * s.Hidden)
		st.route = make([]routeEntry, batch*s.ExpertsUsed)
		st.routeSorted = make([]routeEntry, batch*s.ExpertsUsed)
		st.order = make([]int32, s.Experts)
	}
	return st, nil
}

// Release frees the state's cache and scratch.
func (st *State) Release() {
	st.Cache.Release()
	st.res.Release()
}

// Reset empties the cache (the next token is at position 0).
func (st *State) Reset() { st.Pos = 0 }

// Forward runs tokens through the model at positions st.Pos, st.Pos+1, ...
// and appends them to the cache. With all, out receives len(tokens) rows of
// logits, else only the last token's. It fails if the context is full or a
// token is out of the vocabulary.
func (m *Model) Forward(st *State, tokens []int32, out []float32, all bool) error {
	s := m.Spec
	if st.Pos+len(tokens) > st.Cache.Ctx {
		return fmt.Errorf("context full: %d tokens in the cache + %d new exceed the context of %d", st.Pos, len(tokens), st.Cache.Ctx)
	}
	need := s.Vocab
	if all {
		need *= len(tokens)
	}
	if len(out) < need {
		return fmt.Errorf("logits buffer holds %d values, need %d", len(out), need)
	}
	for i, t := range tokens {
		if t < 0 || int(t) >= s.Vocab {
			return fmt.Errorf("token %d at index %d is outside the vocabulary of %d", t, i, s.Vocab)
		}
	}
	for b := 0; b < len(tokens); b += st.Batch {
		end := min(b+st.Batch, len(tokens))
		last := end == len(tokens)
		var dst []float32
		switch {
		case all:
			dst = out[b*s.Vocab : end*s.Vocab]
		case last:
			dst = out[:s.Vocab]
		}
		m.batch(st, tokens[b:end], dst, all)
	}
	return nil
}

// batch runs one micro-batch. dst is nil (no logits), one row (the last
// token's) or one row per token (all).
func (m *Model) batch(st *State, tokens []int32, dst []float32, all bool) {
	s, ops := m.Spec, m.ops
	T, H, qd, kvd := len(tokens), s.Hidden, s.QDim(), s.KVDim()
	x, h := st.x[:T*H], st.h[:T*H]
	for t, tok := range tokens {
		row := kernels.RowF32(&m.embed, int(tok), x[t*H:(t+1)*H])
		copy(x[t*H:(t+1)*H], row)
		if s.EmbedScale != 1 {
			kernels.Scale(x[t*H:(t+1)*H], s.EmbedScale)
		}
		st.pos[t] = st.Pos + t
	}
	for r, inv := range m.ropes {
		half := len(inv)
		for t := 0; t < T; t++ {
			off := (r*st.Batch + t) * half
			kernels.RopeAngles(st.cos[off:off+half], st.sin[off:off+half], inv, st.pos[t])
		}
	}
	for li := range m.layers {
		L, spec := &m.layers[li], &s.Layers[li]
		for t := 0; t < T; t++ {
			kernels.RMSNorm(h[t*H:(t+1)*H], x[t*H:(t+1)*H], L.attnNorm, s.Eps)
		}
		q, k, v := st.q[:T*qd], st.k[:T*kvd], st.v[:T*kvd]
		ops.MatMul(&L.q, h, T, q, qd)
		ops.MatMul(&L.k, h, T, k, kvd)
		ops.MatMul(&L.v, h, T, v, kvd)
		half := len(m.ropes[L.rope])
		for t := 0; t < T; t++ {
			qt, kt, vt := q[t*qd:(t+1)*qd], k[t*kvd:(t+1)*kvd], v[t*kvd:(t+1)*kvd]
			addBias(qt, L.qBias)
			addBias(kt, L.kBias)
			addBias(vt, L.vBias)
			switch s.QKNorm {
			case arch.FullQKNorm:
				kernels.RMSNorm(qt, qt, L.qNorm, s.Eps)
				kernels.RMSNorm(kt, kt, L.kNorm, s.Eps)
			case arch.HeadQKNorm:
				for hd := 0; hd < qd; hd += s.HeadDim {
					kernels.RMSNorm(qt[hd:hd+s.HeadDim], qt[hd:hd+s.HeadDim], L.qNorm, s.Eps)
				}
				for hd := 0; hd < kvd; hd += s.HeadDim {
					kernels.RMSNorm(kt[hd:hd+s.HeadDim], kt[hd:hd+s.HeadDim], L.kNorm, s.Eps)
				}
			}
			off := (L.rope*st.Batch + t) * half
			cos, sin := st.cos[off:off+half], st.sin[off:off+half]
			if spec.Rope.Style == arch.Interleaved {
				kernels.RopeInterleaved(qt, s.HeadDim, cos, sin)
				kernels.RopeInterleaved(kt, s.HeadDim, cos, sin)
			} else {
				kernels.RopeNeoX(qt, s.HeadDim, cos, sin)
				kernels.RopeNeoX(kt, s.HeadDim, cos, sin)
			}
			p := st.pos[t]
			copy(st.Cache.K[li][p*kvd:(p+1)*kvd], kt)
			copy(st.Cache.V[li][p*kvd:(p+1)*kvd], vt)
		}
		st.attn = kernels.Attention{
			Q: q, K: st.Cache.K[li], V: st.Cache.V[li], Out: st.att[:T*qd], Pos: st.pos[:T],
			Heads: s.Heads, KVHeads: s.KVHeads, HeadDim: s.HeadDim, Window: spec.Window,
			Scale: s.AttnScale, Softcap: s.AttnSoftcap, MaxPos: st.pos[T-1] + 1, KVStride: kvd,
		}
		ops.Attention(&st.attn)
		o := st.o[:T*H]
		ops.MatMul(&L.o, st.att[:T*qd], T, o, H)
		m.residual(x, o, L.postAttnNorm, T)
		for t := 0; t < T; t++ {
			kernels.RMSNorm(h[t*H:(t+1)*H], x[t*H:(t+1)*H], L.ffnNorm, s.Eps)
		}
		f := st.ffn[:T*H]
		if s.Experts == 0 {
			m.mlp(st, &L.gate, &L.up, &L.down, h, f, T)
		} else {
			m.moe(st, L, h, f, T)
		}
		m.residual(x, f, L.postFFNNorm, T)
	}
	st.Pos += T
	if dst == nil {
		return
	}
	first := 0
	if !all {
		first = T - 1
	}
	n := T - first
	for t := first; t < T; t++ {
		kernels.RMSNorm(h[(t-first)*H:(t-first+1)*H], x[t*H:(t+1)*H], m.outputNorm, s.Eps)
	}
	ops.MatMul(&m.output, h[:n*H], n, dst, s.Vocab)
	logits := dst[:n*s.Vocab]
	if s.LogitScale != 1 {
		kernels.Scale(logits, 1/s.LogitScale)
	}
	if s.FinalSoftcap > 0 {
		kernels.Softcap(logits, s.FinalSoftcap)
	}
}

// residual adds a block's output (post-normed when the architecture has
// sandwich norms, scaled by the residual multiplier) to x.
func (m *Model) residual(x, y, postNorm []float32, T int) {
	s, H := m.Spec, m.Spec.Hidden
	for t := 0; t < T; t++ {
		yt := y[t*H : (t+1)*H]
		if postNorm != nil {
			kernels.RMSNorm(yt, yt, postNorm, s.Eps)
		}
		kernels.AddScaled(x[t*H:(t+1)*H], yt, s.ResidualScale)
	}
}

func addBias(v, b []float32) {
	if b != nil {
		kernels.AddScaled(v, b, 1)
	}
}

// mlp computes out = down(act(gate·h) ⊙ up·h) for T tokens.
func (m *Model) mlp(st *State, gate, up, down *tensor.Tensor, h, out []float32, T int) {
	ffn := gate.NumRows()
	g, u, a := st.gate[:T*ffn], st.up[:T*ffn], st.act[:T*ffn]
	m.ops.MatMul(gate, h, T, g, ffn)
	m.ops.MatMul(up, h, T, u, ffn)
	if m.Spec.Act == arch.GELUTanh {
		kernels.GELUTanhMul(a, g, u)
	} else {
		kernels.SiLUMul(a, g, u)
	}
	m.ops.MatMul(down, a, T, out, m.Spec.Hidden)
}

// moe routes each token to its top experts and sums their outputs weighted
// by the gate, running each expert once on all the tokens routed to it.
func (m *Model) moe(st *State, L *layer, h, out []float32, T int) {
	s, H := m.Spec, m.Spec.Hidden
	E, K := s.Experts, s.ExpertsUsed
	logits := st.router[:T*E]
	m.ops.MatMul(&L.router, h, T, logits, E)
	route := st.route[:T*K]
	for t := 0; t < T; t++ {
		selectExperts(logits[t*E:(t+1)*E], route[t*K:(t+1)*K], int32(t), s.Gating, s.NormTopK)
	}
	// Group by expert with a counting sort, keeping token order.
	count := st.order[:E]
	clear(count)
	for _, r := range route {
		count[r.expert]++
	}
	start := int32(0)
	for e := range count {
		start, count[e] = start+count[e], start
	}
	sorted := st.routeSorted[:T*K]
	for _, r := range route {
		sorted[count[r.expert]] = r
		count[r.expert]++
	}
	route = sorted
	clear(out[:T*H])
	for i := 0; i < len(route); {
		e := route[i].expert
		j := i
		for j < len(route) && route[j].expert == e {
			j++
		}
		n := j - i
		in := st.moeIn[:n*H]
		for r := i; r < j; r++ {
			tok := int(route[r].tok)
			copy(in[(r-i)*H:(r-i+1)*H], h[tok*H:(tok+1)*H])
		}
		res := st.moeOut[:n*H]
		m.mlp(st, &L.expGate[e], &L.expUp[e], &L.expDown[e], in, res, n)
		for r := i; r < j; r++ {
			tok := int(route[r].tok)
			kernels.AddScaled(out[tok*H:(tok+1)*H], res[(r-i)*H:(r-i+1)*H], route[r].weight)
		}
		i = j
	}
	if L.hasShared {
		res := st.moeOut[:T*H]
		m.mlp(st, &L.shGate, &L.shUp, &L.shDown, h, res, T)
		gate := st.router[:T] // the routing logits are no longer needed
		if s.SharedGate {
			m.ops.MatMul(&L.shGateInp, h, T, gate, 1)
		}
		for t := 0; t < T; t++ {
			w := float32(1)
			if s.SharedGate {
				w = float32(1 / (1 + math.Exp(-float64(gate[t]))))
			}
			kernels.AddScaled(out[t*H:(t+1)*H], res[t*H:(t+1)*H], w)
		}
	}
}

// selectExperts picks the top len(dst) experts of one token's router logits
// and their weights. Ties go to the lower expert index.
func selectExperts(logits []float32, dst []routeEntry, tok int32, g arch.Gating, renorm bool) {
	for k := range dst {
		best := -1
		for e, l := range logits {
			taken := false
			for _, d := range dst[:k] {
				if int(d.expert) == e {
					taken = true
					break
				}
			}
			if !taken && (best < 0 || l > logits[best]) {
				best = e
			}
		}
		dst[k] = routeEntry{tok: tok, expert: int32(best), weight: logits[best]}
	}
	switch g {
	case arch.TopKSoftmax:
		// Softmax over the chosen logits only.
		mx := dst[0].weight
		var sum float64
		for k := range dst {
			sum += math.Exp(float64(dst[k].weight - mx))
		}
		for k := range dst {
			dst[k].weight = float32(math.Exp(float64(dst[k].weight-mx)) / sum)
		}
	default:
		// Softmax over all experts, keep the chosen probabilities.
		mx := logits[0]
		for _, l := range logits {
			mx = max(mx, l)
		}
		var sum float64
		for _, l := range logits {
			sum += math.Exp(float64(l - mx))
		}
		var chosen float64
		for k := range dst {
			p := math.Exp(float64(dst[k].weight-mx)) / sum
			dst[k].weight = float32(p)
			chosen += p
		}
		if renorm {
			for k := range dst {
				dst[k].weight = float32(float64(dst[k].weight) / chosen)
			}
		}
	}
}
