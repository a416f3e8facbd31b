// Package eval measures a model on text as llama.cpp's llama-perplexity
// does, so memfit's figures compare directly with llama.cpp's.
package eval

import (
	"context"
	"fmt"
	"math"

	"github.com/memfit/memfit/internal/model"
)

// Result is a perplexity measurement.
type Result struct {
	PPL       float64 `json:"ppl"`
	PPLStderr float64 `json:"ppl_stderr"`
	Ctx       int     `json:"ctx"`
	Chunks    int     `json:"chunks"`
	Tokens    int     `json:"tokens"` // tokens of the whole text, BOS included
	Scored    int     `json:"scored"` // positions scored
}

// Options configure Perplexity.
type Options struct {
	Ctx        int   // window length in tokens
	BOS        int32 // the BOS id put in place of each window's first token
	ReplaceBOS bool  // put BOS first in each window (when the model adds BOS)
	// Progress, if set, is called after each chunk with the chunks done.
	Progress func(done, total int)
}

// Perplexity follows llama-perplexity: the tokens (the text with BOS) are
// cut into floor(n/ctx) windows of ctx tokens; each window's first token is
// replaced by BOS; only the second half of each window is scored (the logits
// at positions ctx/2 … ctx-2 predict the next token); PPL = exp(mean NLL),
// and its standard error is computed as llama.cpp does.
func Perplexity(ctx context.Context, m *model.Model, tokens []int32, opt Options) (*Result, error) {
	n := opt.Ctx
	if n < 4 {
		return nil, fmt.Errorf("perplexity: context of %d tokens is too small (want at least 4)", n)
	}
	chunks := len(tokens) / n
	if len(tokens) < 2*n {
		// As llama-perplexity, which needs two windows.
		return nil, fmt.Errorf("perplexity: the text has %d tokens; a context of %d needs at least %d (two windows): use a smaller --ctx or a longer text", len(tokens), n, 2*n)
	}
	st, err := m.NewState(n, n)
	if err != nil {
		return nil, err
	}
	defer st.Release()
	V := m.Spec.Vocab
	logits := make([]float32, n*V)
	window := make([]int32, n)
	var nll, nll2 float64
	count := 0
	first := n / 2
	for c := 0; c < chunks; c++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		copy(window, tokens[c*n:(c+1)*n])
		if opt.ReplaceBOS {
			window[0] = opt.BOS
		}
		st.Reset()
		if err := m.Forward(st, window, logits, true); err != nil {
			return nil, fmt.Errorf("perplexity: chunk %d: %w", c, err)
		}
		for j := first; j < n-1; j++ {
			lp := LogSoftmaxAt(logits[j*V:(j+1)*V], int(window[j+1]))
			nll -= lp
			nll2 += lp * lp
			count++
		}
		if opt.Progress != nil {
			opt.Progress(c+1, chunks)
		}
	}
	mean := nll / float64(count)
	r := &Result{PPL: math.Exp(mean), Ctx: n, Chunks: chunks, Tokens: len(tokens), Scored: count}
	if v := nll2/float64(count) - mean*mean; v > 0 && count > 1 {
		r.PPLStderr = math.Sqrt(v/float64(count-1)) * r.PPL
	}
	return r, nil
}

// LogSoftmaxAt returns log softmax(logits)[i], computed in float64.
func LogSoftmaxAt(logits []float32, i int) float64 {
	mx := logits[0]
	for _, l := range logits {
		mx = max(mx, l)
	}
	var sum float64
	for _, l := range logits {
		sum += math.Exp(float64(l - mx))
	}
	return float64(logits[i]-mx) - math.Log(sum)
}
