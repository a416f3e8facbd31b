package convert

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
)

// hfCopy makes a folder holding gocoder's HF files (symlinked), with the
// given files written over them.
func hfCopy(t *testing.T, files map[string]string) string {
	t.Helper()
	src := fixtures.Path(t, "models", "gocoder", "hf")
	dir := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := files[e.Name()]; !ok {
			if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	for name, text := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// edited returns gocoder's file name with the JSON edits applied.
func edited(t *testing.T, name string, edit func(m map[string]any)) string {
	t.Helper()
	b, err := os.ReadFile(fixtures.Path(t, "models", "gocoder", "hf", name))
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}

func kv(t *testing.T, m *Model, key string) any {
	t.Helper()
	v, ok := m.Get(key)
	if !ok {
		return nil
	}
	return v.GoValue()
}

// TestVocabulary checks the converter's vocabulary rules beyond gocoder's
// plain case: chat templates from each of their homes, added tokens that
// are not special, ids past the tokenizer padded, add_prefix_space for
// Llama-family models, and the errors for vocabularies memfit does not
// convert.
func TestVocabulary(t *testing.T) {
	const tmpl = "{% for m in messages %}{{ m.content }}{% endfor %}"
	t.Run("chat template in tokenizer_config", func(t *testing.T) {
		dir := hfCopy(t, map[string]string{"tokenizer_config.json": edited(t, "tokenizer_config.json", func(m map[string]any) {
			m["chat_template"] = tmpl
			m["add_prefix_space"] = false
		})})
		m, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if got := kv(t, m, "tokenizer.chat_template"); got != tmpl {
			t.Errorf("tokenizer.chat_template = %v", got)
		}
		if got := kv(t, m, "tokenizer.ggml.add_space_prefix"); got != false {
			t.Errorf("tokenizer.ggml.add_space_prefix = %v, want false (llama family)", got)
		}
	})
	t.Run("chat_template.jinja with additional templates", func(t *testing.T) {
		dir := hfCopy(t, map[string]string{"chat_template.jinja": tmpl, "additional_chat_templates/tool-use.jinja": "{{ tools }}"})
		m, err := Open(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if got := kv(t, m, "tokenizer.chat_template"); got != tmpl {
			t.Errorf("tokenizer.chat_template = %v", got)
		}
		if got := kv(t, m, "tokenizer.chat_template.tool_use"); got != "{{ tools }}" {
			t.Errorf("tokenizer.chat_template.tool_use = %v", got)
		}
		if got, ok := m.Get("tokenizer.chat_templates"); !ok {
			t.Error("no tokenizer.chat_templates")
		} else if a, _ := got.Array(); a == nil {
			t.Error("tokenizer.chat_templates is not an array")
		} else if s, _ := a.Strings(); strings.Join(s, ",") != "tool_use" {
			t.Errorf("tokenizer.chat_templates = %v", s)
		}
	})
	t.Run("added tokens and padding", func(t *testing.T) {
		dir := hfCopy(t, map[string]string{
			"tokenizer.json": edited(t, "tokenizer.json", func(m map[string]any) {
				m["added_tokens"] = append(m["added_tokens"].([]any),
					map[string]any{"id": 2046, "content": "<file_sep>", "special": false, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false},
					map[string]any{"id": 2047, "content": "▁TODO", "special": false, "normalized": false, "lstrip": false, "rstrip": false, "single_word": false})
			}),
		})
		h := &hparams{m: map[string]any{"vocab_size": json.Number("2050")}}
		v, err := readVocab(dir, h, true)
		if err != nil {
			t.Fatal(err)
		}
		if len(v.tokens) != 2050 || v.tokens[2048] != "[PAD2048]" || v.types[2049] != tokUnused {
			t.Errorf("%d tokens, %q type %d", len(v.tokens), v.tokens[2048], v.types[2049])
		}
		if v.tokens[0] != "<|bos|>" || v.types[0] != tokControl || v.types[5] != tokNormal {
			t.Errorf("token 0 %q type %d, token 5 type %d", v.tokens[0], v.types[0], v.types[5])
		}
		if v.types[2046] != tokUserDefined || v.tokens[2047] != " TODO" || v.types[2047] != tokUserDefined {
			t.Errorf("added tokens: %q type %d, %q type %d", v.tokens[2046], v.types[2046], v.tokens[2047], v.types[2047])
		}
		var l kvList
		v.write(&l)
		if !l.has("tokenizer.ggml.merges") || !l.has("tokenizer.ggml.bos_token_id") {
			t.Errorf("keys %v", l.kvs)
		}
	})
	bad := []struct {
		name  string
		files map[string]string
		msg   string
	}{
		{"SentencePiece", map[string]string{"tokenizer.model": "\x0a\x03abc"}, "SentencePiece"},
		{"WordPiece", map[string]string{"tokenizer.json": edited(t, "tokenizer.json", func(m map[string]any) {
			m["model"].(map[string]any)["type"] = "WordPiece"
		})}, "byte-level BPE"},
		{"not byte-level", map[string]string{"tokenizer.json": edited(t, "tokenizer.json", func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "Whitespace"}
			m["decoder"] = map[string]any{"type": "Fuse"}
		})}, "not a byte-level BPE"},
		{"unknown pre-tokenizer", map[string]string{"tokenizer.json": edited(t, "tokenizer.json", func(m map[string]any) {
			m["pre_tokenizer"] = map[string]any{"type": "Sequence", "pretokenizers": []any{
				map[string]any{"type": "Split", "pattern": map[string]any{"Regex": "[0-9]+|[^0-9]+"}, "behavior": "Isolated", "invert": false},
				map[string]any{"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": false},
			}}
		})}, "not one llama.cpp knows"},
		{"ids past vocab_size", map[string]string{"config.json": edited(t, "config.json", func(m map[string]any) {
			m["vocab_size"] = 1000
		})}, "not below vocab_size"},
		{"no tokenizer.json", map[string]string{"tokenizer.json": ""}, "tokenizer.json"},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			dir := hfCopy(t, tc.files)
			if tc.name == "no tokenizer.json" {
				os.Remove(filepath.Join(dir, "tokenizer.json"))
			}
			m, err := Open(dir)
			if err == nil {
				m.Close()
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("error %q does not mention %q", err, tc.msg)
			}
		})
	}
}
