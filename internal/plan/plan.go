package plan

import (
	"fmt"
	"slices"
	"strings"

	"github.com/memfit/memfit/internal/arch"
	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/tensor"
)

// Options are what the user asks for.
type Options struct {
	Budget   int64        // bytes; ledger.Unlimited for no budget
	Ctx      int          // context per sequence
	Parallel int          // sequences
	Batch    int          // most tokens per forward pass
	KVType   tensor.DType // F32 or F16
	Threads  int
	Device   *Device // nil: no speed prediction
	// ExpertReuse is the share of a token's routed experts that the
	// previous token also used, for predicting an MoE expert cache's hit
	// rate; 0 assumes no locality.
	ExpertReuse float64
}

// Residency of a tensor.
const (
	Resident = "resident"  // in memory for the whole run (mapped or read once)
	Streamed = "streamed"  // read from disk into a stream buffer for every forward pass
	Cached   = "cached"    // MoE experts: read on demand into the expert cache
	OnDemand = "on-demand" // untied token embeddings: each token's row read when needed
)

// embedRowBytes bounds the buffer an on-demand embedding reads rows into.
const embedRowBytes = 64 << 10

// TensorPlan is where one tensor lives.
type TensorPlan struct {
	Name      string `json:"name"`
	Bytes     int64  `json:"bytes"`
	Layer     int    `json:"layer"`
	Kind      Kind   `json:"kind"`
	Residency string `json:"residency"`
}

// Plan is how a model runs inside a budget.
type Plan struct {
	Model             string `json:"model"`
	Budget            int64  `json:"budget_bytes"`
	WeightBytes       int64  `json:"weight_bytes"`
	ResidentBytes     int64  `json:"resident_weight_bytes"`
	StreamedBytes     int64  `json:"streamed_weight_bytes"` // read per forward pass
	StreamBufferBytes int64  `json:"stream_buffer_bytes"`
	VectorBytes       int64  `json:"vector_bytes"` // norms and biases as float32
	KVBytes           int64  `json:"kv_bytes"`
	KVType            string `json:"kv_type"`
	Ctx               int    `json:"ctx"`
	Parallel          int    `json:"parallel"`
	// Batch is the most tokens per forward pass the plan sizes scratch
	// for: what was asked, or less when a smaller prompt chunk is what
	// lets the model fit.
	Batch          int   `json:"batch"`
	ScratchBytes   int64 `json:"scratch_bytes"`
	OverheadBytes  int64 `json:"overhead_bytes"`
	TotalBytes     int64 `json:"total_bytes"`
	MinimumBytes   int64 `json:"minimum_bytes"` // smallest budget this ctx/kv/parallel can run in
	Fits           bool  `json:"fits"`
	StreamedLayers []int `json:"streamed_layers"`
	// EmbedOnDemand: an untied token embedding is not kept in memory; each
	// token's row is read from disk when it is embedded.
	EmbedOnDemand bool `json:"embed_on_demand"`
	// MoE: the routed experts that do not all fit are read on demand into
	// an expert cache of ExpertCacheBytes holding ExpertSlots of the
	// ExpertTotal experts (ExpertBytes each on average), ExpertLayerSlots
	// in each layer. ExpectedHitRate and ExpectedExpertReadBytes (per
	// decoded token) assume routing that reuses ExpertReuse of the previous
	// token's experts and draws the rest evenly (0: no locality at all,
	// the cache's share of each layer's experts).
	ExpertBytes             int64        `json:"expert_bytes,omitempty"`
	ExpertCacheBytes        int64        `json:"expert_cache_bytes,omitempty"`
	ExpertSlots             int          `json:"expert_slots,omitempty"`
	ExpertLayerSlots        []int        `json:"expert_layer_slots,omitempty"`
	ExpertTotal             int          `json:"experts_total,omitempty"`
	ExpertReuse             float64      `json:"expert_reuse_assumed,omitempty"`
	ExpectedHitRate         float64      `json:"expected_hit_rate,omitempty"`
	ExpectedExpertReadBytes int64        `json:"expected_expert_read_bytes_per_token,omitempty"`
	PredictedPrefillTPS     float64      `json:"predicted_prefill_tok_s,omitempty"`
	PredictedDecodeTPS      float64      `json:"predicted_decode_tok_s,omitempty"`
	Bound                   string       `json:"bound,omitempty"` // what limits decode: compute, memory or disk
	Suggestion              string       `json:"suggestion,omitempty"`
	Tensors                 []TensorPlan `json:"tensors"`

	fixed0 int64 // KV, scratch, overhead and vectors: what every plan needs
}

