package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/memfit/memfit/internal/eval"
)

func init() { rootCmd.AddCommand(newPerplexityCmd()) }

func newPerplexityCmd() *cobra.Command {
	var (
		mf     modelFlags
		budget budgetFlag
		klBase string
		file   string
		ctxLen int
		asJSON bool
		kvType string
	)
	c := &cobra.Command{
		Use:   "perplexity -m MODEL -f TEXT --ctx N [--kl-base BASE_MODEL] [--json]",
		Short: "Measure perplexity on a text file, as llama-perplexity does",
		Long: `Follows llama-perplexity's method so the figures compare directly: the file verbatim
(no escape processing, as llama-perplexity --no-escape) minus one trailing newline,
tokenized with BOS; windows of N tokens with BOS in place of each window's first
token; only the second half of each window is scored. --json prints
{"ppl": x, "ppl_stderr": e, "ctx": N, "chunks": k, "tokens": n, "scored": s}.`,
		Example: `  memfit perplexity -m ../shared/fixtures/models/gocoder/hf -f ../shared/fixtures/text/net_http_server.go --ctx 256`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := mf.check(); err != nil {
				return err
			}
			if file == "" {
				return usagef("--file (-f) is required")
			}
			if ctxLen < 4 {
				return usagef("--ctx %d: want at least 4", ctxLen)
			}
			text, err := os.ReadFile(file)
			if err != nil {
				return err
			}
			m, mp, err := loadWithin(mf.path, mf.threads, &budget, ctxLen, ctxLen, kvType)
			if err != nil {
				return err
			}
			defer m.Close()
			tok, err := loadTokenizer(mf.path)
			if err != nil {
				return err
			}
			ids := tok.Encode(strings.TrimSuffix(string(text), "\n"), true)
			bos, hasBOS := tok.BOS()
			start := time.Now()
			opt := eval.Options{Ctx: ctxLen, BOS: bos, ReplaceBOS: hasBOS && tok.AddBOS(), Batch: mp.Batch, KVType: kvTypeOf(mp)}
			if klBase != "" {
				base, _, err := loadWithin(klBase, mf.threads, &budgetFlag{}, ctxLen, ctxLen, "f32")
				if err != nil {
					return fmt.Errorf("--kl-base: %w", err)
				}
				defer base.Close()
				opt.Base = base
			}
			if !asJSON {
				opt.Progress = func(done, total int) {
					fmt.Fprintf(os.Stderr, "\rchunk %d/%d", done, total)
					if done == total {
						fmt.Fprintln(os.Stderr)
					}
				}
			}
			r, err := eval.Perplexity(context.Background(), m, ids, opt)
			if err != nil {
				return err
			}
			if asJSON {
				b, _ := json.Marshal(r)
				fmt.Fprintf(cmd.OutOrStdout(), "%s\n", b)
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Final estimate: PPL = %.4f +/- %.5f (%d chunks of %d tokens, %d scored, %.1fs)\n",
				r.PPL, r.PPLStderr, r.Chunks, r.Ctx, r.Scored, time.Since(start).Seconds())
			if k := r.KL; k != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "KL divergence from %s: mean %.6f +/- %.6f, median %.6f, max %.6f; same top token %.3f%% +/- %.3f%%; base PPL = %.4f\n",
					klBase, k.Mean, k.MeanStderr, k.Median, k.Max, k.SameTop, k.SameTopStderr, k.BasePPL)
			}
			return nil
		},
	}
	mf.register(c)
	budget.register(c)
	c.Flags().StringVarP(&file, "file", "f", "", "text file to evaluate (required)")
	c.Flags().IntVarP(&ctxLen, "ctx", "c", 512, "window length in tokens")
	c.Flags().BoolVar(&asJSON, "json", false, "print the result as JSON")
	c.Flags().StringVar(&kvType, "kv-type", "f32", "KV cache type: f32, f16, q8_0 or q4_0 (the --kl-base model always uses f32)")
	c.Flags().StringVar(&klBase, "kl-base", "", "base model to measure the KL divergence from (same vocabulary), on the same windows")
	return c
}
