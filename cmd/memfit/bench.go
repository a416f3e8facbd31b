package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/memfit/memfit/internal/demo"
	"github.com/memfit/memfit/internal/kernels"
	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/model"
	"github.com/memfit/memfit/internal/plan"
	"github.com/memfit/memfit/internal/quantize"
	"github.com/memfit/memfit/internal/tensor"
	"github.com/memfit/memfit/internal/weights"
)

func init() { rootCmd.AddCommand(newBenchCmd()) }

// benchFlags are memfit bench's settings.
type benchFlags struct {
	model  modelFlags
	prompt int
	gen    int
	reps   int
	kvType string
	asJSON bool
	budget budgetFlag
	noWarm bool
	fresh  bool
	// calibrate feeds the measurements back into the device figures.
	calibrate bool
}

func newBenchCmd() *cobra.Command {
	var f benchFlags
	c := &cobra.Command{
		Use:   "bench [-m MODEL] [--threads N] [--prompt 128] [--gen 64] [--reps 5] [--json] [--mem-budget SIZE]",
		Short: "Measure prefill and decode speed, as llama-bench does",
		Long: `bench loads the model as memfit run does (the same plan, memory budget, resident
or streamed weights and expert cache, KV cache type) and measures, like
llama-bench: prefill, one batch of --prompt tokens from an empty cache, and
decode, --gen tokens one at a time from an empty cache. Each of --reps
repetitions starts fresh; one warm-up run is not counted. Tokens are drawn
at random from the vocabulary. It prints the median, minimum and maximum
tokens per second next to the plan's prediction, the peak resident memory,
the bytes read from disk per decoded token, and for mixture-of-experts
models the expert cache's hit rate, bytes read per token, prefetch
accuracy and the share of each token's routed experts the previous token
also used (routing locality, which flatters a cache). --fresh decodes every
token at the start of an emptied sequence, which takes that locality away.
--json prints one JSON object instead of the table.`,
		Example: `  memfit bench -m llama-3.2-1b.Q4_0.gguf --threads 2
  memfit bench -m qwen3-30b-a3b.Q4_K_M.gguf --mem-budget 8GiB --gen 32 --reps 3 --json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			r, err := runBench(&f)
			if err != nil {
				return err
			}
			if f.asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(r)
			}
			r.table(cmd.OutOrStdout())
			return nil
		},
	}
	f.model.registerOptional(c)
	fl := c.Flags()
	fl.IntVarP(&f.prompt, "prompt", "p", 128, "prompt tokens processed in one batch (0: no prefill test)")
	fl.IntVarP(&f.gen, "gen", "n", 64, "tokens decoded one at a time (0: no decode test)")
	fl.IntVarP(&f.reps, "reps", "r", 5, "repetitions of each test")
	fl.StringVar(&f.kvType, "kv-type", "f16", "KV cache type: f16, q8_0, q4_0 or f32")
	fl.BoolVar(&f.asJSON, "json", false, "print one JSON object")
	fl.BoolVar(&f.noWarm, "no-warmup", false, "skip the warm-up run")
	fl.BoolVar(&f.calibrate, "calibrate", true, "feed the measured decode speed (resident), disk read rate (streamed) or expert cache reads (MoE) back into the cached figures memfit plan predicts from")
	fl.BoolVar(&f.fresh, "fresh", false, "decode every token as the first of an emptied sequence: with no context an MoE router has no token-to-token locality (the expert cache's worst case)")
	f.budget.register(c)
	return c
}

// tokStats are tokens per second over the repetitions.
type tokStats struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
}

func statsOf(v []float64) tokStats {
	if len(v) == 0 {
		return tokStats{}
	}
	s := slices.Clone(v)
	slices.Sort(s)
	med := s[len(s)/2]
	if len(s)%2 == 0 {
		med = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return tokStats{Median: med, Min: s[0], Max: s[len(s)-1]}
}

// expertResult is the expert cache's counters over the decode runs.
type expertResult struct {
	Experts           int     `json:"experts"`      // routed experts over all layers
	ExpertsUsed       int     `json:"experts_used"` // per layer and token
	AllResident       bool    `json:"all_resident"`
	Slots             int     `json:"slots"`
	HitRate           float64 `json:"hit_rate"`
	ExpectedHitRate   float64 `json:"expected_hit_rate"`
	BytesReadPerToken float64 `json:"bytes_read_per_token"`
	// DemandBytesPerToken is the part of BytesReadPerToken read for misses
	// (the rest was read ahead by the prefetcher).
	DemandBytesPerToken float64 `json:"demand_bytes_per_token"`
	PrefetchAccuracy    float64 `json:"prefetch_accuracy"`  // predicted experts the router then picked
	PrefetchUseful      float64 `json:"prefetch_used_rate"` // prefetched experts used before eviction
	// Expert loads over the decode runs: served from memory, by a
	// prefetch, or read on demand; experts read ahead and how many of
	// those were evicted unused.
	Hits           int64 `json:"hits"`
	PrefetchHits   int64 `json:"prefetch_hits"`
	Misses         int64 `json:"misses"`
	Prefetched     int64 `json:"prefetched"`
	PrefetchWasted int64 `json:"prefetch_wasted"`
	// ReadWaitPerToken is the seconds per decoded token the forward pass
	// waited for expert reads.
	ReadWaitPerToken float64 `json:"read_wait_s_per_token"`
	// Reuse is the share of a decoded token's routed experts (per layer)
	// that the token decoded before it also used.
	Reuse float64 `json:"routing_reuse"`
}

// benchResult is what bench prints: DESIGN.md's object, plus the plan's
// predictions and the expert cache's counters.
type benchResult struct {
	Model            string   `json:"model"`
	FileBytes        int64    `json:"file_bytes"`
	Type             string   `json:"type"`
	Threads          int      `json:"threads"`
	PromptTokens     int      `json:"prompt_tokens"`
	GenTokens        int      `json:"gen_tokens"`
	Reps             int      `json:"reps"`
	Prefill          tokStats `json:"prefill_tok_s"`
	Decode           tokStats `json:"decode_tok_s"`
	PredictedPrefill float64  `json:"predicted_prefill_tok_s"`
	PredictedDecode  float64  `json:"predicted_decode_tok_s"`
	Bound            string   `json:"bound,omitempty"`
	PeakRSS          int64    `json:"peak_rss_bytes"`
	Budget           int64    `json:"budget_bytes"`
	StreamedPerToken int64    `json:"streamed_bytes_per_token"`
	// StreamBandwidth is the layer streamer's read bandwidth while it had
	// reads in flight during the decode runs, StreamWaitShare the share of
	// the decode time the forward pass waited for a streamed layer, and
	// DiskBound the plan's disk-bandwidth bound on decode.
	StreamBandwidth float64       `json:"stream_read_bytes_s,omitempty"`
	StreamWaitShare float64       `json:"stream_wait_share,omitempty"`
	DiskBound       float64       `json:"disk_bound_decode_tok_s,omitempty"`
	PlannedStreamed int64         `json:"planned_streamed_bytes_per_token"`
	KVType          string        `json:"kv_type"`
	PrefillBatch    int           `json:"prefill_batch"`
	CPUFeatures     []string      `json:"cpu_features"`
	Kernels         string        `json:"kernels"`
	Version         string        `json:"memfit_version"`
	Experts         *expertResult `json:"expert_cache,omitempty"`
	FreshDecode     bool          `json:"fresh_decode,omitempty"`
	// Calibrated: the measurements were fed back into the device figures
	// (plan.Observe) for later plans' predictions.
	Calibrated bool `json:"calibrated"`
}

// runBench loads the model as the run command does and measures it.
func runBench(f *benchFlags) (*benchResult, error) {
	if f.model.threads < 0 {
		return nil, usagef("--threads %d: want 0 (one per CPU) or more", f.model.threads)
	}
	if f.prompt < 0 || f.gen < 0 || f.prompt+f.gen == 0 {
		return nil, usagef("--prompt %d --gen %d: want non-negative counts, not both 0", f.prompt, f.gen)
	}
	if f.reps < 1 || f.reps > 1000 {
		return nil, usagef("--reps %d: want 1 to 1000", f.reps)
	}
	path, name := f.model.path, ""
	if path == "" {
		p, err := demo.Path()
		if err != nil {
			return nil, err
		}
		path, name = p, demo.Name
	}
	budget, err := f.budget.bytes()
	if err != nil {
		return nil, err
	}
	g := genFlags{ctx: max(f.prompt, f.gen, 1), batch: max(f.prompt, 1), kvType: f.kvType, parallel: 1, budget: f.budget}
	p, led, err := planAndLedger(path, budget, &g, f.model.threads)
	if err != nil {
		return nil, err
	}
	r := &benchResult{Model: path, Budget: budget, PromptTokens: f.prompt, GenTokens: f.gen, Reps: f.reps,
		KVType: p.KVType, PrefillBatch: p.Batch, PlannedStreamed: p.StreamedBytes + p.ExpectedExpertReadBytes, Version: versionString, CPUFeatures: cpuFeatures()}
	if name != "" {
		r.Model = name
	}
	// The plan again with the device probe, for the predicted speeds.
	pp, ix, err := planFor(path, budget, &g, f.model.threads, probeCached)
	if err == nil {
		r.PredictedPrefill, r.PredictedDecode, r.Bound = pp.PredictedPrefillTPS, pp.PredictedDecodeTPS, pp.Bound
		r.DiskBound = pp.DiskBoundDecodeTPS
		r.FileBytes = ix.FileBytes
		r.Type = weightType(ix)
	} else {
		return nil, err
	}
	m, err := model.Load(path, model.Options{Threads: f.model.threads, Ledger: led, Plan: p})
	if err != nil {
		return nil, err
	}
	defer m.Close()
	r.Threads, r.Kernels = m.Threads(), kernels.Active()
	if m.Weights.GGUF != nil {
		if id, err := m.Weights.GGUF.Uint("general.file_type"); err == nil && quantize.FileTypeName(uint32(id)) != "" {
			r.Type = quantize.FileTypeName(uint32(id))
		}
	}
	b, err := newBencher(m, p)
	if err != nil {
		return nil, err
	}
	defer b.release()
	b.fresh, r.FreshDecode = f.fresh, f.fresh
	var observe func(int, []int32)
	if m.Spec.Experts > 0 {
		b.route = newRouteReuse(len(m.Spec.Layers), m.Spec.Experts)
		observe = b.route.observe
	}
	progress := func(string) {}
	if isTerminal(os.Stderr) && !f.asJSON {
		progress = func(s string) { fmt.Fprintf(os.Stderr, "\r\033[Kbench: %s", s) }
		defer fmt.Fprint(os.Stderr, "\r\033[K")
	}
	if !f.noWarm {
		progress("warm-up")
		if f.prompt > 0 {
			if _, err := b.prefill(f.prompt); err != nil {
				return nil, err
			}
		}
		if f.gen > 0 {
			if _, err := b.decode(1); err != nil {
				return nil, err
			}
		}
	}
	var pre, dec []float64
	var streamed int64
	var streamStats weights.StreamStats // over the decode runs
	var decodeTime time.Duration
	var experts expertCounters // over the decode runs
	for rep := 1; rep <= f.reps; rep++ {
		if f.prompt > 0 {
			progress(fmt.Sprintf("prefill %d/%d", rep, f.reps))
			d, err := b.prefill(f.prompt)
			if err != nil {
				return nil, err
			}
			pre = append(pre, float64(f.prompt)/d.Seconds())
		}
		if f.gen > 0 {
			progress(fmt.Sprintf("decode %d/%d", rep, f.reps))
			s0, e0, ss0 := b.streamRead(), b.expertCounters(), b.streamStats()
			m.OnRoute = observe
			d, err := b.decode(f.gen)
			m.OnRoute = nil
			if err != nil {
				return nil, err
			}
			ss1 := b.streamStats()
			streamStats.BytesRead += ss1.BytesRead - ss0.BytesRead
			streamStats.ReadBusy += ss1.ReadBusy - ss0.ReadBusy
			streamStats.Waited += ss1.Waited - ss0.Waited
			decodeTime += d
			dec = append(dec, float64(f.gen)/d.Seconds())
			e1 := b.expertCounters()
			streamed += b.streamRead() - s0 + e1.BytesRead - e0.BytesRead
			experts.add(e1, e0)
		}
	}
	r.Prefill, r.Decode = statsOf(pre), statsOf(dec)
	if f.gen > 0 {
		r.StreamedPerToken = streamed / int64(f.gen*f.reps)
		r.StreamBandwidth = streamStats.Bandwidth()
		if decodeTime > 0 {
			r.StreamWaitShare = streamStats.Waited.Seconds() / decodeTime.Seconds()
		}
	}
	if m.Spec.Experts > 0 {
		r.Experts = b.expertResult(experts, f.gen*f.reps, pp)
		r.Experts.Reuse = b.route.rate()
	}
	r.PeakRSS = peakRSS()
	r.Calibrated = f.calibrate && calibrate(ix, m.Threads(), p, pp, r)
	return r, nil
}

// calibrate feeds what the bench measured back into the device figures
// later plans use (plan.Observe): for a plan that keeps every weight
// resident, the measured decode speed against the kernel rates' roofline;
// for one that streams layers, the streamer's read bandwidth; for one with
// an expert cache, the routing reuse its reads per token imply and the
// decode speed less its waits for reads against the roofline. It reports
// whether there was anything to feed back.
func calibrate(ix *plan.Index, threads int, p, pp *plan.Plan, r *benchResult) bool {
	var obs plan.Observation
	resident := !p.Streaming() && !p.CachesExperts() && !p.EmbedOnDemand
	if resident && pp.RooflineComputeTPS > 0 && r.Decode.Median > 0 {
		obs.ComputeFactor = pp.RooflineComputeTPS / r.Decode.Median
	}
	if p.Streaming() && r.StreamBandwidth > 0 {
		obs.DiskBandwidth = r.StreamBandwidth
	}
	if p.CachesExperts() && r.Experts != nil && r.GenTokens > 0 {
		obs.ExpertReuse = plan.ImpliedReuse(ix, p, r.Experts.BytesReadPerToken)
		// The decode step less the time it waited for expert reads is
		// its compute, as a resident run's whole step is.
		if step := 1/r.Decode.Median - r.Experts.ReadWaitPerToken; !p.Streaming() && r.Decode.Median > 0 && step > 0 && pp.RooflineComputeTPS > 0 {
			obs.ComputeFactor = pp.RooflineComputeTPS * step
		}
	}
	if obs == (plan.Observation{}) {
		return false
	}
	return plan.Observe(ix.Disk, kernelProbe(threads), obs) == nil
}

// bencher runs one sequence through the model as the engine does.
type bencher struct {
	fresh  bool
	route  routeReuse
	m      *model.Model
	seq    *model.Seq
	sc     *model.Scratch
	rng    *rand.Rand
	tokens []int32
	seqs   []*model.Seq
	logits []float32
}

func newBencher(m *model.Model, p *plan.Plan) (*bencher, error) {
	seq, err := m.NewSeq(p.Ctx, kvTypeOf(p))
	if err != nil {
		return nil, err
	}
	sc, err := m.NewScratch(p.Batch, p.Ctx)
	if err != nil {
		seq.Release()
		return nil, err
	}
	b := &bencher{m: m, seq: seq, sc: sc, rng: rand.New(rand.NewPCG(1, 2)), logits: make([]float32, m.Spec.Vocab)}
	b.tokens = make([]int32, p.Ctx)
	b.seqs = make([]*model.Seq, p.Ctx)
	for i := range b.seqs {
		b.seqs[i] = seq
	}
	return b, nil
}

func (b *bencher) release() {
	b.seq.Release()
	b.sc.Release()
}

// prefill runs n random tokens from an empty cache, in batches of the
// plan's size, and returns the time taken.
func (b *bencher) prefill(n int) (time.Duration, error) {
	b.seq.Reset()
	for i := range n {
		b.tokens[i] = int32(b.rng.IntN(b.m.Spec.Vocab))
	}
	start := time.Now()
	for i := 0; i < n; i += b.sc.Batch {
		j := min(n, i+b.sc.Batch)
		if err := b.m.Run(b.sc, model.Batch{Tokens: b.tokens[i:j], Seqs: b.seqs[i:j]}, b.logits); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// decode runs n random tokens one at a time from an empty cache.
func (b *bencher) decode(n int) (time.Duration, error) {
	b.seq.Reset()
	b.route.restart()
	start := time.Now()
	for range n {
		if b.fresh {
			b.seq.Reset()
		}
		b.tokens[0] = int32(b.rng.IntN(b.m.Spec.Vocab))
		if err := b.m.Run(b.sc, model.Batch{Tokens: b.tokens[:1], Seqs: b.seqs[:1]}, b.logits); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

// streamStats are the layer streamer's counters (zero without one).
func (b *bencher) streamStats() weights.StreamStats {
	if s := b.m.Streamer(); s != nil {
		return s.Stats()
	}
	return weights.StreamStats{}
}

// routeReuse counts how many of each token's routed experts the previous
// token also used, layer by layer (from model.OnRoute).
type routeReuse struct {
	prev          [][]int32 // per layer: the previous token's experts
	seen          []bool    // per layer: prev is set
	shared, total int64
}

func newRouteReuse(layers, experts int) routeReuse {
	r := routeReuse{prev: make([][]int32, layers), seen: make([]bool, layers)}
	for i := range r.prev {
		r.prev[i] = make([]int32, 0, experts)
	}
	return r
}

// restart forgets the previous token (a new run).
func (r *routeReuse) restart() { clear(r.seen) }

// observe is the model's OnRoute hook.
func (r *routeReuse) observe(layer int, experts []int32) {
	if layer >= len(r.prev) {
		return
	}
	if r.seen[layer] {
		for _, e := range experts {
			if slices.Contains(r.prev[layer], e) {
				r.shared++
			}
		}
		r.total += int64(len(experts))
	}
	r.prev[layer] = append(r.prev[layer][:0], experts...)
	r.seen[layer] = true
}

// rate is the share of routed experts the previous token also used.
func (r *routeReuse) rate() float64 {
	if r.total == 0 {
		return 0
	}
	return float64(r.shared) / float64(r.total)
}

// streamRead is the bytes the layer streamer has read from disk.
func (b *bencher) streamRead() int64 {
	if s := b.m.Streamer(); s != nil {
		return s.Read()
	}
	return 0
}

// expertCounters is the change of the expert cache's counters over the
// decode runs.
type expertCounters struct{ weights.ExpertStats }

// add adds the counters' change from b to a.
func (c *expertCounters) add(a, b expertCounters) {
	d := a.Sub(b.ExpertStats)
	s := &c.ExpertStats
	s.Hits += d.Hits
	s.PrefetchHits += d.PrefetchHits
	s.Misses += d.Misses
	s.Prefetched += d.Prefetched
	s.PrefetchWasted += d.PrefetchWasted
	s.BytesRead += d.BytesRead
	s.DemandBytes += d.DemandBytes
	s.Predicted += d.Predicted
	s.Correct += d.Correct
	s.Waits += d.Waits
	s.WaitNanos += d.WaitNanos
}

func (b *bencher) expertCounters() expertCounters {
	return expertCounters{b.m.ExpertStats()}
}

// expertResult describes the expert cache from its counters d over tokens
// decoded tokens.
func (b *bencher) expertResult(d expertCounters, tokens int, p *plan.Plan) *expertResult {
	s := b.m.Spec
	r := &expertResult{Experts: s.Experts * len(s.Layers), ExpertsUsed: s.ExpertsUsed, ExpectedHitRate: p.ExpectedHitRate}
	c := b.m.Experts()
	if c == nil {
		r.AllResident, r.HitRate, r.ExpectedHitRate = true, 1, 1
		return r
	}
	r.Slots = c.Slots()
	r.HitRate = d.HitRate()
	if tokens > 0 {
		r.BytesReadPerToken = float64(d.BytesRead) / float64(tokens)
		r.DemandBytesPerToken = float64(d.DemandBytes) / float64(tokens)
	}
	r.PrefetchAccuracy = d.PrefetchAccuracy()
	if d.Prefetched > 0 {
		r.PrefetchUseful = float64(d.PrefetchHits) / float64(d.Prefetched)
	}
	r.Hits, r.PrefetchHits, r.Misses, r.Prefetched, r.PrefetchWasted = d.Hits, d.PrefetchHits, d.Misses, d.Prefetched, d.PrefetchWasted
	if tokens > 0 {
		r.ReadWaitPerToken = float64(d.WaitNanos) / 1e9 / float64(tokens)
	}
	return r
}

// weightType names the type most of the weight bytes have.
func weightType(ix *plan.Index) string {
	by := map[tensor.DType]int64{}
	for _, t := range ix.Tensors {
		by[t.Type] += t.Bytes
	}
	best, n := tensor.DType(0), int64(-1)
	for t, b := range by {
		if b > n || b == n && t < best {
			best, n = t, b
		}
	}
	return best.String()
}

// peakRSS is the process's peak resident memory (VmHWM).
func peakRSS() int64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			var kb int64
			fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
			return kb << 10
		}
	}
	return 0
}

// table prints the result as llama-bench's table, with the plan's
// prediction beside each measurement.
func (r *benchResult) table(w io.Writer) {
	name := r.Model
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	fmt.Fprintf(w, "| %-28s | %10s | %-7s | %7s | %-7s | %-24s | %9s |\n", "model", "size", "type", "threads", "test", "t/s median (min-max)", "predicted")
	fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %s |\n", strings.Repeat("-", 28), strings.Repeat("-", 10), strings.Repeat("-", 7), strings.Repeat("-", 7), strings.Repeat("-", 7), strings.Repeat("-", 24), strings.Repeat("-", 9))
	row := func(test string, s tokStats, pred float64) {
		fmt.Fprintf(w, "| %-28s | %10s | %-7s | %7d | %-7s | %24s | %9.2f |\n", name, ledger.FormatBytes(r.FileBytes), r.Type, r.Threads, test,
			fmt.Sprintf("%.2f (%.2f-%.2f)", s.Median, s.Min, s.Max), pred)
	}
	if r.PromptTokens > 0 {
		row(fmt.Sprintf("pp%d", r.PromptTokens), r.Prefill, r.PredictedPrefill)
	}
	if r.GenTokens > 0 {
		row(fmt.Sprintf("tg%d", r.GenTokens), r.Decode, r.PredictedDecode)
	}
	fmt.Fprintf(w, "\npeak RSS %s, budget %s, %s read from disk per decoded token (plan: %s streamed), KV %s, kernels %s, %d reps\n",
		ledger.FormatBytes(r.PeakRSS), ledger.FormatBytes(r.Budget), ledger.FormatBytes(r.StreamedPerToken), ledger.FormatBytes(r.PlannedStreamed), r.KVType, r.Kernels, r.Reps)
	if r.StreamBandwidth > 0 {
		fmt.Fprintf(w, "streamer: %.2f GB/s while reading, the forward pass waited %.0f%% of decode; disk bound %.3g tok/s\n",
			r.StreamBandwidth/1e9, 100*r.StreamWaitShare, r.DiskBound)
	}
	if e := r.Experts; e != nil {
		if e.AllResident {
			fmt.Fprintf(w, "experts: %d in all layers (%d per layer and token), all resident; routing reuse %.1f%%\n", e.Experts, e.ExpertsUsed, 100*e.Reuse)
		} else {
			fmt.Fprintf(w, "expert cache: %d slots for %d experts (%d per layer and token), hit rate %.1f%% (plan %.1f%%), %s read per token (%s on demand), waited %.0f ms per token, prefetch accuracy %.1f%%, prefetched used %.1f%%; routing reuse %.1f%%\n",
				e.Slots, e.Experts, e.ExpertsUsed, 100*e.HitRate, 100*e.ExpectedHitRate, ledger.FormatBytes(int64(e.BytesReadPerToken)), ledger.FormatBytes(int64(e.DemandBytesPerToken)), 1000*e.ReadWaitPerToken, 100*e.PrefetchAccuracy, 100*e.PrefetchUseful, 100*e.Reuse)
		}
	}
}
