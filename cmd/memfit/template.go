package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/memfit/memfit/internal/chat"
	"github.com/memfit/memfit/internal/prompt"
)

// templateFlags are the flags of `memfit template`.
type templateFlags struct {
	model        string
	chatTemplate string
	messages     string
	tools        string
	addGenPrompt bool
	kwargs       string
	now          string
}

func newTemplateCmd() *cobra.Command {
	var f templateFlags
	cmd := &cobra.Command{
		Use:   "template",
		Short: "Render a chat template exactly as transformers' apply_chat_template",
		Long: `template renders a model's chat template for a conversation and prints the
prompt exactly (no newline is added), the way Python transformers'
apply_chat_template(messages, tools=..., add_generation_prompt=...,
tokenize=False, **kwargs) renders it.

The template comes from MODEL: a Hugging Face folder (chat_template.jinja, or
chat_template in tokenizer_config.json: a string or a list of {name, template}
where "default" is used) or a GGUF file (metadata tokenizer.chat_template).
--chat-template FILE overrides it. The template sees messages, tools (None
when --tools is not given), documents (None), add_generation_prompt, the
model's special tokens (bos_token, eos_token, ...) and then every key of
--kwargs. strftime_now() reads the real local time unless --now fixes it.`,
		Example: `  memfit template -m ./Qwen3-0.6B --messages chat.json --add-generation-prompt
  memfit template --chat-template tmpl.jinja --messages chat.json --tools tools.json \
      --kwargs '{"enable_thinking": false, "bos_token": "<s>"}' --now 2026-01-15T10:30:00Z`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runTemplate(cmd.OutOrStdout(), f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.model, "model", "m", "", "model: a Hugging Face folder or a GGUF file")
	fl.StringVar(&f.chatTemplate, "chat-template", "", "Jinja chat template file (overrides the model's)")
	fl.StringVar(&f.messages, "messages", "", `JSON file with the messages list ("-" for standard input; default: no messages)`)
	fl.StringVar(&f.tools, "tools", "", "JSON file with the list of tool schemas")
	fl.BoolVar(&f.addGenPrompt, "add-generation-prompt", false, "open an assistant turn at the end")
	fl.StringVar(&f.kwargs, "kwargs", "", `extra template variables as a JSON object, e.g. '{"enable_thinking": false}'`)
	fl.StringVar(&f.now, "now", "", "fix the clock strftime_now() reads (RFC 3339, e.g. 2026-01-15T10:30:00Z)")
	return cmd
}

func init() { rootCmd.AddCommand(newTemplateCmd()) }

func runTemplate(out io.Writer, f templateFlags) error {
	if f.model == "" && f.chatTemplate == "" {
		return usagef("template: give a model (-m MODEL) or a template (--chat-template FILE)")
	}
	in := chat.ChatInput{AddGenerationPrompt: f.addGenPrompt}
	if f.now != "" {
		t, err := time.Parse(time.RFC3339, f.now)
		if err != nil {
			return usagef("template: --now %q: want an RFC 3339 time such as 2026-01-15T10:30:00Z", f.now)
		}
		in.Now = chat.FixedClock(t)
	}
	if f.kwargs != "" {
		v, err := chat.ParseJSON([]byte(f.kwargs))
		if err != nil {
			return usagef("template: --kwargs: not valid JSON: %v", err)
		}
		d, ok := v.(*chat.Dict)
		if !ok {
			return usagef("template: --kwargs: want a JSON object, got %s", jsonKind(v))
		}
		in.Kwargs = d
	}
	var err error
	in.Messages = chat.List{}
	if f.messages != "" {
		if in.Messages, err = readJSONFile(f.messages, "--messages"); err != nil {
			return err
		}
		if _, ok := in.Messages.(chat.List); !ok {
			return fmt.Errorf("template: --messages %s: want a JSON list of messages, got %s", f.messages, jsonKind(in.Messages))
		}
	}
	if f.tools != "" {
		if in.Tools, err = readJSONFile(f.tools, "--tools"); err != nil {
			return err
		}
	}
	var src string
	if f.model != "" {
		m, err := prompt.Load(f.model)
		if err != nil {
			return err
		}
		src, in.SpecialTokens = m.Template, m.Tokens
	}
	if f.chatTemplate != "" {
		b, err := os.ReadFile(f.chatTemplate)
		if err != nil {
			return fmt.Errorf("template: --chat-template: %w", err)
		}
		src = string(b)
	}
	if src == "" {
		return fmt.Errorf("template: model %s has no chat template (use --chat-template FILE)", f.model)
	}
	tmpl, err := chat.Compile(src)
	if err != nil {
		return fmt.Errorf("template: compiling the chat template: %w", err)
	}
	text, err := tmpl.RenderChat(in)
	if err != nil {
		return fmt.Errorf("template: rendering: %w", err)
	}
	_, err = io.WriteString(out, text)
	return err
}

// readJSONFile decodes a JSON file ("-" is standard input), keeping key
// order and int/float.
func readJSONFile(path, flag string) (chat.Value, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		return nil, fmt.Errorf("template: %s: %w", flag, err)
	}
	v, err := chat.ParseJSON(data)
	if err != nil {
		return nil, fmt.Errorf("template: %s %s: not valid JSON: %w", flag, path, err)
	}
	return v, nil
}

func jsonKind(v chat.Value) string {
	switch v.(type) {
	case *chat.Dict:
		return "an object"
	case chat.List:
		return "a list"
	case chat.Str:
		return "a string"
	case chat.NoneType:
		return "null"
	}
	return "a scalar"
}
