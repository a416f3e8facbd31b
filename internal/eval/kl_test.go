package eval

import (
	"context"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/model"
	"github.com/memfit/memfit/internal/tokenizer"
)

func TestKLFrom(t *testing.T) {
	tests := []struct {
		base, model []float32
	}{
		{[]float32{1, 2, 3}, []float32{1, 2, 3}},
		{[]float32{1, 2, 3}, []float32{3, 2, 1}},
		{[]float32{0, 0, 0, 0}, []float32{5, 0, 0, 0}},
		{[]float32{-3, 7, 0.5}, []float32{-3.1, 6.9, 0.7}},
	}
	for _, tt := range tests {
		lp := make([]float64, len(tt.base))
		logSoftmax(tt.base, lp)
		// Direct definition in float64.
		pb, pm := softmax64(tt.base), softmax64(tt.model)
		var want float64
		for i := range pb {
			want += pb[i] * math.Log(pb[i]/pm[i])
		}
		if got := klFrom(lp, tt.model); math.Abs(got-want) > 1e-9 {
			t.Errorf("KL(%v ‖ %v) = %v, want %v", tt.base, tt.model, got, want)
		}
	}
}

func softmax64(l []float32) []float64 {
	m := math.Inf(-1)
	for _, x := range l {
		m = math.Max(m, float64(x))
	}
	p := make([]float64, len(l))
	var s float64
	for i, x := range l {
		p[i] = math.Exp(float64(x) - m)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
	return p
}

// TestKLDivergence measures the bf16 GGUF against the HF folder of gocoder:
// the same weights, so KL 0, the same top token everywhere, the same PPL,
// and the model's own PPL unchanged by having a base.
func TestKLDivergence(t *testing.T) {
	text, err := os.ReadFile(fixtures.Path(t, "text", "net_http_server.go"))
	if err != nil {
		t.Fatal(err)
	}
	hf, err := model.Load(fixtures.Path(t, "models", "gocoder", "hf"), model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer hf.Close()
	gg, err := model.Load(fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"), model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer gg.Close()
	tok, err := tokenizer.Load(fixtures.Path(t, "models", "gocoder", "hf"))
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode(strings.TrimSuffix(string(text[:20000]), "\n"), true)
	bos, _ := tok.BOS()
	opt := Options{Ctx: 128, BOS: bos, ReplaceBOS: true}
	alone, err := Perplexity(context.Background(), gg, ids, opt)
	if err != nil {
		t.Fatal(err)
	}
	opt.Base = hf
	r, err := Perplexity(context.Background(), gg, ids, opt)
	if err != nil {
		t.Fatal(err)
	}
	k := r.KL
	if k == nil {
		t.Fatal("no KL figures with a base model")
	}
	if r.PPL != alone.PPL {
		t.Errorf("PPL with a base %v, alone %v", r.PPL, alone.PPL)
	}
	if k.Mean > 1e-9 || k.Max > 1e-7 || k.SameTop != 100 || math.Abs(k.BasePPL-r.PPL) > 1e-6*r.PPL {
		t.Errorf("same weights: KL mean %g max %g, same top %v%%, base PPL %v vs %v", k.Mean, k.Max, k.SameTop, k.BasePPL, r.PPL)
	}
	if _, err := Perplexity(context.Background(), gg, ids, Options{Ctx: 128, Base: badVocab(t)}); err == nil {
		t.Error("base model with another vocabulary: no error")
	}
}

func badVocab(t *testing.T) *model.Model {
	m, err := model.Load(fixtures.Path(t, "archs", "llama", "hf"), model.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}
