package prompt

import (
	"fmt"
	"os"

	"github.com/memfit/memfit/internal/chat"
)

// Template is a compiled chat template with the special tokens it sees. It
// is safe for concurrent use.
type Template struct {
	// Source is the template text and special tokens it was compiled from.
	Source *Source
	tmpl   *chat.Template
}

// Compile compiles src's template; src.Template must not be empty.
func Compile(src *Source) (*Template, error) {
	if src.Template == "" {
		return nil, fmt.Errorf("no chat template")
	}
	t, err := chat.Compile(src.Template)
	if err != nil {
		return nil, fmt.Errorf("compiling the chat template: %w", err)
	}
	return &Template{Source: src, tmpl: t}, nil
}

// ForModel returns the chat template of the model at path, or of file when
// file is not empty (its special tokens still come from the model). It
// returns an error naming the model when neither gives a template.
func ForModel(path, file string) (*Template, error) {
	src, err := Load(path)
	if err != nil {
		return nil, err
	}
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("chat template: %w", err)
		}
		src.Template = string(b)
	}
	if src.Template == "" {
		return nil, fmt.Errorf("model %s has no chat template (give one with --chat-template FILE)", path)
	}
	return Compile(src)
}

// Render renders in with the template's special tokens (in.SpecialTokens,
// when set, take their place).
func (t *Template) Render(in chat.ChatInput) (string, error) {
	if in.SpecialTokens == nil {
		in.SpecialTokens = t.Source.Tokens
	}
	if in.Messages == nil {
		in.Messages = chat.List{}
	}
	s, err := t.tmpl.RenderChat(in)
	if err != nil {
		return "", fmt.Errorf("rendering the chat template: %w", err)
	}
	return s, nil
}
