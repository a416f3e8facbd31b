package main

import (
	"github.com/spf13/cobra"
)

func init() { rootCmd.AddCommand(newLogitsCmd()) }

func newLogitsCmd() *cobra.Command {
	var (
		mf     modelFlags
		tokens string
		prompt string
		all    bool
	)
	c := &cobra.Command{
		Use:   "logits -m MODEL (--tokens 1,2,3 | -p TEXT) [--all-positions]",
		Short: "Print the logits a model computes for a token sequence",
		Long: `Runs the tokens through the model and prints JSON {"tokens": [...], "logits": [[...], ...]}:
the last position's logits, or one row per position with --all-positions.
With -p the text is tokenized by the model's tokenizer, with BOS when the model adds one.`,
		Example: `  memfit logits -m ../shared/fixtures/archs/llama/hf --tokens 1,15,27 --all-positions
  memfit logits -m model.gguf -p "func main() {"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := mf.check(); err != nil {
				return err
			}
			if (tokens == "") == (prompt == "") {
				return usagef("give exactly one of --tokens and --prompt (-p)")
			}
			var ids []int32
			var err error
			if tokens != "" {
				if ids, err = parseIDs("tokens", tokens); err != nil {
					return err
				}
			}
			m, err := mf.load()
			if err != nil {
				return err
			}
			defer m.Close()
			if prompt != "" {
				tok, err := loadTokenizer(mf.path)
				if err != nil {
					return err
				}
				ids = tok.Encode(prompt, true)
				if len(ids) == 0 {
					return usagef("--prompt %q gives no tokens", prompt)
				}
			}
			st, err := m.NewState(len(ids), 512)
			if err != nil {
				return err
			}
			defer st.Release()
			V := m.Spec.Vocab
			out := make([]float32, V*len(ids))
			if err := m.Forward(st, ids, out, all); err != nil {
				return err
			}
			j := newJSONWriter(cmd.OutOrStdout())
			j.raw(`{"tokens":`)
			j.ints(ids)
			j.raw(`,"logits":[`)
			rows := 1
			if all {
				rows = len(ids)
			}
			for r := 0; r < rows; r++ {
				if r > 0 {
					j.raw(",")
				}
				j.floats(out[r*V : (r+1)*V])
			}
			j.raw("]}\n")
			return j.flush()
		},
	}
	mf.register(c)
	c.Flags().StringVar(&tokens, "tokens", "", "comma-separated token ids")
	c.Flags().StringVarP(&prompt, "prompt", "p", "", "text to tokenize and run")
	c.Flags().BoolVar(&all, "all-positions", false, "print the logits of every position, not only the last")
	return c
}
