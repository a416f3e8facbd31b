package plan

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

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
	KVType   tensor.DType // F32, F16, Q8_0 or Q4_0
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
	// ResidentAlignBytes bounds what reading the resident weights out of
	// mapped files into memory adds to them (weights.LoadResident: each
	// tensor's bytes rounded out to 4 KiB for O_DIRECT); 0 when the model
	// is kept whole.
	ResidentAlignBytes int64  `json:"resident_align_bytes,omitempty"`
	VectorBytes        int64  `json:"vector_bytes"` // norms and biases as float32
	KVBytes            int64  `json:"kv_bytes"`
	KVType             string `json:"kv_type"`
	Ctx                int    `json:"ctx"`
	Parallel           int    `json:"parallel"`
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
	// the cache's share of each layer's experts). ExpertReuseFrom is
	// "runs" when ExpertReuse is the one this model's earlier runs showed
	// (Device.ExpertReuse; Options.ExpertReuse, when given, comes first).
	ExpertBytes             int64   `json:"expert_bytes,omitempty"`
	ExpertCacheBytes        int64   `json:"expert_cache_bytes,omitempty"`
	ExpertSlots             int     `json:"expert_slots,omitempty"`
	ExpertLayerSlots        []int   `json:"expert_layer_slots,omitempty"`
	ExpertTotal             int     `json:"experts_total,omitempty"`
	ExpertReuse             float64 `json:"expert_reuse_assumed,omitempty"`
	ExpertReuseFrom         string  `json:"expert_reuse_from,omitempty"`
	ExpectedHitRate         float64 `json:"expected_hit_rate,omitempty"`
	ExpectedExpertReadBytes int64   `json:"expected_expert_read_bytes_per_token,omitempty"`
	PredictedPrefillTPS     float64 `json:"predicted_prefill_tok_s,omitempty"`
	PredictedDecodeTPS      float64 `json:"predicted_decode_tok_s,omitempty"`
	// RooflineComputeTPS is the decode speed the probe's measurements
	// alone predict, before the device's ComputeFactor calibrates them (0
	// without a device); PredictedDecodeTPS uses the calibrated figure.
	// ComputeBasis says which measurements: "passes" (the model's layers
	// and output projection timed through the kernels, Device.PassTimes)
	// or "rates" (each matrix at its kind's kernel rate).
	RooflineComputeTPS float64 `json:"roofline_compute_decode_tok_s,omitempty"`
	ComputeBasis       string  `json:"compute_basis,omitempty"`
	// ComputeFactor is the calibration applied (Device.ComputeFactor; 0:
	// none, the rates as probed) and ComputeFactorFrom whose runs it
	// comes from (Device.ComputeFactorFrom).
	ComputeFactor     float64 `json:"compute_factor,omitempty"`
	ComputeFactorFrom string  `json:"compute_factor_from,omitempty"`
	// DiskBoundDecodeTPS is the decode speed the disk allows: the bytes
	// read per token over its measured bandwidth (see diskTime).
	DiskBoundDecodeTPS float64      `json:"disk_bound_decode_tok_s,omitempty"`
	Bound              string       `json:"bound,omitempty"` // what limits decode: compute, memory or disk
	Suggestion         string       `json:"suggestion,omitempty"`
	Tensors            []TensorPlan `json:"tensors"`

	fixed0    int64 // KV, scratch, overhead and vectors: what every plan needs
	metaBytes int64 // the index's MetaBytes
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
// other reservations, counted as a memory cgroup counts it: the
// executable's pages (read into the page cache as it runs; counted whole),
// the model's headers and side files read through the page cache
// (ix.MetaBytes), and the Go heap that is not weights, cache or scratch:
// a base of 4 MiB plus 300 bytes per vocabulary entry (the tokenizer's
// tables and the parsed GGUF vocabulary, with the garbage of parsing it).
// Calibrated inside memory cgroups with the page cache dropped
// (docs/benchmarks.md, "Memory budget"): gocoder (vocabulary 2048) uses
// 16.6 MiB besides weights, KV cache and scratch, a llama-3.2-1b-shape
// model (vocabulary 128,256) 56–58 MiB. The Go runtime is held to its
// share of the budget (GoMemoryLimit), so its heap stays within this.
func RuntimeOverhead(ix *Index) int64 {
	return exeBytes() + ix.MetaBytes + runtimeBase + int64(ix.Spec.Vocab)*heapPerToken
}

const (
	runtimeBase  = 4 << 20
	heapPerToken = 300
)

