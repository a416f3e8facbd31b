package model_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/memfit/memfit/internal/model"
	"github.com/memfit/memfit/internal/synth"
)

// benchModel returns a synth model file of the given shape and type: the
// file named by MEMFIT_BENCH_DIR/<shape>-<type>.gguf when that variable is
// set (made there on first use, so repeated runs reuse it), else one written
// to a temporary directory.
func benchModel(b *testing.B, shape, typ string) string {
	b.Helper()
	dir := os.Getenv("MEMFIT_BENCH_DIR")
	if dir == "" {
		dir = b.TempDir()
	}
	path := filepath.Join(dir, fmt.Sprintf("%s-%s.gguf", shape, typ))
	if _, err := os.Stat(path); err == nil {
		return path
	}
	s, err := synth.Lookup(shape)
	if err != nil {
		b.Fatal(err)
	}
	ft, err := synth.LookupType(typ)
	if err != nil {
		b.Fatal(err)
	}
	if err := synth.WriteFile(path, s, ft, synth.Options{Seed: 1}); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkModel measures prefill (a 128-token prompt in one batch) and
// decode (64 tokens, one at a time, after that prompt) on random-weight
// models of real shapes with two threads, and reports tokens per second of
// each (the figures llama-bench -p 128 -n 64 -t 2 reports). Each iteration
// runs one prompt and its 64 decode steps on a fresh sequence. The 8B shape
// runs only when MEMFIT_BENCH_8B is set (its file is 4.9 GB).
func BenchmarkModel(b *testing.B) {
	cases := [][2]string{{"llama-3.2-1b", "Q4_0"}, {"llama-3.2-1b", "Q8_0"}, {"llama-3.2-1b", "Q4_K_M"}}
	if os.Getenv("MEMFIT_BENCH_8B") != "" {
		cases = append(cases, [2]string{"llama-3.1-8b", "Q4_K_M"})
	}
	const prompt, gen = 128, 64
	for _, c := range cases {
		b.Run(c[0]+"/"+c[1], func(b *testing.B) {
			m, err := model.Load(benchModel(b, c[0], c[1]), model.Options{Threads: 2})
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			st, err := m.NewState(prompt+gen, prompt)
			if err != nil {
				b.Fatal(err)
			}
			defer st.Release()
			logits := make([]float32, m.Spec.Vocab)
			tokens := make([]int32, prompt)
			for i := range tokens {
				tokens[i] = int32(1000 + 37*i)
			}
			var pre, dec time.Duration
			for b.Loop() {
				st.Reset()
				t0 := time.Now()
				if err := m.Forward(st, tokens, logits, false); err != nil {
					b.Fatal(err)
				}
				t1 := time.Now()
				tok := []int32{42}
				for i := 0; i < gen; i++ {
					if err := m.Forward(st, tok, logits, false); err != nil {
						b.Fatal(err)
					}
					tok[0] = int32(100 + i)
				}
				pre += t1.Sub(t0)
				dec += time.Since(t1)
			}
			b.ReportMetric(float64(prompt*b.N)/pre.Seconds(), "prefill-tok/s")
			b.ReportMetric(float64(gen*b.N)/dec.Seconds(), "decode-tok/s")
		})
	}
}
