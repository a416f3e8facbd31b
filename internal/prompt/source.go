// Package prompt turns a conversation into the prompt a model expects: it
// finds the model's chat template and special tokens (Hugging Face folder
// or GGUF metadata) and renders messages and tools with the chat package's
// transformers-exact Jinja engine.
package prompt

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/memfit/memfit/internal/chat"
	"github.com/memfit/memfit/internal/gguf"
)

// specialTokenKeys are transformers' SPECIAL_TOKENS_ATTRIBUTES, in order.
var specialTokenKeys = []string{"bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token", "additional_special_tokens"}

// Source is a model's chat template source and special tokens.
type Source struct {
	// Template is the Jinja source; "" when the model has none.
	Template string
	// Tokens are the special tokens the template sees (bos_token,
	// eos_token, ...), in transformers' order.
	Tokens *chat.Dict
}

// Load reads the chat template and special tokens of a Hugging Face folder
// (chat_template.jinja, or chat_template in tokenizer_config.json, with
// special_tokens_map.json) or a GGUF file (tokenizer.chat_template and the
// tokenizer.ggml.*_token_id metadata).
func Load(path string) (*Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("template: model: %w", err)
	}
	if !st.IsDir() {
		if IsGGUF(path) {
			return loadGGUFTemplate(path)
		}
		return nil, fmt.Errorf("template: model %s: want a Hugging Face folder or a GGUF file", path)
	}
	return loadHFTemplate(path)
}

// IsGGUF reports whether path is a file starting with the GGUF magic.
func IsGGUF(path string) bool {
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
func loadHFTemplate(dir string) (*Source, error) {
	m := &Source{Tokens: chat.NewDict()}
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
		if err := addSpecialTokens(m.Tokens, cfg, cfgPath); err != nil {
			return nil, err
		}
		if v, ok := cfg.GetStr("chat_template"); ok {
			src, err := pickTemplate(v, cfgPath)
			if err != nil {
				return nil, err
			}
			m.Template = src
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
				if _, ok := m.Tokens.Get(k); !ok {
					_ = m.Tokens.Set(k, extra.Values()[i])
				}
			}
		}
	}
	jinjaPath := filepath.Join(dir, "chat_template.jinja")
	if data, err := os.ReadFile(jinjaPath); err == nil {
		m.Template = string(data)
	}
	if cfg == nil && m.Template == "" {
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
func loadGGUFTemplate(path string) (*Source, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	defer f.Close()
	m := &Source{Tokens: chat.NewDict()}
	if f.Has("tokenizer.chat_template") {
		if m.Template, err = f.String("tokenizer.chat_template"); err != nil {
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
		m.Tokens.SetStr(k.name, chat.Str(vocab[id]))
	}
	return m, nil
}

// jsonKind names the JSON type of v for errors.
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
