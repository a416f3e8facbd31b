package tokenizer

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
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

// pattern reads a {"String": s} or {"Regex": r} pattern.
func readPattern(o obj, key string) (lit string, re string, err error) {
	p, ok, err := o.child(key)
	if err != nil {
		return "", "", err
	}
	if !ok {
		return "", "", o.errorf(key, "missing (want {\"String\": ...} or {\"Regex\": ...})")
	}
	if s, ok := p.m["String"]; ok {
		lit, err = p.str("String")
		_ = s
		return lit, "", err
	}
	if _, ok := p.m["Regex"]; ok {
		re, err = p.str("Regex")
		return "", re, err
	}
	return "", "", o.errorf(key, "want {\"String\": ...} or {\"Regex\": ...}")
}

func buildReplace(o obj) (replaceNormalizer, error) {
	lit, re, err := readPattern(o, "pattern")
	if err != nil {
		return replaceNormalizer{}, err
	}
	content, err := o.str("content")
	if err != nil {
		return replaceNormalizer{}, err
	}
	r := replaceNormalizer{lit: lit, content: content}
	if re != "" {
		if r.re, err = regexp.Compile(rewriteSpace(re)); err != nil {
			return r, o.errorf("pattern.Regex", "%v", err)
		}
	}
	return r, nil
}

func buildNormalizer(o obj) (normalizer, error) {
	typ, err := o.str("type")
	if err != nil {
		return nil, err
	}
	switch typ {
	case "Sequence":
		list, err := o.list("normalizers")
		if err != nil {
			return nil, err
		}
		var q seqNormalizer
		for i, v := range list {
			c, err := o.elem("normalizers", i, v)
			if err != nil {
				return nil, err
			}
			n, err := buildNormalizer(c)
			if err != nil {
				return nil, err
			}
			q = append(q, n)
		}
		return q, nil
	case "Prepend":
		s, err := o.str("prepend")
		return prependNormalizer{s}, err
	case "Replace":
		return buildReplace(o)
	case "NFC":
		return unicodeNormalizer{norm.NFC}, nil
	case "NFD":
		return unicodeNormalizer{norm.NFD}, nil
	case "NFKC":
		return unicodeNormalizer{norm.NFKC}, nil
	case "NFKD":
		return unicodeNormalizer{norm.NFKD}, nil
	case "Lowercase":
		return lowercaseNormalizer{}, nil
	case "Strip":
		l, err := o.optBool("strip_left", true)
		if err != nil {
			return nil, err
		}
		r, err := o.optBool("strip_right", true)
		return stripNormalizer{l, r}, err
	case "StripAccents":
		return stripAccentsNormalizer{}, nil
	case "ByteLevel":
		return byteLevelNormalizer{}, nil
	case "BertNormalizer":
		var b bertNormalizer
		if b.cleanText, err = o.optBool("clean_text", true); err != nil {
			return nil, err
		}
		if b.chinese, err = o.optBool("handle_chinese_chars", true); err != nil {
			return nil, err
		}
		if b.lowercase, err = o.optBool("lowercase", true); err != nil {
			return nil, err
		}
		sa, ok := o.m["strip_accents"].(bool)
		b.stripAccents = (ok && sa) || (o.m["strip_accents"] == nil && b.lowercase)
		return b, nil
	}
	return nil, o.errorf("type", "normalizer %q is not supported", typ)
}

