package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"

	"github.com/memfit/memfit/internal/convert"
	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/quantize"
	"github.com/memfit/memfit/internal/tensor"
)

func init() { rootCmd.AddCommand(newQuantizeCmd()) }

func newQuantizeCmd() *cobra.Command {
	var (
		typ       string
		threads   int
		requant   bool
		dryRun    bool
		quiet     bool
		listTypes bool
	)
	c := &cobra.Command{
		Use:   "quantize IN OUT --type TYPE [--threads N]",
		Short: "Quantize a GGUF file or a Hugging Face folder to a GGUF file, as llama-quantize does",
		Long: `quantize writes IN (a GGUF file, or a Hugging Face folder converted as
llama.cpp's convert_hf_to_gguf.py would) to the GGUF file OUT in one of
llama-quantize's file types, choosing every tensor's type by llama-quantize's
rules (output and embedding, the layers that get more bits in the _M mixes,
grouped-query attention and expert counts, fallbacks when a row length does
not fit a block) and quantizing with ggml's reference quantizers, so the file
is the one llama-quantize writes from the same weights. The metadata is
copied, with general.file_type and general.quantization_version set.

OUT is written under a temporary name and renamed when complete; nothing is
left behind on an error or an interrupt.

Types: ` + strings.Join(quantize.FileTypeNames(), ", ") + `.`,
		Example: `  memfit quantize gocoder.bf16.gguf gocoder.Q4_K_M.gguf --type Q4_K_M
  memfit quantize ./Qwen3-0.6B qwen3-0.6b.Q8_0.gguf --type Q8_0 --threads 2
  memfit quantize ./Qwen3-0.6B x.gguf --type Q4_K_M --dry-run`,
		Args: func(cmd *cobra.Command, args []string) error {
			if listTypes {
				return nil
			}
			if len(args) != 2 {
				return usagef("quantize: want IN and OUT (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if listTypes {
				fmt.Fprintln(cmd.OutOrStdout(), strings.Join(quantize.FileTypeNames(), "\n"))
				return nil
			}
			if typ == "" {
				return usagef("quantize: --type is required (one of %s)", strings.Join(quantize.FileTypeNames(), ", "))
			}
			ft, err := quantize.LookupFileType(typ)
			if err != nil {
				return usagef("%v", err)
			}
			if threads < 0 {
				return usagef("--threads %d: want 0 (one per CPU) or more", threads)
			}
			in, out := args[0], args[1]
			m, err := convert.Open(in)
			if err != nil {
				return err
			}
			defer m.Close()
			opt := quantize.Options{Type: ft, Threads: threads, AllowRequantize: requant}
			if dryRun {
				p, err := quantize.MakePlan(m, opt)
				if err != nil {
					return err
				}
				printPlan(cmd.OutOrStdout(), p)
				return nil
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			var bar *progressbar.ProgressBar
			if !quiet && isTerminal(os.Stderr) {
				opt.Progress = func(done, total int64) {
					if bar == nil {
						bar = progressbar.NewOptions64(total,
							progressbar.OptionSetWriter(os.Stderr),
							progressbar.OptionSetDescription("quantizing "+ft.Name),
							progressbar.OptionShowBytes(true),
							progressbar.OptionThrottle(100*time.Millisecond),
							progressbar.OptionSetWidth(30),
							progressbar.OptionClearOnFinish())
					}
					bar.Set64(done)
				}
			}
			start := time.Now()
			p, err := quantize.Write(ctx, m, out, opt)
			if bar != nil {
				bar.Finish()
			}
			if err != nil {
				return err
			}
			if !quiet {
				st, err := os.Stat(out)
				if err != nil {
					return err
				}
				fmt.Fprintf(os.Stderr, "memfit: wrote %s: %s, %d tensors (%s), %s → %s in %.1fs\n",
					out, ft.Name, len(p.Choices), typeCounts(p), ledger.FormatBytes(p.InBytes), ledger.FormatBytes(st.Size()), time.Since(start).Seconds())
				if p.Fallbacks > 0 {
					fmt.Fprintf(os.Stderr, "memfit: %d of %d tensors needed a fallback type (row length not a multiple of the block size)\n", p.Fallbacks, len(p.Choices))
				}
			}
			return nil
		},
	}
	c.Flags().StringVar(&typ, "type", "", "output file type, e.g. Q4_K_M, Q8_0, IQ4_XS, F16 (required)")
	c.Flags().IntVarP(&threads, "threads", "t", 0, "worker threads (default: one per CPU)")
	c.Flags().BoolVar(&requant, "allow-requantize", false, "quantize tensors that are already quantized (loses accuracy)")
	c.Flags().BoolVar(&dryRun, "dry-run", false, "print every tensor's chosen type and the sizes; write nothing")
	c.Flags().BoolVarP(&quiet, "quiet", "q", false, "no progress bar or summary")
	c.Flags().BoolVar(&listTypes, "list-types", false, "list the file types and exit")
	return c
}

// typeCounts summarises the output types: "25 Q4_K, 5 Q6_K, 9 F32".
func typeCounts(p *quantize.Plan) string {
	n := map[tensor.DType]int{}
	for _, c := range p.Choices {
		n[c.To]++
	}
	types := make([]tensor.DType, 0, len(n))
	for t := range n {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool {
		return n[types[i]] > n[types[j]] || n[types[i]] == n[types[j]] && types[i] < types[j]
	})
	var parts []string
	for _, t := range types {
		parts = append(parts, fmt.Sprintf("%d %v", n[t], t))
	}
	return strings.Join(parts, ", ")
}

// printPlan prints every tensor's type choice, as llama-quantize --dry-run.
func printPlan(w io.Writer, p *quantize.Plan) {
	var out int64
	for i, c := range p.Choices {
		ti := p.File.Tensors[i]
		out += ti.Size
		fmt.Fprintf(w, "%-40s %-20s %-6v -> %v\n", c.Name, c.Shape, c.From, c.To)
	}
	fmt.Fprintf(w, "%d tensors (%s), %s -> %s", len(p.Choices), typeCounts(p), ledger.FormatBytes(p.InBytes), ledger.FormatBytes(out))
	if p.Fallbacks > 0 {
		fmt.Fprintf(w, ", %d fallbacks", p.Fallbacks)
	}
	fmt.Fprintln(w)
}
