package tokenizer

import (
	"fmt"
	"regexp"
	"strings"
)

// Split patterns known to need lookahead, implemented by hand-written
// scanners. Keys are the pattern strings exactly as tokenizer.json and
// llama.cpp spell them.
var knownPatterns = map[string]scanner{
	`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`:                                                                       gpt2Scanner{trailing: true},
	`'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`:                                                                           gpt2Scanner{trailing: false},
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`:                              llama3Scanner{maxDigits: 3},
	`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`: llama3Scanner{maxDigits: 3},
	`(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`:                                   llama3Scanner{maxDigits: 1},
	`(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`:      llama3Scanner{maxDigits: 1},
}

// unicodeSpace is \s as Oniguruma and Rust define it (White_Space), for
// use inside a Go character class.
const unicodeSpace = `\t\n\v\f\r \x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000}`

// regexScanner runs a pattern without lookaround on Go's regexp, whose
// leftmost-first semantics equal Oniguruma's and std::regex's for such
// patterns.
type regexScanner struct{ re *regexp.Regexp }

func (r regexScanner) scan(s string, out []span) []span {
	prev := 0
	for _, m := range r.re.FindAllStringIndex(s, -1) {
		if m[0] > prev {
			out = append(out, span{prev, m[0], false})
		}
		out = append(out, span{m[0], m[1], true})
		prev = m[1]
	}
	if prev < len(s) {
		out = append(out, span{prev, len(s), false})
	}
	return out
}

// literalScanner matches a fixed string.
type literalScanner struct{ lit string }

func (l literalScanner) scan(s string, out []span) []span {
	if l.lit == "" {
		return append(out, span{0, len(s), false})
	}
	prev := 0
	for {
		k := strings.Index(s[prev:], l.lit)
		if k < 0 {
			break
		}
		if k > 0 {
			out = append(out, span{prev, prev + k, false})
		}
		out = append(out, span{prev + k, prev + k + len(l.lit), true})
		prev += k + len(l.lit)
	}
	if prev < len(s) {
		out = append(out, span{prev, len(s), false})
	}
	return out
}

// compilePattern returns a scanner for a split regex: a hand-written one
// for the patterns that need lookahead, else Go's regexp after rewriting \s
// to Unicode White_Space.
func compilePattern(pat string) (scanner, error) {
	if sc, ok := knownPatterns[pat]; ok {
		return sc, nil
	}
	if strings.Contains(pat, "(?!") || strings.Contains(pat, "(?=") || strings.Contains(pat, "(?<") {
		return nil, fmt.Errorf("regex %q uses lookaround, which only the built-in GPT-2, Llama 3 and Qwen 2 patterns support", pat)
	}
	re, err := regexp.Compile(rewriteSpace(pat))
	if err != nil {
		return nil, fmt.Errorf("regex %q: %w", pat, err)
	}
	return regexScanner{re}, nil
}

// rewriteSpace replaces \s (ASCII-only in Go) with the Unicode White_Space
// class and \S with its complement, inside and outside brackets.
func rewriteSpace(pat string) string {
	var b strings.Builder
	inClass := false
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		if c == '\\' && i+1 < len(pat) {
			switch n := pat[i+1]; {
			case n == 's' && inClass:
				b.WriteString(unicodeSpace)
			case n == 's':
				b.WriteString("[" + unicodeSpace + "]")
			case n == 'S' && !inClass:
				b.WriteString("[^" + unicodeSpace + "]")
			default:
				b.WriteByte(c)
				b.WriteByte(n)
			}
			i++
			continue
		}
		switch {
		case c == '[' && !inClass:
			inClass = true
		case c == ']' && inClass:
			inClass = false
		}
		b.WriteByte(c)
	}
	return b.String()
}
