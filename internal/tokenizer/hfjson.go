package tokenizer

import (
	"fmt"
	"strings"
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

	merges        *pairTable
	pendingMerges [][2]string // merges read before the vocabulary
	mergeCount    int
	prefix        string
	mergeErr      error
}

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
	rank := 0
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
		if !m.hasVoc {
			m.pendingMerges = append(m.pendingMerges, [2]string{string(a), string(b)})
		} else if err := m.addMerge(a, b, rank); err != nil {
			return p.errorf("model.merges[%d]: %v", i, err)
		}
		rank++
		return nil
	})
}

// addMerge resolves one merge against the vocabulary.
func (m *hfModel) addMerge(a, b []byte, rank int) error {
	if m.merges == nil {
		m.merges = newPairTable(1 << 16)
	}
	ida, ok1 := m.vocab[string(a)]
	idb, ok2 := m.vocab[string(b)]
	if !ok1 || !ok2 {
		return fmt.Errorf("merge %q %q: token not in the vocabulary", a, b)
	}
	bb := b
	if m.prefix != "" && strings.HasPrefix(string(b), m.prefix) {
		bb = b[len(m.prefix):]
	}
	joined := append(a[:len(a):len(a)], bb...)
	idn, ok := m.vocab[string(joined)]
	if !ok {
		return fmt.Errorf("merge %q %q: result %q not in the vocabulary", a, b, joined)
	}
	m.merges.put(ida, idb, uint64(rank)<<32|uint64(uint32(idn)))
	return nil
}
