package tokenizer

import (
	"bytes"
	"os"
	"testing"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/gguf"
)

var roundTripSeeds = []string{
	"", " ", "\n", "hello world", "func (s *Server) Serve(l net.Listener) error {\n\treturn nil\n}\n",
	"  multiple   spaces \t\ttabs\r\n", "🦙 emoji 👨‍👩‍👧 and 中文 and العربية", "<|begin_of_text|>special<|eot_id|>",
	"<|bos|>x<|eos|>", "don't 'S 'll", "1234567890", "\x00\x01\u200b\ufeff", "\u00a0\u3000\u2028",
	"e\u0301 A\u030a \u212b \uac00\u11a8 \u1100\u1161", // not NFC: Qwen 3 composes them
}

// FuzzRoundTrip checks that the byte-level tokenizers (gocoder from its HF
// folder and its GGUF, Llama 3, Qwen 3, GPT-2's GGUF) give back any valid
// UTF-8 text: Decode(Encode(text)) == text, also when decoded as a stream.
// Qwen 3 normalizes to NFC first, so it gives back the NFC form of the
// text (as the Hugging Face library does).
func FuzzRoundTrip(f *testing.F) {
	toks := map[string]*Tokenizer{
		"gocoder-hf":   mustLoad(f, fixtures.Path(f, "models", "gocoder", "hf")),
		"gocoder-gguf": mustLoad(f, fixtures.Path(f, "models", "gocoder", "gocoder.bf16.gguf")),
		"llama3":       loadFixtureTokenizer(f, "llama3"),
		"qwen3":        loadFixtureTokenizer(f, "qwen3"),
		"gpt-2-gguf":   mustLoad(f, fixtures.Path(f, "tokenizers", "gguf", "ggml-vocab-gpt-2.gguf")),
	}
	for _, s := range roundTripSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if !utf8.ValidString(text) {
			return
		}
		for name, tok := range toks {
			want := text
			if name == "qwen3" {
				want = norm.NFC.String(text)
			}
			ids := tok.Encode(text, false)
			if got := tok.Decode(ids, false); got != want {
				t.Fatalf("%s: Decode(Encode(%q)) = %q, want %q (ids %v)", name, text, got, want, ids)
			}
			d := tok.NewStreamDecoder(false)
			var out []byte
			for _, id := range ids {
				out = d.Append(out, id)
			}
			if got := string(d.Flush(out)); got != want {
				t.Fatalf("%s: streaming decode of %q = %q", name, text, got)
			}
		}
	})
}