// exeBytes is the size of the running executable (a test binary in
// tests), or 24 MiB when it cannot be read.
var exeBytes = sync.OnceValue(func() int64 {
	if exe, err := os.Executable(); err == nil {
		if st, err := os.Stat(exe); err == nil {
			return st.Size()
		}
	}
	return 24 << 20
})

// ReadExecutable asks the kernel to read the whole running executable
// into the page cache now (POSIX_FADV_WILLNEED), so the pages
// RuntimeOverhead counts for it are there from the start rather than
// however many the code paths and the disk's readahead happen to pull in.
func ReadExecutable() {
	exe, err := os.Executable()
	if err != nil {
		return
	}
	f, err := os.Open(exe)
	if err != nil {
		return
	}
	defer f.Close()
	_ = unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_WILLNEED)
}

// GoMemoryLimit is the share of the budget the Go runtime may use (for
// debug.SetMemoryLimit): the budget less what lives outside the Go heap
// (resident weights and their alignment, stream buffers, the expert
// cache, the embedding row buffer, the executable and the model headers in
// the page cache). It holds the KV caches, scratch, vectors and the heap
// RuntimeOverhead counts, plus whatever the plan leaves unused.
func (p *Plan) GoMemoryLimit() int64 {
	out := p.ResidentBytes + p.ResidentAlignBytes + p.StreamBufferBytes + p.ExpertCacheBytes + exeBytes() + p.metaBytes
	if p.EmbedOnDemand {
		out += embedRowBytes
	}
	return p.Budget - out
}

// minPlanBatch is the smallest prompt chunk Make shrinks the batch to when
// the asked-for one does not fit.
const minPlanBatch = 32

// KVBytes is the size of one sequence's cache of ctx positions of type t
// (the formula internal/kv allocates with: keys and values of every layer,
// each position's row of KVDim values stored as t; 0 for a type that is
// not a cache type).
func KVBytes(s *arch.Spec, t tensor.DType, ctx int) int64 {
	if checkKVType(s, t) != nil {
		return 0
	}
	rb, err := t.RowBytes(int64(s.KVDim()))
	if err != nil {
		return 0
	}
	return 2 * int64(len(s.Layers)) * int64(ctx) * rb
}

// kvTypes are the KV cache types, most compact last.
var kvTypes = []tensor.DType{tensor.F32, tensor.F16, tensor.Q8_0, tensor.Q4_0}

