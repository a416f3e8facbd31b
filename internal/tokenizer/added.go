package tokenizer

import (
	"slices"
	"unicode"
	"unicode/utf8"
)

// addedToken is a token matched in the text before the model runs: the
// Hugging Face added tokens, or llama.cpp's control, user-defined and
// unknown tokens.
type addedToken struct {
	id         int32
	content    string
	special    bool // skipped by Decode(skipSpecial) and by ParseSpecial=false
	singleWord bool
	lstrip     bool
	rstrip     bool
	normalized bool
}

// trie is a byte trie over token contents for multi-pattern search.
type trie struct {
	root  [256]int32 // child of the root per byte, 0 if none
	nodes []trieNode
	first [256]bool // bytes that start some pattern
}

type trieNode struct {
	term  int32 // index of the pattern ending here, -1 if none
	edges []trieEdge
}

type trieEdge struct {
	b     byte
	child int32
}

func newTrie(patterns []string) *trie {
	t := &trie{nodes: []trieNode{{term: -1}}}
	for pi, p := range patterns {
		if p == "" {
			continue
		}
		t.first[p[0]] = true
		n := int32(0)
		for i := 0; i < len(p); i++ {
			n = t.child(n, p[i], true)
		}
		if t.nodes[n].term < 0 {
			t.nodes[n].term = int32(pi)
		}
	}
	return t
}

func (t *trie) child(n int32, b byte, create bool) int32 {
	if n == 0 {
		if c := t.root[b]; c != 0 || !create {
			return c
		}
		t.nodes = append(t.nodes, trieNode{term: -1})
		t.root[b] = int32(len(t.nodes) - 1)
		return t.root[b]
	}
	for _, e := range t.nodes[n].edges {
		if e.b == b {
			return e.child
		}
	}
	if !create {
		return 0
	}
	t.nodes = append(t.nodes, trieNode{term: -1})
	c := int32(len(t.nodes) - 1)
	t.nodes[n].edges = append(t.nodes[n].edges, trieEdge{b, c})
	return c
}

// longestAt returns the index and length of the longest pattern starting
// at s[i], or -1.
func (t *trie) longestAt(s string, i int) (int32, int) {
	best, blen := int32(-1), 0
	n := int32(0)
	for j := i; j < len(s); j++ {
		n = t.child(n, s[j], false)
		if n == 0 {
			break
		}
		if term := t.nodes[n].term; term >= 0 {
			best, blen = term, j+1-i
		}
	}
	return best, blen
}

// addedSet is a set of added tokens with its matcher.
type addedSet struct {
	tokens []addedToken
	trie   *trie
}

func newAddedSet(tokens []addedToken) *addedSet {
	if len(tokens) == 0 {
		return nil
	}
	pats := make([]string, len(tokens))
	for i, t := range tokens {
		pats[i] = t.content
	}
	return &addedSet{tokens: tokens, trie: newTrie(pats)}
}

// segment is a piece of the input: either text still to be tokenized
// (id < 0) or a matched added token.
type segment struct {
	start, end int
	id         int32
}

// splitHF splits s on the added tokens as the Hugging Face AddedVocabulary
// does: leftmost-longest non-overlapping matches, then single_word, lstrip
// and rstrip; special tokens are skipped when !parseSpecial. Segments are
// appended to out.
func (a *addedSet) splitHF(s string, parseSpecial bool, out []segment) []segment {
	prev := 0
	for i := 0; i < len(s); i++ {
		if !a.trie.first[s[i]] {
			continue
		}
		ti, l := a.trie.longestAt(s, i)
		if ti < 0 {
			continue
		}
		start, stop := i, i+l
		i = stop - 1
		tok := &a.tokens[ti]
		if !parseSpecial && tok.special {
			continue
		}
		if tok.singleWord {
			startSpace := start == 0 || !endsWithWord(s[:start])
			stopSpace := stop == len(s) || !startsWithWord(s[stop:])
			if !startSpace || !stopSpace {
				continue
			}
		}
		if tok.lstrip {
			ns := start
			for ns > 0 {
				r, n := utf8.DecodeLastRuneInString(s[:ns])
				if !unicode.IsSpace(r) {
					break
				}
				ns -= n
			}
			start = max(ns, prev)
		}
		if tok.rstrip {
			for stop < len(s) {
				r, n := utf8.DecodeRuneInString(s[stop:])
				if !unicode.IsSpace(r) {
					break
				}
				stop += n
			}
		}
		if prev < start {
			out = append(out, segment{prev, start, -1})
		}
		out = append(out, segment{start, stop, tok.id})
		prev = stop
	}
	if prev < len(s) {
		out = append(out, segment{prev, len(s), -1})
	}
	return out
}

