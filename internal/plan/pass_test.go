package plan

import (
	"math"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/tensor"
)

// TestDecodePasses: the passes of the gocoder fixture are its layers'
// products in the forward pass's groups and its output projection, and
// for every architecture fixture (dense, MoE, shared experts, fused
// tensors) the passes hold exactly the bytes of the matrices a decoded
// token multiplies with, routed experts aside.
func TestDecodePasses(t *testing.T) {
	ix, err := Open(fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	ps := ix.DecodePasses(ledger.Unlimited)
	want := []struct {
		pass  string
		count int
	}{
		{"[BF16/256x256 BF16/256x128 BF16/256x128][BF16/256x256][BF16/256x768 BF16/256x768][BF16/768x256]", 4},
		{"[BF16/256x2048]", 1},
	}
	if len(ps) != len(want) {
		t.Fatalf("gocoder: %d passes %v, want %d", len(ps), ps, len(want))
	}
	for i, w := range want {
		if ps[i].Pass.String() != w.pass || ps[i].Count != w.count {
			t.Errorf("gocoder pass %d: %v × %d, want %s × %d", i, ps[i].Pass, ps[i].Count, w.pass, w.count)
		}
	}
	// A model smaller than the footprint has each pass timed in as much
	// memory as its decode step reads (7,340,032 bytes): the layer
	// (1,572,864 bytes) in 5 copies, the output projection (1,048,576) in 7.
	if ps[0].Copies != 5 || ps[1].Copies != 7 {
		t.Errorf("gocoder copies %d and %d, want 5 and 7", ps[0].Copies, ps[1].Copies)
	}
	// Under a budget, a quarter of it: 1 MiB is the output in one copy
	// and less than the layer, which is then timed alone.
	if ps := ix.DecodePasses(4 << 20); ps[0].Copies != 1 || ps[1].Copies != 1 {
		t.Errorf("gocoder under 4 MiB: copies %d and %d, want 1 and 1", ps[0].Copies, ps[1].Copies)
	}

	for _, c := range []string{"llama", "qwen3", "qwen2", "phi3", "gemma2", "qwen3_moe", "qwen2_moe", "olmoe", "mixtral"} {
		ix, err := Open(fixtures.Path(t, "archs", c, "hf"))
		if err != nil {
			t.Fatal(err)
		}
		ps := ix.DecodePasses(ledger.Unlimited)
		if ps == nil {
			t.Errorf("%s: no passes", c)
			continue
		}
		var inPasses, layers int64
		for _, p := range ps {
			inPasses += int64(p.Count) * p.Pass.Bytes()
			if !strings.HasPrefix(p.Pass.String(), "[") || p.Copies < 1 {
				t.Errorf("%s: pass %v in %d copies", c, p.Pass, p.Copies)
			}
			for _, g := range p.Pass {
				for _, m := range g {
					if m.Cols != g[0].Cols {
						t.Errorf("%s: group %v mixes row lengths", c, g)
					}
				}
			}
			if len(p.Pass) > 1 {
				layers += int64(p.Count)
			}
		}
		var matrices int64
		for _, tt := range ix.Tensors {
			switch tt.Kind {
			case KindAttn, KindFFN, KindRouter, KindShared, KindOutput:
				matrices += tt.Bytes
			case KindEmbed:
				if ix.Spec.Tied {
					matrices += tt.Bytes
				}
			}
		}
		if inPasses != matrices || layers != int64(len(ix.Spec.Layers)) {
			t.Errorf("%s: passes hold %d bytes in %d layers, the matrices %d bytes in %d layers", c, inPasses, layers, matrices, len(ix.Spec.Layers))
		}
	}
}

// TestPassFootprint: the probe times passes in as much memory as the
// model's decode step reads, up to 1 GiB and a quarter of the budget.
func TestPassFootprint(t *testing.T) {
	tests := []struct{ model, budget, want int64 }{
		{100 << 20, 16 << 30, 100 << 20},
		{4 << 30, 16 << 30, 1 << 30},
		{4 << 30, 3 << 30, 768 << 20},
		{700 << 20, 350 << 20, 350 << 18},
		{4 << 30, 0, 1 << 30},
	}
	for _, tc := range tests {
		if got := PassFootprint(tc.model, tc.budget); got != tc.want {
			t.Errorf("PassFootprint(%d, %d) = %d, want %d", tc.model, tc.budget, got, tc.want)
		}
	}
}

// TestDiskTime: a step's reads take read ÷ the streamer's observed rate
// once there is one; from the probe alone, the disk's rate beside compute
// for as long as the forward pass computes and its idle rate for the rest;
// all at the rate beside compute when that covers them; read ÷ the figure
// when the probe has no idle rate.
func TestDiskTime(t *testing.T) {
	probe := Device{DiskBandwidth: 2e9, DiskProbed: 2e9, DiskIdle: 4e9}
	runs := probe
	runs.DiskSamples, runs.DiskBandwidth = []float64{3e9}, 3e9
	old := Device{DiskBandwidth: 2e9}
	for _, tc := range []struct {
		name          string
		d             Device
		read, compute float64
		want          float64
	}{
		{"probe, disk bound", probe, 6e9, 1, 1 + 4e9/4e9},
		{"probe, compute bound", probe, 1e9, 1, 0.5},
		{"probe, no compute", probe, 6e9, 0, 1.5},
		{"runs observed", runs, 6e9, 1, 2},
		{"no idle rate", old, 6e9, 1, 3},
	} {
		if got := diskTime(tc.read, tc.compute, &tc.d); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: diskTime(%v, %v) = %v, want %v", tc.name, tc.read, tc.compute, got, tc.want)
		}
	}
}

