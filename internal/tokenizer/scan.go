package tokenizer

import "unicode/utf8"

// A span is a piece of a string found by a split pattern: [start, end),
// and whether the pattern matched it (false for text between matches).
type span struct {
	start, end int
	match      bool
}

// A scanner finds the matches of a split pattern in s and appends every
// match and every gap between them, in order, covering all of s.
type scanner interface {
	scan(s string, out []span) []span
}

// A resumableScanner can also scan a long string in parts: scanFrom
// appends the spans that start at i and after, stopping once out holds
// limit spans or s ends, and returns the position to resume from. Its
// spans, part after part, are exactly those of scan, since each match it
// finds depends only on the text from its start onwards.
type resumableScanner interface {
	scanner
	scanFrom(s string, i int, out []span, limit int) ([]span, int)
}

// decodeAt decodes the character at s[i]; an invalid byte is U+FFFD of
// width 1.
func decodeAt(s string, i int) (rune, int) {
	c := s[i]
	if c < utf8.RuneSelf {
		return rune(c), 1
	}
	return utf8.DecodeRuneInString(s[i:])
}

// classAt returns the classes of the character at s[i] and its width; past
// the end it returns class 0 and width 0.
func classAt(s string, i int) (uint8, int) {
	if i >= len(s) {
		return 0, 0
	}
	c := s[i]
	if c < utf8.RuneSelf {
		return asciiClass[c], 1
	}
	r, n := utf8.DecodeRuneInString(s[i:])
	return classOfSlow(r), n
}

// scanClass advances from i over characters having any class in want.
func scanClass(s string, i int, want uint8) int {
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if asciiClass[c]&want == 0 {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if classOfSlow(r)&want == 0 {
			return i
		}
		i += n
	}
	return i
}

// scanNotClass advances from i over characters having none of the classes
// in avoid.
func scanNotClass(s string, i int, avoid uint8) int {
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if asciiClass[c]&avoid != 0 {
				return i
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if classOfSlow(r)&avoid != 0 {
			return i
		}
		i += n
	}
	return i
}

// contraction returns the length of the contraction suffix ('s, 't, 're,
// 've, 'm, 'll, 'd without the apostrophe) at the start of s, or 0. With
// fold it matches case-insensitively as Unicode simple case folding does
// (so 'ſ' matches 's').
func contraction(s string, fold bool) int {
	if len(s) == 0 {
		return 0
	}
	lower := func(c byte) byte {
		if fold && c >= 'A' && c <= 'Z' {
			return c + 32
		}
		return c
	}
	switch lower(s[0]) {
	case 's', 't', 'm', 'd':
		return 1
	case 'r', 'v':
		if len(s) > 1 && lower(s[1]) == 'e' {
			return 2
		}
	case 'l':
		if len(s) > 1 && lower(s[1]) == 'l' {
			return 2
		}
	case 0xC5: // U+017F LATIN SMALL LETTER LONG S folds to 's'
		if fold && len(s) > 1 && s[1] == 0xBF {
			return 2
		}
	}
	return 0
}

// whitespaceRun scans the run of \s characters starting at i. It returns
// the run's end, the start of its last character, the number of characters
// and the end of its last \r or \n (-1 if none).
func whitespaceRun(s string, i int) (end, last, count, lastNL int) {
	end, last, lastNL = i, i, -1
	for end < len(s) {
		c := s[end]
		n := 1
		if c < utf8.RuneSelf {
			if asciiClass[c]&clsSpace == 0 {
				break
			}
			if c == '\r' || c == '\n' {
				lastNL = end + 1
			}
		} else {
			var r rune
			r, n = utf8.DecodeRuneInString(s[end:])
			if classOfSlow(r)&clsSpace == 0 {
				break
			}
		}
		last = end
		end += n
		count++
	}
	return
}

// gpt2Scanner is the GPT-2 pattern
//
//	's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// (without the final |\s+ when !trailing, which leaves a lone whitespace
// before a non-space unmatched).
type gpt2Scanner struct{ trailing bool }