func mustLoad(t testing.TB, path string) *Tokenizer {
	t.Helper()
	tok, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// FuzzFromJSON checks that no tokenizer.json / tokenizer_config.json input
// makes loading panic, hang or allocate hugely, and that a tokenizer that
// loads can encode and decode.
func FuzzFromJSON(f *testing.F) {
	gocoder, err := os.ReadFile(fixtures.Path(f, "models", "gocoder", "hf", "tokenizer.json"))
	if err != nil {
		f.Fatal(err)
	}
	cfg, err := os.ReadFile(fixtures.Path(f, "models", "gocoder", "hf", "tokenizer_config.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(gocoder, cfg, "hello")
	for _, s := range badJSONSeeds {
		f.Add([]byte(s), []byte(`{"bos_token": "a"}`), "ab c")
	}
	f.Fuzz(func(t *testing.T, data, config []byte, text string) {
		tok, err := FromJSON(data, config, "fuzz/tokenizer.json")
		if err != nil {
			return
		}
		ids := tok.Encode(text, true)
		_ = tok.Decode(ids, false)
		_ = tok.Decode(ids, true)
		_ = tok.Decode([]int32{-1, 1 << 30}, false)
	})
}

// smallJSON is a minimal valid tokenizer.json with a SentencePiece-style
// pipeline, used as a fuzz seed and in the error tests.
const smallJSON = `{"added_tokens":[{"id":0,"content":"<s>","special":true,"normalized":false}],
"normalizer":{"type":"Sequence","normalizers":[{"type":"Prepend","prepend":"▁"},{"type":"Replace","pattern":{"String":" "},"content":"▁"}]},
"pre_tokenizer":{"type":"Split","pattern":{"Regex":"\\d"},"behavior":"Isolated","invert":false},
"post_processor":{"type":"TemplateProcessing","single":[{"SpecialToken":{"id":"<s>","type_id":0}},{"Sequence":{"id":"A","type_id":0}}],"special_tokens":{"<s>":{"id":"<s>","ids":[0],"tokens":["<s>"]}}},
"decoder":{"type":"Sequence","decoders":[{"type":"Replace","pattern":{"String":"▁"},"content":" "},{"type":"ByteFallback"},{"type":"Fuse"},{"type":"Strip","content":" ","start":1,"stop":0}]},
"model":{"type":"BPE","unk_token":"<unk>","byte_fallback":true,"fuse_unk":true,"vocab":{"<s>":0,"<unk>":1,"a":2,"b":3,"ab":4,"▁":5,"▁ab":6,"<0x41>":7},"merges":["a b","▁ ab"]}}`

var badJSONSeeds = []string{
	smallJSON, `{}`, `{"model":{}}`, `{"model":{"vocab":{"a":0},"merges":["a a"]}}`, `[`, `{"model":{"vocab":{"a":99999999}}}`,
	`{"model":{"vocab":{"a":0,"b":1},"merges":[["a","b"]]}}`, `{"added_tokens":[{"id":16777215,"content":"x"}],"model":{"vocab":{}}}`,
}

// FuzzFromGGUF checks that no GGUF vocabulary makes FromGGUF panic, and
// that a tokenizer that loads can encode and decode.
func FuzzFromGGUF(f *testing.F) {
	for _, b := range ggufSeeds(f) {
		f.Add(b, "hello world")
	}
	f.Fuzz(func(t *testing.T, data []byte, text string) {
		gf, err := gguf.Parse(bytes.NewReader(data), int64(len(data)), "fuzz.gguf")
		if err != nil {
			return
		}
		tok, err := FromGGUF(gf)
		if err != nil {
			return
		}
		for _, parse := range []bool{false, true} {
			ids := tok.EncodeWith(text, EncodeOptions{AddSpecial: true, ParseSpecial: parse})
			_ = tok.Decode(ids, parse)
		}
	})
}

// ggufSeeds builds small GGUF vocabularies of both kinds.
func ggufSeeds(t testing.TB) [][]byte {
	t.Helper()
	var out [][]byte
	for _, kind := range []string{"llama", "gpt2"} {
		f := gguf.NewFile()
		f.Set("tokenizer.ggml.model", gguf.String(kind))
		toks := []string{"<unk>", "<s>", "</s>", "<0x41>", "▁", "a", "b", "ab", "▁ab", "Ġ", "Ġab", "<|user|>"}
		f.Set("tokenizer.ggml.tokens", gguf.Strings(toks))
		scores := make([]float32, len(toks))
		types := []int32{2, 3, 3, 6, 1, 1, 1, 1, 1, 1, 1, 4}
		for i := range scores {
			scores[i] = -float32(i)
		}
		f.Set("tokenizer.ggml.scores", gguf.Float32s(scores))
		f.Set("tokenizer.ggml.token_type", gguf.Int32s(types))
		f.Set("tokenizer.ggml.bos_token_id", gguf.Uint32(1))
		f.Set("tokenizer.ggml.eos_token_id", gguf.Uint32(2))
		if kind == "gpt2" {
			f.Set("tokenizer.ggml.merges", gguf.Strings([]string{"a b", "Ġ ab"}))
			f.Set("tokenizer.ggml.pre", gguf.String("llama-bpe"))
		}
		f.Layout()
		var buf bytes.Buffer
		if err := f.WriteHeader(&buf); err != nil {
			t.Fatal(err)
		}
		out = append(out, buf.Bytes())
	}
	return out
}
