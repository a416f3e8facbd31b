package model

import (
	"encoding/json"
	"os"
	"sort"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
)

// reference is the part of models/gocoder/reference.json these tests use.
type reference struct {
	Prompts []struct {
		Prompt    string    `json:"prompt"`
		IDs       []int32   `json:"ids"`
		Last      []float64 `json:"last_logits"`
		Top10     [][]int   `json:"top10_per_position"`
		GreedyIDs []int32   `json:"greedy_ids"`
	} `json:"prompts"`
}

func readReference(t testing.TB) *reference {
	b, err := os.ReadFile(fixtures.Path(t, "models", "gocoder", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Prompts) != 4 {
		t.Fatalf("%d prompts in reference.json, want 4", len(r.Prompts))
	}
	return &r
}

// topK returns the k highest-logit ids, best first, ties by lower id.
func topK(row []float32, k int) []int {
	ids := make([]int, len(row))
	for i := range ids {
		ids[i] = i
	}
	sort.SliceStable(ids, func(a, b int) bool { return row[ids[a]] > row[ids[b]] })
	return ids[:k]
}

// TestGocoder checks the last-position logits (within 1e-3) and the top-10
// ids at every position of every reference prompt, from the HF folder and
// the bf16 GGUF.
func TestGocoder(t *testing.T) {
	ref := readReference(t)
	for _, path := range []string{
		fixtures.Path(t, "models", "gocoder", "hf"),
		fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"),
	} {
		m, err := Load(path, Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ref.Prompts {
			t.Run(m.Weights.Format.String()+"/"+p.Prompt, func(t *testing.T) {
				st, err := m.NewState(64, 32)
				if err != nil {
					t.Fatal(err)
				}
				defer st.Release()
				V := m.Spec.Vocab
				out := make([]float32, len(p.IDs)*V)
				if err := m.Forward(st, p.IDs, out, true); err != nil {
					t.Fatal(err)
				}
				last := out[(len(p.IDs)-1)*V:]
				worst := 0.0
				for i, w := range p.Last {
					worst = max(worst, abs(float64(last[i])-w))
				}
				if worst > 1e-3 {
					t.Errorf("last-position max |Δ| = %.3g, want ≤ 1e-3", worst)
				}
				for pos, want := range p.Top10 {
					got := topK(out[pos*V:(pos+1)*V], 10)
					for i := range want {
						if got[i] != want[i] {
							t.Errorf("position %d: top10 %v, want %v", pos, got, want)
							break
						}
					}
				}
				t.Logf("last-position max |Δ| = %.3g", worst)
			})
		}
		m.Close()
	}
}

// TestDecodeMatchesPrefill runs a prompt one token at a time (the decode
// path) and checks every step's logits against one batched prefill.
func TestDecodeMatchesPrefill(t *testing.T) {
	for _, c := range []string{"gemma2", "qwen2_moe", "granitemoe", "mistral"} {
		t.Run(c, func(t *testing.T) {
			dir := fixtures.Path(t, "archs", c)
			e := readExpected(t, dir)
			batched, V := allLogits(t, dir+"/hf", e.Tokens, 64)
			m, err := Load(dir+"/hf", Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			st, err := m.NewState(len(e.Tokens), 1)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Release()
			out := make([]float32, V)
			for i, tok := range e.Tokens {
				if err := m.Forward(st, []int32{tok}, out, false); err != nil {
					t.Fatal(err)
				}
				for j := range out {
					if d := abs(float64(out[j] - batched[i*V+j])); d > 1e-5 {
						t.Fatalf("position %d logit %d: decode %v, prefill %v", i, j, out[j], batched[i*V+j])
					}
				}
			}
		})
	}
}

func TestDecodeAllocatesNothing(t *testing.T) {
	m, err := Load(fixtures.Path(t, "archs", "qwen2_moe", "hf"), Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	st, err := m.NewState(512, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Release()
	out := make([]float32, m.Spec.Vocab)
	tok := []int32{5}
	if err := m.Forward(st, tok, out, false); err != nil { // warm-up
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := m.Forward(st, tok, out, false); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("decode step allocates %v times, want 0", allocs)
	}
}

func TestForwardErrors(t *testing.T) {
	m, err := Load(fixtures.Path(t, "archs", "llama", "hf"), Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	st, err := m.NewState(4, 4)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Release()
	out := make([]float32, 8*m.Spec.Vocab)
	if err := m.Forward(st, []int32{1, 2, 3, 4, 5}, out, true); err == nil {
		t.Error("5 tokens in a 4-token context: no error")
	}
	if err := m.Forward(st, []int32{int32(m.Spec.Vocab)}, out, false); err == nil {
		t.Error("token outside the vocabulary: no error")
	}
	if err := m.Forward(st, []int32{1, 2}, out[:10], true); err == nil {
		t.Error("short logits buffer: no error")
	}
}

func abs(x float64) float64 {
	if x < 0 {
		return -x
	}
	return x
}
