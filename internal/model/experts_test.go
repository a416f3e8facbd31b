package model

import (
	"math"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/plan"
	"github.com/memfit/memfit/internal/tensor"
	"github.com/memfit/memfit/internal/weights"
)

// moeFixtures are the MoE architectures of ../shared/fixtures/archs.
var moeFixtures = []string{"olmoe", "qwen3_moe", "mixtral", "qwen2_moe", "granitemoe"}

// expertPlan is the unlimited plan of the model at path with every routed
// expert moved to an expert cache of slots experts per layer.
func expertPlan(t *testing.T, path string, slots int) *plan.Plan {
	return expertPlanAttn(t, path, slots, false)
}

// expertPlanAttn is expertPlan with, when attn, the attention weights
// streamed layer by layer too.
func expertPlanAttn(t *testing.T, path string, slots int, attn bool) *plan.Plan {
	t.Helper()
	ix, err := plan.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	p, err := plan.Make(ix, plan.Options{Budget: ledger.Unlimited, Ctx: 64, Parallel: 1, Batch: 8, KVType: tensor.F32, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	for i := range p.Tensors {
		switch tp := &p.Tensors[i]; {
		case tp.Kind == plan.KindExperts:
			tp.Residency = plan.Cached
			p.ResidentBytes -= tp.Bytes
		case tp.Kind == plan.KindAttn && attn:
			tp.Residency = plan.Streamed
			p.ResidentBytes -= tp.Bytes
			p.StreamedBytes += tp.Bytes
		}
	}
	p.ExpertLayerSlots = make([]int, len(ix.Spec.Layers))
	for l := range p.ExpertLayerSlots {
		p.ExpertLayerSlots[l] = slots
		p.ExpertSlots += slots
	}
	return p
}

// TestExpertCacheMatchesResident runs MoE fixtures with their experts read
// on demand into caches of various sizes per layer (one expert, fewer than
// a token uses, one token's, half, all), read with Linux AIO or reader
// goroutines, at various queue depths, and checks every logit bit for bit
// against the resident model, and that the cache and its prefetcher did
// real work.
func TestExpertCacheMatchesResident(t *testing.T) {
	ref := readReference(t)
	for _, c := range moeFixtures {
		for _, file := range []string{"hf", c + ".f32.gguf"} {
			path := fixtures.Path(t, "archs", c, file)
			if _, err := plan.Open(path); err != nil {
				continue // no GGUF of this architecture
			}
			resident, V := allPromptLogits(t, path, nil, ref)
			m, err := Load(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			E, K := m.Spec.Experts, m.Spec.ExpertsUsed
			m.Close()
			for _, tc := range []struct {
				slots, readers   int
				attn, goroutines bool
			}{{1, 1, false, false}, {max(K-1, 1), 4, false, true}, {K, 2, true, false}, {E / 2, 4, false, false}, {E / 2, 2, false, true}, {E, 3, false, false}} {
				p := expertPlanAttn(t, path, tc.slots, tc.attn)
				weights.AsyncIO = !tc.goroutines
				got, _, st := expertLogits(t, path, p, ref, tc.readers)
				weights.AsyncIO = true
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(resident[i]) {
						t.Fatalf("%s with %d expert slots per layer (attention streamed: %v): logit %d (row %d) = %v, resident %v", path, tc.slots, tc.attn, i%V, i/V, got[i], resident[i])
					}
				}
				if st.Misses == 0 || st.BytesRead == 0 || st.DemandBytes == 0 {
					t.Errorf("%s, %d slots: %d misses, %d bytes read", path, tc.slots, st.Misses, st.BytesRead)
				}
				if tc.slots == E && (st.PrefetchWasted != 0 || st.Misses+st.Prefetched > int64(E*len(m.Spec.Layers))) {
					t.Errorf("%s: a cache of every expert read %d on demand and %d ahead (%d wasted)", path, st.Misses, st.Prefetched, st.PrefetchWasted)
				}
				if st.Predicted == 0 {
					t.Errorf("%s: the prefetcher guessed nothing", path)
				}
				t.Logf("%s: %d/%d slots per layer, %d readers: hits %d, prefetch hits %d, misses %d, prefetched %d (wasted %d), guesses right %d/%d, read %d bytes (%d on demand), waited %d times",
					path, tc.slots, E, tc.readers, st.Hits, st.PrefetchHits, st.Misses, st.Prefetched, st.PrefetchWasted, st.Correct, st.Predicted, st.BytesRead, st.DemandBytes, st.Waits)
			}
		}
	}
}

func expertLogits(t *testing.T, path string, p *plan.Plan, ref *reference, readers int) ([]float32, int, weights.ExpertStats) {
	t.Helper()
	m, err := Load(path, Options{Threads: 2, Plan: p, ExpertReaders: readers})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	c := m.Experts()
	if c == nil {
		t.Fatal("plan caches experts but the model has no expert cache")
	}
	if c.Async() != (weights.AsyncIO && c.Direct()) {
		t.Fatalf("expert cache reads with AIO: %v; AsyncIO %v, O_DIRECT %v", c.Async(), weights.AsyncIO, c.Direct())
	}
	if p.Streaming() != (m.Streamer() != nil) {
		t.Fatalf("plan streams %d bytes, model streamer %v", p.StreamedBytes, m.Streamer())
	}
	V := m.Spec.Vocab
	var all []float32
	for _, pr := range ref.Prompts {
		ids := make([]int32, len(pr.IDs))
		for i, id := range pr.IDs {
			ids[i] = id % int32(V)
		}
		st, err := m.NewState(64, 4)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float32, len(ids)*V)
		if err := m.Forward(st, ids, out, true); err != nil {
			t.Fatal(err)
		}
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
	if m.Streamer() != nil && m.Streamer().Read() == 0 {
		t.Error("the attention streamer read nothing")
	}
	return all, V, m.ExpertStats()
}

// TestExpertsReadOncePerBatch prefills one batch of 16 tokens (no prefetch:
// batches that large do not guess) from a cold cache of one expert per
// layer, and of every expert, and checks that both read exactly the
// experts the batch's routing used, each once: a cache smaller than a
// layer's batch cycles its experts through the slots without reading any
// twice.
func TestExpertsReadOncePerBatch(t *testing.T) {
	ref := readReference(t)
	path := fixtures.Path(t, "archs", "qwen3_moe", "hf")
	var ids []int32
	for _, pr := range ref.Prompts {
		ids = append(ids, pr.IDs...)
	}
	ids = ids[:16]
	var want int64
	var bytes []int64
	for _, slots := range []int{1, 1 << 20} {
		m, err := Load(path, Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		E := m.Spec.Experts
		for i := range ids {
			ids[i] %= int32(m.Spec.Vocab)
		}
		m.Close()
		p := expertPlan(t, path, min(slots, E))
		if m, err = Load(path, Options{Threads: 2, Plan: p}); err != nil {
			t.Fatal(err)
		}
		var used int64
		m.OnRoute = func(_ int, experts []int32) { used += int64(len(experts)) }
		st, err := m.NewState(64, 16)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float32, m.Spec.Vocab)
		if err := m.Forward(st, ids, out, false); err != nil {
			t.Fatal(err)
		}
		s := m.ExpertStats()
		st.Release()
		m.Close()
		if want == 0 {
			want = used
		}
		if used != want || s.Misses != used || s.Hits+s.PrefetchHits != 0 || s.Prefetched != 0 || s.BytesRead != s.DemandBytes {
			t.Errorf("%d slots per layer: the batch used %d experts (first run %d); misses %d, hits %d+%d, prefetched %d, read %d bytes (%d on demand)",
				slots, used, want, s.Misses, s.Hits, s.PrefetchHits, s.Prefetched, s.BytesRead, s.DemandBytes)
		}
		bytes = append(bytes, s.DemandBytes)
	}
	if bytes[0] != bytes[1] {
		t.Errorf("one slot per layer read %d bytes, a cache of every expert %d: some expert was read twice", bytes[0], bytes[1])
	}
}

// TestExpertDecodeAllocs checks that a decode step through an expert cache
// that misses, evicts and prefetches allocates nothing.
func TestExpertDecodeAllocs(t *testing.T) {
	path := fixtures.Path(t, "archs", "qwen3_moe", "hf")
	for _, slots := range []int{1, 2, 3} {
		m, err := Load(path, Options{Threads: 2, Plan: expertPlan(t, path, slots)})
		if err != nil {
			t.Fatal(err)
		}
		st, err := m.NewState(512, 4)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float32, m.Spec.Vocab)
		tok := []int32{5}
		step := func() {
			tok[0] = (tok[0]*31 + 7) % int32(m.Spec.Vocab) // vary the routing
			if err := m.Forward(st, tok, out, false); err != nil {
				t.Fatal(err)
			}
		}
		for range 5 { // warm-up
			step()
		}
		before := m.ExpertStats()
		allocs := testing.AllocsPerRun(100, step)
		s := m.ExpertStats().Sub(before)
		if allocs != 0 {
			t.Errorf("%d slots per layer: a decode step allocates %v times, want 0", slots, allocs)
		}
		if s.Misses == 0 {
			t.Errorf("%d slots per layer: no misses in %d steps: the test does not exercise reads", slots, 101)
		}
		t.Logf("%d slots per layer: %+v", slots, s)
		st.Release()
		m.Close()
	}
}
