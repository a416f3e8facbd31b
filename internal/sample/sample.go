// Package sample picks the next token from a row of logits: greedy, or
// random after the penalties and truncations people expect from llama.cpp
// and the OpenAI API (repetition, presence and frequency penalties, top-k,
// top-p, min-p, temperature), from a seeded generator so that the same seed
// gives the same tokens.
//
// The order follows llama.cpp's default chain: penalties, top-k, top-p,
// min-p, temperature, then a draw from the distribution. A Sampler is one
// sequence's and is not safe for concurrent use; after New it allocates
// nothing per token.
package sample

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Params are the sampling settings. The zero value is greedy decoding.
type Params struct {
	// Temperature divides the logits; 0 means greedy (always the most
	// likely token).
	Temperature float32
	// TopK keeps the K most likely tokens; 0 keeps all.
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probabilities
	// sum to at least TopP; 0 or 1 keeps all.
	TopP float32
	// MinP drops tokens less likely than MinP times the most likely one;
	// 0 keeps all.
	MinP float32
	// RepeatPenalty divides positive (multiplies negative) logits of tokens
	// among the last RepeatLastN of the history; 0 or 1 is off.
	RepeatPenalty float32
	// RepeatLastN is how many past tokens the penalties look at; 0 means
	// 64, a negative value the whole history.
	RepeatLastN int
	// PresencePenalty is subtracted once from the logit of every token in
	// the window, FrequencyPenalty once per occurrence (OpenAI's
	// definitions).
	PresencePenalty, FrequencyPenalty float32
	// Seed seeds the generator.
	Seed uint64
}

// Check returns an error naming the first setting out of range.
func (p Params) Check() error {
	switch {
	case math.IsNaN(float64(p.Temperature)) || p.Temperature < 0 || p.Temperature > 100:
		return fmt.Errorf("temperature %v: want 0 (greedy) to 100", p.Temperature)
	case p.TopK < 0:
		return fmt.Errorf("top_k %d: want 0 (off) or more", p.TopK)
	case math.IsNaN(float64(p.TopP)) || p.TopP < 0 || p.TopP > 1:
		return fmt.Errorf("top_p %v: want 0 to 1", p.TopP)
	case math.IsNaN(float64(p.MinP)) || p.MinP < 0 || p.MinP > 1:
		return fmt.Errorf("min_p %v: want 0 to 1", p.MinP)
	case math.IsNaN(float64(p.RepeatPenalty)) || p.RepeatPenalty < 0 || p.RepeatPenalty > 100:
		return fmt.Errorf("repeat_penalty %v: want 0 to 100 (1 is off)", p.RepeatPenalty)
	case math.IsNaN(float64(p.PresencePenalty)) || math.Abs(float64(p.PresencePenalty)) > 100:
		return fmt.Errorf("presence_penalty %v: want -100 to 100", p.PresencePenalty)
	case math.IsNaN(float64(p.FrequencyPenalty)) || math.Abs(float64(p.FrequencyPenalty)) > 100:
		return fmt.Errorf("frequency_penalty %v: want -100 to 100", p.FrequencyPenalty)
	}
	return nil
}

// candidate is one token still in the running.
type candidate struct {
	id    int32
	logit float32
	p     float32
}

// Sampler picks tokens for one sequence.
type Sampler struct {
	p      Params
	rng    *rand.Rand
	cand   []candidate
	counts []int32 // occurrences in the penalty window, per token
	seen   []int32 // tokens with a nonzero count
}

// New returns a sampler for a vocabulary of vocab tokens. p must pass
// Check. Its buffers (about 16 bytes per token) are allocated here, once.
func New(p Params, vocab int) *Sampler {
	s := &Sampler{cand: make([]candidate, vocab), counts: make([]int32, vocab)}
	s.Set(p)
	return s
}

// Bytes is the memory New allocates for a vocabulary of vocab tokens.
func Bytes(vocab int) int64 { return int64(vocab) * 16 }

// Set gives the sampler new settings and restarts its generator from
// p.Seed (a new request on a reused sampler).
func (s *Sampler) Set(p Params) {
	s.p = p
	s.rng = rand.New(rand.NewPCG(p.Seed, p.Seed^0x9e3779b97f4a7c15))
}

func (p Params) greedy() bool { return p.Temperature == 0 }

func (p Params) penalized() bool {
	return (p.RepeatPenalty != 0 && p.RepeatPenalty != 1) || p.PresencePenalty != 0 || p.FrequencyPenalty != 0
}

// Sample returns the next token for logits (one row of the vocabulary);
// history is the sequence so far (prompt and generated tokens), which the
// penalties read. logits is not modified.
func (s *Sampler) Sample(logits []float32, history []int32) int32 {
	if !s.p.penalized() {
		if s.p.greedy() {
			return Greedy(logits)
		}
		for i, l := range logits {
			s.cand[i] = candidate{id: int32(i), logit: l}
		}
		return s.draw(s.cand[:len(logits)])
	}
	c := s.cand[:len(logits)]
	for i, l := range logits {
		c[i] = candidate{id: int32(i), logit: l}
	}
	s.penalize(c, history)
	if s.p.greedy() {
		best := 0
		for i := range c {
			if c[i].logit > c[best].logit {
				best = i
			}
		}
		return c[best].id
	}
	return s.draw(c)
}

