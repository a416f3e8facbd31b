package main

import (
	"fmt"
	"math/rand/v2"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/memfit/memfit/internal/demo"
	"github.com/memfit/memfit/internal/engine"
	"github.com/memfit/memfit/internal/kv"
	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/model"
	"github.com/memfit/memfit/internal/plan"
	"github.com/memfit/memfit/internal/sample"
	"github.com/memfit/memfit/internal/tensor"
	"github.com/memfit/memfit/internal/tokenizer"
)

// genFlags are the sampling and context flags of run, chat and serve.
type genFlags struct {
	ctx           int
	parallel      int
	batch         int
	kvType        string
	temp          float32
	topK          int
	topP          float32
	minP          float32
	repeatPenalty float32
	repeatLastN   int
	presence      float32
	frequency     float32
	seed          int64
	budget        budgetFlag
}

func (g *genFlags) register(c *cobra.Command, server bool) {
	fl := c.Flags()
	fl.IntVarP(&g.ctx, "ctx", "c", 0, "context per sequence in tokens (default: the model's, at most 4096)")
	fl.IntVarP(&g.batch, "batch", "b", 256, "most tokens per forward pass (prompt chunk size)")
	fl.StringVar(&g.kvType, "kv-type", "f16", "KV cache type: f16, q8_0, q4_0 (ggml blocks of 32 values: about 1/2 and 1/4 of f16's memory) or f32")
	fl.Float32Var(&g.temp, "temp", 0.8, "temperature (0 = greedy)")
	fl.IntVar(&g.topK, "top-k", 40, "keep the K most likely tokens (0 = off)")
	fl.Float32Var(&g.topP, "top-p", 0.95, "nucleus sampling threshold (1 = off)")
	fl.Float32Var(&g.minP, "min-p", 0.05, "drop tokens less likely than MIN-P times the best (0 = off)")
	fl.Float32Var(&g.repeatPenalty, "repeat-penalty", 1, "repetition penalty (1 = off)")
	fl.IntVar(&g.repeatLastN, "repeat-last-n", 64, "tokens the penalties look back (-1 = all)")
	fl.Float32Var(&g.presence, "presence-penalty", 0, "presence penalty")
	fl.Float32Var(&g.frequency, "frequency-penalty", 0, "frequency penalty")
	fl.Int64Var(&g.seed, "seed", -1, "random seed (-1 = random)")
	g.budget.register(c)
	if server {
		fl.IntVar(&g.parallel, "parallel", 1, "sequences decoded together (continuous batching)")
	}
}

// params returns the sampling settings; a negative seed draws one.
func (g *genFlags) params() (sample.Params, error) {
	p := sample.Params{
		Temperature: g.temp, TopK: g.topK, TopP: g.topP, MinP: g.minP,
		RepeatPenalty: g.repeatPenalty, RepeatLastN: g.repeatLastN,
		PresencePenalty: g.presence, FrequencyPenalty: g.frequency,
		Seed: uint64(g.seed),
	}
	if g.seed < 0 {
		p.Seed = rand.Uint64()
	}
	if g.repeatLastN == 0 {
		p.RepeatLastN = -1 // 0 means "off" on the command line: no window
		p.RepeatPenalty, p.PresencePenalty, p.FrequencyPenalty = 1, 0, 0
	}
	if err := p.Check(); err != nil {
		return p, usagef("%v", err)
	}
	return p, nil
}

// engineOptions returns the engine options the flags ask for.
func (g *genFlags) engineOptions() (engine.Options, error) {
	opt := engine.Options{Ctx: g.ctx, Parallel: max(g.parallel, 1), Batch: g.batch}
	t, err := kv.ParseType(g.kvType)
	if err != nil {
		return opt, usagef("--kv-type: %v", err)
	}
	opt.KVType = t
	if g.ctx < 0 {
		return opt, usagef("--ctx %d: want 0 (the model's) or more", g.ctx)
	}
	if g.batch <= 0 {
		return opt, usagef("--batch %d: want at least 1", g.batch)
	}
	if g.parallel < 0 || g.parallel > 256 {
		return opt, usagef("--parallel %d: want 1 to 256", g.parallel)
	}
	return opt, nil
}

