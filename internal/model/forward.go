package model

import (
	"fmt"
	"math"

	"github.com/memfit/memfit/internal/arch"
	"github.com/memfit/memfit/internal/kernels"
	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/plan"
	"github.com/memfit/memfit/internal/tensor"
	"github.com/memfit/memfit/internal/weights"
)

// Scratch holds the forward pass's buffers for batches of up to Batch
// tokens. It is allocated once and reused: Run allocates nothing. A Scratch
// serves one Run at a time.
type Scratch struct {
	Batch int // largest batch

	x, h, q, k, v, att, o []float32
	gate, up, act, ffn    []float32
	moeIn, moeOut         []float32
	router                []float32
	shared                []float32 // MoE: the shared expert's output
	route, routeSorted    []routeEntry
	order, fill           []int32
	used                  []int32 // MoE: experts a layer's batch uses
	group                 []int32 // MoE: experts of one token computed together
	groupJobs             []kernels.MatJob
	predicted             [2][]int32 // MoE: experts guessed for a layer, by layer parity
	predictedFor          [2]int     // which layer each guess is for (-1: none)
	cos, sin              []float32  // per rope table: Batch × dims/2
	pos                   []int
	kv                    []*kernels.KVLayer
	rows                  []int
	seqBuf                []*Seq
	flagBuf               []bool
	attn                  kernels.Attention
	jobs                  [3]kernels.MatJob // projections of a shared input
	res                   *ledger.Reservation
}

// routeEntry is one token's choice of one expert.
type routeEntry struct {
	tok    int32
	expert int32
	weight float32
}

// NewScratch allocates buffers for batches of up to batch tokens attending
// to contexts of up to maxCtx positions, reserved on the model's ledger.
func (m *Model) NewScratch(batch, maxCtx int) (*Scratch, error) {
	s := m.Spec
	if batch <= 0 || maxCtx <= 0 {
		return nil, fmt.Errorf("scratch for batches of %d tokens and contexts of %d: want at least 1", batch, maxCtx)
	}
	ffn := max(s.FFN, s.SharedFFN, s.ExpertFFN)
	mlpRows := max(batch, s.ExpertsUsed) // a batch's tokens, or a token's experts
	half := 0
	for _, r := range m.ropes {
		half = max(half, len(r))
	}
	res, err := m.ledger.Reserve("scratch", plan.ScratchBytes(s, batch, maxCtx, m.ops.Pool.Threads()))
	if err != nil {
		return nil, err
	}
	m.ops.ReserveAttention(maxCtx)
	// Every page is written now: the memory the ledger reserved is in use
	// from the first step (and a memory cgroup counts it), not only once
	// the largest batch has passed.
	f := func(n int) []float32 {
		b := make([]float32, n)
		for i := 0; i < n; i += 1024 {
			b[i] = 0
		}
		return b
	}
	sc := &Scratch{
		Batch: batch, res: res,
		x: f(batch * s.Hidden), h: f(batch * s.Hidden), o: f(batch * s.Hidden),
		q: f(batch * s.QDim()), att: f(batch * s.QDim()),
		k: f(batch * s.KVDim()), v: f(batch * s.KVDim()),
		gate: f(mlpRows * ffn), up: f(mlpRows * ffn), act: f(mlpRows * ffn), ffn: f(batch * s.Hidden),
		cos: f(len(m.ropes) * batch * half), sin: f(len(m.ropes) * batch * half),
		pos: make([]int, batch), kv: make([]*kernels.KVLayer, batch), rows: make([]int, batch),
		seqBuf: make([]*Seq, batch), flagBuf: make([]bool, batch),
	}
	if s.Experts > 0 {
		sc.router = f(batch * s.Experts)
		sc.moeIn = f(batch * s.Hidden)
		sc.moeOut = f(batch * s.ExpertsUsed * s.Hidden)
		if s.SharedFFN > 0 {
			sc.shared = f(batch * s.Hidden)
		}
		sc.route = make([]routeEntry, batch*s.ExpertsUsed)
		sc.routeSorted = make([]routeEntry, batch*s.ExpertsUsed)
		sc.order = make([]int32, s.Experts+1)
		sc.fill = make([]int32, s.Experts)
		sc.used = make([]int32, 0, s.Experts)
		sc.group = make([]int32, 0, s.ExpertsUsed)
		sc.groupJobs = make([]kernels.MatJob, 2*s.ExpertsUsed)
		for i := range sc.predicted {
			sc.predicted[i] = make([]int32, 0, s.Experts)
			sc.predictedFor[i] = -1
		}
	}
	return sc, nil
}

