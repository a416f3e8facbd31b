package tokenizer

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
)

// hfCases is the format of tokenizers/cases.json.
type hfCases struct {
	Tokenizers map[string]struct {
		Dir         string  `json:"dir"`
		VocabSize   int     `json:"vocab_size"`
		BOSID       *int32  `json:"bos_id"`
		EOSID       *int32  `json:"eos_id"`
		AddsOnEmpty []int32 `json:"post_processor_adds_on_empty"`
	} `json:"tokenizers"`
	Cases []struct {
		Tokenizer          string   `json:"tokenizer"`
		Name               string   `json:"name"`
		Text               string   `json:"text"`
		IDs                []int32  `json:"ids"`
		Pieces             []string `json:"pieces"`
		IDsWithSpecial     []int32  `json:"ids_with_special"`
		Decoded            string   `json:"decoded"`
		DecodedSkipSpecial string   `json:"decoded_skip_special"`
	} `json:"cases"`
}

var (
	hfTokMu    sync.Mutex
	hfTokCache = map[string]*Tokenizer{}
)

// loadFixtureTokenizer loads (once per test binary) a tokenizer folder
// under fixtures/tokenizers.
func loadFixtureTokenizer(t testing.TB, dir string) *Tokenizer {
	t.Helper()
	hfTokMu.Lock()
	defer hfTokMu.Unlock()
	if tok, ok := hfTokCache[dir]; ok {
		return tok
	}
	tok, err := Load(fixtures.Path(t, "tokenizers", dir))
	if err != nil {
		t.Fatal(err)
	}
	hfTokCache[dir] = tok
	return tok
}

// TestHFCases checks every case of tokenizers/cases.json: ids, pieces, ids
// with special tokens, and both decodings.
func TestHFCases(t *testing.T) { testHFCases(t) }

// TestHFCasesHeapMerge runs the cases with the heap-based BPE merge for
// every word, which otherwise serves only long words.
func TestHFCasesHeapMerge(t *testing.T) {
	defer func(old int) { heapThreshold = old }(heapThreshold)
	heapThreshold = 2
	hfTokMu.Lock()
	clear(hfTokCache) // fresh word caches
	hfTokMu.Unlock()
	defer func() {
		hfTokMu.Lock()
		clear(hfTokCache)
		hfTokMu.Unlock()
	}()
	testHFCases(t)
}

// TestHFCasesInParts runs the cases with the byte-level tokenizers'
// pre-tokenizer split in parts of one span, so every piece boundary is
// also a part boundary, and with the SentencePiece-style tokenizers
// cutting every word before "▁" where they can, however short.
func TestHFCasesInParts(t *testing.T) {
	for _, dir := range []string{"llama3", "qwen3"} {
		if !loadFixtureTokenizer(t, dir).partsOK {
			t.Fatalf("%s: long texts are not encoded in parts", dir)
		}
	}
	for _, dir := range []string{"mistral", "gemma3"} {
		if !loadFixtureTokenizer(t, dir).model.(*bpe).spaceSplit {
			t.Fatalf("%s: words are not cut before ▁", dir)
		}
	}
	defer func(parts, cut int) { partsSpans, cutMinLen = parts, cut }(partsSpans, cutMinLen)
	partsSpans, cutMinLen = 1, 1
	testHFCases(t)
}

func testHFCases(t *testing.T) {
	data, err := os.ReadFile(fixtures.Path(t, "tokenizers", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var c hfCases
	if err := json.Unmarshal(data, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Cases) != 500 {
		t.Fatalf("cases.json has %d cases, want 500", len(c.Cases))
	}
	for name, info := range c.Tokenizers {
		t.Run("info/"+name, func(t *testing.T) {
			tok := loadFixtureTokenizer(t, info.Dir)
			if tok.VocabSize() != info.VocabSize {
				t.Errorf("VocabSize() = %d, want %d", tok.VocabSize(), info.VocabSize)
			}
			bos, ok := tok.BOS()
			if (info.BOSID == nil) == ok || (ok && bos != *info.BOSID) {
				t.Errorf("BOS() = %d, %v; want %v", bos, ok, info.BOSID)
			}
			eos, ok := tok.EOS()
			if (info.EOSID == nil) == ok || (ok && eos != *info.EOSID) {
				t.Errorf("EOS() = %d, %v; want %v", eos, ok, info.EOSID)
			}
			if got := tok.Encode("", true); !slices.Equal(got, info.AddsOnEmpty) && len(got)+len(info.AddsOnEmpty) > 0 {
				t.Errorf("Encode(\"\", true) = %v, want %v", got, info.AddsOnEmpty)
			}
		})
	}
	for _, tc := range c.Cases {
		t.Run(tc.Tokenizer+"/"+tc.Name, func(t *testing.T) {
			tok := loadFixtureTokenizer(t, filepath.Clean(c.Tokenizers[tc.Tokenizer].Dir))
			ids := tok.Encode(tc.Text, false)
			if !slices.Equal(ids, tc.IDs) {
				t.Errorf("ids:\n got %v\nwant %v", ids, tc.IDs)
			}
			if pieces := tok.Pieces(tc.IDs); !slices.Equal(pieces, tc.Pieces) {
				t.Errorf("pieces:\n got %q\nwant %q", pieces, tc.Pieces)
			}
			withSpecial := tok.Encode(tc.Text, true)
			if !slices.Equal(withSpecial, tc.IDsWithSpecial) {
				t.Errorf("ids_with_special:\n got %v\nwant %v", withSpecial, tc.IDsWithSpecial)
			}
			if got := tok.Decode(tc.IDs, false); got != tc.Decoded {
				t.Errorf("decoded:\n got %q\nwant %q", got, tc.Decoded)
			}
			if got := tok.Decode(tc.IDsWithSpecial, true); got != tc.DecodedSkipSpecial {
				t.Errorf("decoded_skip_special:\n got %q\nwant %q", got, tc.DecodedSkipSpecial)
			}
		})
	}
}
