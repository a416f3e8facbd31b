package engine

import (
	"context"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/memfit/memfit/internal/fixtures"
)

// BenchmarkDecode measures aggregate decode throughput with P sequences
// generating at once (continuous batching) on the gocoder model, as the
// demo model embeds it (Q8_0, byte-identical to the fixture) and in bf16:
// each iteration runs P requests of 128 tokens from 8-token prompts. It
// reports generated tokens per second over all sequences. With
// MEMFIT_BENCH_MODEL set to a GGUF file (e.g. a memfit synth
// llama-3.2-1b), it measures that model too, as "file" (the prompts are
// gocoder's token ids, valid in any larger vocabulary).
func BenchmarkDecode(b *testing.B) {
	models := []struct{ name, path string }{
		{"demo-q8_0", fixtures.Path(b, "models", "gocoder", "gocoder.Q8_0.gguf")},
		{"bf16", fixtures.Path(b, "models", "gocoder", "hf")},
	}
	if f := os.Getenv("MEMFIT_BENCH_MODEL"); f != "" {
		models = append(models, struct{ name, path string }{"file", f})
	}
	for _, m := range models {
		path := m.path
		for _, p := range []int{1, 2, 4, 8} {
			b.Run(fmt.Sprintf("%s/parallel=%d", m.name, p), func(b *testing.B) {
				e := newEngine(b, path, Options{Parallel: p, Ctx: 256})
				ref := readReference(b)
				const n = 128
				var tokens int64
				b.ResetTimer()
				start := time.Now()
				for range b.N {
					var wg sync.WaitGroup
					for i := range p {
						wg.Add(1)
						go func() {
							defer wg.Done()
							r, err := e.Generate(context.Background(), Request{Prompt: ref.Prompts[i%len(ref.Prompts)].IDs, MaxTokens: n, IgnoreEOS: true}, nil)
							if err != nil {
								b.Error(err)
								return
							}
							if len(r.Tokens) != n {
								b.Errorf("%d tokens, want %d", len(r.Tokens), n)
							}
						}()
					}
					wg.Wait()
					tokens += int64(p * n)
				}
				b.ReportMetric(float64(tokens)/time.Since(start).Seconds(), "tok/s")
				b.ReportMetric(float64(tokens)/float64(e.Stats().Steps), "tok/step")
			})
		}
	}
}