// TestPredictPasses: with every pass timed, the compute step is the
// passes' times (times their counts) plus the routed experts at their
// kernel rate; with one pass untimed it falls back to the rates.
func TestPredictPasses(t *testing.T) {
	for _, c := range []struct {
		path []string
		moe  bool
	}{{[]string{"models", "gocoder", "gocoder.bf16.gguf"}, false}, {[]string{"archs", "qwen3_moe", "hf"}, true}} {
		ix, err := Open(fixtures.Path(t, c.path...))
		if err != nil {
			t.Fatal(err)
		}
		dev := &Device{Cores: 2, MemBandwidth: 20e9, DiskBandwidth: 1e9, FLOPS: 24e9, DecodeRates: map[string]float64{}, PassTimes: map[string]float64{}}
		o := Options{Budget: ledger.Unlimited, Ctx: 64, Parallel: 1, Batch: 8, KVType: tensor.F32, Threads: 2, Device: dev}
		ps := ix.DecodePasses(o.Budget)
		want := 0.0
		for i, p := range ps {
			dev.PassTimes[p.key()] = float64(i+1) * 1e-3
			want += float64(p.Count) * float64(i+1) * 1e-3
		}
		experts := 0.0
		for _, tt := range ix.Tensors {
			if tt.Kind == KindExperts {
				dev.DecodeRates[MatrixKind{tt.Type, tt.Cols}.String()] = 1e9
				experts += float64(tt.Bytes) * float64(ix.Spec.ExpertsUsed) / float64(ix.Spec.Experts) / 1e9
			}
		}
		if c.moe != (experts > 0) {
			t.Fatalf("%v: routed experts %v s, want some: %v", c.path, experts, c.moe)
		}
		p, err := Make(ix, o)
		if err != nil {
			t.Fatal(err)
		}
		if got := 1 / p.RooflineComputeTPS; math.Abs(got/(want+experts)-1) > 1e-9 || p.ComputeBasis != "passes" {
			t.Errorf("%v: compute step %v s from %q, want %v s from passes", c.path, got, p.ComputeBasis, want+experts)
		}
		delete(dev.PassTimes, ps[len(ps)-1].key())
		if p, err = Make(ix, o); err != nil || p.ComputeBasis != "rates" {
			t.Errorf("%v: one pass untimed: basis %q (%v), want rates", c.path, p.ComputeBasis, err)
		}
	}
}
