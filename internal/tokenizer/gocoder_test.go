package tokenizer

import (
	"encoding/json"
	"os"
	"slices"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
)

// gocoderReference is the part of gocoder's reference.json the tokenizer
// is checked against.
type gocoderReference struct {
	BOS     int32 `json:"bos_token_id"`
	Prompts []struct {
		Prompt string  `json:"prompt"`
		IDs    []int32 `json:"ids"`
	} `json:"prompts"`
	TokenizerCheck map[string]struct {
		NTokensHF int `json:"n_tokens_hf"`
	} `json:"tokenizer_check"`
}

func loadGocoderReference(t *testing.T) gocoderReference {
	t.Helper()
	data, err := os.ReadFile(fixtures.Path(t, "models", "gocoder", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref gocoderReference
	if err := json.Unmarshal(data, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Prompts) == 0 || len(ref.TokenizerCheck) != 2 {
		t.Fatalf("reference.json: %d prompts, %d tokenizer checks", len(ref.Prompts), len(ref.TokenizerCheck))
	}
	return ref
}

// TestGocoder checks the HF folder and the GGUF vocabulary of gocoder
// against the reference ids of its prompts and the token counts of the two
// evaluation files (tokenizer_check: the verbatim file, with BOS), and that
// both give the same ids on those files.
func TestGocoder(t *testing.T) {
	ref := loadGocoderReference(t)
	fileIDs := map[string][]int32{}
	for _, src := range []struct{ name, path string }{
		{"hf", fixtures.Path(t, "models", "gocoder", "hf")},
		{"gguf", fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf")},
	} {
		t.Run(src.name, func(t *testing.T) {
			tok, err := Load(src.path)
			if err != nil {
				t.Fatal(err)
			}
			if bos, ok := tok.BOS(); !ok || bos != ref.BOS || !tok.AddBOS() {
				t.Errorf("BOS() = %d, %v; AddBOS() = %v; want %d, true, true", bos, ok, tok.AddBOS(), ref.BOS)
			}
			for _, p := range ref.Prompts {
				got := tok.Encode(p.Prompt, true)
				if !slices.Equal(got, p.IDs) {
					t.Errorf("Encode(%q) = %v, want %v", p.Prompt, got, p.IDs)
				}
				if dec := tok.Decode(got, true); dec != p.Prompt {
					t.Errorf("Decode(Encode(%q)) = %q", p.Prompt, dec)
				}
			}
			for file, check := range ref.TokenizerCheck {
				data, err := os.ReadFile(fixtures.Path(t, "text", file))
				if err != nil {
					t.Fatal(err)
				}
				text := string(data)
				ids := tok.Encode(text, true)
				if len(ids) != check.NTokensHF {
					t.Errorf("%s: %d tokens, want %d", file, len(ids), check.NTokensHF)
				}
				if dec := tok.Decode(ids, true); dec != text {
					t.Errorf("%s: decoding does not give the text back", file)
				}
				if prev, ok := fileIDs[file]; ok && !slices.Equal(prev, ids) {
					t.Errorf("%s: the HF and GGUF tokenizers give different ids", file)
				}
				fileIDs[file] = ids
			}
		})
	}
}