func buildPreTokenizer(o obj) (preTokenizer, error) {
	typ, err := o.str("type")
	if err != nil {
		return nil, err
	}
	switch typ {
	case "Sequence":
		list, err := o.list("pretokenizers")
		if err != nil {
			return nil, err
		}
		var q seqPre
		for i, v := range list {
			c, err := o.elem("pretokenizers", i, v)
			if err != nil {
				return nil, err
			}
			p, err := buildPreTokenizer(c)
			if err != nil {
				return nil, err
			}
			q = append(q, p)
		}
		return q, nil
	case "Split":
		lit, re, err := readPattern(o, "pattern")
		if err != nil {
			return nil, err
		}
		bs, err := o.str("behavior")
		if err != nil {
			return nil, err
		}
		beh, ok := behaviorNames[bs]
		if !ok {
			return nil, o.errorf("behavior", "unknown split behavior %q", bs)
		}
		inv, err := o.optBool("invert", false)
		if err != nil {
			return nil, err
		}
		var sc scanner = literalScanner{lit}
		if re != "" {
			if sc, err = compilePattern(re); err != nil {
				return nil, o.errorf("pattern.Regex", "%v", err)
			}
		}
		return splitPre{sc: sc, behavior: beh, invert: inv}, nil
	case "ByteLevel":
		aps, err := o.optBool("add_prefix_space", true)
		if err != nil {
			return nil, err
		}
		ur, err := o.optBool("use_regex", true)
		if err != nil {
			return nil, err
		}
		return &byteLevelPre{addPrefixSpace: aps, useRegex: ur}, nil
	case "Metaspace":
		rep, err := o.optStr("replacement", "\u2581")
		if err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(rep) != 1 {
			return nil, o.errorf("replacement", "want one character, found %q", rep)
		}
		scheme, err := metaspaceScheme(o)
		if err != nil {
			return nil, err
		}
		sp, err := o.optBool("split", true)
		return metaspacePre{rep: rep, prepend: scheme, split_: sp}, err
	case "Digits":
		ind, err := o.optBool("individual_digits", false)
		beh := behContiguous
		if ind {
			beh = behIsolated
		}
		return splitPre{sc: runeScanner{isASCIIDigit}, behavior: beh}, err
	case "Whitespace":
		return splitPre{sc: wordScanner{}, behavior: behRemoved, invert: true}, nil
	case "WhitespaceSplit":
		return splitPre{sc: runeScanner{isUnicodeSpace}, behavior: behRemoved}, nil
	case "Punctuation":
		bs, err := o.optStr("behavior", "Isolated")
		if err != nil {
			return nil, err
		}
		beh, ok := behaviorNames[bs]
		if !ok {
			return nil, o.errorf("behavior", "unknown split behavior %q", bs)
		}
		return splitPre{sc: runeScanner{isBertPunct}, behavior: beh}, nil
	case "BertPreTokenizer":
		return seqPre{splitPre{sc: runeScanner{isUnicodeSpace}, behavior: behRemoved}, splitPre{sc: runeScanner{isBertPunct}, behavior: behIsolated}}, nil
	case "CharDelimiterSplit":
		d, err := o.str("delimiter")
		if err != nil {
			return nil, err
		}
		return splitPre{sc: literalScanner{d}, behavior: behRemoved}, nil
	}
	return nil, o.errorf("type", "pre-tokenizer %q is not supported", typ)
}

func isUnicodeSpace(r rune) bool { return classOf(r)&clsSpace != 0 }

func metaspaceScheme(o obj) (int, error) {
	if s, ok := o.m["prepend_scheme"].(string); ok {
		switch s {
		case "always":
			return prependAlways, nil
		case "first":
			return prependFirst, nil
		case "never":
			return prependNever, nil
		}
		return 0, o.errorf("prepend_scheme", "want always, first or never, found %q", s)
	}
	aps, err := o.optBool("add_prefix_space", true)
	if aps {
		return prependAlways, err
	}
	return prependNever, err
}

