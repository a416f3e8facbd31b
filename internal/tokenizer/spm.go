package tokenizer

import "container/heap"

// spm is llama.cpp's SentencePiece BPE (llm_tokenizer_spm): starting from
// characters, repeatedly merge the adjacent pair whose concatenation is the
// vocabulary token with the highest score (leftmost first on ties); a final
// symbol that is not a token becomes its bytes' <0xXX> tokens.
type spm struct {
	vocab   map[string]int32
	scores  []float32
	byteIDs [256]int32 // token of each byte: <0xXX>, else the byte itself; -1 if neither
}

func (m *spm) lookup(p string) (int32, bool) {
	id, ok := m.vocab[p]
	return id, ok
}

// spmSym is a symbol of the text being merged: text[start:start+n].
type spmSym struct {
	start, n   int
	prev, next int
}

// spmBigram is a candidate merge of symbols left and right.
type spmBigram struct {
	left, right int
	score       float32
	size        int
}

type spmQueue []spmBigram

func (q spmQueue) Len() int { return len(q) }
func (q spmQueue) Less(i, j int) bool {
	if q[i].score != q[j].score {
		return q[i].score > q[j].score
	}
	return q[i].left < q[j].left
}
func (q spmQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *spmQueue) Push(x any)   { *q = append(*q, x.(spmBigram)) }
func (q *spmQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

func (m *spm) encode(text string, st *encState, dst []int32) []int32 {
	if text == "" {
		return dst
	}
	syms := st.spmSyms[:0]
	for offs := 0; offs < len(text); {
		n := min(utf8LenLead(text[offs]), len(text)-offs)
		next := len(syms) + 1
		if offs+n == len(text) {
			next = -1
		}
		syms = append(syms, spmSym{start: offs, n: n, prev: len(syms) - 1, next: next})
		offs += n
	}
	q := spmQueue(st.heap[:0])
	try := func(left, right int) {
		if left < 0 || right < 0 {
			return
		}
		s := text[syms[left].start : syms[left].start+syms[left].n+syms[right].n]
		id, ok := m.vocab[s]
		if !ok || int(id) >= len(m.scores) {
			return
		}
		heap.Push(&q, spmBigram{left: left, right: right, score: m.scores[id], size: len(s)})
	}
	for i := 1; i < len(syms); i++ {
		try(i-1, i)
	}
	for q.Len() > 0 {
		b := heap.Pop(&q).(spmBigram)
		l, r := &syms[b.left], &syms[b.right]
		if l.n == 0 || r.n == 0 || l.n+r.n != b.size {
			continue
		}
		l.n += r.n
		r.n = 0
		l.next = r.next
		if r.next >= 0 {
			syms[r.next].prev = b.left
		}
		try(l.prev, b.left)
		try(b.left, l.next)
	}
	st.heap = q[:0]
	st.spmSyms = syms[:0]
	for i := 0; i != -1; i = syms[i].next {
		s := text[syms[i].start : syms[i].start+syms[i].n]
		if id, ok := m.vocab[s]; ok {
			dst = append(dst, id)
			continue
		}
		for j := 0; j < len(s); j++ {
			if id := m.byteIDs[s[j]]; id >= 0 {
				dst = append(dst, id)
			}
		}
	}
	return dst
}

// utf8LenLead is llama.cpp's unicode_len_utf8: the sequence length a lead
// byte announces (1 for continuation bytes).
func utf8LenLead(c byte) int {
	switch c >> 4 {
	case 0xC, 0xD:
		return 2
	case 0xE:
		return 3
	case 0xF:
		return 4
	}
	return 1
}
