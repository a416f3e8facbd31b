package tokenizer

import (
	"strings"
	"unicode/utf8"
)

// bpe is the Hugging Face BPE model (also used for llama.cpp's "gpt2"
// vocabularies): merges applied lowest rank first, leftmost first among
// equal ranks, with optional byte fallback, unknown-token fusing,
// ignore_merges and a continuing-subword prefix / end-of-word suffix.
type bpe struct {
	vocab        map[string]int32
	merges       *pairTable
	unk          int32 // -1 if none
	fuseUnk      bool
	byteFallback bool
	ignoreMerges bool
	prefix       string // continuing_subword_prefix
	suffix       string // end_of_word_suffix

	// byteLevel: words are raw bytes and each byte's initial symbol is
	// byteIDs[b], the id of its GPT-2 character (-1 if absent).
	byteLevel bool
	byteIDs   [256]int32
	// fallbackIDs[b] is the id of the token <0xXX>, -1 if absent.
	fallbackIDs [256]int32

	cache wordCache

	// spaceSplit: words may be cut before a "▁" (see initSpaceSplit);
	// glueBefore holds the characters after which a cut is not allowed,
	// and cutAfterUnknown says whether one is allowed after a character
	// outside the vocabulary.
	spaceSplit      bool
	glueBefore      map[rune]bool
	cutAfterUnknown bool
}

// spaceMark is the SentencePiece space, U+2581.
const spaceMark = "\u2581"

// maxGlueRunes bounds glueBefore; a vocabulary with more such characters
// is not cut at all.
const maxGlueRunes = 64

// spaceSplitEnabled lets tests turn cutting off to compare.
var spaceSplitEnabled = true

// cutMinLen is the length from which words are cut: shorter ones merge
// fast enough and are kept whole in the word cache (a variable so tests can
// cut every word).
var cutMinLen = cacheMaxWordLen

// initSpaceSplit decides whether words can be cut before the "▁" that
// starts each of their SentencePiece words. A SentencePiece-style
// tokenizer without a pre-tokenizer (Mistral, Llama 2) hands the model its
// whole text as one word, and merging a long word is slow. If no
// vocabulary token contains "▁" right after a character c (other than
// "▁"), no token, and so no merge result, can span a point where "▁"
// follows c: BPE then merges each side on its own exactly as it merges the
// whole word, since a merge only joins neighbours into a vocabulary token.
// glueBefore collects the characters c that do occur before "▁" inside a
// token; cuts are made only after other characters. A character outside
// the vocabulary starts as a byte-fallback token ("<0xE2>") or the unknown
// token, so what counts there is the last character of those.
func (m *bpe) initSpaceSplit() {
	m.spaceSplit = false
	if m.byteLevel || m.prefix != "" || m.suffix != "" {
		return
	}
	if _, ok := m.vocab[spaceMark]; !ok {
		return
	}
	glue := map[rune]bool{}
	for tok := range m.vocab {
		rest := strings.TrimLeft(tok, spaceMark)
		for {
			k := strings.Index(rest, spaceMark)
			if k < 0 {
				break
			}
			if k > 0 {
				r, _ := utf8.DecodeLastRuneInString(rest[:k])
				glue[r] = true
				if len(glue) > maxGlueRunes {
					return
				}
			}
			rest = rest[k+len(spaceMark):]
		}
	}
	m.spaceSplit, m.glueBefore = true, glue
	m.cutAfterUnknown = !glue['>']
	for tok, id := range m.vocab {
		if id == m.unk {
			r, _ := utf8.DecodeLastRuneInString(tok)
			m.cutAfterUnknown = m.cutAfterUnknown && !glue[r]
		}
	}
}

// initTables fills byteIDs and fallbackIDs from the vocabulary.
func (m *bpe) initTables() {
	const hex = "0123456789ABCDEF"
	for b := 0; b < 256; b++ {
		m.byteIDs[b] = -1
		if id, ok := m.vocab[byteToString[b]]; ok {
			m.byteIDs[b] = id
		}
		m.fallbackIDs[b] = -1
		if id, ok := m.vocab[string([]byte{'<', '0', 'x', hex[b>>4], hex[b&15], '>'})]; ok {
			m.fallbackIDs[b] = id
		}
	}
	m.initSpaceSplit()
}

