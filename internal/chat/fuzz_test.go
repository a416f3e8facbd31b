package chat

import (
	"bytes"
	"encoding/json"
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

// FuzzParseJSON checks the decoder of --messages, --tools and --kwargs
// and of tokenizer_config.json: it never panics, accepts exactly what
// encoding/json accepts (short of its nesting and integer size limits),
// and a decoded value printed with tojson decodes to the same value.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{
		`[{"role": "user", "content": "hi"}, {"role": "assistant", "content": null}]`,
		`{"a": 1, "b": 1.0, "a": 2, "c": [true, false, null]}`, `123456789012345678901234567890`,
		`-0.0`, `1e400`, `"\ud800 \u00e9 \u2028"`, `[[[[]]]]`, `{}`, ``, ` `, `{`, `[1,]`, `01`, `NaN`,
		`{"x": 1} {"y": 2}`, `"\x00"`,
	} {
		f.Add([]byte(s))
	}
	tmpl, err := Compile("{{ v | tojson }}")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := ParseJSON(data)
		limited := bytes.Count(data, []byte("["))+bytes.Count(data, []byte("{")) > maxJSONDepth ||
			len(data) > 19_000 // long enough to hold an integer past maxIntBits
		if err == nil && !json.Valid(data) {
			t.Fatalf("ParseJSON accepted invalid JSON %q", data)
		}
		if err != nil {
			if json.Valid(data) && !limited {
				t.Fatalf("ParseJSON(%q): %v, but it is valid JSON", data, err)
			}
			return
		}
		out, err := tmpl.Render(map[string]Value{"v": v})
		if err != nil {
			t.Fatalf("tojson of %q: %v", data, err)
		}
		if strings.Contains(out, "Infinity") || strings.Contains(out, "NaN") {
			return // Python's json.dumps writes non-finite floats that are not JSON
		}
		v2, err := ParseJSON([]byte(out))
		if err != nil {
			t.Fatalf("tojson of %q gave %q, which does not decode: %v", data, out, err)
		}
		out2, err := tmpl.Render(map[string]Value{"v": v2})
		if err != nil || out2 != out {
			t.Fatalf("tojson of %q: %q, then %q, %v", data, out, out2, err)
		}
	})
}
