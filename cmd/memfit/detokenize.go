package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/memfit/memfit/internal/tokenizer"
)

// detokenizeFlags are the flags of `memfit detokenize`.
type detokenizeFlags struct {
	model       string
	ids         string
	skipSpecial bool
	batch       string
}

func newDetokenizeCmd() *cobra.Command {
	var f detokenizeFlags
	cmd := &cobra.Command{
		Use:   "detokenize",
		Short: "Turn token ids back into text with a model's tokenizer",
		Long: `detokenize decodes token ids with the tokenizer of MODEL (a GGUF file, a
Hugging Face folder, or a folder holding only tokenizer.json and
tokenizer_config.json) and prints {"text": "..."} as JSON. --skip-special drops
special tokens (Hugging Face skip_special_tokens; for GGUF vocabularies control
tokens and a leading BOS, as llama.cpp does). An id outside the vocabulary is
an error.

With --batch FILE ("-" for standard input) the tokenizer is loaded once and
each line of FILE is a JSON object {"ids": [...], "skip_special": bool}; one
JSON line is printed per input line.`,
		Example: `  memfit detokenize -m ./Llama-3.2-1B --ids 9906,1917
  memfit detokenize -m model.gguf --ids 1,15043,3186 --skip-special
  echo '{"ids":[9906,1917]}' | memfit detokenize -m ./Llama-3.2-1B --batch -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDetokenize(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.model, "model", "m", "", "model: a GGUF file, a Hugging Face folder or a tokenizer folder (required)")
	fl.StringVar(&f.ids, "ids", "", "token ids separated by commas, e.g. 1,2,3")
	fl.BoolVar(&f.skipSpecial, "skip-special", false, "drop special tokens")
	fl.StringVar(&f.batch, "batch", "", `JSON-lines file of {"ids", "skip_special"} inputs ("-" for standard input)`)
	return cmd
}

func init() { rootCmd.AddCommand(newDetokenizeCmd()) }

// detokenizeOutput is one line of detokenize's output.
type detokenizeOutput struct {
	Text string `json:"text"`
}

func runDetokenize(cmd *cobra.Command, f detokenizeFlags) error {
	if f.model == "" {
		return usagef("detokenize: --model (-m) is required")
	}
	hasIDs := cmd.Flags().Changed("ids")
	if hasIDs == (f.batch != "") {
		return usagef("detokenize: give exactly one of --ids LIST or --batch FILE")
	}
	if f.batch != "" && cmd.Flags().Changed("skip-special") {
		return usagef(`detokenize: --skip-special does not apply to --batch (set "skip_special" on each line)`)
	}
	var ids []int32
	if hasIDs {
		var err error
		if ids, err = parseIDs("ids", f.ids); err != nil {
			return err
		}
	}
	tok, err := tokenizer.Load(f.model)
	if err != nil {
		return err
	}
	enc := newJSONLineEncoder(cmd.OutOrStdout())
	if hasIDs {
		if err := tok.CheckIDs(ids); err != nil {
			return usagef("detokenize: --ids: %v", err)
		}
		return enc.Encode(detokenizeOutput{tok.Decode(ids, f.skipSpecial)})
	}
	return readBatch(f.batch, func(line []byte, n int) error {
		var in struct {
			IDs         *[]int32 `json:"ids"`
			SkipSpecial bool     `json:"skip_special"`
		}
		if err := json.Unmarshal(line, &in); err != nil {
			return fmt.Errorf("%s:%d: %w (want {\"ids\": [int, ...], \"skip_special\": bool})", f.batch, n, err)
		}
		if in.IDs == nil {
			return fmt.Errorf("%s:%d: missing \"ids\"", f.batch, n)
		}
		if err := tok.CheckIDs(*in.IDs); err != nil {
			return fmt.Errorf("%s:%d: %w", f.batch, n, err)
		}
		return enc.Encode(detokenizeOutput{tok.Decode(*in.IDs, in.SkipSpecial)})
	})
}