// Streaming reports whether any tensor streams layer by layer.
func (p *Plan) Streaming() bool { return p.StreamedBytes > 0 }

// CachesExperts reports whether routed experts are read on demand.
func (p *Plan) CachesExperts() bool { return p.ExpertSlots > 0 }

// IsStreamed reports whether the named tensor streams.
func (p *Plan) IsStreamed(name string) bool {
	for i := range p.Tensors {
		if p.Tensors[i].Name == name {
			return p.Tensors[i].Residency == Streamed
		}
	}
	return false
}

// StreamAlign is the alignment of stream reads (O_DIRECT needs the logical
// block size; 4 KiB covers every common disk).
const StreamAlign = 4096

// RuntimeOverhead is the memory the process needs besides the ledger's
// reservations: the Go runtime and binary, the tokenizer, goroutine stacks,
// the heap's slack. Measured inside a memory cgroup with the page cache
// dropped: `memfit run` on a 20 MiB model peaks at 42 MiB (about 16 MiB
// of binary and runtime beyond the weights, KV and scratch), and a
// 128256-token vocabulary holds 14.6 MiB of live heap (about 114 bytes a
// token). The figures here are those with room for the collector's
// headroom (the heap may reach twice what is live).
func RuntimeOverhead(s *arch.Spec) int64 {
	return 24<<20 + int64(s.Vocab)*256
}

// minPlanBatch is the smallest prompt chunk Make shrinks the batch to when
// the asked-for one does not fit.
const minPlanBatch = 32

// KVBytes is the size of one sequence's cache of ctx positions (the
// formula internal/kv allocates with).
func KVBytes(s *arch.Spec, t tensor.DType, ctx int) int64 {
	size := int64(4)
	if t == tensor.F16 {
		size = 2
	}
	return 2 * int64(len(s.Layers)) * int64(ctx) * int64(s.KVDim()) * size
}

// ScratchBytes is the forward pass's buffers for batches of batch tokens
// and contexts of maxCtx positions on threads workers (the formula
// internal/model reserves with).
func ScratchBytes(s *arch.Spec, batch, maxCtx, threads int) int64 {
	ffn := max(s.FFN, s.SharedFFN, s.ExpertFFN)
	half, tables := 0, 0
	var seen [][]float64
	for i := range s.Layers {
		inv := s.Layers[i].Rope.InvFreqs()
		half = max(half, len(inv))
		if !slices.ContainsFunc(seen, func(t []float64) bool { return slices.Equal(t, inv) }) {
			seen = append(seen, inv)
			tables++
		}
	}
	// MoE layers gather each expert's tokens (moeIn) and keep every
	// token's output of every chosen expert until they are summed in a
	// fixed order (moeOut), plus the shared expert's output.
	moe := 2 * s.Hidden
	if s.Experts > 0 {
		moe = s.Hidden * (1 + s.ExpertsUsed)
		if s.SharedFFN > 0 {
			moe += s.Hidden
		}
	}
	floats := batch*(3*s.Hidden+3*s.QDim()+2*s.KVDim()+3*ffn+moe+s.Experts+2*tables*half) + s.Vocab
	return int64(floats)*4 + int64(batch)*int64(s.ExpertsUsed)*24 + int64(batch)*40 + int64(threads)*int64(maxCtx)*4 + 20*int64(s.Experts+1)
}