// Release frees the scratch's reservation.
func (sc *Scratch) Release() { sc.res.Release() }

// Run runs one batch: every token goes through the model at its sequence's
// next position and is appended to that sequence's cache. The logits of the
// tokens marked in b.Logits (or of the last token when b.Logits is nil) are
// written to out, one row of Vocab values each, in token order.
func (m *Model) Run(sc *Scratch, b Batch, out []float32) error {
	s := m.Spec
	T := len(b.Tokens)
	if T == 0 {
		return nil
	}
	if T > sc.Batch || len(b.Seqs) != T || (b.Logits != nil && len(b.Logits) != T) {
		return fmt.Errorf("batch of %d tokens (%d sequences, %d logit flags) for scratch of %d", T, len(b.Seqs), len(b.Logits), sc.Batch)
	}
	nOut := 1
	if b.Logits != nil {
		nOut = 0
		for _, l := range b.Logits {
			if l {
				nOut++
			}
		}
	}
	if len(out) < nOut*s.Vocab {
		return fmt.Errorf("logits buffer holds %d values, need %d", len(out), nOut*s.Vocab)
	}
	for i, t := range b.Tokens {
		if t < 0 || int(t) >= s.Vocab {
			return fmt.Errorf("token %d at index %d is outside the vocabulary of %d", t, i, s.Vocab)
		}
		seq := b.Seqs[i]
		if i > 0 && seq == b.Seqs[i-1] {
			sc.pos[i] = sc.pos[i-1] + 1
		} else {
			for j := 0; j < i; j++ {
				if b.Seqs[j] == seq {
					return fmt.Errorf("batch: the tokens of a sequence must be consecutive (index %d)", i)
				}
			}
			sc.pos[i] = seq.Pos
		}
		if sc.pos[i] >= seq.Cache.Ctx {
			return fmt.Errorf("context full: the sequence holds %d tokens, its context is %d", sc.pos[i], seq.Cache.Ctx)
		}
	}
	rows := sc.rows[:0]
	for i := range b.Tokens {
		if (b.Logits == nil && i == T-1) || (b.Logits != nil && b.Logits[i]) {
			rows = append(rows, i)
		}
	}
	if m.streamErr != nil {
		return m.streamErr
	}
	if err := m.forward(sc, b, rows, out); err != nil {
		m.streamErr = err
		return err
	}
	for i, seq := range b.Seqs {
		if i == T-1 || b.Seqs[i+1] != seq {
			seq.Pos = sc.pos[i] + 1
		}
	}
	return nil
}