func buildDecoder(o obj) (decoder, error) {
	typ, err := o.str("type")
	if err != nil {
		return nil, err
	}
	switch typ {
	case "Sequence":
		list, err := o.list("decoders")
		if err != nil {
			return nil, err
		}
		var q seqDecoder
		for i, v := range list {
			c, err := o.elem("decoders", i, v)
			if err != nil {
				return nil, err
			}
			d, err := buildDecoder(c)
			if err != nil {
				return nil, err
			}
			q = append(q, d)
		}
		return q, nil
	case "ByteLevel":
		return byteLevelDecoder{}, nil
	case "Replace":
		r, err := buildReplace(o)
		return replaceDecoder{r}, err
	case "ByteFallback":
		return byteFallbackDecoder{}, nil
	case "Fuse":
		return fuseDecoder{}, nil
	case "Strip":
		c, err := o.str("content")
		if err != nil {
			return nil, err
		}
		if utf8.RuneCountInString(c) != 1 {
			return nil, o.errorf("content", "want one character, found %q", c)
		}
		r, _ := utf8.DecodeRuneInString(c)
		start, err := o.optInt("start", 0)
		if err != nil {
			return nil, err
		}
		stop, err := o.optInt("stop", 0)
		if err != nil {
			return nil, err
		}
		if start < 0 || stop < 0 || start > 1<<20 || stop > 1<<20 {
			return nil, o.errorf("start", "start %d / stop %d out of range", start, stop)
		}
		return stripDecoder{content: r, start: int(start), stop: int(stop)}, nil
	case "Metaspace":
		rep, err := o.optStr("replacement", "\u2581")
		if err != nil {
			return nil, err
		}
		r, n := utf8.DecodeRuneInString(rep)
		if n != len(rep) || n == 0 {
			return nil, o.errorf("replacement", "want one character, found %q", rep)
		}
		scheme, err := metaspaceScheme(o)
		return metaspaceDecoder{rep: r, dropFirst: scheme != prependNever}, err
	case "WordPiece":
		pfx, err := o.optStr("prefix", "##")
		if err != nil {
			return nil, err
		}
		c, err := o.optBool("cleanup", true)
		return wordPieceDecoder{prefix: pfx, cleanup: c}, err
	case "BPEDecoder":
		s, err := o.optStr("suffix", "</w>")
		return bpeSuffixDecoder{s}, err
	}
	return nil, o.errorf("type", "decoder %q is not supported", typ)
}

// buildPost builds the post-processor; ByteLevel (offsets only) is nil.
func (t *Tokenizer) buildPost(o obj) (postProcessor, error) {
	typ, err := o.str("type")
	if err != nil {
		return nil, err
	}
	switch typ {
	case "ByteLevel":
		return nil, nil
	case "Sequence":
		list, err := o.list("processors")
		if err != nil {
			return nil, err
		}
		var q seqPost
		for i, v := range list {
			c, err := o.elem("processors", i, v)
			if err != nil {
				return nil, err
			}
			p, err := t.buildPost(c)
			if err != nil {
				return nil, err
			}
			if p != nil {
				q = append(q, p)
			}
		}
		if len(q) == 0 {
			return nil, nil
		}
		return q, nil
	case "TemplateProcessing":
		return t.buildTemplate(o)
	case "RobertaProcessing", "BertProcessing":
		var ids [2]int32
		for i, key := range []string{"cls", "sep"} {
			a, ok := o.m[key].([]any)
			if !ok || len(a) != 2 {
				return nil, o.errorf(key, "want [token, id]")
			}
			id, err := o.tokenID(key, a[1], len(t.pieces))
			if err != nil {
				return nil, err
			}
			ids[i] = id
		}
		return wrapPost{cls: ids[0], sep: ids[1]}, nil
	}
	return nil, o.errorf("type", "post-processor %q is not supported", typ)
}

func (t *Tokenizer) buildTemplate(o obj) (postProcessor, error) {
	single, err := o.list("single")
	if err != nil {
		return nil, err
	}
	specials, _, err := o.child("special_tokens")
	if err != nil {
		return nil, err
	}
	var tp templatePost
	for i, v := range single {
		it, err := o.elem("single", i, v)
		if err != nil {
			return nil, err
		}
		if _, ok := it.m["Sequence"]; ok {
			tp = append(tp, templateItem{sequence: true})
			continue
		}
		st, ok, err := it.child("SpecialToken")
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, it.errorf("", "want {\"Sequence\": ...} or {\"SpecialToken\": ...}")
		}
		name, err := st.str("id")
		if err != nil {
			return nil, err
		}
		sp, ok, err := specials.child(name)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, o.errorf("special_tokens", "no entry for %q used by the template", name)
		}
		idl, err := sp.list("ids")
		if err != nil {
			return nil, err
		}
		var ids []int32
		for _, v := range idl {
			id, err := sp.tokenID("ids", v, len(t.pieces))
			if err != nil {
				return nil, err
			}
			ids = append(ids, id)
		}
		tp = append(tp, templateItem{ids: ids})
	}
	return tp, nil
}
