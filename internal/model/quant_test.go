package model_test

import (
	"path/filepath"
	"testing"

	"github.com/memfit/memfit/internal/model"
	"github.com/memfit/memfit/internal/synth"
)

// TestQuantizedDecodeAllocatesNothing runs small random-weight models in
// the quantized file types (their kernels, activation quantization and
// shared-input products) and checks that a decode step allocates nothing
// once warm, and that prefill of a prompt in one batch gives the last
// token's logits bit for bit as feeding it token by token (the kernels are
// batch invariant; attention over the same cache positions is too).
func TestQuantizedDecodeAllocatesNothing(t *testing.T) {
	s, err := synth.Lookup("tiny-llama")
	if err != nil {
		t.Fatal(err)
	}
	for _, typ := range []string{"Q4_0", "Q8_0", "Q4_K_M", "Q5_K_M", "Q6_K"} {
		t.Run(typ, func(t *testing.T) {
			ft, err := synth.LookupType(typ)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(t.TempDir(), "m.gguf")
			if err := synth.WriteFile(path, s, ft, synth.Options{Seed: 3}); err != nil {
				t.Fatal(err)
			}
			m, err := model.Load(path, model.Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			prompt := []int32{1, 17, 300, 42, 7, 999, 5}
			V := m.Spec.Vocab
			batched := make([]float32, V)
			st, err := m.NewState(64, 8)
			if err != nil {
				t.Fatal(err)
			}
			defer st.Release()
			if err := m.Forward(st, prompt, batched, false); err != nil {
				t.Fatal(err)
			}
			st2, err := m.NewState(64, 8)
			if err != nil {
				t.Fatal(err)
			}
			defer st2.Release()
			one := make([]float32, V)
			for _, tok := range prompt {
				if err := m.Forward(st2, []int32{tok}, one, false); err != nil {
					t.Fatal(err)
				}
			}
			for j := range one {
				if one[j] != batched[j] {
					t.Fatalf("logit %d: token by token %v, prompt in one batch %v", j, one[j], batched[j])
				}
			}
			tok := []int32{5}
			allocs := testing.AllocsPerRun(20, func() {
				if err := m.Forward(st2, tok, one, false); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 {
				t.Errorf("decode step allocates %v times, want 0", allocs)
			}
		})
	}
}
