package chat

import (
	"time"
)

// ChatInput is what transformers' apply_chat_template(..., tokenize=False)
// passes to a chat template.
type ChatInput struct {
	// Messages is the conversation: a List of message dicts.
	Messages Value
	// Tools is the list of tool JSON schemas; nil means None (still defined).
	Tools Value
	// Documents is the list of RAG documents; nil means None.
	Documents Value
	// AddGenerationPrompt asks the template to open an assistant turn.
	AddGenerationPrompt bool
	// SpecialTokens are the tokenizer's special tokens (bos_token,
	// eos_token, unk_token, pad_token, ..., additional_special_tokens), in
	// order; tokens the tokenizer does not set are left out (undefined).
	SpecialTokens *Dict
	// Kwargs are extra template variables (e.g. enable_thinking); they
	// override the special tokens and the fields above.
	Kwargs *Dict
	// Now is the clock strftime_now() reads; nil means time.Now.
	Now func() time.Time
	// Limits bound the render; zero fields take DefaultLimits.
	Limits Limits
}

// Vars returns the template variables for in, exactly as transformers
// passes them: messages, tools, documents, add_generation_prompt, then the
// special tokens, then the extra kwargs.
func (in ChatInput) Vars() map[string]Value {
	orNone := func(v Value) Value {
		if v == nil {
			return None
		}
		return v
	}
	vars := map[string]Value{
		"messages":              orNone(in.Messages),
		"tools":                 orNone(in.Tools),
		"documents":             orNone(in.Documents),
		"add_generation_prompt": Bool(in.AddGenerationPrompt),
	}
	for _, d := range []*Dict{in.SpecialTokens, in.Kwargs} {
		if d == nil {
			continue
		}
		for i, k := range d.keys {
			if ks, ok := isString(k); ok {
				vars[ks] = d.vals[i]
			}
		}
	}
	return vars
}

// RenderChat renders a conversation the way apply_chat_template does.
func (t *Template) RenderChat(in ChatInput) (string, error) {
	return t.RenderOptions(in.Vars(), Options{Now: in.Now, Limits: in.Limits})
}

// FixedClock returns a clock that always reads t (for strftime_now).
func FixedClock(t time.Time) func() time.Time {
	return func() time.Time { return t }
}
