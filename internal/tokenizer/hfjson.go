package tokenizer

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
)

// maxTokenID bounds token ids read from files, so a corrupt id cannot
// cause a huge allocation.
const maxTokenID = 1 << 24

// hfModel is the "model" of a tokenizer.json as read by the streaming
// parser: the small fields as a generic object, the vocabulary and merges
// straight into tables.
type hfModel struct {
	fields map[string]any
	vocab  map[string]int32
	pieces []string // id → vocabulary string (model vocabulary only)
	hasVoc bool

	merges     *pairTable
	mergeText  []byte     // the merge strings, back to back
	mergeRefs  []mergeRef // one per merge, in rank order
	mergeIndex []int32    // JSON index of each merge (for errors)
	prefix     string
}

// mergeRef locates the two strings of a merge in hfModel.mergeText.
type mergeRef struct{ off, na, nb uint32 }

// parseTokenizerJSON reads a tokenizer.json: the top-level fields as
// generic values, except the model's vocabulary and merges.
func parseTokenizerJSON(data []byte, name string) (map[string]any, *hfModel, error) {
	p := &jsonParser{data: data, name: name}
	root := map[string]any{}
	var mod *hfModel
	err := p.object(func(key string) error {
		if key != "model" {
			v, err := p.value()
			root[key] = v
			return err
		}
		if p.peek() != '{' {
			return p.errorf("model: want an object")
		}
		mod = &hfModel{fields: map[string]any{}}
		return p.object(func(k string) error {
			switch k {
			case "vocab":
				if p.peek() == '[' {
					return p.errorf("model.vocab: a list vocabulary (Unigram) is not supported; want an object of token → id")
				}
				return mod.readVocab(p)
			case "merges":
				return mod.readMerges(p)
			}
			v, err := p.value()
			mod.fields[k] = v
			return err
		})
	})
	if err != nil {
		return nil, nil, err
	}
	if err := p.end(); err != nil {
		return nil, nil, err
	}
	if mod == nil {
		return nil, nil, fmt.Errorf("%s: model: missing (want an object)", name)
	}
	return root, mod, nil
}

// readVocab reads the vocabulary object into one string arena.
func (m *hfModel) readVocab(p *jsonParser) error {
	type ent struct{ off, n, id int32 }
	var arena []byte
	var ents []ent
	maxID := int32(-1)
	err := p.object(func(key string) error {
		id, err := p.int()
		if err != nil {
			return fmt.Errorf("model.vocab[%q]: %w", key, err)
		}
		if id < 0 || id >= maxTokenID {
			return p.errorf("model.vocab[%q]: token id %d out of range [0, %d)", key, id, maxTokenID)
		}
		ents = append(ents, ent{int32(len(arena)), int32(len(key)), int32(id)})
		arena = append(arena, key...)
		maxID = max(maxID, int32(id))
		return nil
	})
	if err != nil {
		return err
	}
	if int(maxID) >= 4*len(ents)+1024 {
		return p.errorf("model.vocab: largest id %d is far beyond the %d entries", maxID, len(ents))
	}
	all := string(arena)
	m.vocab = make(map[string]int32, len(ents))
	m.pieces = make([]string, maxID+1)
	for _, e := range ents {
		s := all[e.off : e.off+e.n]
		m.vocab[s] = e.id
		m.pieces[e.id] = s
	}
	m.hasVoc = true
	return nil
}

// readMerges reads the merges: "a b" strings or ["a", "b"] pairs.
func (m *hfModel) readMerges(p *jsonParser) error {
	var scratch []byte
	if pfx, ok := m.fields["continuing_subword_prefix"].(string); ok {
		m.prefix = pfx
	}
	return p.array(func(i int) error {
		var a, b []byte
		switch p.peek() {
		case '"':
			s, err := p.str()
			if err != nil {
				return err
			}
			if strings.HasPrefix(string(s), "#version") {
				return nil
			}
			k := strings.IndexByte(string(s), ' ')
			if k < 0 || strings.IndexByte(string(s[k+1:]), ' ') >= 0 {
				return p.errorf("model.merges[%d]: %q is not two tokens separated by one space", i, s)
			}
			scratch = append(scratch[:0], s...)
			a, b = scratch[:k], scratch[k+1:]
		case '[':
			n := 0
			err := p.array(func(j int) error {
				s, err := p.str()
				if err != nil {
					return err
				}
				if j == 0 {
					scratch = append(scratch[:0], s...)
				} else {
					scratch = append(scratch, s...)
				}
				if j == 0 {
					n = len(s)
				}
				if j > 1 {
					return p.errorf("model.merges[%d]: want a pair of strings", i)
				}
				return nil
			})
			if err != nil {
				return err
			}
			a, b = scratch[:n], scratch[n:]
		default:
			return p.errorf("model.merges[%d]: want a string or a pair of strings", i)
		}
		if len(m.mergeText)+len(a)+len(b) >= 1<<32-1 {
			return p.errorf("model.merges: more than 4 GiB of text")
		}
		m.mergeRefs = append(m.mergeRefs, mergeRef{uint32(len(m.mergeText)), uint32(len(a)), uint32(len(b))})
		m.mergeIndex = append(m.mergeIndex, int32(i))
		m.mergeText = append(append(m.mergeText, a...), b...)
		return nil
	})
}

// resolveMerges looks the merges up in the vocabulary, in parallel, and
// builds the pair table (rank = position in the list).
func (m *hfModel) resolveMerges() error {
	n := len(m.mergeRefs)
	ids := make([][3]int32, n)
	workers := min(runtime.GOMAXPROCS(0), 4, n/16384+1)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		lo, hi := n*w/workers, n*(w+1)/workers
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for i := lo; i < hi; i++ {
				r := m.mergeRefs[i]
				a := m.mergeText[r.off : r.off+r.na]
				b := m.mergeText[r.off+r.na : r.off+r.na+r.nb]
				ida, ok1 := m.vocab[string(a)]
				idb, ok2 := m.vocab[string(b)]
				if !ok1 || !ok2 {
					errs[w] = fmt.Errorf("model.merges[%d]: merge %q %q: token not in the vocabulary", m.mergeIndex[i], a, b)
					return
				}
				bb := b
				if m.prefix != "" && strings.HasPrefix(string(b), m.prefix) {
					bb = b[len(m.prefix):]
				}
				buf = append(append(buf[:0], a...), bb...)
				idn, ok := m.vocab[string(buf)]
				if !ok {
					errs[w] = fmt.Errorf("model.merges[%d]: merge %q %q: result %q not in the vocabulary", m.mergeIndex[i], a, b, buf)
					return
				}
				ids[i] = [3]int32{ida, idb, idn}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	m.merges = newPairTable(n)
	for rank, x := range ids {
		m.merges.put(x[0], x[1], uint64(rank)<<32|uint64(uint32(x[2])))
	}
	m.mergeText, m.mergeRefs, m.mergeIndex = nil, nil, nil
	return nil
}
