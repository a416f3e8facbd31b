package tokenizer

import (
	"regexp"
	"strings"
	"unicode/utf8"
)

// A decoder turns token strings back into text (the tokenizer.json
// "decoder"); decode maps the tokens to new tokens, and the caller joins
// them.
type decoder interface {
	decode(tokens []string) []string
}

// seqDecoder applies decoders in order (Sequence).
type seqDecoder []decoder

func (q seqDecoder) decode(tokens []string) []string {
	for _, d := range q {
		tokens = d.decode(tokens)
	}
	return tokens
}

// byteLevelDecoder maps GPT-2 characters back to bytes and decodes them as
// lossy UTF-8 (ByteLevel). A token with a character outside the byte
// alphabet contributes its own UTF-8 bytes.
type byteLevelDecoder struct{}

func (byteLevelDecoder) decode(tokens []string) []string {
	var raw []byte
	for _, t := range tokens {
		var ok bool
		if raw, ok = decodeByteLevel(raw, t); !ok {
			raw = append(raw, t...)
		}
	}
	return []string{string(appendLossy(nil, raw))}
}

// replaceDecoder replaces a literal or regex in every token (Replace).
type replaceDecoder struct{ r replaceNormalizer }

func (d replaceDecoder) decode(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		out[i] = d.r.normalize(t)
	}
	return out
}

// parseByteToken returns the byte of a <0xXX> token.
func parseByteToken(t string) (byte, bool) {
	if len(t) != 6 || !strings.HasPrefix(t, "<0x") || t[5] != '>' {
		return 0, false
	}
	hi, ok1 := hexVal(t[3])
	lo, ok2 := hexVal(t[4])
	return hi<<4 | lo, ok1 && ok2
}

func hexVal(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// byteFallbackDecoder turns runs of <0xXX> tokens into their bytes: the
// text if the run is valid UTF-8, else one U+FFFD per byte (ByteFallback).
type byteFallbackDecoder struct{}

func (byteFallbackDecoder) decode(tokens []string) []string {
	out := make([]string, 0, len(tokens))
	var pending []byte
	flush := func() {
		if len(pending) == 0 {
			return
		}
		if utf8.Valid(pending) {
			out = append(out, string(pending))
		} else {
			for range pending {
				out = append(out, "\uFFFD")
			}
		}
		pending = pending[:0]
	}
	for _, t := range tokens {
		if b, ok := parseByteToken(t); ok {
			pending = append(pending, b)
			continue
		}
		flush()
		out = append(out, t)
	}
	flush()
	return out
}

// fuseDecoder joins all tokens into one (Fuse).
type fuseDecoder struct{}

func (fuseDecoder) decode(tokens []string) []string { return []string{strings.Join(tokens, "")} }

// stripDecoder removes up to start leading and stop trailing copies of a
// character from every token (Strip).
type stripDecoder struct {
	content     rune
	start, stop int
}

func (d stripDecoder) decode(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		for k := 0; k < d.start; k++ {
			r, n := utf8.DecodeRuneInString(t)
			if n == 0 || r != d.content {
				break
			}
			t = t[n:]
		}
		for k := 0; k < d.stop; k++ {
			r, n := utf8.DecodeLastRuneInString(t)
			if n == 0 || r != d.content {
				break
			}
			t = t[:len(t)-n]
		}
		out[i] = t
	}
	return out
}

// metaspaceDecoder turns the replacement character back into spaces,
// dropping those of the first token when a prefix was prepended
// (Metaspace).
type metaspaceDecoder struct {
	rep       rune
	dropFirst bool
}

func (d metaspaceDecoder) decode(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		var sb strings.Builder
		for _, r := range t {
			if r == d.rep {
				if i == 0 && d.dropFirst {
					continue
				}
				r = ' '
			}
			sb.WriteRune(r)
		}
		out[i] = sb.String()
	}
	return out
}

// wordPieceDecoder joins WordPiece tokens: a token with the prefix glues to
// the previous one, others get a space (WordPiece).
type wordPieceDecoder struct {
	prefix  string
	cleanup bool
}

var cleanupRe = strings.NewReplacer(" .", ".", " ?", "?", " !", "!", " ,", ",", " ' ", "'", " n't", "n't", " 'm", "'m", " do not", " don't", " 's", "'s", " 've", "'ve", " 're", "'re")

func (d wordPieceDecoder) decode(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		if i != 0 {
			if strings.HasPrefix(t, d.prefix) {
				t = t[len(d.prefix):]
			} else {
				t = " " + t
			}
		}
		if d.cleanup {
			t = cleanupRe.Replace(t)
		}
		out[i] = t
	}
	return out
}

// bpeSuffixDecoder replaces the end-of-word suffix with a space, except on
// the last token (BPEDecoder).
type bpeSuffixDecoder struct{ suffix string }

func (d bpeSuffixDecoder) decode(tokens []string) []string {
	out := make([]string, len(tokens))
	for i, t := range tokens {
		rep := " "
		if i == len(tokens)-1 {
			rep = ""
		}
		out[i] = strings.ReplaceAll(t, d.suffix, rep)
	}
	return out
}

// newReplaceDecoder builds a Replace decoder.
func newReplaceDecoder(lit string, re *regexp.Regexp, content string) replaceDecoder {
	return replaceDecoder{replaceNormalizer{lit: lit, re: re, content: content}}
}