// encode appends the ids of one pre-token to dst.
func (m *bpe) encode(word string, st *encState, dst []int32) []int32 {
	if len(word) == 0 {
		return dst
	}
	if m.spaceSplit && spaceSplitEnabled && len(word) >= cutMinLen {
		return m.encodeCut(word, st, dst)
	}
	return m.encodeWord(word, st, dst)
}

// encodeCut encodes word in the parts initSpaceSplit allows.
func (m *bpe) encodeCut(word string, st *encState, dst []int32) []int32 {
	start := 0
	for i := 1; i < len(word); {
		k := strings.Index(word[i:], spaceMark)
		if k < 0 {
			break
		}
		i += k
		prev, n := utf8.DecodeLastRuneInString(word[:i])
		if prev != '\u2581' && !m.glueBefore[prev] && (m.cutAfterUnknown || m.inVocab(word[i-n:i])) {
			dst = m.encodeWord(word[start:i], st, dst)
			start = i
		}
		i += len(spaceMark)
	}
	return m.encodeWord(word[start:], st, dst)
}

func (m *bpe) inVocab(s string) bool {
	_, ok := m.vocab[s]
	return ok
}

// encodeWord appends the ids of one word (or part of one) to dst.
func (m *bpe) encodeWord(word string, st *encState, dst []int32) []int32 {
	if m.ignoreMerges {
		key := word
		if m.byteLevel {
			st.buf = appendByteLevel(st.buf[:0], word)
			key = string(st.buf) // no allocation: used only as a map key
			if id, ok := m.vocab[string(st.buf)]; ok {
				return append(dst, id)
			}
		} else if id, ok := m.vocab[key]; ok {
			return append(dst, id)
		}
	}
	if m.byteLevel && len(word) == 1 && m.byteIDs[word[0]] >= 0 {
		return append(dst, m.byteIDs[word[0]])
	}
	if out, ok := m.cache.appendCached(dst, word); ok {
		return out
	}
	n0 := len(dst)
	dst = m.merge(word, st, dst)
	m.cache.add(word, dst[n0:])
	return dst
}

// heapThreshold is the word length (in symbols) from which merge uses a
// heap; shorter words use a linear scan, which is faster for them.
var heapThreshold = 128

// merge runs the BPE merges over word and appends the resulting ids.
func (m *bpe) merge(word string, st *encState, dst []int32) []int32 {
	syms := m.initialSymbols(word, st)
	st.syms = syms
	if len(syms) > 1 && m.merges.n > 0 {
		if len(syms) >= heapThreshold {
			return m.mergeHeap(syms, st, dst)
		}
		syms = m.mergeLinear(syms, st)
	}
	return append(dst, syms...)
}

// mergeLinear merges by scanning the cached pair ranks for the lowest.
func (m *bpe) mergeLinear(syms []int32, st *encState) []int32 {
	ranks := st.ranks[:0]
	for i := 0; i+1 < len(syms); i++ {
		ranks = append(ranks, m.merges.get(syms[i], syms[i+1]))
	}
	for {
		best, bi := noMerge, -1
		for i, r := range ranks {
			if r < best {
				best, bi = r, i
			}
		}
		if bi < 0 {
			break
		}
		syms[bi] = int32(uint32(best))
		copy(syms[bi+1:], syms[bi+2:])
		syms = syms[:len(syms)-1]
		copy(ranks[bi:], ranks[bi+1:])
		ranks = ranks[:len(ranks)-1]
		if bi > 0 {
			ranks[bi-1] = m.merges.get(syms[bi-1], syms[bi])
		}
		if bi < len(ranks) {
			ranks[bi] = m.merges.get(syms[bi], syms[bi+1])
		}
	}
	st.ranks = ranks
	return syms
}

