package model

import (
	"math"
	"runtime"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/plan"
	"github.com/memfit/memfit/internal/tensor"
)

// TestStreamedMatchesResident runs gocoder with layers streamed from disk
// (at the minimum budget: every layer streams; and at a budget between:
// some stay resident) and checks every position's logits are bit for bit
// the resident model's, and that the ledger never goes over the budget.
func TestStreamedMatchesResident(t *testing.T) {
	ref := readReference(t)
	for _, path := range []string{
		fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"),
		fixtures.Path(t, "models", "gocoder", "hf"),
	} {
		ix, err := plan.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		opt := plan.Options{Budget: ledger.Unlimited, Ctx: 64, Parallel: 1, Batch: 32, KVType: tensor.F32, Threads: 2}
		full, err := plan.Make(ix, opt)
		if err != nil {
			t.Fatal(err)
		}
		if full.Streaming() || !full.Fits {
			t.Fatalf("%s: unlimited plan streams %d bytes", path, full.StreamedBytes)
		}
		resident, V := allPromptLogits(t, path, nil, ref)
		for _, budget := range []int64{full.MinimumBytes, full.TotalBytes - 1} {
			opt.Budget = budget
			p, err := plan.Make(ix, opt)
			if err != nil {
				t.Fatal(err)
			}
			// One byte short of the whole model, an untied embedding read
			// a row at a time is enough: that path is checked too.
			if !p.Fits || (!p.Streaming() && !(p.EmbedOnDemand && budget == full.TotalBytes-1)) {
				t.Fatalf("%s: budget %d: fits %v, streams %d bytes, embedding on demand %v", path, budget, p.Fits, p.StreamedBytes, p.EmbedOnDemand)
			}
			got, _ := allPromptLogits(t, path, p, ref)
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(resident[i]) {
					t.Fatalf("%s: budget %d (%d of %d layers streamed): logit %d (position %d) = %v, resident %v", path, budget, len(p.StreamedLayers), len(ix.Spec.Layers), i%V, i/V, got[i], resident[i])
				}
			}
			t.Logf("%s: budget %s: %d layers streamed, %s per pass, embedding on demand %v", path, ledger.FormatBytes(budget), len(p.StreamedLayers), ledger.FormatBytes(p.StreamedBytes), p.EmbedOnDemand)
		}
	}
}

// allPromptLogits runs every reference prompt (ids taken modulo the
// vocabulary) and returns all positions' logits, checking the ledger
// against p's budget.
func allPromptLogits(t *testing.T, path string, p *plan.Plan, ref *reference) ([]float32, int) {
	t.Helper()
	l := ledger.New(ledger.Unlimited)
	if p != nil {
		l = ledger.New(p.Budget)
		if _, err := l.Reserve("runtime", p.OverheadBytes); err != nil {
			t.Fatal(err)
		}
	}
	m, err := Load(path, Options{Threads: 2, Ledger: l, Plan: p})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if p != nil && p.Streaming() && m.Streamer() == nil {
		t.Fatal("plan streams but the model has no streamer")
	}
	if p != nil {
		// The resident matrices were read out of the mapping into memory,
		// taking what the plan counts for them and their alignment.
		got := m.Weights.ResidentRegionBytes()
		if got < p.ResidentBytes || got > p.ResidentBytes+p.ResidentAlignBytes {
			t.Errorf("resident weights read into %d bytes of memory; the plan has %d bytes resident and up to %d of alignment", got, p.ResidentBytes, p.ResidentAlignBytes)
		}
	}
	V := m.Spec.Vocab
	var all []float32
	for _, pr := range ref.Prompts {
		ids := make([]int32, len(pr.IDs))
		for i, id := range pr.IDs {
			ids[i] = id % int32(V)
		}
		st, err := m.NewState(64, 4) // micro-batches of 4: several passes per prompt
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float32, len(ids)*V)
		if err := m.Forward(st, ids, out, true); err != nil {
			t.Fatal(err)
		}
		// And a few decode steps.
		step := make([]float32, V)
		for k := range 3 {
			if err := m.Forward(st, []int32{int32(k + 5)}, step, false); err != nil {
				t.Fatal(err)
			}
			out = append(out, step...)
		}
		all = append(all, out...)
		st.Release()
	}
	if p != nil && l.Peak() > p.Budget {
		t.Errorf("ledger peak %d over the budget %d", l.Peak(), p.Budget)
	}
	if p != nil && p.Streaming() && m.Streamer().Read() == 0 {
		t.Error("streamer read nothing")
	}
	runtime.KeepAlive(m)
	return all, V
}

// TestPlanFormulas checks that the planner's KV and scratch sizes are what
// the model reserves.
func TestPlanFormulas(t *testing.T) {
	m, err := Load(fixtures.Path(t, "archs", "qwen2_moe", "hf"), Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, dt := range []tensor.DType{tensor.F32, tensor.F16} {
		before := m.Ledger().Used()
		seq, err := m.NewSeq(100, dt)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := m.Ledger().Used()-before, plan.KVBytes(m.Spec, dt, 100); got != want {
			t.Errorf("%v cache of 100: reserved %d, plan says %d", dt, got, want)
		}
		seq.Release()
	}
	before := m.Ledger().Used()
	sc, err := m.NewScratch(16, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.Ledger().Used()-before, plan.ScratchBytes(m.Spec, 16, 100, m.Threads()); got != want {
		t.Errorf("scratch: reserved %d, plan says %d", got, want)
	}
	sc.Release()
}

// TestStreamedDecodeAllocatesNothing: a decode step with layers streaming
// from disk allocates nothing after warm-up (the readers are persistent;
// acquiring a layer only waits).
func TestStreamedDecodeAllocatesNothing(t *testing.T) {
	path := fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf")
	ix, err := plan.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	opt := plan.Options{Budget: ledger.Unlimited, Ctx: 64, Parallel: 1, Batch: 8, KVType: tensor.F32, Threads: 2}
	full, err := plan.Make(ix, opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.Budget = full.MinimumBytes
	p, err := plan.Make(ix, opt)
	if err != nil || !p.Streaming() {
		t.Fatalf("minimum plan: %v, streams %v", err, p != nil && p.Streaming())
	}
	l := ledger.New(p.Budget)
	if _, err := l.Reserve("runtime", p.OverheadBytes); err != nil {
		t.Fatal(err)
	}
	m, err := Load(path, Options{Threads: 2, Ledger: l, Plan: p})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	st, err := m.NewState(64, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Release()
	out := make([]float32, m.Spec.Vocab)
	for range 3 { // warm-up
		if err := m.Forward(st, []int32{5}, out, false); err != nil {
			t.Fatal(err)
		}
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := m.Forward(st, []int32{7}, out, false); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("streamed decode step allocates %v times, want 0", allocs)
	}
}
