package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/memfit/memfit/internal/chat"
	"github.com/memfit/memfit/internal/gguf"
)

// specialTokenKeys are transformers' SPECIAL_TOKENS_ATTRIBUTES, in order.
var specialTokenKeys = []string{"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token", "additional_special_tokens"}

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
		m, err := loadModelTemplate(f.model)
		if err != nil {
			return err
		}
		src, in.SpecialTokens = m.template, m.tokens
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

// modelTemplate is a model's chat template and special tokens.
type modelTemplate struct {
	template string
	tokens   *chat.Dict
}

// loadModelTemplate reads the chat template and special tokens of a Hugging
// Face folder or a GGUF file.
func loadModelTemplate(path string) (*modelTemplate, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("template: model: %w", err)
	}
	if !st.IsDir() {
		if isGGUF(path) {
			return loadGGUFTemplate(path)
		}
		return nil, fmt.Errorf("template: model %s: want a Hugging Face folder or a GGUF file", path)
	}
	return loadHFTemplate(path)
}

func isGGUF(path string) bool {
	fh, err := os.Open(path)
	if err != nil {
		return false
	}
	defer fh.Close()
	var magic [4]byte
	if _, err := io.ReadFull(fh, magic[:]); err != nil {
		return false
	}
	return string(magic[:]) == "GGUF"
}

// loadHFTemplate reads tokenizer_config.json (and chat_template.jinja,
// special_tokens_map.json when present) from a Hugging Face folder.
func loadHFTemplate(dir string) (*modelTemplate, error) {
	m := &modelTemplate{tokens: chat.NewDict()}
	cfgPath := filepath.Join(dir, "tokenizer_config.json")
	var cfg *chat.Dict
	if data, err := os.ReadFile(cfgPath); err == nil {
		v, err := chat.ParseJSON(data)
		if err != nil {
			return nil, fmt.Errorf("template: %s: not valid JSON: %w", cfgPath, err)
		}
		d, ok := v.(*chat.Dict)
		if !ok {
			return nil, fmt.Errorf("template: %s: want a JSON object, got %s", cfgPath, jsonKind(v))
		}
		cfg = d
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("template: %w", err)
	}
	if cfg != nil {
		if err := addSpecialTokens(m.tokens, cfg, cfgPath); err != nil {
			return nil, err
		}
		if v, ok := cfg.GetStr("chat_template"); ok {
			src, err := pickTemplate(v, cfgPath)
			if err != nil {
				return nil, err
			}
			m.template = src
		}
	}
	mapPath := filepath.Join(dir, "special_tokens_map.json")
	if data, err := os.ReadFile(mapPath); err == nil {
		v, err := chat.ParseJSON(data)
		if err != nil {
			return nil, fmt.Errorf("template: %s: not valid JSON: %w", mapPath, err)
		}
		if d, ok := v.(*chat.Dict); ok {
			extra := chat.NewDict()
			if err := addSpecialTokens(extra, d, mapPath); err != nil {
				return nil, err
			}
			for i, k := range extra.Keys() {
				if _, ok := m.tokens.Get(k); !ok {
					_ = m.tokens.Set(k, extra.Values()[i])
				}
			}
		}
	}
	jinjaPath := filepath.Join(dir, "chat_template.jinja")
	if data, err := os.ReadFile(jinjaPath); err == nil {
		m.template = string(data)
	}
	if cfg == nil && m.template == "" {
		return nil, fmt.Errorf("template: %s: no tokenizer_config.json or chat_template.jinja in the folder", dir)
	}
	return m, nil
}