// forward runs a validated batch; rows lists the tokens whose logits go to
// out.
func (m *Model) forward(sc *Scratch, b Batch, rows []int, out []float32) error {
	s, ops := m.Spec, m.ops
	tokens := b.Tokens
	T, H, qd, kvd := len(tokens), s.Hidden, s.QDim(), s.KVDim()
	x, h := sc.x[:T*H], sc.h[:T*H]
	for t, tok := range tokens {
		var row []float32
		if m.embedRows != nil {
			r, err := m.embedRows.Row(int(tok))
			if err != nil {
				return err
			}
			row = kernels.RowF32(&r, 0, x[t*H:(t+1)*H])
		} else {
			row = kernels.RowF32(&m.embed, int(tok), x[t*H:(t+1)*H])
		}
		copy(x[t*H:(t+1)*H], row)
		if s.EmbedScale != 1 {
			kernels.Scale(x[t*H:(t+1)*H], s.EmbedScale)
		}
	}
	maxPos := 0
	for t := 0; t < T; t++ {
		maxPos = max(maxPos, sc.pos[t]+1)
	}
	for r, inv := range m.ropes {
		half := len(inv)
		for t := 0; t < T; t++ {
			off := (r*sc.Batch + t) * half
			kernels.RopeAngles(sc.cos[off:off+half], sc.sin[off:off+half], inv, sc.pos[t])
		}
	}
	for li := range m.layers {
		L, spec := &m.layers[li], &s.Layers[li]
		if err := m.stream.Acquire(li, weights.PartLayer); err != nil {
			return err
		}
		if err := m.stream.Acquire(li, weights.PartAttn); err != nil {
			return err
		}
		for t := 0; t < T; t++ {
			kernels.RMSNorm(h[t*H:(t+1)*H], x[t*H:(t+1)*H], L.attnNorm, s.Eps)
		}
		q, k, v := sc.q[:T*qd], sc.k[:T*kvd], sc.v[:T*kvd]
		sc.jobs = [3]kernels.MatJob{{W: &L.q, Y: q, LDY: qd}, {W: &L.k, Y: k, LDY: kvd}, {W: &L.v, Y: v, LDY: kvd}}
		ops.MatMuls(h, T, sc.jobs[:])
		sc.jobs = [3]kernels.MatJob{}
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
			off := (L.rope*sc.Batch + t) * half
			cos, sin := sc.cos[off:off+half], sc.sin[off:off+half]
			if spec.Rope.Style == arch.Interleaved {
				kernels.RopeInterleaved(qt, s.HeadDim, cos, sin)
				kernels.RopeInterleaved(kt, s.HeadDim, cos, sin)
			} else {
				kernels.RopeNeoX(qt, s.HeadDim, cos, sin)
				kernels.RopeNeoX(kt, s.HeadDim, cos, sin)
			}
			cache := b.Seqs[t].Cache
			cache.Store(li, sc.pos[t], kt, vt)
			sc.kv[t] = &cache.Layers[li]
		}
		sc.attn = kernels.Attention{
			Q: q, KV: sc.kv[:T], Out: sc.att[:T*qd], Pos: sc.pos[:T],
			Heads: s.Heads, KVHeads: s.KVHeads, HeadDim: s.HeadDim, Window: spec.Window,
			Scale: s.AttnScale, Softcap: s.AttnSoftcap, MaxPos: maxPos, KVStride: kvd,
		}
		ops.Attention(&sc.attn)
		o := sc.o[:T*H]
		ops.MatMul(&L.o, sc.att[:T*qd], T, o, H)
		m.stream.Release(li, weights.PartAttn)
		m.residual(x, o, L.postAttnNorm, T)
		if m.experts != nil {
			m.prefetchExperts(sc, li+1, x, T)
		}
		for t := 0; t < T; t++ {
			kernels.RMSNorm(h[t*H:(t+1)*H], x[t*H:(t+1)*H], L.ffnNorm, s.Eps)
		}
		f := sc.ffn[:T*H]
		if s.Experts == 0 {
			if err := m.denseMLP(sc, li, L, h, f, T); err != nil {
				return err
			}
		} else if err := m.moe(sc, li, L, h, f, T); err != nil {
			return err
		}
		m.residual(x, f, L.postFFNNorm, T)
		m.stream.Release(li, weights.PartLayer)
	}
	n := len(rows)
	if n == 0 {
		return nil
	}
	for i, t := range rows {
		kernels.RMSNorm(h[i*H:(i+1)*H], x[t*H:(t+1)*H], m.outputNorm, s.Eps)
	}
	ops.MatMul(&m.output, h[:n*H], n, out, s.Vocab)
	logits := out[:n*s.Vocab]
	if s.LogitScale != 1 {
		kernels.Scale(logits, 1/s.LogitScale)
	}
	if s.FinalSoftcap > 0 {
		kernels.Softcap(logits, s.FinalSoftcap)
	}
	return nil
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
func (m *Model) mlp(st *Scratch, gate, up, down *tensor.Tensor, h, out []float32, T int) {
	a := m.mlpAct(st, gate, up, h, T)
	m.ops.MatMul(down, a, T, out, m.Spec.Hidden)
}

// mlpAct computes act(gate·h) ⊙ up·h for T tokens into st.act.
func (m *Model) mlpAct(st *Scratch, gate, up *tensor.Tensor, h []float32, T int) []float32 {
	ffn := gate.NumRows()
	g, u, a := st.gate[:T*ffn], st.up[:T*ffn], st.act[:T*ffn]
	st.jobs = [3]kernels.MatJob{{W: gate, Y: g, LDY: ffn}, {W: up, Y: u, LDY: ffn}}
	m.ops.MatMuls(h, T, st.jobs[:2])
	st.jobs = [3]kernels.MatJob{}
	if m.Spec.Act == arch.GELUTanh {
		kernels.GELUTanhMul(a, g, u)
	} else {
		kernels.SiLUMul(a, g, u)
	}
	return a
}