func isWordChar(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsNumber(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r) || unicode.Is(unicode.Pc, r) || r == '_'
}

func endsWithWord(s string) bool {
	r, _ := utf8.DecodeLastRuneInString(s)
	return len(s) > 0 && isWordChar(r)
}

func startsWithWord(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return len(s) > 0 && isWordChar(r)
}

// occurrence is one place an added token occurs in the text.
type occurrence struct {
	pos int
	tok int32 // index in addedSet.tokens
}

// splitLlama splits s on the added tokens as llama.cpp's
// tokenizer_st_partition does: tokens are taken longest first (then by id),
// each splitting every text fragment left to right at its non-overlapping
// occurrences; control and unknown tokens only when parseSpecial. lstrip
// and rstrip eat the ASCII whitespace beside a match.
func (a *addedSet) splitLlama(s string, parseSpecial bool, st *encState, out []segment) []segment {
	occ := st.occ[:0]
	for i := 0; i < len(s); i++ {
		if !a.trie.first[s[i]] {
			continue
		}
		n := int32(0)
		for j := i; j < len(s); j++ {
			n = a.trie.child(n, s[j], false)
			if n == 0 {
				break
			}
			if term := a.trie.nodes[n].term; term >= 0 && (parseSpecial || !a.tokens[term].special) {
				occ = append(occ, occurrence{i, term})
			}
		}
	}
	st.occ = occ
	if len(occ) == 0 {
		if s == "" {
			return out
		}
		return append(out, segment{0, len(s), -1})
	}
	slices.SortStableFunc(occ, func(x, y occurrence) int {
		lx, ly := len(a.tokens[x.tok].content), len(a.tokens[y.tok].content)
		if lx != ly {
			return ly - lx
		}
		if x.tok != y.tok {
			return int(a.tokens[x.tok].id - a.tokens[y.tok].id)
		}
		return x.pos - y.pos
	})
	// owner[i] is 0 for free text, -1 for stripped space, k+1 for the k-th
	// accepted occurrence.
	owner := st.owner[:0]
	owner = slices.Grow(owner, len(s))[:len(s)]
	clear(owner)
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' }
	for k, o := range occ {
		tok := &a.tokens[o.tok]
		end := o.pos + len(tok.content)
		free := true
		for i := o.pos; i < end; i++ {
			if owner[i] != 0 {
				free = false
				break
			}
		}
		if !free {
			continue
		}
		for i := o.pos; i < end; i++ {
			owner[i] = int32(k + 1)
		}
		if tok.lstrip {
			for i := o.pos - 1; i >= 0 && owner[i] == 0 && isSpace(s[i]); i-- {
				owner[i] = -1
			}
		}
		if tok.rstrip {
			for i := end; i < len(s) && owner[i] == 0 && isSpace(s[i]); i++ {
				owner[i] = -1
			}
		}
	}
	for i := 0; i < len(s); {
		o := owner[i]
		j := i + 1
		for j < len(s) && owner[j] == o && o <= 0 {
			j++
		}
		switch {
		case o == 0:
			out = append(out, segment{i, j, -1})
		case o > 0:
			tok := &a.tokens[occ[o-1].tok]
			j = i + len(tok.content)
			out = append(out, segment{i, j, tok.id})
		}
		i = j
	}
	st.owner = owner
	return out
}
