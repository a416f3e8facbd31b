package tokenizer

import (
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// A normalizer rewrites a text segment before pre-tokenization (the
// tokenizer.json "normalizer").
type normalizer interface {
	normalize(s string) string
}

// seqNormalizer applies normalizers in order (type Sequence).
type seqNormalizer []normalizer

func (q seqNormalizer) normalize(s string) string {
	for _, n := range q {
		s = n.normalize(s)
	}
	return s
}

// prependNormalizer prepends a string to a non-empty segment (Prepend).
type prependNormalizer struct{ prefix string }

func (p prependNormalizer) normalize(s string) string {
	if s == "" {
		return s
	}
	return p.prefix + s
}

// replaceNormalizer replaces every match of a literal or regex (Replace).
type replaceNormalizer struct {
	lit     string
	re      *regexp.Regexp
	content string
}

func (r replaceNormalizer) normalize(s string) string {
	if r.re != nil {
		return r.re.ReplaceAllLiteralString(s, r.content)
	}
	if r.lit == "" {
		return s
	}
	return strings.ReplaceAll(s, r.lit, r.content)
}

// unicodeNormalizer applies a Unicode normalization form (NFC, NFD, NFKC,
// NFKD).
type unicodeNormalizer struct{ form norm.Form }

func (u unicodeNormalizer) normalize(s string) string {
	if isASCII(s) {
		return s
	}
	return u.form.String(s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// lowercaseNormalizer lowercases (Lowercase).
type lowercaseNormalizer struct{}

func (lowercaseNormalizer) normalize(s string) string { return strings.ToLower(s) }

// stripNormalizer trims whitespace on either side (Strip).
type stripNormalizer struct{ left, right bool }

func (n stripNormalizer) normalize(s string) string {
	if n.left {
		s = strings.TrimLeftFunc(s, unicode.IsSpace)
	}
	if n.right {
		s = strings.TrimRightFunc(s, unicode.IsSpace)
	}
	return s
}

// stripAccentsNormalizer removes combining marks (StripAccents; meant to
// follow NFD).
type stripAccentsNormalizer struct{}

func (stripAccentsNormalizer) normalize(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.Is(unicode.Mn, r) {
			return -1
		}
		return r
	}, s)
}

// byteLevelNormalizer maps every byte to its GPT-2 character (ByteLevel).
type byteLevelNormalizer struct{}

func (byteLevelNormalizer) normalize(s string) string {
	return string(appendByteLevel(nil, s))
}

// bertNormalizer is BertNormalizer: clean control characters, pad CJK
// ideographs with spaces, strip accents and lowercase.
type bertNormalizer struct {
	cleanText, chinese, stripAccents, lowercase bool
}

func (b bertNormalizer) normalize(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if b.cleanText {
			if r == 0 || r == 0xFFFD || (isControl(r)) {
				continue
			}
			if unicode.IsSpace(r) {
				r = ' '
			}
		}
		if b.chinese && isCJK(r) {
			sb.WriteByte(' ')
			sb.WriteRune(r)
			sb.WriteByte(' ')
			continue
		}
		sb.WriteRune(r)
	}
	out := sb.String()
	if b.stripAccents {
		out = stripAccentsNormalizer{}.normalize(norm.NFD.String(out))
	}
	if b.lowercase {
		out = strings.ToLower(out)
	}
	return out
}

func isControl(r rune) bool {
	if r == '\t' || r == '\n' || r == '\r' {
		return false
	}
	return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Co, unicode.Cs)
}

func isCJK(r rune) bool {
	return (r >= 0x4E00 && r <= 0x9FFF) || (r >= 0x3400 && r <= 0x4DBF) || (r >= 0x20000 && r <= 0x2A6DF) ||
		(r >= 0x2A700 && r <= 0x2B73F) || (r >= 0x2B740 && r <= 0x2B81F) || (r >= 0x2B820 && r <= 0x2CEAF) ||
		(r >= 0xF900 && r <= 0xFAFF) || (r >= 0x2F800 && r <= 0x2FA1F)
}
