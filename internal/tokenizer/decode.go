package tokenizer

import "strings"

// Decode returns the text of ids. skipSpecial drops special tokens
// (Hugging Face special=true; GGUF control tokens, and a leading BOS /
// trailing EOS as llama.cpp's remove_special does). Ids out of range are
// skipped; use CheckIDs to reject them.
func (t *Tokenizer) Decode(ids []int32, skipSpecial bool) string {
	if t.llama {
		return string(appendLossy(nil, t.llamaBytes(nil, ids, skipSpecial)))
	}
	tokens := make([]string, 0, len(ids))
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.pieces) || t.pieces[id] == "" {
			continue
		}
		if skipSpecial && t.kinds[id]&kindSpecial != 0 {
			continue
		}
		tokens = append(tokens, t.pieces[id])
	}
	if t.dec == nil {
		return strings.Join(tokens, " ")
	}
	return strings.Join(t.dec.decode(tokens), "")
}

// llamaBytes is llama.cpp's llama_detokenize: the pieces of ids
// concatenated, with the SentencePiece prefix space removed from the first
// piece.
func (t *Tokenizer) llamaBytes(dst []byte, ids []int32, skipSpecial bool) []byte {
	removeSpace := t.spm && t.addSpacePrefix
	if skipSpecial && t.addBOS && len(ids) > 0 && ids[0] == t.bos {
		removeSpace = false
		ids = ids[1:]
	}
	if skipSpecial && t.addEOS && len(ids) > 0 && ids[len(ids)-1] == t.eos {
		ids = ids[:len(ids)-1]
	}
	for _, id := range ids {
		if id < 0 || int(id) >= len(t.pieces) {
			continue
		}
		n := len(dst)
		dst = t.llamaPiece(dst, id, !skipSpecial)
		if removeSpace && len(dst) > n && dst[n] == ' ' {
			dst = append(dst[:n], dst[n+1:]...)
		}
		removeSpace = false
	}
	return dst
}

// llamaPiece is llama.cpp's token_to_piece: appends the bytes of one
// token. Control tokens render only when special is set.
func (t *Tokenizer) llamaPiece(dst []byte, id int32, special bool) []byte {
	k, text := t.kinds[id], t.pieces[id]
	switch {
	case k&kindControl != 0:
		if special {
			dst = append(dst, text...)
		}
	case k&(kindUnknown|kindUserDefined) != 0:
		dst = append(dst, text...)
	case k&kindUnused != 0:
	case t.spm && k&kindByte != 0:
		if b, ok := parseByteToken(text); ok {
			dst = append(dst, b)
		}
	case t.spm:
		for len(text) > 0 {
			i := strings.Index(text, "\u2581")
			if i < 0 {
				dst = append(dst, text...)
				break
			}
			dst = append(append(dst, text[:i]...), ' ')
			text = text[i+3:]
		}
	case k&kindByte != 0:
	default:
		var ok bool
		if dst, ok = decodeByteLevel(dst, text); !ok {
			dst = append(dst, text...)
		}
	}
	return dst
}
