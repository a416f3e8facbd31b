package plan

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/kv"
	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/tensor"
)

func TestMake(t *testing.T) {
	ix, err := Open(fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	base := Options{Budget: ledger.Unlimited, Ctx: 256, Parallel: 1, Batch: 64, KVType: tensor.F16, Threads: 2}
	full, err := Make(ix, base)
	if err != nil {
		t.Fatal(err)
	}
	if !full.Fits || full.Streaming() || full.ResidentBytes != full.WeightBytes {
		t.Fatalf("unlimited: fits %v, streamed %d, resident %d of %d", full.Fits, full.StreamedBytes, full.ResidentBytes, full.WeightBytes)
	}
	if full.WeightBytes != 8388608 {
		t.Errorf("matrix bytes %d, want 8388608 (4,194,304 bf16 parameters)", full.WeightBytes)
	}
	if want := int64(2 * 4 * 256 * 128 * 2); full.KVBytes != want {
		t.Errorf("KV bytes %d, want %d (2 × 4 layers × 256 × 128 × 2 bytes)", full.KVBytes, want)
	}
	tests := []struct {
		name      string
		budget    int64
		fits      bool
		streams   bool
		inMessage string
	}{
		{"exactly enough", full.TotalBytes, true, false, ""},
		// Reading the untied embedding on demand is enough: nothing streams.
		{"one byte short", full.TotalBytes - 1, true, false, ""},
		{"one embedding short", full.TotalBytes - 2048*256*2, true, true, ""},
		{"minimum", full.MinimumBytes, true, true, ""},
		{"below minimum", full.MinimumBytes - 1, false, false, "--mem-budget"},
		{"far below", 1 << 20, false, false, "at least"},
	}
	// A budget the asked-for batch does not fit but a smaller one does.
	o := base
	o.Budget = full.MinimumBytes
	if p, err := Make(ix, o); err != nil || !p.Fits || p.Batch >= base.Batch {
		t.Errorf("budget %d (the minimum): %v, fits %v with batch %d; want a fit with a batch under %d", o.Budget, err, p != nil && p.Fits, p.Batch, base.Batch)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := base
			o.Budget = tt.budget
			p, err := Make(ix, o)
			if err != nil {
				t.Fatal(err)
			}
			if p.Fits != tt.fits || p.Streaming() != tt.streams {
				t.Fatalf("budget %d: fits %v streams %v, want %v %v", tt.budget, p.Fits, p.Streaming(), tt.fits, tt.streams)
			}
			if p.Fits && p.TotalBytes > tt.budget {
				t.Errorf("plan total %d over the budget %d", p.TotalBytes, tt.budget)
			}
			if !strings.Contains(p.Suggestion, tt.inMessage) {
				t.Errorf("suggestion %q lacks %q", p.Suggestion, tt.inMessage)
			}
			if p.Streaming() || p.EmbedOnDemand {
				var streamed int64
				for _, tp := range p.Tensors {
					if tp.Residency == Streamed {
						streamed += tp.Bytes
						if tp.Kind != KindFFN && tp.Kind != KindAttn && tp.Kind != KindExperts && tp.Kind != KindShared {
							t.Errorf("%s (%s) streams", tp.Name, tp.Kind)
						}
					}
				}
				var onDemand int64
				for _, tp := range p.Tensors {
					if tp.Residency == OnDemand {
						onDemand += tp.Bytes
						if tp.Kind != KindEmbed {
							t.Errorf("%s (%s) is read on demand", tp.Name, tp.Kind)
						}
					}
				}
				if !p.EmbedOnDemand || onDemand != 2048*256*2 {
					t.Errorf("gocoder's untied embedding: on demand %v, %d bytes", p.EmbedOnDemand, onDemand)
				}
				if streamed != p.StreamedBytes || p.ResidentBytes+p.StreamedBytes+onDemand != p.WeightBytes {
					t.Errorf("streamed %d (listed %d) + resident %d + on demand %d != weights %d", p.StreamedBytes, streamed, p.ResidentBytes, onDemand, p.WeightBytes)
				}
			}
		})
	}
	for _, bad := range []Options{{Ctx: 0, Parallel: 1, Batch: 1, Threads: 1, KVType: tensor.F16}, {Ctx: 8, Parallel: 1, Batch: 1, Threads: 1, KVType: tensor.Q4_K}} {
		if _, err := Make(ix, bad); err == nil {
			t.Errorf("Make(%+v): no error", bad)
		}
	}
}

