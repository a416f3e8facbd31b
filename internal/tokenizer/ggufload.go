package tokenizer

import (
	"fmt"
	"strings"

	"github.com/memfit/memfit/internal/gguf"
)

// GGUF token types (tokenizer.ggml.token_type).
const (
	ggufNormal      = 1
	ggufUnknown     = 2
	ggufControl     = 3
	ggufUserDefined = 4
	ggufUnused      = 5
	ggufByte        = 6
)

// llamaPreRegexes are the pre-tokenizer split patterns of llama.cpp's BPE
// vocabularies by tokenizer.ggml.pre (src/llama-vocab.cpp), applied one
// after the other, each splitting every piece of the previous one.
var llamaPreRegexes = map[string][]string{
	"default":        {`[\p{P}\$\+<=>\^~\|]+`, gpt2Pattern, `\p{N}+`, `[0-9][0-9][0-9]`},
	"gpt-2":          {gpt2Pattern},
	"llama3":         {llama3Pattern},
	"qwen2":          {qwen2Pattern},
	"falcon":         {"[\\p{P}\\$\\+<=>\\^~\\|`]+", gpt2Pattern, `[0-9][0-9][0-9]`},
	"deepseek-coder": {"[\r\n]", `\s?\p{L}+`, `\s?\p{P}+`, "[一-龥ࠀ-一가-퟿]+", `\p{N}`},
	"deepseek-llm": {"[\r\n]", `\s?[A-Za-zµÀ-ÖØ-öø-ƺƼ-ƿǄ-ʓʕ-ʯͰ-ͳͶͷͻ-ͽͿΆΈ-ΊΌΎ-ΡΣ-ϵϷ-ҁҊ-ԯԱ-ՖႠ-ჅᎠ-Ᏽᏸ-ᏽᲐ-ᲺᲽ-Ჿᴀ-ᴫᵫ-ᵷᵹ-ᶚḀ-ἕἘ-Ἕἠ-ὅὈ-Ὅὐ-ὗὙὛὝὟ-ώᾀ-ᾴᾶ-ᾼιῂ-ῄῆ-ῌῐ-ΐῖ-Ίῠ-Ῥῲ-ῴῶ-ῼℂℇℊ-ℓℕℙ-ℝℤΩℨK-ℭℯ-ℴℹℼ-ℿⅅ-ⅉⅎↃↄⰀ-ⱻⱾ-ⳤⳫ-ⳮⳲⳳꙀ-ꙭꚀ-ꚛꜢ-ꝯꝱ-ꞇꞋ-ꞎꭰ-ꮿﬀ-ﬆﬓ-ﬗＡ-Ｚａ-ｚ𐐀-𐑏𐒰-𐓓𐓘-𐓻𐲀-𐲲𐳀-𐳲𑢠-𑣟𞤀-𞥃]+`,
		`\s?[!-/:-~！-／：-～‘-‟　-。]+`, `\s+$`, "[一-龥ࠀ-一가-퟿]+", `\p{N}+`},
	"starcoder": {`\p{N}`, gpt2Pattern},
	"poro":      {` ?[^(\s|.,!?…。，、।۔،)]+`},
	"viking":    {` ?[^(\s|.,!?…。，、।۔،)]+`, `\p{N}`},
}

// Aliases of llamaPreRegexes keys, as llama-vocab.cpp groups them.
var llamaPreAlias = map[string]string{
	"llama-bpe": "llama3", "llama-v3": "llama3", "dbrx": "llama3", "smaug-bpe": "llama3",
	"mpt": "gpt-2", "olmo": "gpt-2", "jais": "gpt-2", "trillion": "gpt-2",
	"stablelm2": "qwen2", "hunyuan": "qwen2",
	"refact": "starcoder", "command-r": "starcoder", "smollm": "starcoder", "codeshell": "starcoder",
	"exaone": "starcoder", "minerva-7b": "starcoder",
	"bloom": "poro", "poro-chat": "poro", "gpt3-finnish": "poro",
	"deepseek-v3": "llama3",
}

const (
	gpt2Pattern   = `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
	llama3Pattern = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
	qwen2Pattern  = `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
)

// FromGGUF builds the tokenizer of a GGUF file's embedded vocabulary
// (tokenizer.ggml.*) with llama.cpp's semantics.
func FromGGUF(f *gguf.File) (*Tokenizer, error) {
	t, err := fromGGUF(f)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return t, nil
}

