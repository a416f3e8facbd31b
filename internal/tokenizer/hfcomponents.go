package tokenizer

import (
	"regexp"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

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
