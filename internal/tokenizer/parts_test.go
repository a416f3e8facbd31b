package tokenizer

import (
	"os"
	"slices"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
)

// TestEncodeInParts checks that encoding the text fixtures in parts of
// various sizes gives the ids of encoding them in one part, with every
// tokenizer that splits in parts.
func TestEncodeInParts(t *testing.T) {
	var texts []string
	for _, name := range []string{"net_http_server.go", "go_parser_parser.go", "GO-LICENSE"} {
		data, err := os.ReadFile(fixtures.Path(t, "text", name))
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(data))
	}
	defer func(old int) { partsSpans = old }(partsSpans)
	for _, dir := range []string{"llama3", "qwen3"} {
		tok := loadFixtureTokenizer(t, dir)
		if !tok.partsOK {
			t.Fatalf("%s: long texts are not encoded in parts", dir)
		}
		for i, text := range texts {
			partsSpans = 1 << 30
			whole := tok.Encode(text, true)
			for _, n := range []int{1, 2, 3, 7, 100, 4096} {
				partsSpans = n
				if got := tok.Encode(text, true); !slices.Equal(got, whole) {
					k := 0
					for k < min(len(got), len(whole)) && got[k] == whole[k] {
						k++
					}
					t.Errorf("%s, text %d, parts of %d spans: %d ids, first difference at %d (whole text: %d ids)", dir, i, n, len(got), k, len(whole))
				}
			}
		}
	}
}