// denseMLP is layer li's MLP, acquiring its streamed parts (gate and up,
// then down) as it goes, so the streamer reads the down projection while
// gate and up compute.
func (m *Model) denseMLP(st *Scratch, li int, L *layer, h, out []float32, T int) error {
	if err := m.stream.Acquire(li, weights.PartUp); err != nil {
		return err
	}
	a := m.mlpAct(st, &L.gate, &L.up, h, T)
	m.stream.Release(li, weights.PartUp)
	if err := m.stream.Acquire(li, weights.PartDown); err != nil {
		return err
	}
	m.ops.MatMul(&L.down, a, T, out, m.Spec.Hidden)
	m.stream.Release(li, weights.PartDown)
	return nil
}

// moe routes each token to its top experts and sums their outputs weighted
// by the gate, running each expert once on all the tokens routed to it.
// With an expert cache the experts come in the order the cache has them
// (resident first, then as their reads finish); each one's output goes to
// its own rows of moeOut and the sum is taken in expert order at the end,
// so the result does not depend on what was cached.
func (m *Model) moe(st *Scratch, li int, L *layer, h, out []float32, T int) error {
	s, H := m.Spec, m.Spec.Hidden
	E, K := s.Experts, s.ExpertsUsed
	logits := st.router[:T*E]
	m.ops.MatMul(&L.router, h, T, logits, E)
	route := st.route[:T*K]
	for t := 0; t < T; t++ {
		selectExperts(logits[t*E:(t+1)*E], route[t*K:(t+1)*K], int32(t), s.Gating, s.NormTopK)
	}
	// Group by expert with a counting sort, keeping token order: expert e's
	// entries end up in sorted[start[e]:start[e+1]].
	start := st.order[:E+1]
	clear(start)
	for _, r := range route {
		start[r.expert+1]++
	}
	for e := 1; e <= E; e++ {
		start[e] += start[e-1]
	}
	fill := st.fill[:E]
	copy(fill, start[:E])
	sorted := st.routeSorted[:T*K]
	for _, r := range route {
		sorted[fill[r.expert]] = r
		fill[r.expert]++
	}
	used := st.used[:0]
	for e := 0; e < E; e++ {
		if start[e+1] > start[e] {
			used = append(used, int32(e))
		}
	}
	st.used = used
	if m.OnRoute != nil {
		m.OnRoute(li, used)
	}
	c := m.experts
	if c != nil {
		if st.predictedFor[li%2] == li {
			c.Score(st.predicted[li%2], used)
			st.predictedFor[li%2] = -1
		}
		c.Begin(li, used)
		defer c.End()
		// The next layer's guess is read after this layer's misses,
		// which the forward pass waits for first.
		if next := li + 1; st.predictedFor[next%2] == next {
			c.Prefetch(next, st.predicted[next%2])
		}
	}
	if L.hasShared {
		// Resident: computed while the cache reads the missing experts.
		res := st.shared[:T*H]
		m.mlp(st, &L.shGate, &L.shUp, &L.shDown, h, res, T)
		gate := st.router[:T] // the routing logits are no longer needed
		if s.SharedGate {
			m.ops.MatMul(&L.shGateInp, h, T, gate, 1)
		}
		for t := 0; t < T; t++ {
			if s.SharedGate {
				gate[t] = float32(1 / (1 + math.Exp(-float64(gate[t]))))
			} else {
				gate[t] = 1
			}
		}
	}
	res := st.moeOut[:T*K*H]
	for i := 0; i < len(used); {
		e := used[i]
		if c != nil {
			var err error
			if e, err = c.Next(); err != nil {
				return err
			}
		}
		group := append(st.group[:0], e)
		if T == 1 {
			// One token: its experts share their input and run
			// together, as many as are in memory already.
			for len(group) < cap(group) && i+len(group) < len(used) {
				next := used[i+len(group)]
				if c != nil {
					if next = c.More(); next < 0 {
						break
					}
				}
				group = append(group, next)
			}
		}
		i += len(group)
		if len(group) > 1 {
			m.expertGroup(st, L, group, start, h, res)
		} else {
			lo, hi := int(start[e]), int(start[e+1])
			in := st.moeIn[:(hi-lo)*H]
			for r := lo; r < hi; r++ {
				tok := int(sorted[r].tok)
				copy(in[(r-lo)*H:(r-lo+1)*H], h[tok*H:(tok+1)*H])
			}
			m.mlp(st, &L.expGate[e], &L.expUp[e], &L.expDown[e], in, res[lo*H:hi*H], hi-lo)
		}
		if c != nil {
			for _, e := range group {
				c.Done(e)
			}
		}
	}
	clear(out[:T*H])
	for r, re := range sorted {
		tok := int(re.tok)
		kernels.AddScaled(out[tok*H:(tok+1)*H], res[r*H:(r+1)*H], re.weight)
	}
	if L.hasShared {
		for t := 0; t < T; t++ {
			kernels.AddScaled(out[t*H:(t+1)*H], st.shared[t*H:(t+1)*H], st.router[t])
		}
	}
	return nil
}

