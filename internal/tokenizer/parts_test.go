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

// TestSpaceSplit checks that cutting words before "▁" (Mistral, Gemma 3)
// gives the ids of merging each segment as one word, on the text fixtures
// and on texts made to hit the characters a cut must not follow.
func TestSpaceSplit(t *testing.T) {
	texts := []string{
		"a > b >  c <unk> 𝔘𝔫 𝔦 \u0000 x\u2581y  z ▁▁ ▁x >▁</ > </p> 日本 語",
		"  leading and trailing  ", "no_spaces_at_all", "",
	}
	for _, name := range []string{"net_http_server.go", "go_parser_parser.go", "GO-LICENSE"} {
		data, err := os.ReadFile(fixtures.Path(t, "text", name))
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, string(data))
	}
	defer func(old int) { spaceSplitEnabled, cutMinLen = true, old }(cutMinLen)
	cutMinLen = 1
	for _, dir := range []string{"mistral", "gemma3"} {
		tok := loadFixtureTokenizer(t, dir)
		m := tok.model.(*bpe)
		if !m.spaceSplit {
			t.Fatalf("%s: words are not cut before ▁", dir)
		}
		for i, text := range texts {
			spaceSplitEnabled = false
			whole := tok.Encode(text, true)
			spaceSplitEnabled = true
			if got := tok.Encode(text, true); !slices.Equal(got, whole) {
				t.Errorf("%s, text %d: cut words give %d ids, whole words %d", dir, i, len(got), len(whole))
			}
		}
	}
}

// TestSpaceSplitGlue checks that no cut is made where a vocabulary token
// spans "▁" after a character, nor after an unknown character when the
// unknown token can merge with "▁".
func TestSpaceSplitGlue(t *testing.T) {
	build := func(extra string) *Tokenizer {
		t.Helper()
		js := `{"normalizer":{"type":"Replace","pattern":{"String":" "},"content":"▁"},
"model":{"type":"BPE","unk_token":"<unk>","byte_fallback":false,
"vocab":{"<unk>":0,"▁":1,"a":2,"b":3,"▁b":4,"a▁b":5,"c":6,"c▁":7` + extra + `},
"merges":["▁ b","a ▁b","c ▁"` + map[bool]string{true: `,"<unk> ▁b"`, false: ``}[extra != ""] + `]}}`
		tok, err := FromJSON([]byte(js), nil, "glue/tokenizer.json")
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	tok := build("")
	m := tok.model.(*bpe)
	if !m.spaceSplit || !m.glueBefore['a'] || !m.glueBefore['c'] || !m.cutAfterUnknown {
		t.Fatalf("spaceSplit %v, glue %v, cutAfterUnknown %v; want true, {a, c}, true", m.spaceSplit, m.glueBefore, m.cutAfterUnknown)
	}
	// a ▁ b ▁ c ▁ b: "▁ b" merges first (twice), then "a ▁b"; "c ▁" finds
	// no lone ▁ left. A cut after a or c would give a, ▁b, c, ▁b.
	if got, want := tok.Encode("a b c b", false), []int32{5, 1, 6, 4}; !slices.Equal(got, want) {
		t.Errorf("Encode(\"a b c b\") = %v, want %v", got, want)
	}
	tok = build(`,"<unk>▁b":8`)
	if m := tok.model.(*bpe); m.cutAfterUnknown {
		t.Fatal("cutAfterUnknown with a token <unk>▁b")
	}
	if got, want := tok.Encode("x b", false), []int32{8}; !slices.Equal(got, want) {
		t.Errorf("Encode(\"x b\") = %v, want %v (the unknown x merges with ▁b)", got, want)
	}
}
