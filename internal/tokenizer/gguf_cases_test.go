package tokenizer

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
)

// TestGGUFCases checks llama.cpp's tokenizer test vectors
// (tokenizers/gguf/cases.json) against the GGUF vocabularies.
func TestGGUFCases(t *testing.T) {
	data, err := os.ReadFile(fixtures.Path(t, "tokenizers", "gguf", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Cases []struct {
			File         string  `json:"file"`
			Text         string  `json:"text"`
			IDs          []int32 `json:"ids"`
			AddBOS       bool    `json:"add_bos"`
			ParseSpecial bool    `json:"parse_special"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Cases) != 322 {
		t.Fatalf("gguf/cases.json has %d cases, want 322", len(c.Cases))
	}
	toks := map[string]*Tokenizer{}
	index := map[string]int{}
	for _, tc := range c.Cases {
		index[tc.File]++
		t.Run(fmt.Sprintf("%s/%d", tc.File, index[tc.File]), func(t *testing.T) {
			tok, ok := toks[tc.File]
			if !ok {
				var err error
				tok, err = Load(fixtures.Path(t, "tokenizers", "gguf", tc.File))
				if err != nil {
					t.Fatal(err)
				}
				toks[tc.File] = tok
			}
			ids := tok.EncodeWith(tc.Text, EncodeOptions{AddSpecial: tc.AddBOS, ParseSpecial: tc.ParseSpecial})
			if !slices.Equal(ids, tc.IDs) {
				t.Errorf("text %q:\n got %v\nwant %v", tc.Text, ids, tc.IDs)
			}
		})
	}
}