// EngineBytes is what the engine adds per sequence: a logits row and a
// sampler's buffers.
func EngineBytes(s *arch.Spec, parallel int) int64 {
	return int64(parallel) * int64(s.Vocab) * (4 + 16)
}

// unit is the streamable part of one layer.
type unit struct {
	layer int
	bytes int64
	names []int // indexes into Index.Tensors
}

// Make plans ix under opt. When the model does not fit with opt.Batch
// tokens per forward pass, it tries smaller prompt chunks (halving, down
// to 32 tokens or the parallel sequences) before giving up: prefill runs
// slower in smaller chunks, but it runs.
func Make(ix *Index, opt Options) (*Plan, error) {
	if opt.Ctx <= 0 || opt.Parallel <= 0 || opt.Batch <= 0 || opt.Threads <= 0 {
		return nil, fmt.Errorf("plan: ctx %d, parallel %d, batch %d, threads %d: want each at least 1", opt.Ctx, opt.Parallel, opt.Batch, opt.Threads)
	}
	if opt.KVType != tensor.F32 && opt.KVType != tensor.F16 {
		return nil, fmt.Errorf("plan: KV cache type %v: want f32 or f16", opt.KVType)
	}
	opt.Batch = min(opt.Batch, opt.Ctx*opt.Parallel)
	floor := max(min(minPlanBatch, opt.Batch), opt.Parallel)
	for {
		p, err := makeBatch(ix, opt)
		if err != nil || opt.Batch <= floor {
			return p, err
		}
		if p.Fits {
			// The smallest budget is the one of the smallest chunk.
			o := opt
			o.Batch = floor
			if fp, err := makeBatch(ix, o); err == nil {
				p.MinimumBytes = fp.MinimumBytes
			}
			return p, nil
		}
		opt.Batch = max(opt.Batch/2, floor)
	}
}

// makeBatch plans ix under opt with exactly opt.Batch tokens per pass.
func makeBatch(ix *Index, opt Options) (*Plan, error) {
	s := ix.Spec
	p := &Plan{
		Model: ix.Name(), Budget: opt.Budget, Ctx: opt.Ctx, Parallel: opt.Parallel, Batch: opt.Batch,
		KVType: strings.ToLower(opt.KVType.String()),
	}
	p.KVBytes = int64(opt.Parallel) * KVBytes(s, opt.KVType, opt.Ctx)
	p.ScratchBytes = ScratchBytes(s, opt.Batch, opt.Ctx, opt.Threads) + EngineBytes(s, opt.Parallel)
	p.OverheadBytes = RuntimeOverhead(s)
	for _, t := range ix.Tensors {
		switch t.Kind {
		case KindOther:
		case KindVector:
			p.VectorBytes += 4 * t.Elems
		default:
			p.WeightBytes += t.Bytes
		}
	}
	fixed := p.KVBytes + p.ScratchBytes + p.OverheadBytes + p.VectorBytes
	p.fixed0 = fixed
	res := make([]string, len(ix.Tensors))
	for i, t := range ix.Tensors {
		if t.Kind != KindOther && t.Kind != KindVector {
			res[i] = Resident
		}
	}
	// Everything resident?
	if fixed+p.WeightBytes <= opt.Budget {
		p.finish(ix, res, nil, 0)
		p.Fits = true
		p.MinimumBytes = p.minimum(ix)
		p.predict(ix, opt)
		return p, nil
	}
	// From here on the model does not fit whole: an untied embedding is read
	// a row per token instead of kept.
	if !s.Tied {
		for i, t := range ix.Tensors {
			if t.Kind == KindEmbed {
				res[i] = OnDemand
				p.EmbedOnDemand = true
			}
		}
		if p.EmbedOnDemand {
			fixed += embedRowBytes
			p.OverheadBytes += embedRowBytes
		}
	}
	if s.Experts > 0 {
		if ok := p.planExperts(ix, opt, res, fixed); ok {
			p.predict(ix, opt)
			return p, nil
		}
		for i := range res {
			if res[i] != "" && res[i] != OnDemand {
				res[i] = Resident
			}
		}
	}
	// Stream per layer: first the MLP/expert part, then (if still too big)
	// the attention too. Output, embeddings, routers and vectors stay.
	for _, withAttn := range []bool{false, true} {
		units := layerUnits(ix, withAttn)
		var resident int64
		for i, t := range ix.Tensors {
			if res[i] == Resident {
				resident += t.Bytes
			}
		}
		var streamable, biggest int64
		for _, u := range units {
			streamable += u.bytes
			biggest = max(biggest, u.bytes)
		}
		buffers := 2 * (biggest + 2*StreamAlign*int64(maxRanges))
		base := fixed + resident - streamable + buffers
		if base > opt.Budget {
			continue
		}
		// Keep as many layers resident as fit, streaming the rest.
		avail := opt.Budget - base
		streamed := map[int]bool{}
		for _, u := range units {
			if u.bytes <= avail {
				avail -= u.bytes
				continue
			}
			streamed[u.layer] = true
			for _, i := range u.names {
				res[i] = Streamed
			}
		}
		if len(streamed) == 0 {
			// Everything fit after all (cannot happen: checked above).
			break
		}
		p.finish(ix, res, streamed, buffers)
		p.Fits = true
		p.MinimumBytes = p.minimum(ix)
		p.predict(ix, opt)
		return p, nil
	}
	p.finish(ix, res, nil, 0)
	p.MinimumBytes = p.minimum(ix)
	p.Fits = false
	p.Suggestion = suggest(ix, opt, p)
	p.predict(ix, opt)
	return p, nil
}

