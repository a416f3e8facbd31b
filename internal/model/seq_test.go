package model

import (
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/tensor"
)

// TestMultiSequenceBatch runs the four gocoder prompts as one batch of four
// sequences (prefill), then decodes one token of each in a batch of four,
// and checks both against running each sequence alone.
func TestMultiSequenceBatch(t *testing.T) {
	ref := readReference(t)
	for _, dir := range []string{
		fixtures.Path(t, "archs", "qwen2_moe", "hf"),
		fixtures.Path(t, "models", "gocoder", "hf"),
	} {
		m, err := Load(dir, Options{Threads: 2})
		if err != nil {
			t.Fatal(err)
		}
		V := m.Spec.Vocab
		var prompts [][]int32
		for _, p := range ref.Prompts {
			ids := make([]int32, len(p.IDs))
			for i, id := range p.IDs {
				ids[i] = id % int32(V)
			}
			prompts = append(prompts, ids)
		}
		next := []int32{7, 11, 13, 17}

		// Alone: prefill, then one decode step.
		var alonePrefill, aloneDecode [][]float32
		for i, ids := range prompts {
			st, err := m.NewState(64, 64)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]float32, V)
			if err := m.Forward(st, ids, out, false); err != nil {
				t.Fatal(err)
			}
			alonePrefill = append(alonePrefill, out)
			out2 := make([]float32, V)
			if err := m.Forward(st, next[i:i+1], out2, false); err != nil {
				t.Fatal(err)
			}
			aloneDecode = append(aloneDecode, out2)
			st.Release()
		}

		// Together.
		total := 0
		for _, ids := range prompts {
			total += len(ids)
		}
		sc, err := m.NewScratch(total, 64)
		if err != nil {
			t.Fatal(err)
		}
		var seqs []*Seq
		var b Batch
		for _, ids := range prompts {
			s, err := m.NewSeq(64, tensor.F32)
			if err != nil {
				t.Fatal(err)
			}
			seqs = append(seqs, s)
			for j, id := range ids {
				b.Tokens = append(b.Tokens, id)
				b.Seqs = append(b.Seqs, s)
				b.Logits = append(b.Logits, j == len(ids)-1)
			}
		}
		out := make([]float32, len(prompts)*V)
		if err := m.Run(sc, b, out); err != nil {
			t.Fatal(err)
		}
		for i := range prompts {
			if seqs[i].Pos != len(prompts[i]) {
				t.Errorf("%s: sequence %d holds %d tokens after prefill, want %d", dir, i, seqs[i].Pos, len(prompts[i]))
			}
			compareLogits(t, dir, "prefill", i, out[i*V:(i+1)*V], alonePrefill[i])
		}
		d := Batch{Tokens: next, Seqs: seqs, Logits: []bool{true, true, true, true}}
		if err := m.Run(sc, d, out); err != nil {
			t.Fatal(err)
		}
		for i := range prompts {
			compareLogits(t, dir, "decode", i, out[i*V:(i+1)*V], aloneDecode[i])
		}
		// A sequence's tokens split by another's is an error.
		bad := Batch{Tokens: []int32{1, 2, 3}, Seqs: []*Seq{seqs[0], seqs[1], seqs[0]}}
		if err := m.Run(sc, bad, out); err == nil {
			t.Errorf("%s: interleaved sequence tokens: no error", dir)
		}
		for _, s := range seqs {
			s.Release()
		}
		sc.Release()
		m.Close()
	}
}

func compareLogits(t *testing.T, dir, what string, seq int, got, want []float32) {
	t.Helper()
	for j := range got {
		if d := abs(float64(got[j] - want[j])); d > 1e-4 {
			t.Errorf("%s: %s sequence %d logit %d: batched %v, alone %v", dir, what, seq, j, got[j], want[j])
			return
		}
	}
}

// TestF16Cache checks that an f16 KV cache gives logits close to the f32
// cache's and the same greedy choice at every position of every gocoder
// prompt.
func TestF16Cache(t *testing.T) {
	ref := readReference(t)
	m, err := Load(fixtures.Path(t, "models", "gocoder", "hf"), Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	V := m.Spec.Vocab
	sc, err := m.NewScratch(1, 64)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Release()
	for _, p := range ref.Prompts {
		var logits [2][]float32
		for k, dt := range []tensor.DType{tensor.F32, tensor.F16} {
			s, err := m.NewSeq(64, dt)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]float32, len(p.IDs)*V)
			for i, id := range p.IDs {
				b := Batch{Tokens: []int32{id}, Seqs: []*Seq{s}}
				if err := m.Run(sc, b, out[i*V:(i+1)*V]); err != nil {
					t.Fatal(err)
				}
			}
			logits[k] = out
			s.Release()
		}
		worst := 0.0
		for i := range logits[0] {
			worst = max(worst, abs(float64(logits[0][i]-logits[1][i])))
		}
		if worst > 0.05 {
			t.Errorf("%q: f16 cache max |Δ| = %.3g from f32, want ≤ 0.05", p.Prompt, worst)
		}
		for pos := range p.IDs {
			a := topK(logits[0][pos*V:(pos+1)*V], 1)[0]
			b := topK(logits[1][pos*V:(pos+1)*V], 1)[0]
			if a != b {
				t.Errorf("%q position %d: f16 cache picks %d, f32 %d", p.Prompt, pos, b, a)
			}
		}
		t.Logf("%q: f16 cache max |Δ| = %.3g", p.Prompt, worst)
	}
}