// mergeHeap merges with a priority queue of (rank, position) over a
// linked list of symbols, in O(n log n), as the Hugging Face library does.
func (m *bpe) mergeHeap(syms []int32, st *encState, dst []int32) []int32 {
	n := len(syms)
	next := growInt32(&st.next, n)
	prev := growInt32(&st.prev, n)
	h := u64heap(st.ranks[:0])
	for i := range syms {
		prev[i], next[i] = int32(i-1), int32(i+1)
	}
	next[n-1] = -1
	push := func(pos int32) {
		if v := m.merges.get(syms[pos], syms[next[pos]]); v != noMerge {
			h.push(v>>32<<32 | uint64(pos))
		}
	}
	for i := 0; i+1 < n; i++ {
		push(int32(i))
	}
	for len(h) > 0 {
		top := h.pop()
		pos := int32(uint32(top))
		nx := next[pos]
		if syms[pos] < 0 || nx < 0 {
			continue
		}
		v := m.merges.get(syms[pos], syms[nx])
		if v == noMerge || v>>32 != top>>32 {
			continue
		}
		syms[pos] = int32(uint32(v))
		syms[nx] = -1
		next[pos] = next[nx]
		if next[pos] >= 0 {
			prev[next[pos]] = pos
		}
		if p := prev[pos]; p >= 0 {
			push(p)
		}
		if next[pos] >= 0 {
			push(pos)
		}
	}
	st.ranks = h[:0]
	for i := int32(0); i >= 0; i = next[i] {
		dst = append(dst, syms[i])
	}
	return dst
}

func growInt32(p *[]int32, n int) []int32 {
	if cap(*p) < n {
		*p = make([]int32, n)
	}
	return (*p)[:n]
}

// u64heap is a binary min-heap of uint64.
type u64heap []uint64

func (h *u64heap) push(x uint64) {
	*h = append(*h, x)
	a := *h
	for i := len(a) - 1; i > 0; {
		p := (i - 1) / 2
		if a[p] <= a[i] {
			break
		}
		a[p], a[i] = a[i], a[p]
		i = p
	}
}

func (h *u64heap) pop() uint64 {
	a := *h
	top := a[0]
	last := len(a) - 1
	a[0] = a[last]
	a = a[:last]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(a) {
			break
		}
		c := l
		if r := l + 1; r < len(a) && a[r] < a[l] {
			c = r
		}
		if a[i] <= a[c] {
			break
		}
		a[i], a[c] = a[c], a[i]
		i = c
	}
	*h = a
	return top
}

// initialSymbols splits word into its characters' ids, with byte fallback
// and unknown-token handling as the Hugging Face BPE model does.
func (m *bpe) initialSymbols(word string, st *encState) []int32 {
	syms := st.syms[:0]
	if m.byteLevel && m.prefix == "" && m.suffix == "" {
		ok := true
		for i := 0; i < len(word); i++ {
			id := m.byteIDs[word[i]]
			if id < 0 {
				ok = false
				break
			}
			syms = append(syms, id)
		}
		if ok {
			return syms
		}
		syms = syms[:0]
	}
	unkPending := false
	for i := 0; i < len(word); {
		first := i == 0
		var ch string
		if m.byteLevel {
			ch = byteToString[word[i]]
			i++
		} else {
			_, n := utf8.DecodeRuneInString(word[i:])
			ch = word[i : i+n]
			i += n
		}
		key := ch
		if m.prefix != "" && !first {
			key = m.prefix + ch
		}
		if m.suffix != "" && i == len(word) {
			key += m.suffix
		}
		if id, ok := m.vocab[key]; ok {
			if unkPending {
				syms = append(syms, m.unk)
				unkPending = false
			}
			syms = append(syms, id)
			continue
		}
		if m.byteFallback {
			all := true
			for j := 0; j < len(key); j++ {
				if m.fallbackIDs[key[j]] < 0 {
					all = false
					break
				}
			}
			if all {
				for j := 0; j < len(key); j++ {
					syms = append(syms, m.fallbackIDs[key[j]])
				}
				continue
			}
		}
		if m.unk >= 0 {
			if unkPending && !m.fuseUnk {
				syms = append(syms, m.unk)
			}
			unkPending = true
		}
	}
	if unkPending {
		syms = append(syms, m.unk)
	}
	return syms
}