// penalize applies the repetition, presence and frequency penalties of the
// window of history to c (indexed by id), as llama.cpp's penalties sampler.
func (s *Sampler) penalize(c []candidate, history []int32) {
	n := s.p.RepeatLastN
	if n == 0 {
		n = 64
	}
	if n < 0 || n > len(history) {
		n = len(history)
	}
	for _, id := range history[len(history)-n:] {
		if id < 0 || int(id) >= len(c) {
			continue
		}
		if s.counts[id] == 0 {
			s.seen = append(s.seen, id)
		}
		s.counts[id]++
	}
	rp := s.p.RepeatPenalty
	for _, id := range s.seen {
		l := c[id].logit
		if rp != 0 && rp != 1 {
			if l <= 0 {
				l *= rp
			} else {
				l /= rp
			}
		}
		l -= float32(s.counts[id])*s.p.FrequencyPenalty + s.p.PresencePenalty
		c[id].logit = l
		s.counts[id] = 0
	}
	s.seen = s.seen[:0]
}

// draw truncates c by top-k, top-p and min-p, applies the temperature and
// draws from the remaining distribution.
func (s *Sampler) draw(c []candidate) int32 {
	// Drop -Inf and NaN logits (masked tokens).
	n := 0
	for _, x := range c {
		if x.logit > float32(math.Inf(-1)) {
			c[n] = x
			n++
		}
	}
	c = c[:n]
	if len(c) == 0 {
		return 0
	}
	k := s.p.TopK
	if k <= 0 || k > len(c) {
		k = len(c)
	}
	needSort := k < len(c) || (s.p.TopP > 0 && s.p.TopP < 1)
	if needSort {
		c = topK(c, k)
	}
	// Probabilities at temperature 1 for top-p and min-p, as llama.cpp.
	maxL := c[0].logit
	if !needSort {
		for _, x := range c {
			maxL = max(maxL, x.logit)
		}
	}
	if tp := s.p.TopP; tp > 0 && tp < 1 {
		var sum float64
		for i := range c {
			c[i].p = float32(math.Exp(float64(c[i].logit - maxL)))
			sum += float64(c[i].p)
		}
		var acc float64
		for i := range c {
			acc += float64(c[i].p) / sum
			if acc >= float64(tp) {
				c = c[:i+1]
				break
			}
		}
	}
	if mp := s.p.MinP; mp > 0 {
		// p_i / p_max ≥ min_p  ⇔  logit_i ≥ logit_max + ln(min_p).
		cut := maxL + float32(math.Log(float64(mp)))
		n := 0
		for _, x := range c {
			if x.logit >= cut {
				c[n] = x
				n++
			}
		}
		c = c[:n]
	}
	inv := 1 / s.p.Temperature
	var sum float64
	for i := range c {
		c[i].p = float32(math.Exp(float64((c[i].logit - maxL) * inv)))
		sum += float64(c[i].p)
	}
	r := s.rng.Float64() * sum
	var acc float64
	for _, x := range c {
		acc += float64(x.p)
		if r < acc {
			return x.id
		}
	}
	return c[len(c)-1].id
}

// topK reorders c so that its k highest logits come first, sorted best
// first (ties by lower id), and returns them.
func topK(c []candidate, k int) []candidate {
	better := func(a, b candidate) int {
		if a.logit != b.logit {
			return cmp.Compare(b.logit, a.logit)
		}
		return cmp.Compare(a.id, b.id)
	}
	if k < len(c)/4 {
		// Keep a min-heap of the best k seen so far: O(n log k).
		h := c[:k]
		for i := k/2 - 1; i >= 0; i-- {
			siftDown(h, i, better)
		}
		for _, x := range c[k:] {
			if better(x, h[0]) < 0 {
				h[0] = x
				siftDown(h, 0, better)
			}
		}
		slices.SortFunc(h, better)
		return h
	}
	slices.SortFunc(c, better)
	return c[:k]
}

// siftDown restores the heap whose root is the worst candidate.
func siftDown(h []candidate, i int, better func(a, b candidate) int) {
	for {
		w := i
		l, r := 2*i+1, 2*i+2
		if l < len(h) && better(h[l], h[w]) > 0 {
			w = l
		}
		if r < len(h) && better(h[r], h[w]) > 0 {
			w = r
		}
		if w == i {
			return
		}
		h[i], h[w] = h[w], h[i]
		i = w
	}
}

// Greedy returns the id of the largest logit, the lowest id on ties.
func Greedy(logits []float32) int32 {
	best := 0
	for i, l := range logits {
		if l > logits[best] {
			best = i
		}
	}
	return int32(best)
}