// loaded is a model with its tokenizer and engine.
type loaded struct {
	path  string
	name  string
	plan  *plan.Plan
	model *model.Model
	tok   *tokenizer.Tokenizer
	eng   *engine.Engine
}

func (l *loaded) close() {
	if l.eng != nil {
		l.eng.Close()
	}
	l.model.Close()
}

// loadEngine loads the model of mf (the built-in demo model when -m is not
// given) and starts an engine for it.
func loadEngine(mf *modelFlags, g *genFlags) (*loaded, error) {
	if mf.threads < 0 {
		return nil, usagef("--threads %d: want 0 (one per CPU) or more", mf.threads)
	}
	opt, err := g.engineOptions()
	if err != nil {
		return nil, err
	}
	l := &loaded{path: mf.path, name: modelName(mf.path)}
	if l.path == "" {
		if l.path, err = demo.Path(); err != nil {
			return nil, err
		}
		l.name = demo.Name
	}
	budget, err := g.budget.bytes()
	if err != nil {
		return nil, err
	}
	var led *ledger.Ledger
	if l.plan, led, err = planAndLedger(l.path, budget, g, mf.threads); err != nil {
		return nil, err
	}
	opt.Ctx, opt.KVType, opt.Batch = l.plan.Ctx, kvTypeOf(l.plan), l.plan.Batch
	if l.model, err = model.Load(l.path, model.Options{Threads: mf.threads, Ledger: led, Plan: l.plan}); err != nil {
		return nil, err
	}
	if l.tok, err = loadTokenizer(l.path); err != nil {
		l.model.Close()
		return nil, err
	}
	if l.eng, err = engine.New(l.model, l.tok, opt); err != nil {
		l.model.Close()
		return nil, err
	}
	return l, nil
}

// planAndLedger plans the model at path inside budget (exit code 3 when it
// cannot fit, before any weight is read) and returns a ledger holding the
// budget with the runtime overhead reserved.
func planAndLedger(path string, budget int64, g *genFlags, threads int) (*plan.Plan, *ledger.Ledger, error) {
	p, _, err := planFor(path, budget, g, threads, probeNone)
	if err != nil {
		return nil, nil, err
	}
	if !p.Fits {
		return nil, nil, errNoFit(p)
	}
	led := ledger.New(budget)
	if _, err := led.Reserve("runtime", p.OverheadBytes); err != nil {
		return nil, nil, noFitError{err}
	}
	// Hold the Go runtime to its share of the budget: the collector works
	// harder rather than let garbage take what the plan gave weights.
	if lim := p.GoMemoryLimit(); budget != ledger.Unlimited && lim > 0 && lim < debug.SetMemoryLimit(-1) {
		debug.SetMemoryLimit(lim)
	}
	plan.ReadExecutable()
	return p, led, nil
}

func kvTypeOf(p *plan.Plan) tensor.DType {
	t, err := kv.ParseType(p.KVType)
	if err != nil {
		panic("memfit: the plan's KV cache type " + p.KVType + " is not a cache type")
	}
	return t
}

// modelName is the id a model is shown under: its file or folder name.
func modelName(path string) string {
	path = strings.TrimRight(path, "/")
	if i := strings.LastIndexByte(path, '/'); i >= 0 {
		path = path[i+1:]
	}
	return strings.TrimSuffix(path, ".gguf")
}

// describeFinish explains a finish reason for the terminal.
func describeFinish(r *engine.Result, maxTokens int) string {
	if r.Finish == engine.FinishLength && (maxTokens == 0 || len(r.Tokens) < maxTokens) {
		return fmt.Sprintf("stopped: the context is full (%d prompt + %d generated tokens)", r.PromptTokens, len(r.Tokens))
	}
	return ""
}
