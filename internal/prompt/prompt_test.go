package prompt

import (
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/chat"
	"github.com/memfit/memfit/internal/fixtures"
)

func TestForModel(t *testing.T) {
	msgs, err := chat.ParseJSON([]byte(`[{"role":"user","content":"Hi"}]`))
	if err != nil {
		t.Fatal(err)
	}
	qwen3 := fixtures.Path(t, "chat", "templates", "Qwen-Qwen3-0.6B.jinja")
	tests := []struct {
		name, model, file string
		want              []string // substrings of the rendering
		wantErr           string
	}{
		{"gguf with file", fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"), qwen3, []string{"<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"}, ""},
		{"hf with file", fixtures.Path(t, "models", "gocoder", "hf"), qwen3, []string{"<|im_start|>user\nHi"}, ""},
		{"no template", fixtures.Path(t, "models", "gocoder", "hf"), "", nil, "no chat template"},
		{"missing file", fixtures.Path(t, "models", "gocoder", "hf"), "/nonexistent.jinja", nil, "nonexistent.jinja"},
		{"missing model", "/nonexistent-model", "", nil, "nonexistent-model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := ForModel(tt.model, tt.file)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			out, err := tmpl.Render(chat.ChatInput{Messages: msgs, AddGenerationPrompt: true})
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("rendering %q lacks %q", out, w)
				}
			}
		})
	}
}

func TestLoadSpecialTokens(t *testing.T) {
	for _, path := range []string{
		fixtures.Path(t, "models", "gocoder", "hf"),
		fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"),
	} {
		src, err := Load(path)
		if err != nil {
			t.Fatal(err)
		}
		for key, want := range map[string]string{"bos_token": "<|bos|>", "eos_token": "<|eos|>"} {
			v, ok := src.Tokens.GetStr(key)
			if s, isStr := v.(chat.Str); !ok || !isStr || string(s) != want {
				t.Errorf("%s: %s = %v, want %q", path, key, v, want)
			}
		}
	}
}
