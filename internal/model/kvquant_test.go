package model

import (
	"math"
	"os"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/tensor"
	"github.com/memfit/memfit/internal/tokenizer"
)

// kvLogits runs the first n tokens of net_http_server.go through the
// gocoder model with a cache of type t and returns every position's
// logits.
func kvLogits(t *testing.T, m *Model, ids []int32, typ tensor.DType) []float32 {
	t.Helper()
	st, err := m.NewStateKV(len(ids), 64, typ)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Release()
	out := make([]float32, len(ids)*m.Spec.Vocab)
	if err := m.Forward(st, ids, out, true); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestKVQuantLogits compares every position's logits over the first 256
// tokens of net_http_server.go with a q8_0 (and q4_0, f16) KV cache against
// an f32 cache, on the gocoder model.
//
// The tolerance comes from the error model: Q8_0 rounds each cached value
// to within half a step of its 32-value block's largest magnitude / 127,
// Q4_0 to within half a step of it / 8 (about 16 times coarser), F16 to
// within 2^-11 of each value itself. A logit moves by about the same
// multiple of the step for every cache type, so the q4_0 and q8_0
// deviations must keep the ratio of their steps (asserted within a factor
// of 2), and their sizes are what this model shows with that step:
// measured q8_0 rms 0.0061, max 0.062 (logits span 33), mean KL 8e-6, the
// same top token at all 256 positions; q4_0 rms 0.097. The bounds below are
// those figures with a margin of about 1.6 (threads and kernel variants
// change float rounding by ~1e-6, far below them), so a cache that stores
// or reads its blocks wrongly fails.
func TestKVQuantLogits(t *testing.T) {
	path := fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf")
	m, err := Load(path, Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := tokenizer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(fixtures.Path(t, "text", "net_http_server.go"))
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode(string(text), true)[:256]
	V := m.Spec.Vocab
	base := kvLogits(t, m, ids, tensor.F32)
	type dev struct {
		max, rms, kl float64
		sameTop      int
	}
	devs := map[tensor.DType]dev{}
	for _, typ := range []tensor.DType{tensor.F16, tensor.Q8_0, tensor.Q4_0} {
		got := kvLogits(t, m, ids, typ)
		var d dev
		var sum2 float64
		for p := 0; p < len(ids); p++ {
			a, b := base[p*V:(p+1)*V], got[p*V:(p+1)*V]
			for i := range a {
				x := float64(a[i] - b[i])
				d.max = max(d.max, math.Abs(x))
				sum2 += x * x
			}
			if topK(a, 1)[0] == topK(b, 1)[0] {
				d.sameTop++
			}
			d.kl += klDiv(a, b) / float64(len(ids))
		}
		d.rms = math.Sqrt(sum2 / float64(len(base)))
		devs[typ] = d
		t.Logf("%v cache vs f32: max |Δlogit| %.4g, rms %.4g, mean KL %.3g, same top token %d/%d", typ, d.max, d.rms, d.kl, d.sameTop, len(ids))
	}
	q8, q4, f16 := devs[tensor.Q8_0], devs[tensor.Q4_0], devs[tensor.F16]
	if q8.rms > 0.01 || q8.max > 0.1 || q8.kl > 1.3e-5 || q8.sameTop != len(ids) {
		t.Errorf("q8_0 cache: rms %.4g (≤ 0.01), max %.4g (≤ 0.1), mean KL %.3g (≤ 1.3e-5), same top %d (all %d)", q8.rms, q8.max, q8.kl, q8.sameTop, len(ids))
	}
	if r := q4.rms / q8.rms; r < 8 || r > 32 {
		t.Errorf("q4_0/q8_0 rms deviation ratio %.3g, want about the ratio of their steps (127/8 ≈ 16, within a factor of 2)", r)
	}
	if q4.rms > 0.16 || q4.sameTop < len(ids)*95/100 {
		t.Errorf("q4_0 cache: rms %.4g (≤ 0.16), same top %d (≥ 95%% of %d)", q4.rms, q4.sameTop, len(ids))
	}
	if f16.rms == 0 || f16.rms > q8.rms/4 {
		t.Errorf("f16 cache rms deviation %.4g: want above 0 and well under q8_0's %.4g", f16.rms, q8.rms)
	}
}

func klDiv(p, q []float32) float64 {
	lp, lq := logSoftmax64(p), logSoftmax64(q)
	var s float64
	for i := range lp {
		s += math.Exp(lp[i]) * (lp[i] - lq[i])
	}
	return s
}

func logSoftmax64(x []float32) []float64 {
	m := math.Inf(-1)
	for _, v := range x {
		m = max(m, float64(v))
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v) - m)
	}
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = float64(v) - m - math.Log(s)
	}
	return out
}

// TestDecodeAllocatesNothingQuantKV: a decode step over a q8_0 or q4_0
// cache allocates nothing after warm-up.
func TestDecodeAllocatesNothingQuantKV(t *testing.T) {
	m, err := Load(fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"), Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	for _, typ := range []tensor.DType{tensor.Q8_0, tensor.Q4_0} {
		st, err := m.NewStateKV(512, 8, typ)
		if err != nil {
			t.Fatal(err)
		}
		out := make([]float32, m.Spec.Vocab)
		tok := []int32{5}
		for range 9 { // warm-up, past the first four-position group
			if err := m.Forward(st, tok, out, false); err != nil {
				t.Fatal(err)
			}
		}
		allocs := testing.AllocsPerRun(100, func() {
			if err := m.Forward(st, tok, out, false); err != nil {
				t.Fatal(err)
			}
		})
		if allocs != 0 {
			t.Errorf("%v cache: decode step allocates %v times, want 0", typ, allocs)
		}
		st.Release()
	}
}