// checkKVType reports whether a cache of type t can serve s: the block
// types need heads of whole 32-value blocks.
func checkKVType(s *arch.Spec, t tensor.DType) error {
	switch t {
	case tensor.F32, tensor.F16:
		return nil
	case tensor.Q8_0, tensor.Q4_0:
		if s.HeadDim <= 0 || s.HeadDim%32 != 0 {
			return fmt.Errorf("plan: KV cache type %s needs a head dimension that is a multiple of 32; this model's is %d", strings.ToLower(t.String()), s.HeadDim)
		}
		return nil
	}
	return fmt.Errorf("plan: KV cache type %v: want f16, q8_0, q4_0 or f32", t)
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
	// The MLP's gate, up and activation rows: for a batch's tokens, and
	// in MoE layers for a token's experts computed together.
	mlp := 3 * ffn * max(batch, s.ExpertsUsed)
	floats := batch*(3*s.Hidden+3*s.QDim()+2*s.KVDim()+moe+s.Experts+2*tables*half) + mlp + s.Vocab
	// Route entries (24 bytes per token and expert), per-token state, the
	// attention's per-thread scores, the per-expert sort and the matrix
	// jobs of an expert group (two of 64 bytes per expert).
	return int64(floats)*4 + int64(batch)*int64(s.ExpertsUsed)*24 + int64(batch)*40 + int64(threads)*int64(maxCtx)*4 + 20*int64(s.Experts+1) + 128*int64(s.ExpertsUsed)
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

// biggestPart is the largest stream unit among units: the largest part
// (attention; MLP gate and up; MLP down) of a dense layer, a whole layer
// of an MoE model. The two stream buffers hold one each.
func biggestPart(ix *Index, units []unit) int64 {
	var biggest int64
	for _, u := range units {
		var parts [PartDown + 1]int64
		for _, i := range u.names {
			parts[ix.Tensors[i].Part] += ix.Tensors[i].Bytes
		}
		biggest = max(biggest, slices.Max(parts[:]))
	}
	return biggest
}

// Make plans ix under opt. When the model does not fit with opt.Batch
// tokens per forward pass, it tries smaller prompt chunks (halving, down
// to 32 tokens or the parallel sequences) before giving up: prefill runs
// slower in smaller chunks, but it runs.
func Make(ix *Index, opt Options) (*Plan, error) {
	if opt.Ctx <= 0 || opt.Parallel <= 0 || opt.Batch <= 0 || opt.Threads <= 0 {
		return nil, fmt.Errorf("plan: ctx %d, parallel %d, batch %d, threads %d: want each at least 1", opt.Ctx, opt.Parallel, opt.Batch, opt.Threads)
	}
	if err := checkKVType(ix.Spec, opt.KVType); err != nil {
		return nil, err
	}
	p, err := fit(ix, opt)
	if err != nil {
		return nil, err
	}
	if !p.Fits {
		p.Suggestion = suggest(ix, opt, p)
	}
	return p, nil
}

// fit plans ix under opt, shrinking the prompt chunk when that is what
// fits (Make without the suggestion).
func fit(ix *Index, opt Options) (*Plan, error) {
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
	p.OverheadBytes = RuntimeOverhead(ix)
	p.metaBytes = ix.MetaBytes
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
	// The files are mapped and the resident weights read out of them into
	// memory in 4 KiB-aligned runs.
	p.ResidentAlignBytes = residentAlignBytes(ix)
	fixed += p.ResidentAlignBytes
	// Reading the embedding a row at a time may be all it takes.
	if p.EmbedOnDemand {
		var resident int64
		for i, t := range ix.Tensors {
			if res[i] == Resident {
				resident += t.Bytes
			}
		}
		if fixed+resident <= opt.Budget {
			p.finish(ix, res, nil, 0)
			p.Fits = true
			p.MinimumBytes = p.minimum(ix)
			p.predict(ix, opt)
			return p, nil
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
	// Of the two ways (MLPs only; MLPs and attention), the one that
	// streams fewer bytes: streaming attention too needs larger buffers but
	// can keep more of the MLPs when the budget is small.
	var (
		best         []string
		bestStreamed map[int]bool
		bestBuffers  int64
		bestBytes    int64 = -1
	)
	for _, withAttn := range []bool{false, true} {
		units := layerUnits(ix, withAttn)
		var resident int64
		for i, t := range ix.Tensors {
			if res[i] == Resident {
				resident += t.Bytes
			}
		}
		var streamable int64
		for _, u := range units {
			streamable += u.bytes
		}
		buffers := 2 * (biggestPart(ix, units) + 2*StreamAlign*int64(maxRanges))
		base := fixed + resident - streamable + buffers
		if base > opt.Budget {
			continue
		}
		// Keep as many layers resident as fit, streaming the rest.
		r := slices.Clone(res)
		streamed := chooseStreamed(ix, units, opt.Budget-base, r)
		var bytes int64
		for i, t := range ix.Tensors {
			if r[i] == Streamed {
				bytes += t.Bytes
			}
		}
		if len(streamed) > 0 && (bestBytes < 0 || bytes < bestBytes) {
			best, bestStreamed, bestBuffers, bestBytes = r, streamed, buffers, bytes
		}
	}
	if best != nil {
		p.finish(ix, best, bestStreamed, bestBuffers)
		p.Fits = true
		p.MinimumBytes = p.minimum(ix)
		p.predict(ix, opt)
		return p, nil
	}
	p.finish(ix, res, nil, 0)
	p.MinimumBytes = p.minimum(ix)
	p.Fits = false
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
	if d := opt.Device; p.ExpertReuse <= 0 && d != nil && d.ExpertReuse > 0 {
		p.ExpertReuse, p.ExpertReuseFrom = d.ExpertReuse, "runs"
	}
	p.ExpectedHitRate, p.ExpectedExpertReadBytes = lay.expect(slots, s.ExpertsUsed, p.ExpertReuse)
	p.finish(ix, res, streamed, buffers)
	p.TotalBytes += p.ExpertCacheBytes
	p.Fits = true
	p.MinimumBytes = p.minimum(ix)
	return true
}

// chooseStreamed picks which of units stream when avail bytes are left
// for them: the fewest whole layers, spread evenly over the depth (so the
// reader is never idle for a long run of resident layers, and the forward
// pass never waits behind a run of streamed ones), then as many of their
// tensors kept resident as the rest of avail holds (largest first). It
// marks the streamed tensors in res and returns the streamed layers.
func chooseStreamed(ix *Index, units []unit, avail int64, res []string) map[int]bool {
	var total int64
	for _, u := range units {
		total += u.bytes
	}
	n := len(units)
	pick := func(k int) []int { // k of n units, evenly spaced
		out := make([]int, k)
		for j := range out {
			out[j] = int((int64(2*j+1) * int64(n)) / int64(2*k))
		}
		return out
	}
	var chosen []int
	left := int64(0)
	for k := 1; k <= n; k++ {
		chosen = pick(k)
		var out int64
		for _, i := range chosen {
			out += units[i].bytes
		}
		if left = avail - (total - out); left >= 0 {
			break
		}
	}
	streamed := map[int]bool{}
	var cands []int // tensor indexes of the chosen units
	for _, i := range chosen {
		cands = append(cands, units[i].names...)
	}
	slices.SortStableFunc(cands, func(a, b int) int {
		return int(ix.Tensors[b].Bytes - ix.Tensors[a].Bytes)
	})
	for _, i := range cands {
		if t := ix.Tensors[i]; t.Bytes <= left {
			left -= t.Bytes
			continue
		}
		res[i] = Streamed
		streamed[ix.Tensors[i].Layer] = true
	}
	return streamed
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

// ImpliedReuse returns the routing reuse (as Options.ExpertReuse) under
// which p's expert cache would read read bytes per decoded token: what a
// run that measured read tells later plans of the model, whose caches may
// have other sizes. Reads beyond those of routing with no locality give
// that routing's reuse (the share of a layer's experts a token uses), none
// at all a reuse of 1; 0 when p has no expert cache.
func ImpliedReuse(ix *Index, p *Plan, read float64) float64 {
	lay := expertLayers(ix)
	if lay == nil || len(p.ExpertLayerSlots) != len(lay.experts) {
		return 0
	}
	if read <= 0 {
		return 1
	}
	used := ix.Spec.ExpertsUsed
	lo := float64(min(used, ix.Spec.Experts)) / float64(ix.Spec.Experts)
	hi := 1.0
	if _, r := lay.expect(p.ExpertLayerSlots, used, lo); read >= float64(r) {
		return lo
	}
	// The bytes read fall as the reuse grows: bisect.
	for range 50 {
		mid := (lo + hi) / 2
		if _, r := lay.expect(p.ExpertLayerSlots, used, mid); float64(r) > read {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
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
	p.TotalBytes = p.ResidentBytes + p.ResidentAlignBytes + p.StreamBufferBytes + p.VectorBytes + p.KVBytes + p.ScratchBytes + p.OverheadBytes
}

// residentAlignBytes bounds what weights.LoadResident adds to any set of
// resident weights of ix: it reads each tensor's bytes rounded out to 4 KiB
// at both ends (merging neighbours), so each adds less than two pages.
func residentAlignBytes(ix *Index) int64 {
	var n int64
	for _, t := range ix.Tensors {
		if t.Kind != KindOther && t.Kind != KindVector {
			n++
		}
	}
	return n * 2 * StreamAlign
}

// minimum is the smallest budget that runs with these options: everything
// but output, embeddings and routers streamed, two buffers of the largest
// layer.
func (p *Plan) minimum(ix *Index) int64 {
	fixed := p.fixed0
	if !ix.Spec.Tied {
		fixed += embedRowBytes
	}
	whole := fixed + p.WeightBytes
	fixed += residentAlignBytes(ix)
	var keep int64
	biggest := biggestPart(ix, layerUnits(ix, true))
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
		return min(fixed+moeKeep+min(attn, buffers)+lay.minimum(ix.Spec.ExpertsUsed), whole)
	}
	return min(fixed+keep+2*(biggest+2*StreamAlign*maxRanges), whole)
}

// suggest says what would make a plan that does not fit run: a bigger
// budget, and each change of one setting that alone makes it fit at this
// budget (a smaller context, a more compact KV cache, fewer sequences, a
// smaller prompt chunk), each checked by planning with it.
func suggest(ix *Index, opt Options, p *Plan) string {
	var tips []string
	tips = append(tips, fmt.Sprintf("a budget of at least %s (--mem-budget %dMiB)", ledger.FormatBytes(p.MinimumBytes), (p.MinimumBytes+(1<<20)-1)>>20))
	fits := func(o Options) bool {
		q, err := fit(ix, o)
		return err == nil && q.Fits
	}
	if p.KVBytes > 0 {
		// The largest context that fits, in steps of 256 tokens.
		best := 0
		for lo, hi := 1, opt.Ctx/256; lo <= hi; {
			mid := (lo + hi) / 2
			o := opt
			o.Ctx = mid * 256
			if o.Ctx < opt.Ctx && fits(o) {
				best, lo = o.Ctx, mid+1
			} else {
				hi = mid - 1
			}
		}
		if best > 0 {
			tips = append(tips, fmt.Sprintf("a smaller context (--ctx %d)", best))
		}
		for i := slices.Index(kvTypes, opt.KVType) + 1; i > 0 && i < len(kvTypes); i++ {
			o := opt
			o.KVType = kvTypes[i]
			if checkKVType(ix.Spec, o.KVType) == nil && fits(o) {
				name := strings.ToLower(o.KVType.String())
				tips = append(tips, fmt.Sprintf("a %s KV cache (--kv-type %s)", name, name))
				break
			}
		}
	}
	if opt.Parallel > 1 {
		o := opt
		o.Parallel = 1
		if fits(o) {
			tips = append(tips, "fewer parallel sequences (--parallel 1)")
		}
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
	// the layers and the output projection for as long as the probe's
	// runs through passes of their shapes took, routed experts (and every
	// matrix, when the passes were not timed) at their kind's measured
	// kernel rate (capped by the memory bandwidth); streamed bytes come
	// from disk meanwhile: the reader works one layer ahead, so the two
	// overlap and the slower one sets the pace. Prefill runs each chunk of
	// up to 128 tokens through every weight at the prefill rate, streaming
	// the streamed bytes once per chunk.
	b := float64(min(opt.Batch, 128))
	var compute, prefill float64
	passes := ix.DecodePasses(opt.Budget)
	timed := len(passes) > 0
	for _, cp := range passes {
		if _, ok := d.PassTimes[cp.key()]; !ok {
			timed = false
		}
	}
	p.ComputeBasis = "rates"
	if timed {
		p.ComputeBasis = "passes"
		for _, cp := range passes {
			compute += float64(cp.Count) * d.PassTimes[cp.key()]
		}
	}
	for _, t := range p.Tensors {
		if t.Kind == KindEmbed && !ix.Spec.Tied {
			continue
		}
		tt := byName[t.Name]
		share := 1.0 // of the tensor each token computes with
		if t.Kind == KindExperts && ix.Spec.Experts > 0 {
			share = float64(ix.Spec.ExpertsUsed) / float64(ix.Spec.Experts)
		}
		if !timed || t.Kind == KindExperts {
			compute += share * float64(t.Bytes) / d.KernelRate(MatrixKind{tt.Type, tt.Cols})
		}
		if tt.Elems > 0 {
			// A prefill chunk uses (nearly) every expert.
			prefill += float64(t.Bytes) * b / d.PrefillRate(MatrixKind{tt.Type, tt.Cols}, float64(t.Bytes)/float64(tt.Elems))
		}
	}
	if compute > 0 {
		p.RooflineComputeTPS = 1 / compute
	}
	if f := d.ComputeFactor; f > 0 {
		compute *= f
		p.ComputeFactor, p.ComputeFactorFrom = f, d.ComputeFactorFrom
	}
	disk := 0.0
	if read := p.StreamedBytes + p.ExpectedExpertReadBytes; read > 0 && d.DiskBandwidth > 0 {
		disk = diskTime(float64(read), compute, d)
		p.DiskBoundDecodeTPS = 1 / disk
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
	if step := max(prefill, float64(p.StreamedBytes)/max(d.DiskBandwidth, 1)); step > 0 {
		p.PredictedPrefillTPS = b / step
	}
}

// diskTime is how long the reads of a decode step, read bytes, take
// beside compute seconds of the forward pass's work. The rates the layer
// streamer saw in runs (Device.DiskSamples) are already those of reading
// beside the forward pass: read ÷ their median. From the probe alone the
// reader goes at the disk's rate beside the kernels (DiskProbed) while the
// forward pass computes and at its idle rate (DiskIdle) while the forward
// pass waits for it; where a read lands in memory the kernels are using,
// the two differ (on this VM 3.0–4.0 against 4.2–5.6 GB/s for the 8B, whose
// streamed decode computes for about a third of each step and read at
// 3.7–4.6).
func diskTime(read, compute float64, d *Device) float64 {
	if len(d.DiskSamples) > 0 || d.DiskProbed <= 0 || d.DiskIdle <= 0 {
		return read / d.DiskBandwidth
	}
	if beside := d.DiskProbed * compute; read > beside {
		return compute + (read-beside)/d.DiskIdle
	}
	return read / d.DiskProbed
}
