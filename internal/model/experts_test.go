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

// expertPlan is the unlimited plan of the model at path with every routed
// expert moved to an expert cache of the given number of slots.
func expertPlan(t *testing.T, path string, slots int) *plan.Plan {
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
		if p.Tensors[i].Kind == plan.KindExperts {
			p.Tensors[i].Residency = plan.Cached
			p.ResidentBytes -= p.Tensors[i].Bytes
		}
	}
	p.ExpertSlots = slots
	return p
}

// TestExpertCacheMatchesResident runs MoE fixtures with their experts read
// on demand into caches of various sizes (the smallest that runs, about
// half, all) and checks every logit bit for bit against the resident model,
// and that the cache and its prefetcher did real work.
func TestExpertCacheMatchesResident(t *testing.T) {
	ref := readReference(t)
	for _, c := range []string{"olmoe", "qwen3_moe", "mixtral"} {
		for _, file := range []string{"hf", c + ".f32.gguf"} {
			path := fixtures.Path(t, "archs", c, file)
			resident, V := allPromptLogits(t, path, nil, ref)
			m, err := Load(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			E, K, L := m.Spec.Experts, m.Spec.ExpertsUsed, len(m.Spec.Layers)
			m.Close()
			// Prompts are prefilled in micro-batches of 4 tokens: up to
			// 4·K experts of a layer are pinned at once.
			for _, slots := range []int{min(4*K, E), E + 1, E * L} {
				p := expertPlan(t, path, slots)
				got, _, st := expertLogits(t, path, p, ref)
				for i := range got {
					if math.Float32bits(got[i]) != math.Float32bits(resident[i]) {
						t.Fatalf("%s with %d expert slots: logit %d (row %d) = %v, resident %v", path, slots, i%V, i/V, got[i], resident[i])
					}
				}
				if st.Misses == 0 || st.BytesRead == 0 {
					t.Errorf("%s, %d slots: %d misses, %d bytes read", path, slots, st.Misses, st.BytesRead)
				}
				if slots == E*L && st.Misses > int64(E*L)+st.Prefetched {
					t.Errorf("%s: a cache of every expert missed %d times", path, st.Misses)
				}
				if st.Predicted == 0 {
					t.Errorf("%s: the prefetcher guessed nothing", path)
				}
				t.Logf("%s: %d/%d slots: hits %d misses %d, prefetched %d (used %d), guesses right %d/%d, read %d bytes",
					path, slots, E*L, st.Hits, st.Misses, st.Prefetched, st.PrefetchUsed, st.Correct, st.Predicted, st.BytesRead)
			}
		}
	}
}

func expertLogits(t *testing.T, path string, p *plan.Plan, ref *reference) ([]float32, int, weights.ExpertStats) {
	t.Helper()
	m, err := Load(path, Options{Threads: 2, Plan: p})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if m.Experts() == nil {
		t.Fatal("plan caches experts but the model has no expert cache")
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
	return all, V, m.Experts().Stats()
}
