package model

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
)

// expected is an archs/<case>/expected.json.
type expected struct {
	Case            string             `json:"case"`
	Tokens          []int32            `json:"tokens"`
	Logits          [][]float64        `json:"logits"`
	GGUFLogits      [][]float64        `json:"gguf_logits"`
	Top5            [][]int            `json:"top5_ids"`
	ToleranceByFile map[string]float64 `json:"tolerance_by_file"`
}

func readExpected(t *testing.T, dir string) *expected {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	var e expected
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	if len(e.Tokens) == 0 || len(e.Logits) != len(e.Tokens) {
		t.Fatalf("%s: %d tokens, %d logit rows", dir, len(e.Tokens), len(e.Logits))
	}
	return &e
}

// allLogits runs tokens through the model at path and returns every
// position's logits.
func allLogits(t *testing.T, path string, tokens []int32, batch int) ([]float32, int) {
	t.Helper()
	m, err := Load(path, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	st, err := m.NewState(len(tokens)+8, batch)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Release()
	out := make([]float32, len(tokens)*m.Spec.Vocab)
	if err := m.Forward(st, tokens, out, true); err != nil {
		t.Fatal(err)
	}
	return out, m.Spec.Vocab
}

// maxDiff returns the largest |got - want| over every position and vocab
// entry, and whether the argmax agrees at every position.
func maxDiff(t *testing.T, got []float32, vocab int, want [][]float64) (float64, bool) {
	t.Helper()
	worst, sameArgmax := 0.0, true
	for p, row := range want {
		if len(row) != vocab {
			t.Fatalf("position %d: expected %d logits, model vocab %d", p, len(row), vocab)
		}
		g := got[p*vocab : (p+1)*vocab]
		ag, aw := 0, 0
		for i, w := range row {
			d := math.Abs(float64(g[i]) - w)
			if math.IsNaN(d) {
				d = math.Inf(1)
			}
			worst = max(worst, d)
			if g[i] > g[ag] {
				ag = i
			}
			if w > row[aw] {
				aw = i
			}
		}
		sameArgmax = sameArgmax && ag == aw
	}
	return worst, sameArgmax
}

// TestArchFixtures checks every architecture case, from its HF folder and
// from every GGUF beside it, at every position and over the whole vocabulary.
func TestArchFixtures(t *testing.T) {
	root := fixtures.Path(t, "archs")
	dirs, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	cases := 0
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		cases++
		dir := filepath.Join(root, d.Name())
		e := readExpected(t, dir)
		t.Run(d.Name()+"/hf", func(t *testing.T) {
			got, vocab := allLogits(t, filepath.Join(dir, "hf"), e.Tokens, 64)
			diff, _ := maxDiff(t, got, vocab, e.Logits)
			if diff > 1e-4 {
				t.Errorf("max |Δ| = %.3g, want ≤ 1e-4", diff)
			}
			t.Logf("max |Δ| = %.3g", diff)
		})
		ggufs, _ := filepath.Glob(filepath.Join(dir, "*.gguf"))
		if len(ggufs) == 0 {
			t.Errorf("%s: no GGUF files", dir)
		}
		for _, g := range ggufs {
			name := filepath.Base(g)
			t.Run(d.Name()+"/"+name, func(t *testing.T) {
				want, tol := e.Logits, 1e-4
				if e.GGUFLogits != nil {
					want = e.GGUFLogits
				}
				if ft, ok := e.ToleranceByFile[name]; ok {
					tol = ft
				}
				got, vocab := allLogits(t, g, e.Tokens, 64)
				diff, same := maxDiff(t, got, vocab, want)
				if diff > tol {
					t.Errorf("max |Δ| = %.3g, want ≤ %g", diff, tol)
				}
				if strings.Contains(name, ".f16.") || strings.Contains(name, ".bf16.") {
					if !same {
						t.Errorf("argmax differs at some position")
					}
				}
				t.Logf("max |Δ| = %.3g (tolerance %g)", diff, tol)
			})
		}
	}
	if cases != 15 {
		t.Errorf("found %d architecture cases, want 15", cases)
	}
}