func fromGGUF(f *gguf.File) (*Tokenizer, error) {
	kind, err := f.String("tokenizer.ggml.model")
	if err != nil {
		return nil, err
	}
	if kind != "llama" && kind != "gpt2" {
		return nil, fmt.Errorf("%s: tokenizer.ggml.model %q is not supported (want llama or gpt2)", f.Name, kind)
	}
	tokens, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil {
		return nil, err
	}
	n := len(tokens)
	if n == 0 || n >= maxTokenID {
		return nil, fmt.Errorf("%s: tokenizer.ggml.tokens has %d entries, want 1 to %d", f.Name, n, maxTokenID-1)
	}
	types := make([]int64, n)
	for i := range types {
		types[i] = ggufNormal
	}
	if f.Has("tokenizer.ggml.token_type") {
		v, _ := f.Get("tokenizer.ggml.token_type")
		a, ok := v.Array()
		var tt []int64
		if ok {
			tt, ok = a.Ints()
		}
		if !ok || len(tt) != n {
			return nil, fmt.Errorf("%s: tokenizer.ggml.token_type: want an integer array of %d entries", f.Name, n)
		}
		types = tt
	}
	var scores []float32
	if f.Has("tokenizer.ggml.scores") {
		v, _ := f.Get("tokenizer.ggml.scores")
		a, ok := v.Array()
		if ok {
			scores, ok = a.Float32s()
		}
		if !ok || len(scores) != n {
			return nil, fmt.Errorf("%s: tokenizer.ggml.scores: want a number array of %d entries", f.Name, n)
		}
	}

	t := &Tokenizer{source: f.Name, llama: true, pieces: tokens, kinds: make([]uint8, n), bos: -1, eos: -1}
	vocab := make(map[string]int32, n)
	var added []addedToken
	for i, s := range tokens {
		vocab[s] = int32(i)
		var k uint8
		switch types[i] {
		case ggufUnknown:
			k = kindUnknown | kindAdded
		case ggufControl:
			k = kindControl | kindSpecial | kindAdded
		case ggufUserDefined:
			k = kindUserDefined | kindAdded
		case ggufUnused:
			k = kindUnused
		case ggufByte:
			k = kindByte
		}
		t.kinds[i] = k
		if k&kindAdded != 0 && s != "" {
			added = append(added, addedToken{id: int32(i), content: s, special: k&(kindControl|kindUnknown) != 0})
		}
	}
	name, _ := f.String("general.name")
	if lname := strings.ToLower(name); strings.Contains(lname, "phi-3") || strings.Contains(lname, "phi3") {
		for i := range added {
			switch added[i].content {
			case "<unk>", "<s>", "<|endoftext|>":
			default:
				added[i].rstrip = true
			}
		}
	}
	t.added = newAddedSet(added)

	pre, _ := f.String("tokenizer.ggml.pre")
	switch kind {
	case "llama":
		t.spm = true
		t.addSpacePrefix = true
		t.addBOS = true
		if scores == nil {
			scores = make([]float32, n)
		}
		m := &spm{vocab: vocab, scores: scores}
		const hex = "0123456789ABCDEF"
		for b := 0; b < 256; b++ {
			m.byteIDs[b] = -1
			if id, ok := vocab[string([]byte{'<', '0', 'x', hex[b>>4], hex[b&15], '>'})]; ok {
				m.byteIDs[b] = id
			} else if id, ok := vocab[string([]byte{byte(b)})]; ok {
				m.byteIDs[b] = id
			}
		}
		t.model = m
		t.bos, t.eos = 1, 2
	case "gpt2":
		merges, err := f.Strings("tokenizer.ggml.merges")
		if err != nil {
			return nil, err
		}
		m := &bpe{vocab: vocab, unk: -1, merges: newPairTable(len(merges)), byteLevel: true}
		for rank, mg := range merges {
			k := strings.IndexByte(mg[min(1, len(mg)):], ' ')
			if k < 0 {
				return nil, fmt.Errorf("%s: tokenizer.ggml.merges[%d] = %q: want two tokens separated by a space", f.Name, rank, mg)
			}
			k++
			a, b := mg[:k], mg[k+1:]
			ida, ok1 := vocab[a]
			idb, ok2 := vocab[b]
			idn, ok3 := vocab[a+b]
			if ok1 && ok2 && ok3 {
				m.merges.put(ida, idb, uint64(rank)<<32|uint64(uint32(idn)))
			}
		}
		key := pre
		if a, ok := llamaPreAlias[key]; ok {
			key = a
		}
		if key == "llama3" {
			m.ignoreMerges = true
			t.addBOS = true
		}
		regexes, ok := llamaPreRegexes[key]
		if !ok {
			if pre != "" {
				return nil, fmt.Errorf("%s: tokenizer.ggml.pre %q is not supported", f.Name, pre)
			}
			regexes = llamaPreRegexes["default"]
		}
		var steps seqPre
		for _, r := range regexes {
			sc, err := compilePattern(r)
			if err != nil {
				return nil, fmt.Errorf("%s: tokenizer.ggml.pre %q: %w", f.Name, pre, err)
			}
			steps = append(steps, splitPre{sc: sc, behavior: behIsolated})
		}
		t.pre = steps
		t.preparePre()
		m.initTables()
		t.model = m
		t.bos, t.eos = 11, 11
	}
	if err := t.readGGUFSpecials(f); err != nil {
		return nil, err
	}
	return t, nil
}

// readGGUFSpecials reads the special token ids and flags.
func (t *Tokenizer) readGGUFSpecials(f *gguf.File) error {
	n := len(t.pieces)
	id := func(key string, dst *int32) error {
		if !f.Has(key) {
			return nil
		}
		v, err := f.Uint(key)
		if err != nil {
			return err
		}
		if v >= uint64(n) {
			return fmt.Errorf("%s: %s = %d is out of range [0, %d)", f.Name, key, v, n)
		}
		*dst = int32(v)
		return nil
	}
	if err := id("tokenizer.ggml.bos_token_id", &t.bos); err != nil {
		return err
	}
	if err := id("tokenizer.ggml.eos_token_id", &t.eos); err != nil {
		return err
	}
	if t.bos >= int32(n) {
		t.bos = -1
	}
	if t.eos >= int32(n) {
		t.eos = -1
	}
	var extra []int32
	for _, key := range []string{"tokenizer.ggml.eot_token_id", "tokenizer.ggml.eom_token_id"} {
		x := int32(-1)
		if err := id(key, &x); err != nil {
			return err
		}
		if x >= 0 {
			extra = append(extra, x)
		}
	}
	for _, b := range []struct {
		key string
		dst *bool
	}{{"tokenizer.ggml.add_bos_token", &t.addBOS}, {"tokenizer.ggml.add_eos_token", &t.addEOS}, {"tokenizer.ggml.add_space_prefix", &t.addSpacePrefix}} {
		if f.Has(b.key) {
			v, err := f.Bool(b.key)
			if err != nil {
				return err
			}
			*b.dst = v
		}
	}
	t.setEOG(extra)
	return nil
}