// pickTemplate reads tokenizer_config.json's chat_template: a string, or a
// list of {name, template} of which "default" is used.
func pickTemplate(v chat.Value, file string) (string, error) {
	switch x := v.(type) {
	case chat.Str:
		return string(x), nil
	case chat.NoneType:
		return "", nil
	case chat.List:
		var names []string
		for _, e := range x {
			d, ok := e.(*chat.Dict)
			if !ok {
				return "", fmt.Errorf("template: %s: chat_template list items must be {name, template} objects", file)
			}
			name, _ := d.GetStr("name")
			tmpl, _ := d.GetStr("template")
			ns, _ := name.(chat.Str)
			ts, ok := tmpl.(chat.Str)
			if !ok {
				return "", fmt.Errorf("template: %s: chat_template %q has no string \"template\"", file, string(ns))
			}
			if ns == "default" {
				return string(ts), nil
			}
			names = append(names, string(ns))
		}
		return "", fmt.Errorf("template: %s: chat_template has no \"default\" entry (has %s); use --chat-template", file, strings.Join(names, ", "))
	}
	return "", fmt.Errorf("template: %s: chat_template must be a string or a list of {name, template}", file)
}

// tokenContent reads a special token: a string or an AddedToken object
// with "content".
func tokenContent(v chat.Value) (chat.Value, bool) {
	switch x := v.(type) {
	case chat.Str:
		return x, true
	case *chat.Dict:
		if c, ok := x.GetStr("content"); ok {
			if s, ok := c.(chat.Str); ok {
				return s, true
			}
		}
	}
	return nil, false
}

// addSpecialTokens copies the special tokens set in cfg into dst.
func addSpecialTokens(dst, cfg *chat.Dict, file string) error {
	for _, key := range specialTokenKeys {
		v, ok := cfg.GetStr(key)
		if !ok {
			continue
		}
		if _, isNone := v.(chat.NoneType); isNone {
			continue
		}
		if key == "additional_special_tokens" {
			list, ok := v.(chat.List)
			if !ok {
				return fmt.Errorf("template: %s: additional_special_tokens must be a list", file)
			}
			out := chat.List{}
			for _, e := range list {
				s, ok := tokenContent(e)
				if !ok {
					return fmt.Errorf("template: %s: additional_special_tokens: want strings or {\"content\": ...} objects", file)
				}
				out = append(out, s)
			}
			dst.SetStr(key, out)
			continue
		}
		s, ok := tokenContent(v)
		if !ok {
			return fmt.Errorf("template: %s: %s: want a string or an object with \"content\"", file, key)
		}
		dst.SetStr(key, s)
	}
	return nil
}

// ggufTokenKeys map GGUF token-id metadata to template variables.
var ggufTokenKeys = []struct{ meta, name string }{
	{"tokenizer.ggml.bos_token_id", "bos_token"},
	{"tokenizer.ggml.eos_token_id", "eos_token"},
	{"tokenizer.ggml.unknown_token_id", "unk_token"},
	{"tokenizer.ggml.seperator_token_id", "sep_token"},
	{"tokenizer.ggml.padding_token_id", "pad_token"},
}

// loadGGUFTemplate reads tokenizer.chat_template and the special tokens
// from a GGUF file's metadata.
func loadGGUFTemplate(path string) (*modelTemplate, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	defer f.Close()
	m := &modelTemplate{tokens: chat.NewDict()}
	if f.Has("tokenizer.chat_template") {
		if m.template, err = f.String("tokenizer.chat_template"); err != nil {
			return nil, fmt.Errorf("template: %w", err)
		}
	}
	var vocab []string
	for _, k := range ggufTokenKeys {
		if !f.Has(k.meta) {
			continue
		}
		id, err := f.Uint(k.meta)
		if err != nil {
			return nil, fmt.Errorf("template: %w", err)
		}
		if vocab == nil {
			if vocab, err = f.Strings("tokenizer.ggml.tokens"); err != nil {
				return nil, fmt.Errorf("template: %w", err)
			}
		}
		if id >= uint64(len(vocab)) {
			return nil, fmt.Errorf("template: %s: %s = %d is outside tokenizer.ggml.tokens (%d tokens)", path, k.meta, id, len(vocab))
		}
		m.tokens.SetStr(k.name, chat.Str(vocab[id]))
	}
	return m, nil
}