// planExperts plans an MoE model whose experts do not all fit: every other
// weight resident (or, if that is too much, attention streamed per layer),
// the rest of the budget an expert cache split evenly over the layers. It
// reports whether that fits.
func (p *Plan) planExperts(ix *Index, opt Options, res []string, fixed int64) bool {
	s := ix.Spec
	lay := expertLayers(ix)
	if lay == nil {
		return false
	}
	for i, t := range ix.Tensors {
		if t.Kind == KindExperts {
			res[i] = Cached
		}
	}
	var resident int64
	for i, t := range ix.Tensors {
		if res[i] == Resident {
			resident += t.Bytes
		}
	}
	var buffers int64
	streamed := map[int]bool{}
	avail := opt.Budget - fixed - resident
	if avail < lay.minimum(s.ExpertsUsed) {
		// Stream attention per layer too.
		var attn int64
		attn, buffers = attnStreaming(ix)
		avail = opt.Budget - fixed - (resident - attn) - buffers
		if avail < lay.minimum(s.ExpertsUsed) {
			return false
		}
		for i, t := range ix.Tensors {
			if t.Kind == KindAttn {
				res[i] = Streamed
				streamed[t.Layer] = true
			}
		}
	}
	slots := lay.layout(avail)
	total := 0
	for l, n := range slots {
		total += n
		p.ExpertTotal += lay.experts[l]
	}
	if total >= p.ExpertTotal {
		// Every expert fits: keep them resident.
		for i, t := range ix.Tensors {
			if t.Kind == KindExperts {
				res[i] = Resident
			}
		}
		p.ExpertTotal = 0
		p.finish(ix, res, streamed, buffers)
		p.Fits = p.TotalBytes <= opt.Budget
		p.MinimumBytes = p.minimum(ix)
		return p.Fits
	}
	p.ExpertSlots = total
	p.ExpertLayerSlots = slots
	var expertBytes int64
	for l, n := range slots {
		p.ExpertCacheBytes += int64(n) * lay.slot[l]
		expertBytes += int64(lay.experts[l]) * lay.bytes[l]
	}
	p.ExpertBytes = expertBytes / int64(p.ExpertTotal)
	p.ExpertReuse = opt.ExpertReuse
	p.ExpectedHitRate, p.ExpectedExpertReadBytes = lay.expect(slots, s.ExpertsUsed, opt.ExpertReuse)
	p.finish(ix, res, streamed, buffers)
	p.TotalBytes += p.ExpertCacheBytes
	p.Fits = true
	p.MinimumBytes = p.minimum(ix)
	return true
}

