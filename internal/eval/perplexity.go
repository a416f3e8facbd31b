// Package eval measures a model on text as llama.cpp's llama-perplexity
// does, so memfit's figures compare directly with llama.cpp's.
package eval

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/model"
	"github.com/memfit/memfit/internal/tensor"
)

// Result is a perplexity measurement.
type Result struct {
	PPL       float64 `json:"ppl"`
	PPLStderr float64 `json:"ppl_stderr"`
	Ctx       int     `json:"ctx"`
	Chunks    int     `json:"chunks"`
	Tokens    int     `json:"tokens"` // tokens of the whole text, BOS included
	Scored    int     `json:"scored"` // positions scored
	// KL is set when a base model was given (Options.Base).
	KL *KL `json:"kl_divergence,omitempty"`
}

// KL compares the model's token distributions with a base model's on the
// same scored positions, as llama-perplexity --kl-divergence does.
type KL struct {
	Mean          float64 `json:"mean_kld"`
	MeanStderr    float64 `json:"mean_kld_stderr"`
	Median        float64 `json:"median_kld"`
	Max           float64 `json:"max_kld"`
	SameTop       float64 `json:"same_top_p_percent"` // positions where both pick the same top token
	SameTopStderr float64 `json:"same_top_p_percent_stderr"`
	BasePPL       float64 `json:"ppl_base"`
	BasePPLStderr float64 `json:"ppl_base_stderr"`
}

// Options configure Perplexity.
type Options struct {
	Ctx        int   // window length in tokens
	BOS        int32 // the BOS id put in place of each window's first token
	ReplaceBOS bool  // put BOS first in each window (when the model adds BOS)
	Batch      int   // most tokens per forward pass (0: the whole window)
	// KVType is the KV cache type of the evaluated model (the zero value
	// is F32); the base model of a KL divergence always uses F32.
	KVType tensor.DType
	// Progress, if set, is called after each chunk with the chunks done.
	Progress func(done, total int)
	// Base, if set, is a model (the same vocabulary) whose distributions the
	// KL divergence is measured from.
	Base *model.Model
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
	V := m.Spec.Vocab
	if opt.Base != nil && opt.Base.Spec.Vocab != V {
		return nil, fmt.Errorf("perplexity: the base model has a vocabulary of %d tokens, the model %d", opt.Base.Spec.Vocab, V)
	}
	run, err := newRunner(m, n, opt.Batch, opt.KVType)
	if err != nil {
		return nil, err
	}
	defer run.release()
	var base *runner
	if opt.Base != nil {
		if base, err = newRunner(opt.Base, n, opt.Batch, tensor.F32); err != nil {
			return nil, err
		}
		defer base.release()
	}
	window := make([]int32, n)
	var nll, nll2, bnll, bnll2 float64
	var kls []float64
	var klSum, klSum2 float64
	same := 0
	count := 0
	first := n / 2
	lpBase := make([]float64, V)
	for c := 0; c < chunks; c++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		copy(window, tokens[c*n:(c+1)*n])
		if opt.ReplaceBOS {
			window[0] = opt.BOS
		}
		if err := run.forward(window); err != nil {
			return nil, fmt.Errorf("perplexity: chunk %d: %w", c, err)
		}
		if base != nil {
			if err := base.forward(window); err != nil {
				return nil, fmt.Errorf("perplexity: base model, chunk %d: %w", c, err)
			}
		}
		for j := first; j < n-1; j++ {
			row := run.logits[j*V : (j+1)*V]
			lp := LogSoftmaxAt(row, int(window[j+1]))
			nll -= lp
			nll2 += lp * lp
			count++
			if base != nil {
				brow := base.logits[j*V : (j+1)*V]
				logSoftmax(brow, lpBase)
				blp := lpBase[window[j+1]]
				bnll -= blp
				bnll2 += blp * blp
				kl := klFrom(lpBase, row)
				kls = append(kls, kl)
				klSum += kl
				klSum2 += kl * kl
				if argmax(row) == argmax(brow) {
					same++
				}
			}
		}
		if opt.Progress != nil {
			opt.Progress(c+1, chunks)
		}
	}
	mean := nll / float64(count)
	r := &Result{PPL: math.Exp(mean), Ctx: n, Chunks: chunks, Tokens: len(tokens), Scored: count}
	r.PPLStderr = pplStderr(nll, nll2, count)
	if base != nil {
		k := &KL{Mean: klSum / float64(count), BasePPL: math.Exp(bnll / float64(count)), BasePPLStderr: pplStderr(bnll, bnll2, count)}
		if v := klSum2/float64(count) - k.Mean*k.Mean; v > 0 && count > 1 {
			k.MeanStderr = math.Sqrt(v / float64(count-1))
		}
		slices.Sort(kls)
		k.Median = kls[len(kls)/2]
		k.Max = kls[len(kls)-1]
		p := float64(same) / float64(count)
		k.SameTop = 100 * p
		if count > 1 {
			k.SameTopStderr = 100 * math.Sqrt(p*(1-p)/float64(count-1))
		}
		r.KL = k
	}
	return r, nil
}

// pplStderr is the standard error of exp(mean NLL), as llama.cpp computes
// it.
func pplStderr(nll, nll2 float64, count int) float64 {
	mean := nll / float64(count)
	if v := nll2/float64(count) - mean*mean; v > 0 && count > 1 {
		return math.Sqrt(v/float64(count-1)) * math.Exp(mean)
	}
	return 0
}

// runner is one model's state and logits buffer for windows of n tokens.
type runner struct {
	m      *model.Model
	st     *model.State
	logits []float32
	res    *ledger.Reservation
}

func newRunner(m *model.Model, n, batch int, kvType tensor.DType) (*runner, error) {
	if batch <= 0 {
		batch = n
	}
	st, err := m.NewStateKV(n, batch, kvType)
	if err != nil {
		return nil, err
	}
	res, err := m.Ledger().Reserve("logits", int64(n)*int64(m.Spec.Vocab)*4)
	if err != nil {
		st.Release()
		return nil, fmt.Errorf("perplexity: logits of a %d-token window: %w", n, err)
	}
	return &runner{m: m, st: st, logits: make([]float32, n*m.Spec.Vocab), res: res}, nil
}

func (r *runner) forward(window []int32) error {
	r.st.Reset()
	return r.m.Forward(r.st, window, r.logits, true)
}

func (r *runner) release() {
	r.st.Release()
	r.res.Release()
}

// logSoftmax writes log softmax(logits) to dst, in float64.
func logSoftmax(logits []float32, dst []float64) {
	mx := logits[0]
	for _, l := range logits {
		mx = max(mx, l)
	}
	var sum float64
	for _, l := range logits {
		sum += math.Exp(float64(l - mx))
	}
	ls := math.Log(sum)
	for i, l := range logits {
		dst[i] = float64(l-mx) - ls
	}
}

// klFrom returns KL(base ‖ model) = Σ p_base·(log p_base − log p_model)
// given the base's log-probabilities and the model's logits.
func klFrom(lpBase []float64, logits []float32) float64 {
	mx := logits[0]
	for _, l := range logits {
		mx = max(mx, l)
	}
	var sum float64
	for _, l := range logits {
		sum += math.Exp(float64(l - mx))
	}
	ls := math.Log(sum)
	var kl float64
	for i, lb := range lpBase {
		lm := float64(logits[i]-mx) - ls
		kl += math.Exp(lb) * (lb - lm)
	}
	return max(kl, 0)
}

func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return best
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