// TestKVTypes checks the KV cache sizes of every type against the bytes
// internal/kv allocates, and that a plan that only fits with a more compact
// cache says so.
func TestKVTypes(t *testing.T) {
	ix, err := Open(fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	s := ix.Spec
	for _, typ := range kv.Types {
		if got, want := KVBytes(s, typ, 1000), kv.Bytes(typ, len(s.Layers), 1000, s.KVDim()); got != want || got <= 0 {
			t.Errorf("KVBytes(%v) = %d, internal/kv allocates %d", typ, got, want)
		}
	}
	const ctx = 32768
	base := Options{Ctx: ctx, Parallel: 1, Batch: 64, KVType: tensor.F16, Threads: 2}
	sizes := map[tensor.DType]int64{}
	for _, typ := range []tensor.DType{tensor.F16, tensor.Q8_0, tensor.Q4_0} {
		o := base
		o.KVType, o.Budget = typ, ledger.Unlimited
		p, err := Make(ix, o)
		if err != nil {
			t.Fatal(err)
		}
		if p.KVType != kv.TypeName(typ) || p.KVBytes != KVBytes(s, typ, ctx) {
			t.Errorf("%v: plan says %s, %d bytes", typ, p.KVType, p.KVBytes)
		}
		sizes[typ] = p.MinimumBytes
	}
	if !(sizes[tensor.F16] > sizes[tensor.Q8_0] && sizes[tensor.Q8_0] > sizes[tensor.Q4_0]) {
		t.Fatalf("minimum budgets f16 %d, q8_0 %d, q4_0 %d: want each smaller", sizes[tensor.F16], sizes[tensor.Q8_0], sizes[tensor.Q4_0])
	}
	for _, tc := range []struct {
		budget int64
		want   string
	}{
		{sizes[tensor.Q8_0], "--kv-type q8_0"},
		{sizes[tensor.Q4_0], "--kv-type q4_0"},
	} {
		o := base
		o.Budget = tc.budget
		p, err := Make(ix, o)
		if err != nil {
			t.Fatal(err)
		}
		if p.Fits || !strings.Contains(p.Suggestion, tc.want) || !strings.Contains(p.Suggestion, "--ctx ") {
			t.Errorf("budget %d, f16 cache: fits %v, suggestion %q; want %q and a smaller --ctx", tc.budget, p.Fits, p.Suggestion, tc.want)
		}
		// Each suggested change fits.
		for _, field := range strings.Split(p.Suggestion, "--")[2:] {
			o := o
			var v string
			name, _, _ := strings.Cut(field, ")")
			name, v, _ = strings.Cut(name, " ")
			switch name {
			case "ctx":
				fmt.Sscan(v, &o.Ctx)
			case "kv-type":
				if o.KVType, err = kv.ParseType(v); err != nil {
					t.Fatal(err)
				}
			default:
				continue
			}
			if q, err := Make(ix, o); err != nil || !q.Fits {
				t.Errorf("suggested --%s %s does not fit the budget %d: %v", name, v, tc.budget, err)
			}
		}
	}
	// A head dimension that is not whole blocks cannot take a block cache.
	odd := *ix
	spec := *ix.Spec
	spec.HeadDim = 48
	odd.Spec = &spec
	if _, err := Make(&odd, Options{Budget: ledger.Unlimited, Ctx: 8, Parallel: 1, Batch: 1, Threads: 1, KVType: tensor.Q8_0}); err == nil || !strings.Contains(err.Error(), "multiple of 32") {
		t.Errorf("q8_0 cache with head_dim 48: %v, want an error naming the head dimension", err)
	}
}

func TestOpenErrors(t *testing.T) {
	for _, path := range []string{"/nonexistent", fixtures.Path(t, "text", "net_http_server.go")} {
		if _, err := Open(path); err == nil {
			t.Errorf("Open(%s): no error", path)
		}
	}
}

// TestPredict checks the roofline against its formula with given device
// figures: every weight at its type's measured decode rate, the streamed
// bytes at the disk's bandwidth, the slower of the two per token.
func TestPredict(t *testing.T) {
	ix, err := Open(fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	dev := &Device{Cores: 2, MemBandwidth: 20e9, DiskBandwidth: 1e9, FLOPS: 24e9,
		DecodeRates: map[string]float64{"BF16/256": 2e9, "BF16/768": 2e9}, PrefillRates: map[string]float64{"BF16/256": 4e9, "BF16/768": 4e9}}
	o := Options{Budget: ledger.Unlimited, Ctx: 256, Parallel: 1, Batch: 64, KVType: tensor.F16, Threads: 2, Device: dev}
	full, err := Make(ix, o)
	if err != nil {
		t.Fatal(err)
	}
	// Untied: the embedding is not a matrix product.
	weights := full.WeightBytes - 2048*256*2
	if want := 2e9 / float64(weights); math.Abs(full.PredictedDecodeTPS/want-1) > 1e-9 || full.Bound != "compute" || full.DiskBoundDecodeTPS != 0 {
		t.Errorf("resident: decode %v tok/s (%s), want %v (compute)", full.PredictedDecodeTPS, full.Bound, want)
	}
	if want := 64 * 4e9 / (64 * float64(weights)); math.Abs(full.PredictedPrefillTPS/want-1) > 1e-9 {
		t.Errorf("resident: prefill %v tok/s, want %v", full.PredictedPrefillTPS, want)
	}
	// A calibrated device: the compute steps take ComputeFactor times the
	// rates' prediction; the roofline is still reported.
	dev.ComputeFactor = 1.25
	cal, err := Make(ix, o)
	if err != nil {
		t.Fatal(err)
	}
	if want := 2e9 / float64(weights); math.Abs(cal.RooflineComputeTPS/want-1) > 1e-9 || math.Abs(cal.PredictedDecodeTPS*1.25/want-1) > 1e-9 || cal.ComputeFactor != 1.25 {
		t.Errorf("calibrated: decode %v tok/s, roofline %v, factor %v; want %v, %v, 1.25", cal.PredictedDecodeTPS, cal.RooflineComputeTPS, cal.ComputeFactor, want/1.25, want)
	}
	dev.ComputeFactor = 0
	o.Budget = full.MinimumBytes
	dev.DiskBandwidth = 1e6 // a slow disk: streaming sets the pace
	p, err := Make(ix, o)
	if err != nil || !p.Streaming() {
		t.Fatalf("minimum budget: %v, streams %v", err, p != nil && p.Streaming())
	}
	if want := 1e6 / float64(p.StreamedBytes); math.Abs(p.PredictedDecodeTPS/want-1) > 1e-9 || p.Bound != "disk" || p.DiskBoundDecodeTPS != p.PredictedDecodeTPS {
		t.Errorf("streamed: decode %v tok/s (%s, disk bound %v), want %v (disk)", p.PredictedDecodeTPS, p.Bound, p.DiskBoundDecodeTPS, want)
	}
}

// TestStreamedSpread: the streamed layers are spread over the depth, and
// what does not stream of them is kept whole tensors at a time.
func TestStreamedSpread(t *testing.T) {
	ix, err := Open(fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	o := Options{Budget: ledger.Unlimited, Ctx: 256, Parallel: 1, Batch: 64, KVType: tensor.F16, Threads: 2}
	full, err := Make(ix, o)
	if err != nil {
		t.Fatal(err)
	}
	// Sweep budgets from the minimum to everything resident: each plan
	// fits, leaves less unused than the smallest tensor it streams (or it
	// would keep that one), streams no more than a smaller budget's with
	// the same prompt chunk (a larger budget may buy a larger chunk
	// instead), and spreads its streamed layers (two of gocoder's four:
	// not adjacent).
	prev, prevBatch := int64(math.MaxInt64), 0
	sawTwo := false
	for budget := full.MinimumBytes; budget < full.TotalBytes; budget += 64 << 10 {
		o.Budget = budget
		p, err := Make(ix, o)
		if err != nil || !p.Fits {
			t.Fatalf("budget %d: %v, fits %v", budget, err, p != nil && p.Fits)
		}
		if p.TotalBytes > budget {
			t.Errorf("budget %d: plan total %d over it", budget, p.TotalBytes)
		}
		smallest := int64(math.MaxInt64)
		for _, tp := range p.Tensors {
			if tp.Residency == Streamed {
				smallest = min(smallest, tp.Bytes)
			}
		}
		if p.Batch == o.Batch && budget-p.TotalBytes >= smallest {
			t.Errorf("budget %d: %d bytes unused, but a %d-byte tensor streams", budget, budget-p.TotalBytes, smallest)
		}
		if p.Batch == prevBatch && p.StreamedBytes > prev {
			t.Errorf("budget %d streams %d bytes, a smaller budget %d", budget, p.StreamedBytes, prev)
		}
		if p.Batch < prevBatch {
			t.Errorf("budget %d: prompt chunk %d, a smaller budget's %d", budget, p.Batch, prevBatch)
		}
		prev, prevBatch = p.StreamedBytes, p.Batch
		if len(p.StreamedLayers) == 2 {
			sawTwo = true
			if p.StreamedLayers[1]-p.StreamedLayers[0] < 2 {
				t.Errorf("budget %d: streamed layers %v are adjacent", budget, p.StreamedLayers)
			}
		}
	}
	if !sawTwo {
		t.Error("no budget streamed exactly two layers")
	}
}

// TestPruneKernels: the oldest entries go, but not the one to keep nor
// the newest calibrated one per thread count (k9 and k10 are calibrated,
// k9 the newer; k8 has other threads).
func TestPruneKernels(t *testing.T) {
	m := map[string]*Device{}
	for i := range 12 {
		m[fmt.Sprint("k", i)] = &Device{Threads: 2, MeasuredAt: fmt.Sprintf("2026-01-%02dT00:00:00Z", 20-i)}
	}
	m["k9"].ComputeFactor, m["k10"].ComputeFactor = 1.1, 1.2
	m["k8"].Threads, m["k8"].ComputeFactor = 1, 1.3
	pruneKernels(m, "k11")
	if len(m) != keepKernels || m["k11"] == nil || m["k0"] == nil || m["k9"] == nil || m["k8"] == nil || m["k10"] != nil || m["k7"] != nil {
		t.Errorf("kept %d entries: %v", len(m), slices.Sorted(maps.Keys(m)))
	}
}
