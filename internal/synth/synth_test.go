package synth

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/memfit/memfit/internal/model"
	"github.com/memfit/memfit/internal/tokenizer"
)

func TestParams(t *testing.T) {
	tests := []struct {
		shape string
		want  float64 // billions, the real models' counts
	}{
		{"llama-3.2-1b", 1.236},
		{"llama-3.1-8b", 8.030},
		{"qwen3-4b", 4.022},
		{"olmoe-1b-7b", 6.919},
		{"qwen3-30b-a3b", 30.53},
	}
	for _, tt := range tests {
		s, err := Lookup(tt.shape)
		if err != nil {
			t.Fatal(err)
		}
		got := float64(s.Params()) / 1e9
		if math.Abs(got-tt.want)/tt.want > 0.01 {
			t.Errorf("%s: %.3fB parameters, want %.3fB ±1%%", tt.shape, got, tt.want)
		}
	}
	if _, err := Lookup("gpt-5"); err == nil {
		t.Error("unknown shape: no error")
	}
	if _, err := LookupType("Q3_XS"); err == nil {
		t.Error("unknown type: no error")
	}
}

// TestTinyModelsRun writes every tiny shape in several types, loads it in
// memfit and generates 64 tokens, checking the logits stay finite and (for
// MoE) that routing changes from token to token.
func TestTinyModelsRun(t *testing.T) {
	dir := t.TempDir()
	for _, shape := range []string{"tiny-llama", "tiny-moe"} {
		for _, typ := range []string{"F32", "BF16", "Q8_0", "Q4_0", "Q4_K_M"} {
			s, _ := Lookup(shape)
			ft, _ := LookupType(typ)
			path := filepath.Join(dir, shape+"-"+typ+".gguf")
			if err := WriteFile(path, s, ft, Options{Seed: 3}); err != nil {
				t.Fatal(err)
			}
			m, err := model.Load(path, model.Options{Threads: 2})
			if err != nil {
				t.Fatalf("%s %s: %v", shape, typ, err)
			}
			tok, err := tokenizer.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			if got := tok.Decode(tok.Encode("func main() { return 42 }", false), false); got != "func main() { return 42 }" {
				t.Errorf("%s: tokenizer round trip gives %q", shape, got)
			}
			st, err := m.NewState(128, 16)
			if err != nil {
				t.Fatal(err)
			}
			out := make([]float32, m.Spec.Vocab)
			id := int32(1)
			seen := map[int32]bool{}
			for i := range 64 {
				if err := m.Forward(st, []int32{id}, out, false); err != nil {
					t.Fatal(err)
				}
				best := 0
				for j, v := range out {
					if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
						t.Fatalf("%s %s: token %d: logit %d is %v", shape, typ, i, j, v)
					}
					if v > out[best] {
						best = j
					}
				}
				seen[int32(best)] = true
				id = int32((best + i*7919) % m.Spec.Vocab) // vary the input
			}
			st.Release()
			m.Close()
			if len(seen) < 4 {
				t.Errorf("%s %s: only %d distinct top tokens in 64 steps", shape, typ, len(seen))
			}
		}
	}
}

// TestRoutingVaries runs the tiny MoE model over many tokens and checks
// that consecutive tokens do not all pick the same experts: a cache must
// not be flattered by degenerate routing.
func TestRoutingVaries(t *testing.T) {
	s, _ := Lookup("tiny-moe")
	ft, _ := LookupType("BF16")
	path := filepath.Join(t.TempDir(), "moe.gguf")
	if err := WriteFile(path, s, ft, Options{Seed: 5}); err != nil {
		t.Fatal(err)
	}
	m, err := model.Load(path, model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	reuse, distinct, err := RoutingStats(m, 200)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("tiny-moe: consecutive-token expert reuse %.2f, distinct expert sets %d of 200", reuse, distinct)
	if reuse > 0.8 || distinct < 50 {
		t.Errorf("routing too stable: reuse %.2f, %d distinct sets", reuse, distinct)
	}
}

func TestDeterministic(t *testing.T) {
	s, _ := Lookup("tiny-moe")
	ft, _ := LookupType("Q4_K_M")
	dir := t.TempDir()
	write := func(name string, seed uint64) []byte {
		p := filepath.Join(dir, name)
		if err := WriteFile(p, s, ft, Options{Seed: seed}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := write("a", 1), write("b", 1), write("c", 2)
	if !bytes.Equal(a, b) {
		t.Error("same seed gave different files")
	}
	if bytes.Equal(a, c) {
		t.Error("seeds 1 and 2 gave the same file")
	}
}