// expertGroup computes the experts of group for the batch's one token (h,
// already normed) into their rows of res (expert e's at start[e]): the gate
// and up products of all of them in one parallel run, then the down
// products in another, which for a token's handful of small matrices costs
// less than two runs per expert. The values are those of mlp, expert by
// expert.
func (m *Model) expertGroup(st *Scratch, L *layer, group, start []int32, h, res []float32) {
	H, ffn := m.Spec.Hidden, L.expGate[group[0]].NumRows()
	n := len(group)
	g, u, a := st.gate[:n*ffn], st.up[:n*ffn], st.act[:n*ffn]
	jobs := st.groupJobs[:2*n]
	for k, e := range group {
		jobs[2*k] = kernels.MatJob{W: &L.expGate[e], Y: g[k*ffn : (k+1)*ffn], LDY: ffn}
		jobs[2*k+1] = kernels.MatJob{W: &L.expUp[e], Y: u[k*ffn : (k+1)*ffn], LDY: ffn}
	}
	m.ops.MatMuls(h[:H], 1, jobs)
	if m.Spec.Act == arch.GELUTanh {
		kernels.GELUTanhMul(a, g, u)
	} else {
		kernels.SiLUMul(a, g, u)
	}
	jobs = jobs[:n]
	for k, e := range group {
		r := int(start[e])
		jobs[k] = kernels.MatJob{W: &L.expDown[e], X: a[k*ffn : (k+1)*ffn], Y: res[r*H : (r+1)*H], LDY: H}
	}
	m.ops.GroupedMatMuls(1, jobs)
	clear(st.groupJobs)
}

// prefetchExperts guesses which experts layer next will use (its router
// applied to the hidden state after this layer's attention, normed by
// next's FFN norm: this layer's experts are all that is still to add);
// moe asks the expert cache to read them once this layer's misses are
// queued, so they read while this layer's experts compute.
// Only small batches (decode) guess: a long prompt uses most experts
// anyway.
func (m *Model) prefetchExperts(sc *Scratch, next int, x []float32, T int) {
	s := m.Spec
	if next >= len(m.layers) || T > 4 || len(m.layers[next].expGate) == 0 {
		return
	}
	Ln := &m.layers[next]
	H, E, K := s.Hidden, s.Experts, s.ExpertsUsed
	h := sc.h[:T*H]
	for t := 0; t < T; t++ {
		kernels.RMSNorm(h[t*H:(t+1)*H], x[t*H:(t+1)*H], Ln.ffnNorm, s.Eps)
	}
	logits := sc.router[:T*E]
	m.ops.MatMul(&Ln.router, h, T, logits, E)
	route := sc.route[:T*K]
	for t := 0; t < T; t++ {
		selectExperts(logits[t*E:(t+1)*E], route[t*K:(t+1)*K], int32(t), s.Gating, s.NormTopK)
	}
	seen := sc.order[:E]
	clear(seen)
	pred := sc.predicted[next%2][:0]
	for _, r := range route {
		if seen[r.expert] == 0 {
			seen[r.expert] = 1
			pred = append(pred, r.expert)
		}
	}
	sc.predicted[next%2], sc.predictedFor[next%2] = pred, next
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
