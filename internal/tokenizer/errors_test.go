package tokenizer

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/gguf"
)

// TestSmallJSON checks the hand-written pipeline used as a fuzz seed:
// prefix ▁, merges, byte fallback, unknown fusing, template BOS, decoding.
func TestSmallJSON(t *testing.T) {
	tok, err := FromJSON([]byte(smallJSON), []byte(`{"bos_token":"<s>"}`), "small/tokenizer.json")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		text    string
		special bool
		want    []int32
		decoded string
	}{
		{"ab", false, []int32{6}, "ab"},
		{"ab", true, []int32{0, 6}, "<s> ab"},
		{"abA", false, []int32{6, 7}, "abA"},
		{"zz", false, []int32{5, 1}, "<unk>"},
		{"a<s>b", false, []int32{5, 2, 0, 5, 3}, "a<s> b"},
		{"", true, []int32{0}, "<s>"},
	}
	for _, tc := range tests {
		got := tok.Encode(tc.text, tc.special)
		if !slices.Equal(got, tc.want) {
			t.Errorf("Encode(%q, %v) = %v, want %v", tc.text, tc.special, got, tc.want)
		}
		if dec := tok.Decode(got, false); dec != tc.decoded {
			t.Errorf("Decode(%v) = %q, want %q", got, dec, tc.decoded)
		}
	}
	if bos, ok := tok.BOS(); !ok || bos != 0 || !tok.AddBOS() {
		t.Errorf("BOS() = %d, %v, AddBOS() = %v", bos, ok, tok.AddBOS())
	}
}

// TestGGUFSeeds checks that the GGUF fuzz seeds load and tokenize.
func TestGGUFSeeds(t *testing.T) {
	want := map[string][]int32{"llama": {1, 8, 11, 4, 5}, "gpt2": {1, 7, 11, 10}}
	for i, b := range ggufSeeds(t) {
		gf, err := gguf.Parse(bytes.NewReader(b), int64(len(b)), "seed.gguf")
		if err != nil {
			t.Fatal(err)
		}
		tok, err := FromGGUF(gf)
		if err != nil {
			t.Fatal(err)
		}
		kind := []string{"llama", "gpt2"}[i]
		text := "ab<|user|>a"
		if kind == "gpt2" {
			text = "ab<|user|> ab"
		}
		if got := tok.Encode(text, true); !slices.Equal(got, want[kind]) {
			t.Errorf("%s: Encode(%q) = %v, want %v", kind, text, got, want[kind])
		}
	}
}

