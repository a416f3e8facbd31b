package model

import (
	"fmt"

	"github.com/memfit/memfit/internal/kernels"
	"github.com/memfit/memfit/internal/kv"
	"github.com/memfit/memfit/internal/tensor"
)

// Seq is one sequence: its KV cache and how many tokens it holds.
type Seq struct {
	Cache *kv.Cache
	Pos   int // tokens in the cache; the next token goes to position Pos
}

// NewSeq reserves and allocates a KV cache of ctx positions of type t
// (tensor.F32, F16, Q8_0 or Q4_0) on the model's ledger.
func (m *Model) NewSeq(ctx int, t tensor.DType) (*Seq, error) {
	if ctx <= 0 {
		return nil, fmt.Errorf("context of %d tokens: want at least 1", ctx)
	}
	if t == tensor.Q8_0 || t == tensor.Q4_0 {
		if err := kernels.CheckQuantKV(t, m.Spec.HeadDim); err != nil {
			return nil, err
		}
	}
	c, err := kv.New(m.ledger, t, len(m.Spec.Layers), ctx, m.Spec.KVDim())
	if err != nil {
		return nil, err
	}
	return &Seq{Cache: c}, nil
}

// Release frees the sequence's cache.
func (s *Seq) Release() { s.Cache.Release() }

// Reset empties the sequence.
func (s *Seq) Reset() { s.Pos = 0 }

// Truncate keeps the first n tokens (n ≤ Pos), so a new request sharing
// that prefix continues from there.
func (s *Seq) Truncate(n int) {
	if n < s.Pos {
		s.Pos = max(n, 0)
	}
}

// Batch is tokens to run together, possibly from several sequences. The
// tokens of one sequence must be consecutive and in order; they go to
// positions Seq.Pos, Seq.Pos+1, ...
type Batch struct {
	Tokens []int32
	Seqs   []*Seq // per token
	// Logits marks the tokens whose logits are wanted; they are written to
	// the output in token order. nil means only the last token's.
	Logits []bool
}

// State is one sequence with its own scratch: the simple way to run one
// sequence at a time (perplexity, logits).
type State struct {
	*Seq
	Scratch *Scratch
}

// NewState allocates a sequence of ctx positions (float32 cache) and scratch
// for batches of up to batch tokens.
func (m *Model) NewState(ctx, batch int) (*State, error) {
	return m.NewStateKV(ctx, batch, tensor.F32)
}

// NewStateKV is NewState with a cache of type t (F32, F16, Q8_0 or Q4_0).
func (m *Model) NewStateKV(ctx, batch int, t tensor.DType) (*State, error) {
	seq, err := m.NewSeq(ctx, t)
	if err != nil {
		return nil, err
	}
	sc, err := m.NewScratch(min(batch, ctx), ctx)
	if err != nil {
		seq.Release()
		return nil, err
	}
	return &State{Seq: seq, Scratch: sc}, nil
}

// Release frees the state's cache and scratch.
func (st *State) Release() {
	st.Seq.Release()
	st.Scratch.Release()
}

// Forward runs tokens through the model at positions st.Pos, st.Pos+1, ...
// and appends them to the cache, in micro-batches of the scratch's size.
// With all, out receives len(tokens) rows of logits, else only the last
// token's.
func (m *Model) Forward(st *State, tokens []int32, out []float32, all bool) error {
	V := m.Spec.Vocab
	need := V
	if all {
		need *= len(tokens)
	}
	if len(out) < need {
		return fmt.Errorf("logits buffer holds %d values, need %d", len(out), need)
	}
	if st.Pos+len(tokens) > st.Cache.Ctx {
		return fmt.Errorf("context full: %d tokens in the cache + %d new exceed the context of %d", st.Pos, len(tokens), st.Cache.Ctx)
	}
	sc := st.Scratch
	for b := 0; b < len(tokens); b += sc.Batch {
		end := min(b+sc.Batch, len(tokens))
		n := end - b
		seqs := sc.seqBuf[:n]
		for i := range seqs {
			seqs[i] = st.Seq
		}
		batch := Batch{Tokens: tokens[b:end], Seqs: seqs}
		var dst []float32
		switch {
		case all:
			flags := sc.flagBuf[:n]
			for i := range flags {
				flags[i] = true
			}
			batch.Logits = flags
			dst = out[b*V : end*V]
		case end == len(tokens):
			dst = out[:V]
		default:
			flags := sc.flagBuf[:n]
			clear(flags)
			batch.Logits = flags
		}
		if err := m.Run(sc, batch, dst); err != nil {
			return err
		}
	}
	return nil
}
