package tokenizer

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// A preTokenizer splits text segments into the pieces the model encodes
// one by one (the tokenizer.json "pre_tokenizer"). split appends the pieces
// of every string of in to out.
type preTokenizer interface {
	split(in, out []string, st *encState) []string
}

// seqPre applies pre-tokenizers in order (type Sequence).
type seqPre []preTokenizer

func (q seqPre) split(in, out []string, st *encState) []string {
	if len(q) == 0 {
		return append(out, in...)
	}
	cur := in
	for k, p := range q {
		if k == len(q)-1 {
			out = p.split(cur, out, st)
			break
		}
		next := p.split(cur, st.takeBuf(), st)
		if k > 0 {
			st.putBuf(cur)
		}
		cur = next
	}
	if len(q) > 1 {
		st.putBuf(cur)
	}
	return out
}

// Split behaviours (SplitDelimiterBehavior).
const (
	behRemoved = iota
	behIsolated
	behMergedWithPrevious
	behMergedWithNext
	behContiguous
)

var behaviorNames = map[string]int{
	"Removed": behRemoved, "Isolated": behIsolated, "MergedWithPrevious": behMergedWithPrevious,
	"MergedWithNext": behMergedWithNext, "Contiguous": behContiguous,
}

// splitPre splits on a pattern with a delimiter behaviour (Split, and the
// building block of most other pre-tokenizers).
type splitPre struct {
	sc       scanner
	behavior int
	invert   bool
}

func (p splitPre) split(in, out []string, st *encState) []string {
	for _, s := range in {
		if s == "" {
			continue
		}
		spans := p.sc.scan(s, st.spans[:0])
		st.spans = spans
		if p.invert {
			for i := range spans {
				spans[i].match = !spans[i].match
			}
		}
		out = applyBehavior(s, spans, p.behavior, out)
	}
	return out
}

// applyBehavior turns the spans of s into pieces as the Hugging Face
// NormalizedString::split does, dropping empty pieces.
func applyBehavior(s string, spans []span, behavior int, out []string) []string {
	emit := func(a, b int) {
		if b > a {
			out = append(out, s[a:b])
		}
	}
	switch behavior {
	case behIsolated:
		for _, sp := range spans {
			emit(sp.start, sp.end)
		}
	case behRemoved:
		for _, sp := range spans {
			if !sp.match {
				emit(sp.start, sp.end)
			}
		}
	case behContiguous, behMergedWithPrevious:
		prevMatch := false
		a, b, open := 0, 0, false
		for _, sp := range spans {
			join := sp.match == prevMatch
			if behavior == behMergedWithPrevious {
				join = sp.match && !prevMatch
			}
			if join && open {
				b = sp.end
			} else {
				if open {
					emit(a, b)
				}
				a, b, open = sp.start, sp.end, true
			}
			prevMatch = sp.match
		}
		if open {
			emit(a, b)
		}
	case behMergedWithNext:
		// Walk backwards: a match is merged into the piece that follows.
		n0 := len(out)
		prevMatch := false
		a, b, open := 0, 0, false
		for i := len(spans) - 1; i >= 0; i-- {
			sp := spans[i]
			if sp.match && !prevMatch && open {
				a = sp.start
			} else {
				if open {
					emit(a, b)
				}
				a, b, open = sp.start, sp.end, true
			}
			prevMatch = sp.match
		}
		if open {
			emit(a, b)
		}
		for i, j := n0, len(out)-1; i < j; i, j = i+1, j-1 {
			out[i], out[j] = out[j], out[i]
		}
	}
	return out
}

// byteLevelPre is the ByteLevel pre-tokenizer: optional prefix space,
// optional GPT-2 split, then every byte mapped to its GPT-2 character. When
// raw is set the model works on raw bytes and the mapping is skipped.
type byteLevelPre struct {
	addPrefixSpace bool
	useRegex       bool
	raw            bool
}

func (p byteLevelPre) split(in, out []string, st *encState) []string {
	for _, s := range in {
		if p.addPrefixSpace && !strings.HasPrefix(s, " ") {
			s = " " + s
		}
		n0 := len(out)
		if p.useRegex {
			spans := gpt2Scanner{trailing: true}.scan(s, st.spans[:0])
			st.spans = spans
			out = applyBehavior(s, spans, behIsolated, out)
		} else if s != "" {
			out = append(out, s)
		}
		if !p.raw {
			for i := n0; i < len(out); i++ {
				out[i] = string(appendByteLevel(nil, out[i]))
			}
		}
	}
	return out
}

// Metaspace prepend schemes.
const (
	prependAlways = iota
	prependFirst
	prependNever
)

// metaspacePre is Metaspace: spaces become the replacement character, which
// is prepended per the prepend scheme, then (with split) each piece starts
// at a replacement character.
type metaspacePre struct {
	rep     string
	prepend int
	split_  bool
}

func (p metaspacePre) split(in, out []string, st *encState) []string {
	for i, s := range in {
		s = strings.ReplaceAll(s, " ", p.rep)
		if !strings.HasPrefix(s, p.rep) && (p.prepend == prependAlways || p.prepend == prependFirst && i == 0 && st.atStart) {
			s = p.rep + s
		}
		if !p.split_ {
			if s != "" {
				out = append(out, s)
			}
			continue
		}
		spans := literalScanner{p.rep}.scan(s, st.spans[:0])
		st.spans = spans
		out = applyBehavior(s, spans, behMergedWithNext, out)
	}
	return out
}

// runeScanner matches every single character satisfying pred.
type runeScanner struct{ pred func(rune) bool }

func (r runeScanner) scan(s string, out []span) []span {
	prev := 0
	for i := 0; i < len(s); {
		c, n := utf8.DecodeRuneInString(s[i:])
		if r.pred(c) {
			if i > prev {
				out = append(out, span{prev, i, false})
			}
			out = append(out, span{i, i + n, true})
			prev = i + n
		}
		i += n
	}
	if prev < len(s) {
		out = append(out, span{prev, len(s), false})
	}
	return out
}

func isASCIIDigit(r rune) bool { return r >= '0' && r <= '9' }

func isBertPunct(r rune) bool {
	return (r < 128 && unicode.IsPrint(r) && !unicode.IsLetter(r) && !unicode.IsDigit(r) && r != ' ') || unicode.IsPunct(r)
}

// wordScanner is the Whitespace pre-tokenizer's \w+|[^\w\s]+.
type wordScanner struct{}

func (wordScanner) scan(s string, out []span) []span {
	prev := 0
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		w := isWordChar(r)
		if !w && unicode.IsSpace(r) {
			i += n
			continue
		}
		j := i + n
		for j < len(s) {
			r2, n2 := utf8.DecodeRuneInString(s[j:])
			if isWordChar(r2) != w || (!w && unicode.IsSpace(r2)) {
				break
			}
			j += n2
		}
		if i > prev {
			out = append(out, span{prev, i, false})
		}
		out = append(out, span{i, j, true})
		prev, i = j, j
	}
	if prev < len(s) {
		out = append(out, span{prev, len(s), false})
	}
	return out
}
