package tokenizer

import (
	"slices"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
)

// TestSpecialIDs checks BOS/EOS, AddBOS/AddEOS, the end-of-generation ids
// and IsSpecial for each kind of tokenizer.
func TestSpecialIDs(t *testing.T) {
	tests := []struct {
		name     string
		path     []string
		bos, eos int32
		addBOS   bool
		eog      []int32
		special  []int32
		normal   []int32
	}{
		{"llama3", []string{"tokenizers", "llama3"}, 128000, 128001, false, []int32{128001, 128009}, []int32{128000, 128009, 128008}, []int32{9906}},
		{"qwen3", []string{"tokenizers", "qwen3"}, -1, 151645, false, []int32{151645, 151643}, []int32{151644}, []int32{151667}},
		{"gemma3", []string{"tokenizers", "gemma3"}, 2, 106, true, []int32{106, 1}, []int32{2, 106}, []int32{107, 4}},
		{"mistral", []string{"tokenizers", "mistral"}, 1, 2, true, []int32{2}, []int32{0, 1, 2}, []int32{28705}},
		{"gocoder-hf", []string{"models", "gocoder", "hf"}, 0, 1, true, []int32{1}, []int32{0, 1}, []int32{2}},
		{"gocoder-gguf", []string{"models", "gocoder", "gocoder.bf16.gguf"}, 0, 1, true, []int32{1}, []int32{0, 1}, []int32{2}},
		{"llama-spm", []string{"tokenizers", "gguf", "ggml-vocab-llama-spm.gguf"}, 1, 2, true, []int32{2}, []int32{1, 2}, []int32{0, 13}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := Load(fixtures.Path(t, tc.path...))
			if err != nil {
				t.Fatal(err)
			}
			if bos, ok := tok.BOS(); bos != tc.bos || ok != (tc.bos >= 0) {
				t.Errorf("BOS() = %d, %v; want %d", bos, ok, tc.bos)
			}
			if eos, ok := tok.EOS(); eos != tc.eos || !ok {
				t.Errorf("EOS() = %d, %v; want %d", eos, ok, tc.eos)
			}
			if tok.AddBOS() != tc.addBOS || tok.AddEOS() {
				t.Errorf("AddBOS() = %v, AddEOS() = %v; want %v, false", tok.AddBOS(), tok.AddEOS(), tc.addBOS)
			}
			if got := tok.EOG(); !slices.Equal(got, tc.eog) {
				t.Errorf("EOG() = %v, want %v", got, tc.eog)
			}
			for _, id := range tc.eog {
				if !tok.IsEOG(id) {
					t.Errorf("IsEOG(%d) = false", id)
				}
			}
			for _, id := range tc.special {
				if !tok.IsSpecial(id) {
					t.Errorf("IsSpecial(%d %q) = false", id, tok.Piece(id))
				}
			}
			for _, id := range tc.normal {
				if tok.IsSpecial(id) || tok.IsEOG(id) {
					t.Errorf("IsSpecial(%d %q) = %v, IsEOG = %v; want false", id, tok.Piece(id), tok.IsSpecial(id), tok.IsEOG(id))
				}
			}
		})
	}
}

// TestParseSpecial checks EncodeOptions.ParseSpecial: special tokens in
// the text are matched only when it is set; non-special added tokens
// always are.
func TestParseSpecial(t *testing.T) {
	qwen := loadFixtureTokenizer(t, "qwen3")
	text := "<|im_start|><think>"
	with := qwen.EncodeWith(text, EncodeOptions{ParseSpecial: true})
	if !slices.Equal(with, []int32{151644, 151667}) {
		t.Errorf("ParseSpecial=true: %v", with)
	}
	without := qwen.EncodeWith(text, EncodeOptions{})
	if len(without) < 3 || without[len(without)-1] != 151667 || slices.Contains(without, 151644) {
		t.Errorf("ParseSpecial=false: %v, want <|im_start|> spelled out and <think> matched", without)
	}
	if got := qwen.Decode(without, false); got != text {
		t.Errorf("Decode = %q, want %q", got, text)
	}
	spm, err := Load(fixtures.Path(t, "tokenizers", "gguf", "ggml-vocab-llama-spm.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	if got := spm.EncodeWith("<s>", EncodeOptions{ParseSpecial: true}); !slices.Equal(got, []int32{1}) {
		t.Errorf("llama-spm ParseSpecial=true: %v, want [1]", got)
	}
	if got := spm.EncodeWith("<s>", EncodeOptions{}); slices.Contains(got, 1) {
		t.Errorf("llama-spm ParseSpecial=false: %v contains BOS", got)
	}
}
