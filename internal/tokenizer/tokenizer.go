package tokenizer

import (
	"fmt"
	"sync"
)

// Token kinds, as bits of Tokenizer.kinds.
const (
	kindSpecial     = 1 << iota // dropped by Decode(skipSpecial); HF special=true, GGUF control
	kindAdded                   // an added token (HF) or control/user-defined token (GGUF)
	kindControl                 // GGUF CONTROL
	kindUserDefined             // GGUF USER_DEFINED
	kindUnknown                 // GGUF UNKNOWN
	kindByte                    // GGUF BYTE or a <0xXX> byte-fallback token
	kindUnused                  // GGUF UNUSED
)

// Tokenizer encodes text to token ids and decodes ids to text. It is safe
// for concurrent use.
type Tokenizer struct {
	source string // file the tokenizer came from, for errors

	pieces []string // id → token string (vocabulary form)
	kinds  []uint8  // id → kind bits

	added     *addedSet // tokens matched in the raw text
	addedNorm *addedSet // tokens matched after normalization (HF normalized=true)

	norm normalizer
	pre  preTokenizer
	// When partsOK, pre is partsFirst followed by partsRest (nil if
	// none), and partsFirst can split long text in parts (encodeInParts).
	partsOK    bool
	partsFirst splitPre
	partsRest  preTokenizer
	model      model
	post       postProcessor
	dec        decoder

	// llama.cpp semantics (GGUF vocabularies).
	llama          bool
	spm            bool // llama.cpp "llama" vocabulary: prefix space, ▁ escaping
	addSpacePrefix bool

	bos, eos int32 // -1 if none
	addBOS   bool
	addEOS   bool
	eog      []int32

	streamOnce  sync.Once
	streamBytes [][]byte // per id: the bytes the streaming decoder emits
	streamSkip  []bool   // per id: dropped when skipping special tokens
	stripFirst  int      // leading spaces the streaming decoder drops
}

// A model encodes one pre-token into ids.
type model interface {
	encode(word string, st *encState, dst []int32) []int32
}

// EncodeOptions control Encode.
type EncodeOptions struct {
	// AddSpecial runs the post-processor: BOS (and EOS) as the tokenizer
	// files say (Hugging Face add_special_tokens, llama.cpp add_special).
	AddSpecial bool
	// ParseSpecial recognises special tokens written in the text. Added
	// tokens that are not special (Hugging Face special=false, GGUF
	// USER_DEFINED) are always recognised. Hugging Face's own encode
	// behaves as ParseSpecial=true; llama.cpp's parse_special is this flag.
	ParseSpecial bool
}

// Encode returns the ids of text with Hugging Face semantics: special
// tokens in the text are recognised, and addSpecial runs the
// post-processor (adds BOS where the tokenizer does).
func (t *Tokenizer) Encode(text string, addSpecial bool) []int32 {
	return t.AppendEncode(nil, text, EncodeOptions{AddSpecial: addSpecial, ParseSpecial: true})
}

// EncodeWith returns the ids of text under explicit options.
func (t *Tokenizer) EncodeWith(text string, opts EncodeOptions) []int32 {
	return t.AppendEncode(nil, text, opts)
}

// VocabSize returns the number of token ids (the largest id plus one),
// added tokens included.
func (t *Tokenizer) VocabSize() int { return len(t.pieces) }

// Piece returns the vocabulary string of id (for byte-level vocabularies
// in the GPT-2 alphabet, for SentencePiece ones with ▁ for space), or ""
// if id is out of range.
func (t *Tokenizer) Piece(id int32) string {
	if id < 0 || int(id) >= len(t.pieces) {
		return ""
	}
	return t.pieces[id]
}

// Pieces returns the vocabulary strings of ids.
func (t *Tokenizer) Pieces(ids []int32) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = t.Piece(id)
	}
	return out
}

// TokenID returns the id of a vocabulary string or added token.
func (t *Tokenizer) TokenID(piece string) (int32, bool) {
	if t.added != nil {
		for _, a := range t.added.tokens {
			if a.content == piece {
				return a.id, true
			}
		}
	}
	if t.addedNorm != nil {
		for _, a := range t.addedNorm.tokens {
			if a.content == piece {
				return a.id, true
			}
		}
	}
	if v, ok := t.model.(vocabModel); ok {
		return v.lookup(piece)
	}
	return -1, false
}

// vocabModel is a model with a string → id vocabulary.
type vocabModel interface {
	lookup(piece string) (int32, bool)
}

func (m *bpe) lookup(p string) (int32, bool) {
	id, ok := m.vocab[p]
	return id, ok
}

// BOS returns the beginning-of-sequence id, if the tokenizer has one.
func (t *Tokenizer) BOS() (int32, bool) { return t.bos, t.bos >= 0 }

// EOS returns the end-of-sequence id, if the tokenizer has one.
func (t *Tokenizer) EOS() (int32, bool) { return t.eos, t.eos >= 0 }

// AddBOS reports whether Encode with addSpecial puts BOS first.
func (t *Tokenizer) AddBOS() bool { return t.addBOS }

// AddEOS reports whether Encode with addSpecial appends EOS.
func (t *Tokenizer) AddEOS() bool { return t.addEOS }

// EOG returns the end-of-generation ids: EOS plus the end-of-turn,
// end-of-message and similar tokens llama.cpp stops on.
func (t *Tokenizer) EOG() []int32 { return append([]int32(nil), t.eog...) }

// IsEOG reports whether id ends generation.
func (t *Tokenizer) IsEOG(id int32) bool {
	for _, e := range t.eog {
		if e == id {
			return true
		}
	}
	return false
}

// IsSpecial reports whether id is a special token (Hugging Face
// special=true, GGUF control/unknown), the tokens Decode drops when asked
// to skip special tokens.
func (t *Tokenizer) IsSpecial(id int32) bool {
	return id >= 0 && int(id) < len(t.kinds) && t.kinds[id]&kindSpecial != 0
}

// CheckIDs returns an error naming the first id that is not a token.
func (t *Tokenizer) CheckIDs(ids []int32) error {
	for i, id := range ids {
		if id < 0 || int(id) >= len(t.pieces) {
			return fmt.Errorf("tokenizer: id %d (position %d) is out of range [0, %d)", id, i, len(t.pieces))
		}
	}
	return nil
}
