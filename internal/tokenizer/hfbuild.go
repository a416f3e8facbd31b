package tokenizer

import (
	"fmt"
	"strings"
)

// FromJSON builds a tokenizer from the contents of tokenizer.json and
// (optionally, may be nil) tokenizer_config.json. name is used in errors.
func FromJSON(tokenizerJSON, configJSON []byte, name string) (*Tokenizer, error) {
	root, mod, err := parseTokenizerJSON(tokenizerJSON, name)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := buildHF(root, mod, name)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	cfgName := strings.TrimSuffix(name, "tokenizer.json") + "tokenizer_config.json"
	if err := t.applyHFConfig(configJSON, cfgName); err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	return t, nil
}

func buildHF(root map[string]any, mod *hfModel, file string) (*Tokenizer, error) {
	top := obj{m: root, file: file}
	mo := obj{m: mod.fields, path: "model", file: file}
	typ, err := mo.optStr("type", "BPE")
	if err != nil {
		return nil, err
	}
	if typ != "BPE" {
		return nil, mo.errorf("type", "model type %q is not supported (want BPE)", typ)
	}
	if !mod.hasVoc {
		return nil, mo.errorf("vocab", "missing (want an object of token → id)")
	}
	if err := mod.resolveMerges(); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	m := &bpe{vocab: mod.vocab, merges: mod.merges, unk: -1}
	if m.merges == nil {
		m.merges = newPairTable(0)
	}
	if m.fuseUnk, err = mo.optBool("fuse_unk", false); err != nil {
		return nil, err
	}
	if m.byteFallback, err = mo.optBool("byte_fallback", false); err != nil {
		return nil, err
	}
	if m.ignoreMerges, err = mo.optBool("ignore_merges", false); err != nil {
		return nil, err
	}
	if m.prefix, err = mo.optStr("continuing_subword_prefix", ""); err != nil {
		return nil, err
	}
	if m.suffix, err = mo.optStr("end_of_word_suffix", ""); err != nil {
		return nil, err
	}
	if d, ok := mo.m["dropout"].(float64); ok && d > 0 {
		return nil, mo.errorf("dropout", "BPE dropout %v is not supported (want null)", d)
	}
	unk, err := mo.optStr("unk_token", "")
	if err != nil {
		return nil, err
	}
	if unk != "" {
		id, ok := m.vocab[unk]
		if !ok {
			return nil, mo.errorf("unk_token", "%q is not in the vocabulary", unk)
		}
		m.unk = id
	}

	t := &Tokenizer{source: file, model: m, bos: -1, eos: -1}
	t.pieces = mod.pieces

	// Added tokens.
	addedList, err := top.list("added_tokens")
	if err != nil && top.m["added_tokens"] != nil {
		return nil, err
	}
	var raw, normed []addedToken
	for i, v := range addedList {
		o, err := top.elem("added_tokens", i, v)
		if err != nil {
			return nil, err
		}
		a, err := readAddedToken(o)
		if err != nil {
			return nil, err
		}
		if a.normalized {
			normed = append(normed, a)
		} else {
			raw = append(raw, a)
		}
	}
	all := append(append([]addedToken(nil), raw...), normed...)
	maxID := len(t.pieces) - 1
	for i, a := range all {
		// Added tokens extend the vocabulary; an id far past it is corrupt.
		if int(a.id) >= len(t.pieces)+len(all)+1024 {
			return nil, top.errorf(fmt.Sprintf("added_tokens[%d].id", i), "%d is far beyond the vocabulary of %d tokens", a.id, len(t.pieces))
		}
		maxID = max(maxID, int(a.id))
	}
	if maxID+1 > len(t.pieces) {
		t.pieces = append(t.pieces, make([]string, maxID+1-len(t.pieces))...)
	}
	t.kinds = make([]uint8, len(t.pieces))
	for _, a := range all {
		t.pieces[a.id] = a.content
		t.kinds[a.id] |= kindAdded
		if a.special {
			t.kinds[a.id] |= kindSpecial
		}
	}
	t.added = newAddedSet(raw)
	t.addedNorm = newAddedSet(normed)

	if o, ok, err := top.child("normalizer"); err != nil {
		return nil, err
	} else if ok {
		if t.norm, err = buildNormalizer(o); err != nil {
			return nil, err
		}
	}
	if o, ok, err := top.child("pre_tokenizer"); err != nil {
		return nil, err
	} else if ok {
		if t.pre, err = buildPreTokenizer(o); err != nil {
			return nil, err
		}
	}
	if o, ok, err := top.child("post_processor"); err != nil {
		return nil, err
	} else if ok {
		if t.post, err = t.buildPost(o); err != nil {
			return nil, err
		}
	}
	if o, ok, err := top.child("decoder"); err != nil {
		return nil, err
	} else if ok {
		if t.dec, err = buildDecoder(o); err != nil {
			return nil, err
		}
	}
	// A ByteLevel step at the end of the pre-tokenizer lets the model work
	// on raw bytes instead of GPT-2 characters.
	if bl := lastByteLevel(t.pre); bl != nil && m.prefix == "" && m.suffix == "" {
		bl.raw = true
		m.byteLevel = true
	}
	m.initTables()
	t.preparePre()
	return t, nil
}

// lastByteLevel returns the ByteLevel pre-tokenizer that ends the chain.
func lastByteLevel(p preTokenizer) *byteLevelPre {
	switch x := p.(type) {
	case *byteLevelPre:
		return x
	case seqPre:
		if len(x) > 0 {
			return lastByteLevel(x[len(x)-1])
		}
	}
	return nil
}

func readAddedToken(o obj) (addedToken, error) {
	var a addedToken
	id, err := o.optInt("id", -1)
	if err != nil {
		return a, err
	}
	if id < 0 || id >= maxTokenID {
		return a, o.errorf("id", "missing or out of range [0, %d): %d", maxTokenID, id)
	}
	a.id = int32(id)
	if a.content, err = o.str("content"); err != nil {
		return a, err
	}
	if a.content == "" {
		return a, o.errorf("content", "empty")
	}
	for _, f := range []struct {
		key string
		dst *bool
		def bool
	}{{"single_word", &a.singleWord, false}, {"lstrip", &a.lstrip, false}, {"rstrip", &a.rstrip, false},
		{"normalized", &a.normalized, false}, {"special", &a.special, false}} {
		if *f.dst, err = o.optBool(f.key, f.def); err != nil {
			return a, err
		}
	}
	if _, ok := o.m["normalized"]; !ok {
		a.normalized = !a.special
	}
	return a, nil
}