// TestBadJSON checks that malformed tokenizer files give errors naming the
// file, the field and what was expected.
func TestBadJSON(t *testing.T) {
	tests := []struct {
		name, json, config string
		want               []string
	}{
		{"not json", `{"model": `, "", []string{"bad/tokenizer.json", "model: want an object"}},
		{"truncated", `{"added_tokens": [`, "", []string{"bad/tokenizer.json", "unexpected end of JSON"}},
		{"no model", `{"added_tokens": []}`, "", []string{"model: missing"}},
		{"model not object", `{"model": 3}`, "", []string{"model: want an object"}},
		{"no vocab", `{"model": {"type": "BPE", "merges": []}}`, "", []string{"model.vocab: missing"}},
		{"unigram", `{"model": {"type": "Unigram", "vocab": [["a", 0.0]]}}`, "", []string{"model.vocab", "not supported"}},
		{"word piece", `{"model": {"type": "WordPiece", "vocab": {"a": 0}}}`, "", []string{"model.type", "WordPiece", "not supported"}},
		{"vocab id string", `{"model": {"vocab": {"a": "x"}}}`, "", []string{`model.vocab["a"]`, "bad number"}},
		{"vocab id negative", `{"model": {"vocab": {"a": -1}}}`, "", []string{`model.vocab["a"]`, "out of range"}},
		{"vocab id huge", `{"model": {"vocab": {"a": 9999999}}}`, "", []string{"model.vocab", "far beyond"}},
		{"merge missing token", `{"model": {"vocab": {"a": 0}, "merges": ["a b"]}}`, "", []string{"model.merges[0]", "not in the vocabulary"}},
		{"merge bad form", `{"model": {"vocab": {"a": 0}, "merges": ["a"]}}`, "", []string{"model.merges[0]", "two tokens"}},
		{"merge result missing", `{"model": {"vocab": {"a": 0}, "merges": [["a", "a"]]}}`, "", []string{"model.merges[0]", `result "aa"`}},
		{"unk missing", `{"model": {"vocab": {"a": 0}, "unk_token": "<unk>"}}`, "", []string{"model.unk_token", "not in the vocabulary"}},
		{"added no content", `{"added_tokens": [{"id": 1}], "model": {"vocab": {"a": 0}}}`, "", []string{"added_tokens[0].content: missing"}},
		{"added id huge", `{"added_tokens": [{"id": 123456, "content": "x"}], "model": {"vocab": {"a": 0}}}`, "", []string{"added_tokens[0].id", "far beyond"}},
		{"unknown normalizer", `{"normalizer": {"type": "Precompiled"}, "model": {"vocab": {"a": 0}}}`, "", []string{"normalizer.type", "Precompiled", "not supported"}},
		{"normalizer no type", `{"normalizer": {}, "model": {"vocab": {"a": 0}}}`, "", []string{"normalizer.type: missing"}},
		{"nested normalizer", `{"normalizer": {"type": "Sequence", "normalizers": [{"type": "Replace", "pattern": {"String": "a"}}]}, "model": {"vocab": {"a": 0}}}`, "", []string{"normalizer.normalizers[0].content: missing"}},
		{"lookahead regex", `{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "a(?=b)"}, "behavior": "Isolated"}, "model": {"vocab": {"a": 0}}}`, "", []string{"pre_tokenizer.pattern.Regex", "lookaround"}},
		{"bad behavior", `{"pre_tokenizer": {"type": "Split", "pattern": {"String": "a"}, "behavior": "Sideways"}, "model": {"vocab": {"a": 0}}}`, "", []string{"pre_tokenizer.behavior", "Sideways"}},
		{"template unknown special", `{"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}], "special_tokens": {}}, "model": {"vocab": {"a": 0}}}`, "", []string{"post_processor.special_tokens", `"<s>"`}},
		{"template id out of range", `{"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>"}}], "special_tokens": {"<s>": {"ids": [7]}}}, "model": {"vocab": {"a": 0}}}`, "", []string{"post_processor.special_tokens.<s>.ids", "out of range"}},
		{"decoder strip content", `{"decoder": {"type": "Strip", "content": "ab"}, "model": {"vocab": {"a": 0}}}`, "", []string{"decoder.content", "one character"}},
		{"deep nesting", `{"x": ` + strings.Repeat("[", 1000), "", []string{"nested deeper"}},
		{"trailing data", `{"model": {"vocab": {"a": 0}}} x`, "", []string{"trailing data"}},
		{"config bos unknown", `{"model": {"vocab": {"a": 0}}}`, `{"bos_token": "<s>"}`, []string{"bad/tokenizer_config.json", "bos_token", `"<s>"`}},
		{"config bos type", `{"model": {"vocab": {"a": 0}}}`, `{"bos_token": 5}`, []string{"bad/tokenizer_config.json", "bos_token", "want a string"}},
		{"config not json", `{"model": {"vocab": {"a": 0}}}`, `{`, []string{"bad/tokenizer_config.json"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var cfg []byte
			if tc.config != "" {
				cfg = []byte(tc.config)
			}
			_, err := FromJSON([]byte(tc.json), cfg, "bad/tokenizer.json")
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestBadGGUF checks errors for GGUF vocabularies with missing or
// inconsistent fields.
func TestBadGGUF(t *testing.T) {
	build := func(edit func(f *gguf.File)) *gguf.File {
		f := gguf.NewFile()
		f.Name = "bad.gguf"
		f.Set("tokenizer.ggml.model", gguf.String("gpt2"))
		f.Set("tokenizer.ggml.tokens", gguf.Strings([]string{"a", "b", "ab"}))
		f.Set("tokenizer.ggml.merges", gguf.Strings([]string{"a b"}))
		edit(f)
		var buf bytes.Buffer
		f.Layout()
		if err := f.WriteHeader(&buf); err != nil {
			t.Fatal(err)
		}
		pf, err := gguf.Parse(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "bad.gguf")
		if err != nil {
			t.Fatal(err)
		}
		return pf
	}
	tests := []struct {
		name string
		edit func(f *gguf.File)
		want []string
	}{
		{"ok", func(f *gguf.File) {}, nil},
		{"model type", func(f *gguf.File) { f.Set("tokenizer.ggml.model", gguf.String("bert")) }, []string{"tokenizer.ggml.model", "bert"}},
		{"model not string", func(f *gguf.File) { f.Set("tokenizer.ggml.model", gguf.Uint32(1)) }, []string{"tokenizer.ggml.model", "want string"}},
		{"no tokens", func(f *gguf.File) { f.Set("tokenizer.ggml.tokens", gguf.Strings(nil)) }, []string{"tokenizer.ggml.tokens", "0 entries"}},
		{"no merges", func(f *gguf.File) { f.Set("tokenizer.ggml.merges", gguf.Uint32(0)) }, []string{"tokenizer.ggml.merges"}},
		{"bad merge", func(f *gguf.File) { f.Set("tokenizer.ggml.merges", gguf.Strings([]string{"ab"})) }, []string{"tokenizer.ggml.merges[0]", "two tokens"}},
		{"types length", func(f *gguf.File) { f.Set("tokenizer.ggml.token_type", gguf.Int32s([]int32{1})) }, []string{"tokenizer.ggml.token_type", "3 entries"}},
		{"scores length", func(f *gguf.File) { f.Set("tokenizer.ggml.scores", gguf.Float32s([]float32{1})) }, []string{"tokenizer.ggml.scores", "3 entries"}},
		{"bos range", func(f *gguf.File) { f.Set("tokenizer.ggml.bos_token_id", gguf.Uint32(3)) }, []string{"tokenizer.ggml.bos_token_id", "out of range"}},
		{"add bos type", func(f *gguf.File) { f.Set("tokenizer.ggml.add_bos_token", gguf.Uint32(3)) }, []string{"tokenizer.ggml.add_bos_token", "want bool"}},
		{"pre unknown", func(f *gguf.File) { f.Set("tokenizer.ggml.pre", gguf.String("martian")) }, []string{"tokenizer.ggml.pre", "martian"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := FromGGUF(build(tc.edit))
			if tc.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				if got := tok.Encode("ab", false); !slices.Equal(got, []int32{2}) {
					t.Errorf("Encode(ab) = %v, want [2]", got)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range append(tc.want, "bad.gguf") {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

// TestLoadErrors checks Load on paths that hold no tokenizer.
func TestLoadErrors(t *testing.T) {
	dir := t.TempDir()
	other := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(other, []byte("hello"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ path, want string }{
		{filepath.Join(dir, "missing"), "no such file"},
		{dir, "has no tokenizer.json"},
		{other, "neither a GGUF file nor a folder"},
	} {
		if _, err := Load(tc.path); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Load(%s) = %v, want an error mentioning %q", tc.path, err, tc.want)
		}
	}
}

// TestCheckIDs checks the id range validation used by detokenize.
func TestCheckIDs(t *testing.T) {
	tok := loadFixtureTokenizer(t, "mistral")
	if err := tok.CheckIDs([]int32{1, 31999}); err != nil {
		t.Error(err)
	}
	for _, ids := range [][]int32{{32000}, {1, -1}} {
		if err := tok.CheckIDs(ids); err == nil || !strings.Contains(err.Error(), "out of range [0, 32000)") {
			t.Errorf("CheckIDs(%v) = %v", ids, err)
		}
	}
}