// attnStreaming returns the attention weights' bytes and the two buffers
// streaming them layer by layer takes.
func attnStreaming(ix *Index) (attn, buffers int64) {
	var biggest int64
	for _, u := range layerUnits(ix, true) {
		var ub int64
		for _, i := range u.names {
			if ix.Tensors[i].Kind == KindAttn {
				ub += ix.Tensors[i].Bytes
			}
		}
		attn += ub
		biggest = max(biggest, ub)
	}
	return attn, 2 * (biggest + 2*StreamAlign*int64(maxRanges))
}

// ExpertSlotBytes is the most memory one expert can take in the expert
// cache when its gate, up and down slices together hold n bytes: each slice
// is read with O_DIRECT, rounded out to the alignment at both ends.
func ExpertSlotBytes(n int64) int64 { return n + 3*2*StreamAlign }

// expertShape is what the planner knows about each layer's routed experts.
type expertShape struct {
	experts []int   // routed experts per layer (0: none)
	bytes   []int64 // one expert's bytes (gate + up + down)
	slot    []int64 // one cache slot's bytes
}

// expertLayers returns the layers' expert sizes, nil when the model has
// no routed experts.
func expertLayers(ix *Index) *expertShape {
	s := ix.Spec
	if s.Experts == 0 {
		return nil
	}
	L := len(s.Layers)
	lay := &expertShape{experts: make([]int, L), bytes: make([]int64, L), slot: make([]int64, L)}
	found := false
	for _, t := range ix.Tensors {
		if t.Kind == KindExperts && t.Layer >= 0 && t.Layer < L {
			lay.bytes[t.Layer] += t.Bytes
			lay.experts[t.Layer] = s.Experts
			found = true
		}
	}
	if !found {
		return nil
	}
	for l := range lay.bytes {
		if lay.experts[l] > 0 {
			lay.bytes[l] /= int64(lay.experts[l])
			lay.slot[l] = ExpertSlotBytes(lay.bytes[l])
		}
	}
	return lay
}

// minimum is the smallest expert cache that decodes without waiting for a
// slot: one token's experts in every layer.
func (lay *expertShape) minimum(used int) int64 {
	var n int64
	for l, e := range lay.experts {
		n += int64(min(used, e)) * lay.slot[l]
	}
	return n
}

// layout splits bytes of cache over the layers: the same number of slots
// in each (a layer loads as many experts per token as any other), then one
// more slot per layer, in layer order, while bytes remain.
func (lay *expertShape) layout(bytes int64) []int {
	var per int64
	most := 0
	for l, e := range lay.experts {
		if e > 0 {
			per += lay.slot[l]
			most = max(most, e)
		}
	}
	n := int(min(bytes/max(per, 1), int64(most)))
	slots := make([]int, len(lay.experts))
	left := bytes
	for l, e := range lay.experts {
		slots[l] = min(n, e)
		left -= int64(slots[l]) * lay.slot[l]
	}
	for l, e := range lay.experts {
		if slots[l] < e && lay.slot[l] <= left {
			slots[l]++
			left -= lay.slot[l]
		}
	}
	return slots
}

