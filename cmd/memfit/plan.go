package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"

	"github.com/spf13/cobra"

	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/model"
	"github.com/memfit/memfit/internal/plan"
)

func init() { rootCmd.AddCommand(newPlanCmd()) }

// budgetFlag is --mem-budget.
type budgetFlag struct{ text string }

func (b *budgetFlag) register(c *cobra.Command) {
	c.Flags().StringVar(&b.text, "mem-budget", "", "memory budget, e.g. 350MiB, 3GiB, 8G (default: what the machine or its memory cgroup has available)")
}

// bytes returns the budget: the flag, else the available memory.
func (b *budgetFlag) bytes() (int64, error) {
	if b.text == "" {
		if a := plan.Available(); a > 0 {
			return a, nil
		}
		return ledger.Unlimited, nil
	}
	n, err := ledger.ParseSize(b.text)
	if err != nil {
		return 0, usagef("--mem-budget: %v", err)
	}
	return n, nil
}

func (b *budgetFlag) given() bool { return b.text != "" }

// probeNone, probeCached and probeFresh say whether planFor predicts
// speed: not at all, from the device figures cached by an earlier probe
// (measuring what is missing), or from figures measured now.
const (
	probeNone = iota
	probeCached
	probeFresh
)

// planFor plans the model at path for the flags.
func planFor(path string, budget int64, g *genFlags, threads int, probe int) (*plan.Plan, *plan.Index, error) {
	ix, err := plan.Open(path)
	if err != nil {
		return nil, nil, err
	}
	opt, err := g.engineOptions()
	if err != nil {
		return nil, nil, err
	}
	ctx := opt.Ctx
	if ctx == 0 {
		ctx = ix.Spec.ContextLength
		if ctx <= 0 || ctx > 4096 {
			ctx = 4096
		}
	}
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	po := plan.Options{Budget: budget, Ctx: ctx, Parallel: opt.Parallel, Batch: max(opt.Batch, opt.Parallel), KVType: opt.KVType, Threads: threads}
	if probe != probeNone {
		po.Device, err = plan.Probe(ix.Disk, plan.ProbeOptions{Kinds: ix.MatrixKinds(), DecodeKinds: ix.DecodeKinds(), Passes: ix.DecodePasses(budget), Kernels: kernelProbe(threads), Fresh: probe == probeFresh, DiskBuffer: plan.DiskBufferFor(budget)})
		if err != nil {
			return nil, nil, err
		}
		// A probe that measured kernels left hundreds of MiB of matrices
		// as garbage: give them back to the system now, before a model is
		// loaded beside them (a memory cgroup counts them until the
		// runtime's scavenger would have).
		debug.FreeOSMemory()
	}
	p, err := plan.Make(ix, po)
	return p, ix, err
}

// errNoFit is returned (exit code 3) when a plan does not fit.
func errNoFit(p *plan.Plan) error {
	return noFitError{errors.New(p.Suggestion)}
}

func newPlanCmd() *cobra.Command {
	var (
		mf    modelFlags
		gen   genFlags
		full  bool
		fresh bool
	)
	c := &cobra.Command{
		Use:   "plan -m MODEL --mem-budget SIZE [--ctx N] [--kv-type T] [--parallel N]",
		Short: "Show how a model would run inside a memory budget, without reading its weights",
		Long: `plan reads the model's headers only and prints, as JSON, how memfit would run it
inside the budget: resident and streamed weight bytes, the KV cache, scratch,
runtime overhead, the total, whether it fits, which layers stream from disk, and
the predicted prefill and decode speed on this machine (from a device probe:
memory bandwidth, the disk's O_DIRECT read bandwidth beside the kernels and
alone, this build's kernels timed on matrices of the model's shapes and
types, a layer at a time as the forward pass runs them; measured once,
cached, re-measured with --probe, and calibrated by what memfit bench
measures). When even the minimum working set does not fit it exits with
code 3 and says what would make it fit. --full lists every tensor.`,
		Example: `  memfit plan -m llama-3.1-8b-Q4_K_M.gguf --mem-budget 3GiB
  memfit plan -m ./Qwen3-0.6B --mem-budget 350MiB --ctx 2048 --parallel 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := mf.check(); err != nil {
				return err
			}
			b, err := gen.budget.bytes()
			if err != nil {
				return err
			}
			probe := probeCached
			if fresh {
				probe = probeFresh
			}
			p, _, err := planFor(mf.path, b, &gen, mf.threads, probe)
			if err != nil {
				return err
			}
			out := *p
			if !full {
				out.Tensors = nil
			}
			enc, err := json.MarshalIndent(&out, "", "  ")
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), string(enc))
			if !p.Fits {
				return errNoFit(p)
			}
			return nil
		},
	}
	mf.register(c)
	gen.register(c, true)
	c.Flags().BoolVar(&full, "full", false, "list every tensor's residency")
	c.Flags().BoolVar(&fresh, "probe", false, "measure the device again (memory and disk bandwidth, kernel timings) instead of using the cached figures and forget what runs calibrated")
	hideSampling(c)
	return c
}

// hideSampling hides the sampling flags of commands that do not sample.
func hideSampling(c *cobra.Command) {
	for _, name := range strings.Fields("temp top-k top-p min-p repeat-penalty repeat-last-n presence-penalty frequency-penalty seed") {
		_ = c.Flags().MarkHidden(name)
	}
}

// loadWithin plans the model at path inside the budget of b for one
// sequence of ctx tokens (a cache of kvType, batches of batch) and loads it
// with that plan: exit code 3 before any weight is read when it cannot fit.
func loadWithin(path string, threads int, b *budgetFlag, ctx, batch int, kvType string) (*model.Model, *plan.Plan, error) {
	budget, err := b.bytes()
	if err != nil {
		return nil, nil, err
	}
	g := genFlags{ctx: ctx, batch: batch, kvType: kvType, parallel: 1}
	p, led, err := planAndLedger(path, budget, &g, threads)
	if err != nil {
		return nil, nil, err
	}
	m, err := model.Load(path, model.Options{Threads: threads, Ledger: led, Plan: p})
	return m, p, err
}
