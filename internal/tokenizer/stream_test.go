package tokenizer

import (
	"encoding/json"
	"os"
	"testing"
	"unicode/utf8"

	"github.com/memfit/memfit/internal/fixtures"
)

// streamDecode feeds ids one by one, checking that every chunk is valid
// UTF-8, and returns the whole text.
func streamDecode(t *testing.T, d *StreamDecoder, ids []int32) string {
	t.Helper()
	var out []byte
	for _, id := range ids {
		n := len(out)
		out = d.Append(out, id)
		if !utf8.Valid(out[n:]) {
			t.Fatalf("chunk %q for id %d is not valid UTF-8", out[n:], id)
		}
	}
	return string(d.Flush(out))
}

// TestStreamDecoderCases checks that streaming decoding equals Decode on
// every case of tokenizers/cases.json, with and without special tokens.
func TestStreamDecoderCases(t *testing.T) {
	data, err := os.ReadFile(fixtures.Path(t, "tokenizers", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c hfCases
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	for _, tc := range c.Cases {
		t.Run(tc.Tokenizer+"/"+tc.Name, func(t *testing.T) {
			tok := loadFixtureTokenizer(t, c.Tokenizers[tc.Tokenizer].Dir)
			if got := streamDecode(t, tok.NewStreamDecoder(false), tc.IDs); got != tc.Decoded {
				t.Errorf("stream decode:\n got %q\nwant %q", got, tc.Decoded)
			}
			if got := streamDecode(t, tok.NewStreamDecoder(true), tc.IDsWithSpecial); got != tc.DecodedSkipSpecial {
				t.Errorf("stream decode skipping special:\n got %q\nwant %q", got, tc.DecodedSkipSpecial)
			}
		})
	}
}

// TestStreamDecoderGGUF checks streaming against Decode for the GGUF
// vocabularies on texts mixing scripts, emoji and a special token.
func TestStreamDecoderGGUF(t *testing.T) {
	texts := []string{"Hello world", " leading space", "emoji 🦙🚀 and 中文字符", "<s>control</s> text\n\n\tend", "ünïcödé \u00a0 spaces"}
	for _, file := range []string{"ggml-vocab-llama-spm.gguf", "ggml-vocab-phi-3.gguf", "ggml-vocab-gpt-2.gguf", "ggml-vocab-falcon.gguf"} {
		tok, err := Load(fixtures.Path(t, "tokenizers", "gguf", file))
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range texts {
			for _, skip := range []bool{false, true} {
				ids := tok.Encode(text, true)
				want := tok.Decode(ids, skip)
				if got := streamDecode(t, tok.NewStreamDecoder(skip), ids); got != want {
					t.Errorf("%s %q skip=%v: stream %q, Decode %q", file, text, skip, got, want)
				}
			}
		}
	}
}

// TestStreamDecoderSplitCharacter feeds a character split over byte
// tokens and checks nothing is emitted until it is complete.
func TestStreamDecoderSplitCharacter(t *testing.T) {
	tok := loadFixtureTokenizer(t, "mistral")
	ids := tok.Encode("🦙", false) // ▁ then four <0xXX> byte tokens
	if len(ids) != 5 {
		t.Fatalf("Encode(🦙) = %v, want 5 tokens", ids)
	}
	d := tok.NewStreamDecoder(false)
	var out []byte
	for i, id := range ids {
		out = d.Append(out, id)
		want := ""
		if i == len(ids)-1 {
			want = "🦙"
		}
		if string(out) != want {
			t.Fatalf("after token %d: %q, want %q", i, out, want)
		}
	}
	// An unfinished character becomes U+FFFD at Flush.
	out = d.Append(out[:0], ids[1])
	if out = d.Flush(out); string(out) != "\uFFFD" {
		t.Errorf("Flush of an incomplete character = %q, want U+FFFD", out)
	}
}

// TestStreamDecoderAllocs checks the per-token path allocates nothing.
func TestStreamDecoderAllocs(t *testing.T) {
	for _, dir := range []string{"llama3", "gemma3"} {
		tok := loadFixtureTokenizer(t, dir)
		ids := tok.Encode("Allocation-free streaming: 🦙 中文 text", false)
		d := tok.NewStreamDecoder(true)
		buf := make([]byte, 0, 4096)
		allocs := testing.AllocsPerRun(100, func() {
			buf = buf[:0]
			for _, id := range ids {
				buf = d.Append(buf, id)
			}
			buf = d.Flush(buf)
		})
		if allocs != 0 {
			t.Errorf("%s: %v allocations per sequence, want 0", dir, allocs)
		}
	}
	tok, err := Load(fixtures.Path(t, "tokenizers", "gguf", "ggml-vocab-llama-spm.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode("Allocation-free streaming: 🦙 中文 text", true)
	d := tok.NewStreamDecoder(false)
	buf := make([]byte, 0, 4096)
	d.Append(buf, ids[0]) // warm up the scratch buffer
	d.Reset()
	if allocs := testing.AllocsPerRun(100, func() {
		buf = buf[:0]
		for _, id := range ids {
			buf = d.Append(buf, id)
		}
		buf = d.Flush(buf)
	}); allocs != 0 {
		t.Errorf("llama-spm: %v allocations per sequence, want 0", allocs)
	}
}
