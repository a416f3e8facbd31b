package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/memfit/memfit/internal/tokenizer"
)

// tokenizeFlags are the flags of `memfit tokenize`.
type tokenizeFlags struct {
	model        string
	text         string
	special      bool
	noParseSpecl bool
	batch        string
}

func newTokenizeCmd() *cobra.Command {
	var f tokenizeFlags
	cmd := &cobra.Command{
		Use:   "tokenize",
		Short: "Turn text into token ids with a model's tokenizer",
		Long: `tokenize encodes text with the tokenizer of MODEL (a GGUF file, a Hugging Face
folder, or a folder holding only tokenizer.json and tokenizer_config.json) and
prints {"ids": [...], "pieces": [...]} as JSON. Special tokens written in the
text (e.g. <|im_start|>) are recognised, as Hugging Face's encode does, unless
--no-parse-special; --special adds BOS/EOS as the tokenizer's post-processor
does (add_special_tokens).

With --batch FILE ("-" for standard input) the tokenizer is loaded once and
each line of FILE is a JSON object {"text": "...", "special": bool}; one JSON
line is printed per input line.`,
		Example: `  memfit tokenize -m ./Llama-3.2-1B --text "Hello world"
  memfit tokenize -m gemma-3-1b-it.Q4_K_M.gguf --text "Hello" --special
  printf '{"text":"a b"}\n{"text":"c","special":true}\n' | memfit tokenize -m ./qwen3 --batch -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTokenize(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.model, "model", "m", "", "model: a GGUF file, a Hugging Face folder or a tokenizer folder (required)")
	fl.StringVar(&f.text, "text", "", "text to tokenize")
	fl.BoolVar(&f.special, "special", false, "add special tokens (BOS/EOS) as the tokenizer's post-processor does")
	fl.BoolVar(&f.noParseSpecl, "no-parse-special", false, "treat special-token strings in the text as plain text")
	fl.StringVar(&f.batch, "batch", "", `JSON-lines file of {"text", "special"} inputs ("-" for standard input)`)
	return cmd
}

func init() { rootCmd.AddCommand(newTokenizeCmd()) }

// tokenizeOutput is one line of tokenize's output.
type tokenizeOutput struct {
	IDs    []int32  `json:"ids"`
	Pieces []string `json:"pieces"`
}

func runTokenize(cmd *cobra.Command, f tokenizeFlags) error {
	if f.model == "" {
		return usagef("tokenize: --model (-m) is required")
	}
	hasText := cmd.Flags().Changed("text")
	if hasText == (f.batch != "") {
		return usagef("tokenize: give exactly one of --text TEXT or --batch FILE")
	}
	if f.batch != "" && cmd.Flags().Changed("special") {
		return usagef(`tokenize: --special does not apply to --batch (set "special" on each line)`)
	}
	tok, err := tokenizer.Load(f.model)
	if err != nil {
		return err
	}
	enc := newJSONLineEncoder(cmd.OutOrStdout())
	encode := func(text string, special bool) error {
		ids := tok.EncodeWith(text, tokenizer.EncodeOptions{AddSpecial: special, ParseSpecial: !f.noParseSpecl})
		if ids == nil {
			ids = []int32{}
		}
		return enc.Encode(tokenizeOutput{IDs: ids, Pieces: tok.Pieces(ids)})
	}
	if hasText {
		return encode(f.text, f.special)
	}
	return readBatch(f.batch, func(line []byte, n int) error {
		var in struct {
			Text    *string `json:"text"`
			Special bool    `json:"special"`
		}
		if err := json.Unmarshal(line, &in); err != nil {
			return fmt.Errorf("%s:%d: %w (want {\"text\": string, \"special\": bool})", f.batch, n, err)
		}
		if in.Text == nil {
			return fmt.Errorf("%s:%d: missing \"text\"", f.batch, n)
		}
		return encode(*in.Text, in.Special)
	})
}

// newJSONLineEncoder returns a JSON encoder that writes one line per value
// and leaves <, > and & unescaped.
func newJSONLineEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc
}

// readBatch calls fn for every non-blank line of the JSON-lines file path
// ("-" for standard input), with its 1-based line number.
func readBatch(path string, fn func(line []byte, n int) error) error {
	var r io.Reader = os.Stdin
	if path != "-" {
		fh, err := os.Open(path)
		if err != nil {
			return err
		}
		defer fh.Close()
		r = fh
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<28)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(trimSpaceBytes(line)) == 0 {
			continue
		}
		if err := fn(line, n); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}

func trimSpaceBytes(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	return b
}
