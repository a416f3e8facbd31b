package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/quantize"
	"github.com/memfit/memfit/internal/synth"
)

func init() { rootCmd.AddCommand(newSynthCmd()) }

func newSynthCmd() *cobra.Command {
	var (
		shape, typ, out string
		seed            uint64
		quiet           bool
	)
	c := &cobra.Command{
		Use:   "synth --shape NAME --type TYPE -o FILE [--seed N]",
		Short: "Write a random-weight GGUF model of a real shape (for benchmarks and tests)",
		Long: `synth writes a valid GGUF model with random weights of a real model's shape,
with llama.cpp's metadata and tensor names (so llama.cpp loads it too) and a
byte-level BPE vocabulary. The same shape, type and seed give the same bytes.

Shapes: ` + strings.Join(synth.ShapeNames(), ", ") + `.
Types: ` + strings.Join(quantize.FileTypeNames(), ", ") + ` (per-tensor types
as llama-quantize picks them: memfit quantize's rules for the output and
embedding, the attn_v/ffn_down layers with more bits in the _M mixes, routers
in F32).`,
		Example: `  memfit synth --shape llama-3.2-1b --type Q4_0 -o l1b-q4_0.gguf
  memfit synth --shape olmoe-1b-7b --type Q4_K_M -o olmoe.gguf --seed 7`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if shape == "" || typ == "" || out == "" {
				return usagef("synth: --shape, --type and -o are required")
			}
			s, err := synth.Lookup(shape)
			if err != nil {
				return usagef("%v", err)
			}
			ft, err := synth.LookupType(typ)
			if err != nil {
				return usagef("%v", err)
			}
			start := time.Now()
			opt := synth.Options{Seed: seed}
			tty := isTerminal(os.Stderr)
			if !quiet && tty {
				last := time.Time{}
				opt.Progress = func(done, total int64) {
					if time.Since(last) < 100*time.Millisecond && done < total {
						return
					}
					last = time.Now()
					fmt.Fprintf(os.Stderr, "\r%s: %s / %s (%3.0f%%)", out, ledger.FormatBytes(done), ledger.FormatBytes(total), 100*float64(done)/float64(total))
				}
			}
			if err := synth.WriteFile(out, s, ft, opt); err != nil {
				return err
			}
			st, err := os.Stat(out)
			if err != nil {
				return err
			}
			if !quiet {
				if tty {
					fmt.Fprintln(os.Stderr)
				}
				secs := time.Since(start).Seconds()
				fmt.Fprintf(os.Stderr, "memfit: wrote %s: %s %s, %.2fB parameters, %s in %.1fs (%.0f MB/s)\n",
					out, s.Name, ft.Name, float64(s.Params())/1e9, ledger.FormatBytes(st.Size()), secs, float64(st.Size())/secs/1e6)
			}
			return nil
		},
	}
	c.Flags().StringVar(&shape, "shape", "", "model shape (required)")
	c.Flags().StringVar(&typ, "type", "", "weight type (required)")
	c.Flags().StringVarP(&out, "output", "o", "", "output GGUF file (required)")
	c.Flags().Uint64Var(&seed, "seed", 1, "random seed")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress or summary")
	return c
}

// isTerminal reports whether f is a terminal.
func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
