package tokenizer

import (
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/memfit/memfit/internal/fixtures"
)

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

func benchEncode(b *testing.B, dir string) {
	tok := loadFixtureTokenizer(b, dir)
	text := benchText(b)
	var ids []int32
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	for b.Loop() {
		ids = tok.AppendEncode(ids[:0], text, EncodeOptions{ParseSpecial: true})
	}
	b.ReportMetric(float64(len(text))*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
	b.ReportMetric(float64(len(ids)), "tokens")
}

// BenchmarkEncodeLlama3 encodes 4 MiB of Go source with the Llama 3
// tokenizer in one call.
func BenchmarkEncodeLlama3(b *testing.B) { benchEncode(b, "llama3") }

// BenchmarkEncodeGemma3 encodes 4 MiB of Go source with the Gemma 3
// tokenizer in one call.
func BenchmarkEncodeGemma3(b *testing.B) { benchEncode(b, "gemma3") }

// BenchmarkEncodeQwen3 encodes 4 MiB of Go source with the Qwen 3
// tokenizer.
func BenchmarkEncodeQwen3(b *testing.B) { benchEncode(b, "qwen3") }

// BenchmarkEncodeMistral encodes 4 MiB of Go source with the Mistral
// tokenizer.
func BenchmarkEncodeMistral(b *testing.B) { benchEncode(b, "mistral") }

// BenchmarkLoadGemma3 loads the Gemma 3 tokenizer (262k vocabulary, 33 MB
// of JSON).
func BenchmarkLoadGemma3(b *testing.B) {
	dir := fixtures.Path(b, "tokenizers", "gemma3")
	for b.Loop() {
		if _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLoadLlama3 loads the Llama 3 tokenizer.
func BenchmarkLoadLlama3(b *testing.B) {
	dir := fixtures.Path(b, "tokenizers", "llama3")
	for b.Loop() {
		if _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}
