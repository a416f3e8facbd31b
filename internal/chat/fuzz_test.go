package chat

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
)

// fuzzVars is a small conversation every fuzzed template renders with.
func fuzzVars(t testing.TB) map[string]Value {
	t.Helper()
	msgs, err := ParseJSON([]byte(`[
		{"role": "system", "content": "sys"},
		{"role": "user", "content": "hi {{ x }} é 😀"},
		{"role": "assistant", "content": "", "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": {"x": 1, "y": [1.5, null]}}}]},
		{"role": "tool", "tool_call_id": "call_1", "name": "f", "content": "42"},
		{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "u2"}]}
	]`))
	if err != nil {
		t.Fatal(err)
	}
	tools, err := ParseJSON([]byte(`[{"type": "function", "function": {"name": "f", "description": "d", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}}}]`))
	if err != nil {
		t.Fatal(err)
	}
	return ChatInput{
		Messages:            msgs,
		Tools:               tools,
		AddGenerationPrompt: true,
		SpecialTokens:       dictOf("bos_token", Str("<s>"), "eos_token", Str("</s>")),
	}.Vars()
}

func dictOf(kv ...any) *Dict {
	d := NewDict()
	for i := 0; i+1 < len(kv); i += 2 {
		d.SetStr(kv[i].(string), kv[i+1].(Value))
	}
	return d
}

// FuzzCompileRender compiles and renders arbitrary template text: it must
// never panic or hang, must fail only with *Error, must stay inside the
// limits and must be deterministic. The seed corpus is every fixture
// template and probe plus testdata/fuzz/FuzzCompileRender.
func FuzzCompileRender(f *testing.F) {
	dir := fixtures.Path(f, "chat", "templates")
	entries, err := os.ReadDir(dir)
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".jinja") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	for _, p := range loadProbes(f) {
		f.Add(p.src)
	}
	vars := fuzzVars(f)
	opts := Options{
		Now:    FixedClock(fixedNow),
		Limits: Limits{MaxOutput: 1 << 20, MaxSteps: 200_000, MaxDepth: 40},
	}
	f.Fuzz(func(t *testing.T, src string) {
		tmpl, err := Compile(src)
		if err != nil {
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("compile error %T %v is not a *chat.Error", err, err)
			}
			return
		}
		out1, err1 := tmpl.RenderOptions(vars, opts)
		out2, err2 := tmpl.RenderOptions(vars, opts)
		if out1 != out2 || (err1 == nil) != (err2 == nil) || (err1 != nil && err1.Error() != err2.Error()) {
			t.Fatalf("render is not deterministic: %q/%v vs %q/%v", out1, err1, out2, err2)
		}
		if err1 != nil {
			var te *Error
			if !errors.As(err1, &te) {
				t.Fatalf("render error %T %v is not a *chat.Error", err1, err1)
			}
			if out1 != "" {
				t.Fatalf("failed render returned text %q", out1)
			}
			return
		}
		if len(out1) > opts.Limits.MaxOutput {
			t.Fatalf("output of %d bytes exceeds the %d byte limit", len(out1), opts.Limits.MaxOutput)
		}
	})
}