// expect returns the expected share of expert loads served from the cache
// and the bytes read per decoded token, for routing in which a token picks
// a share reuse of the previous token's experts and draws the others
// evenly from the rest (reuse ≤ 0: no locality, i.e. used/experts). A
// cache of n ≥ used slots in a layer of E experts keeps the previous
// token's used experts and n-used others, so it serves
// reuse + (1-reuse)·(n-used)/(E-used) of the loads.
func (lay *expertShape) expect(slots []int, used int, reuse float64) (float64, int64) {
	var hit, read float64
	layers := 0
	for l, e := range lay.experts {
		if e == 0 {
			continue
		}
		layers++
		k := min(used, e)
		r := reuse
		if r <= 0 {
			r = float64(k) / float64(e)
		}
		h := 1.0
		if n := slots[l]; n < e {
			if n < k {
				h = float64(n) / float64(e) // no room to keep a token's experts
			} else {
				h = r + (1-r)*float64(n-k)/float64(e-k)
			}
		}
		hit += h
		// A read takes the slices plus about half a block of alignment
		// at each end.
		read += float64(k) * (1 - h) * float64(lay.bytes[l]+3*StreamAlign)
	}
	return hit / float64(max(layers, 1)), int64(read)
}

// maxRanges bounds the separate file ranges of one layer's streamed
// tensors (each needs alignment slack).
const maxRanges = 8

// layerUnits lists each layer's streamable tensors: MLP and experts, plus
// attention when withAttn.
func layerUnits(ix *Index, withAttn bool) []unit {
	byLayer := map[int]*unit{}
	var order []int
	for i, t := range ix.Tensors {
		ok := t.Kind == KindFFN || t.Kind == KindExperts || t.Kind == KindShared || (withAttn && t.Kind == KindAttn)
		if !ok || t.Layer < 0 {
			continue
		}
		u := byLayer[t.Layer]
		if u == nil {
			u = &unit{layer: t.Layer}
			byLayer[t.Layer] = u
			order = append(order, t.Layer)
		}
		u.bytes += t.Bytes
		u.names = append(u.names, i)
	}
	slices.Sort(order)
	out := make([]unit, len(order))
	for i, l := range order {
		out[i] = *byLayer[l]
	}
	return out
}

func (p *Plan) finish(ix *Index, res []string, streamed map[int]bool, buffers int64) {
	p.Tensors = p.Tensors[:0]
	p.ResidentBytes, p.StreamedBytes = 0, 0
	for i, t := range ix.Tensors {
		if res[i] == "" {
			continue
		}
		p.Tensors = append(p.Tensors, TensorPlan{Name: t.Name, Bytes: t.Bytes, Layer: t.Layer, Kind: t.Kind, Residency: res[i]})
		switch res[i] {
		case Streamed:
			p.StreamedBytes += t.Bytes
		case Resident:
			p.ResidentBytes += t.Bytes
		}
	}
	p.StreamedLayers = p.StreamedLayers[:0]
	for l := range streamed {
		p.StreamedLayers = append(p.StreamedLayers, l)
	}
	slices.Sort(p.StreamedLayers)
	p.StreamBufferBytes = buffers
	p.TotalBytes = p.ResidentBytes + p.StreamBufferBytes + p.VectorBytes + p.KVBytes + p.ScratchBytes + p.OverheadBytes
}

// minimum is the smallest budget that runs with these options: everything
// but output, embeddings and routers streamed, two buffers of the largest
// layer.
func (p *Plan) minimum(ix *Index) int64 {
	fixed := p.fixed0
	if !ix.Spec.Tied {
		fixed += embedRowBytes
	}
	var keep, biggest int64
	for _, u := range layerUnits(ix, true) {
		biggest = max(biggest, u.bytes)
	}
	for _, t := range ix.Tensors {
		switch {
		case t.Kind == KindOutput, t.Kind == KindRouter, t.Kind == KindEmbed && ix.Spec.Tied:
			keep += t.Bytes
		}
	}
	if lay := expertLayers(ix); lay != nil {
		// Everything but the routed experts (and an untied embedding)
		// resident, or attention streamed per layer if that takes less,
		// and an expert cache of one token's experts per layer.
		var moeKeep int64
		for _, t := range ix.Tensors {
			switch {
			case t.Kind == KindExperts, t.Kind == KindOther, t.Kind == KindVector, t.Kind == KindAttn:
			case t.Kind == KindEmbed && !ix.Spec.Tied:
			default:
				moeKeep += t.Bytes
			}
		}
		attn, buffers := attnStreaming(ix)
		return min(fixed+moeKeep+min(attn, buffers)+lay.minimum(ix.Spec.ExpertsUsed), fixed+p.WeightBytes)
	}
	return min(fixed+keep+2*(biggest+2*StreamAlign*maxRanges), fixed+p.WeightBytes)
}