func (g gpt2Scanner) scan(s string, out []span) []span {
	out, _ = g.scanFrom(s, 0, out, int(^uint(0)>>1))
	return out
}

func (g gpt2Scanner) scanFrom(s string, i int, out []span, limit int) ([]span, int) {
	for i < len(s) && len(out) < limit {
		if s[i] == '\'' {
			if l := contraction(s[i+1:], false); l > 0 {
				out = append(out, span{i, i + 1 + l, true})
				i += 1 + l
				continue
			}
		}
		cls, n := classAt(s, i)
		p := i
		if s[i] == ' ' {
			if c2, _ := classAt(s, i+1); i+1 < len(s) && c2&clsSpace == 0 {
				p, cls = i+1, c2
			}
		}
		switch {
		case cls&clsLetter != 0:
			e := scanClass(s, p, clsLetter)
			out = append(out, span{i, e, true})
			i = e
			continue
		case cls&clsNumber != 0:
			e := scanClass(s, p, clsNumber)
			out = append(out, span{i, e, true})
			i = e
			continue
		case cls&clsSpace == 0:
			e := scanNotClass(s, p, clsSpace|clsLetter|clsNumber)
			out = append(out, span{i, e, true})
			i = e
			continue
		}
		end, last, count, _ := whitespaceRun(s, i)
		switch {
		case end == len(s):
			out = append(out, span{i, end, true})
			i = end
		case count > 1:
			out = append(out, span{i, last, true})
			i = last
		default:
			out = append(out, span{i, i + n, g.trailing})
			i += n
		}
	}
	return out, i
}

// llama3Scanner is the Llama 3 pattern (maxDigits 3) and the Qwen 2 one
// (maxDigits 1):
//
//	(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
type llama3Scanner struct{ maxDigits int }

func (l llama3Scanner) scan(s string, out []span) []span {
	out, _ = l.scanFrom(s, 0, out, int(^uint(0)>>1))
	return out
}

func (l llama3Scanner) scanFrom(s string, i int, out []span, limit int) ([]span, int) {
	for i < len(s) && len(out) < limit {
		c := s[i]
		if c == '\'' {
			if k := contraction(s[i+1:], true); k > 0 {
				out = append(out, span{i, i + 1 + k, true})
				i += 1 + k
				continue
			}
		}
		cls, n := classAt(s, i)
		if cls&clsLetter != 0 {
			e := scanClass(s, i+n, clsLetter)
			out = append(out, span{i, e, true})
			i = e
			continue
		}
		if c != '\r' && c != '\n' && cls&clsNumber == 0 {
			if c2, n2 := classAt(s, i+n); c2&clsLetter != 0 {
				e := scanClass(s, i+n+n2, clsLetter)
				out = append(out, span{i, e, true})
				i = e
				continue
			}
		}
		if cls&clsNumber != 0 {
			e := i
			for k := 0; k < l.maxDigits; k++ {
				c2, n2 := classAt(s, e)
				if c2&clsNumber == 0 {
					break
				}
				e += n2
			}
			out = append(out, span{i, e, true})
			i = e
			continue
		}
		p, pc := i, cls
		if c == ' ' {
			if c2, _ := classAt(s, i+1); i+1 < len(s) && c2&(clsSpace|clsLetter|clsNumber) == 0 {
				p, pc = i+1, c2
			}
		}
		if pc&(clsSpace|clsLetter|clsNumber) == 0 {
			e := scanNotClass(s, p, clsSpace|clsLetter|clsNumber)
			for e < len(s) && (s[e] == '\r' || s[e] == '\n') {
				e++
			}
			out = append(out, span{i, e, true})
			i = e
			continue
		}
		end, last, count, lastNL := whitespaceRun(s, i)
		switch {
		case lastNL >= 0:
			out = append(out, span{i, lastNL, true})
			i = lastNL
		case end == len(s):
			out = append(out, span{i, end, true})
			i = end
		case count > 1:
			out = append(out, span{i, last, true})
			i = last
		default:
			out = append(out, span{i, i + n, true})
			i += n
		}
	}
	return out, i
}
