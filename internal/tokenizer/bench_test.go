package tokenizer

import (
	"os"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/memfit/memfit/internal/fixtures"
)

// The benchmarks below are compared side by side with the Hugging Face
// tokenizers library by testdata/bench_hf.js; docs/benchmarks.md
// ("Tokenizers") has the commands and figures. Besides ns/op and MB/s they
// report cpu-s/op, the process's CPU time (user+system, all threads) per
// operation, which a busy shared machine disturbs less than wall time.

// benchTextSize is the size of the encoding benchmark text: the fixture
// net_http_server.go repeated and cut to 4 MiB at a character boundary
// (testdata/bench_hf.js builds the same string).
const benchTextSize = 4 << 20

func benchText(b *testing.B) string {
	b.Helper()
	data, err := os.ReadFile(fixtures.Path(b, "text", "net_http_server.go"))
	if err != nil {
		b.Fatal(err)
	}
	s := strings.Repeat(string(data), benchTextSize/len(data)+1)[:benchTextSize]
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// cpuMeter accumulates the CPU time of the timed parts of a benchmark.
type cpuMeter struct {
	start, total time.Duration
}

func (m *cpuMeter) begin(b *testing.B) { m.start = cpuTime(b) }
func (m *cpuMeter) end(b *testing.B)   { m.total += cpuTime(b) - m.start }
func (m *cpuMeter) report(b *testing.B) {
	b.ReportMetric(m.total.Seconds()/float64(b.N), "cpu-s/op")
}

// resetWordCache empties the tokenizer's BPE word cache.
func resetWordCache(b *testing.B, tok *Tokenizer) {
	m, ok := tok.model.(*bpe)
	if !ok {
		b.Fatalf("model is %T, want *bpe", tok.model)
	}
	m.cache.mu.Lock()
	m.cache.m, m.cache.arena = nil, nil
	m.cache.mu.Unlock()
}

// benchEncode encodes the benchmark text with one tokenizer. With cold,
// every iteration starts from an empty word cache.
func benchEncode(b *testing.B, dir string, cold bool) {
	tok := loadFixtureTokenizer(b, dir)
	text := benchText(b)
	var ids []int32
	var cpu cpuMeter
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		if cold {
			b.StopTimer()
			resetWordCache(b, tok)
			b.StartTimer()
		}
		cpu.begin(b)
		ids = tok.AppendEncode(ids[:0], text, EncodeOptions{ParseSpecial: true})
		cpu.end(b)
	}
	cpu.report(b)
	b.ReportMetric(float64(len(ids)), "tokens")
}

// BenchmarkEncode encodes 4 MiB of Go source in one call with each
// fixture tokenizer, as Hugging Face's encode(text, add_special_tokens=
// false) does: warm is the steady state (the word cache filled by earlier
// iterations, as the Rust library's BPE cache is on its later runs), cold
// starts every iteration with an empty cache.
func BenchmarkEncode(b *testing.B) {
	for _, name := range []string{"llama3", "gemma3", "qwen3", "mistral"} {
		b.Run(name, func(b *testing.B) { benchEncode(b, name, false) })
		b.Run(name+"-cold", func(b *testing.B) { benchEncode(b, name, true) })
	}
}

// BenchmarkLoad loads each fixture tokenizer (tokenizer.json and
// tokenizer_config.json): Gemma 3's is 262k tokens and 33 MB of JSON.
func BenchmarkLoad(b *testing.B) {
	for _, name := range []string{"gemma3", "llama3", "qwen3", "mistral"} {
		b.Run(name, func(b *testing.B) {
			dir := fixtures.Path(b, "tokenizers", name)
			var cpu cpuMeter
			for b.Loop() {
				cpu.begin(b)
				if _, err := Load(dir); err != nil {
					b.Fatal(err)
				}
				cpu.end(b)
			}
			cpu.report(b)
		})
	}
}
