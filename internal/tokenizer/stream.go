package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// StreamDecoder decodes ids arriving one at a time (generation) into text
// and never emits part of a UTF-8 character: bytes of an incomplete
// character wait for the next token. After warm-up it allocates nothing;
// the text is appended to the caller's buffer.
//
// The concatenated output equals Decode of all ids, except that invalid
// UTF-8 is replaced per maximal ill-formed subsequence (where the Hugging
// Face ByteFallback decoder would replace a whole invalid run of byte
// tokens, one U+FFFD per byte). A StreamDecoder is not safe for concurrent
// use; use one per sequence.
type StreamDecoder struct {
	t           *Tokenizer
	skipSpecial bool
	pend        [utf8.UTFMax]byte // start of an incomplete character
	npend       int
	first       bool // no token has produced text yet
	stripLeft   int  // leading spaces still to strip (HF Strip decoder)
	scratch     []byte
}

// NewStreamDecoder returns a streaming decoder; skipSpecial drops special
// tokens as Decode does.
func (t *Tokenizer) NewStreamDecoder(skipSpecial bool) *StreamDecoder {
	t.streamOnce.Do(t.buildStreamTable)
	d := &StreamDecoder{t: t, skipSpecial: skipSpecial, scratch: make([]byte, 0, 64)}
	d.Reset()
	return d
}

// Reset starts a new sequence.
func (d *StreamDecoder) Reset() {
	d.npend = 0
	d.first = true
	d.stripLeft = d.t.stripFirst
}

// Append decodes id and appends the text that is complete so far to dst.
func (d *StreamDecoder) Append(dst []byte, id int32) []byte {
	t := d.t
	if id < 0 || int(id) >= len(t.pieces) {
		return dst
	}
	var b []byte
	if t.llama {
		if d.first && d.skipSpecial && t.addBOS && id == t.bos {
			d.first = false
			return dst
		}
		b = t.llamaPiece(d.scratch[:0], id, !d.skipSpecial)
		if d.first && t.spm && t.addSpacePrefix && len(b) > 0 && b[0] == ' ' {
			b = b[1:]
		}
		d.scratch = b[:0]
		d.first = false
	} else {
		if d.skipSpecial && t.kinds[id]&kindSpecial != 0 {
			return dst
		}
		b = t.streamBytes[id]
		for d.stripLeft > 0 && len(b) > 0 && b[0] == ' ' {
			b = b[1:]
			d.stripLeft--
		}
		if len(b) > 0 {
			d.stripLeft = 0
		}
	}
	return d.feed(dst, b)
}

// Flush appends U+FFFD for an incomplete character left at the end and
// resets the decoder for a new sequence.
func (d *StreamDecoder) Flush(dst []byte) []byte {
	if d.npend > 0 {
		dst = append(dst, "\uFFFD"...)
	}
	d.Reset()
	return dst
}

// feed appends the complete characters of the pending bytes followed by b.
func (d *StreamDecoder) feed(dst, b []byte) []byte {
	if d.npend > 0 {
		var tmp [2 * utf8.UTFMax]byte
		n := copy(tmp[:], d.pend[:d.npend])
		k := copy(tmp[n:n+utf8.UTFMax-n], b)
		seq := tmp[:n+k]
		if l := validPrefix(seq); l > 0 {
			dst = append(dst, seq[:l]...)
			b = b[l-n:]
			d.npend = 0
		} else if bad := invalidLen(seq); bad == len(seq) && len(seq) < seqLen(seq[0]) {
			// Still incomplete: b was too short to finish it.
			copy(d.pend[:], seq)
			d.npend = len(seq)
			return dst
		} else {
			dst = append(dst, "\uFFFD"...)
			b = b[bad-n:]
			d.npend = 0
		}
	}
	if inc := utf8Incomplete(b); inc > 0 {
		dst = appendLossy(dst, b[:len(b)-inc])
		d.npend = copy(d.pend[:], b[len(b)-inc:])
		return dst
	}
	return appendLossy(dst, b)
}

// buildStreamTable computes, for every id, the bytes the streaming decoder
// emits, by applying the decoder's per-token steps.
func (t *Tokenizer) buildStreamTable() {
	if t.llama {
		return
	}
	steps := flattenDecoders(t.dec)
	if t.dec == nil {
		t.stripFirst = 1 // tokens are joined with spaces
	}
	for _, s := range steps {
		switch d := s.(type) {
		case stripDecoder:
			if d.content == ' ' {
				t.stripFirst = d.start
			}
		case metaspaceDecoder:
			if d.dropFirst {
				t.stripFirst = 1
			}
		case wordPieceDecoder:
			t.stripFirst = 1
		}
	}
	t.streamBytes = make([][]byte, len(t.pieces))
	var arena []byte
	offs := make([]int, len(t.pieces)+1)
	for id, p := range t.pieces {
		arena = appendTokenBytes(arena, p, steps, t.dec == nil)
		offs[id+1] = len(arena)
	}
	for id := range t.pieces {
		t.streamBytes[id] = arena[offs[id]:offs[id+1]:offs[id+1]]
	}
}

func flattenDecoders(d decoder) []decoder {
	if q, ok := d.(seqDecoder); ok {
		var out []decoder
		for _, x := range q {
			out = append(out, flattenDecoders(x)...)
		}
		return out
	}
	if d == nil {
		return nil
	}
	return []decoder{d}
}

// appendTokenBytes applies the decoder steps to one token, as they act on
// a token in the middle of a sequence.
func appendTokenBytes(dst []byte, p string, steps []decoder, noDecoder bool) []byte {
	if p == "" {
		return dst
	}
	if noDecoder {
		return append(append(dst, ' '), p...)
	}
	s := p
	for _, st := range steps {
		switch d := st.(type) {
		case byteLevelDecoder:
			if raw, ok := decodeByteLevel(nil, s); ok {
				s = string(raw)
			}
		case replaceDecoder:
			s = d.r.normalize(s)
		case byteFallbackDecoder:
			if b, ok := parseByteToken(s); ok {
				return append(dst, b)
			}
		case metaspaceDecoder:
			s = strings.ReplaceAll(s, string(d.rep), " ")
		case wordPieceDecoder:
			if strings.HasPrefix(s, d.prefix) {
				s = s[len(d.prefix):]
			} else {
				s = " " + s
			}
		case bpeSuffixDecoder:
			s = strings.ReplaceAll(s, d.suffix, " ")
		}
	}
	return append(dst, s...)
}

// TokenBytes appends to dst the bytes token id adds to a text in the middle
// of a sequence (what the streaming decoder emits for it, before UTF-8
// assembly) and reports whether id is a special token, which decoding drops
// by default. Ids out of range add nothing and count as special. Constrained
// decoding uses it to see which tokens can continue a text.
func (t *Tokenizer) TokenBytes(dst []byte, id int32) ([]byte, bool) {
	if id < 0 || int(id) >= len(t.pieces) {
		return dst, true
	}
	if t.llama {
		special := t.kinds[id]&(kindSpecial|kindControl) != 0
		return t.llamaPiece(dst, id, false), special
	}
	t.streamOnce.Do(t.buildStreamTable)
	return append(dst, t.streamBytes[id]...), t.kinds[id]&kindSpecial != 0
}
