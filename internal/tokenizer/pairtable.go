package tokenizer

// pairTable maps a pair of token ids to a merge (rank and result id). It is
// an open-addressing hash table with linear probing, about twice as fast to
// build and to query as a Go map for the half-million merges of a large
// vocabulary.
type pairTable struct {
	keys []uint64 // pairKey(a, b)+1; 0 marks an empty slot
	vals []uint64 // rank<<32 | result id
	mask uint64
	n    int
}

// noMerge is the value of a pair that has no merge; it sorts after every
// real merge.
const noMerge = ^uint64(0)

func pairKey(a, b int32) uint64 { return uint64(uint32(a))<<32 | uint64(uint32(b)) }

func newPairTable(n int) *pairTable {
	size := 16
	for size < 2*n {
		size <<= 1
	}
	return &pairTable{keys: make([]uint64, size), vals: make([]uint64, size), mask: uint64(size - 1)}
}

func hashPair(k uint64) uint64 {
	k ^= k >> 31
	k *= 0x9E3779B97F4A7C15
	return k ^ k>>29
}

// put stores v for (a, b) unless the pair is already present (the first,
// lowest-ranked merge wins, as in the Hugging Face library), and reports
// whether it stored it.
func (t *pairTable) put(a, b int32, v uint64) bool {
	if 2*(t.n+1) > len(t.keys) {
		t.grow()
	}
	k := pairKey(a, b) + 1
	for i := hashPair(k) & t.mask; ; i = (i + 1) & t.mask {
		switch t.keys[i] {
		case 0:
			t.keys[i], t.vals[i] = k, v
			t.n++
			return true
		case k:
			return false
		}
	}
}

func (t *pairTable) grow() {
	old := *t
	*t = *newPairTable(2 * len(old.keys))
	for i, k := range old.keys {
		if k != 0 {
			t.put(int32(uint32((k-1)>>32)), int32(uint32(k-1)), old.vals[i])
		}
	}
}

// get returns the merge of (a, b), or noMerge.
func (t *pairTable) get(a, b int32) uint64 {
	k := pairKey(a, b) + 1
	for i := hashPair(k) & t.mask; ; i = (i + 1) & t.mask {
		switch t.keys[i] {
		case k:
			return t.vals[i]
		case 0:
			return noMerge
		}
	}
}