// suggest says what would make a plan that does not fit run.
func suggest(ix *Index, opt Options, p *Plan) string {
	var tips []string
	need := p.MinimumBytes - opt.Budget
	tips = append(tips, fmt.Sprintf("a budget of at least %s (--mem-budget %dMiB)", ledger.FormatBytes(p.MinimumBytes), (p.MinimumBytes+(1<<20)-1)>>20))
	if p.KVBytes > 0 {
		perTok := p.KVBytes / int64(opt.Ctx)
		if ctx := opt.Ctx - int((need+perTok-1)/max(perTok, 1)); ctx >= 256 && ctx < opt.Ctx {
			tips = append(tips, fmt.Sprintf("a smaller context (--ctx %d)", ctx))
		}
		if opt.KVType == tensor.F32 {
			tips = append(tips, "an f16 KV cache (--kv-type f16)")
		}
	}
	if opt.Parallel > 1 {
		tips = append(tips, "fewer parallel sequences (--parallel 1)")
	}
	if p.Batch > minPlanBatch {
		tips = append(tips, fmt.Sprintf("a smaller prompt chunk (--batch %d)", minPlanBatch))
	}
	return fmt.Sprintf("the model needs at least %s with these settings but the budget is %s; use %s",
		ledger.FormatBytes(p.MinimumBytes), ledger.FormatBytes(opt.Budget), strings.Join(tips, ", or "))
}

// predict fills the roofline speed prediction from the device figures.
func (p *Plan) predict(ix *Index, opt Options) {
	d := opt.Device
	if d == nil || d.MemBandwidth <= 0 {
		return
	}
	byName := make(map[string]*Tensor, len(ix.Tensors))
	for i := range ix.Tensors {
		byName[ix.Tensors[i].Name] = &ix.Tensors[i]
	}
	// Decode reads every weight once per token (untied embeddings: a row):
	// resident bytes at the kernels' rate capped by memory bandwidth,
	// streamed bytes from disk, the two overlapped.
	var params, compute float64
	for _, t := range p.Tensors {
		if t.Kind == KindEmbed && !ix.Spec.Tied {
			continue
		}
		tt := byName[t.Name]
		share := 1.0 // of the tensor each token computes with
		if t.Kind == KindExperts && ix.Spec.Experts > 0 {
			share = float64(ix.Spec.ExpertsUsed) / float64(ix.Spec.Experts)
		}
		params += share * float64(tt.Elems)
		compute += share * float64(t.Bytes) / min(d.KernelRate(tt.Type), d.MemBandwidth)
	}
	disk := 0.0
	if p.StreamedBytes+p.ExpectedExpertReadBytes > 0 && d.DiskBandwidth > 0 {
		disk = float64(p.StreamedBytes+p.ExpectedExpertReadBytes) / d.DiskBandwidth
	}
	if step := max(compute, disk); step > 0 {
		p.PredictedDecodeTPS = 1 / step
	}
	switch {
	case disk > compute:
		p.Bound = "disk"
	case compute > 0:
		p.Bound = "compute"
	}
	// Prefill: 2 FLOPs per weight per token, plus the streamed bytes once
	// per batch.
	if d.FLOPS > 0 && params > 0 {
		b := float64(min(opt.Batch, 128))
		p.PredictedPrefillTPS = b / (2*params*b/d.FLOPS + disk)
	}
}
