package toolcall

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		format  Format
		text    string
		content string
		calls   []Call
	}{
		{"hermes one", Hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>",
			"", []Call{{"get_weather", `{"city":"Paris"}`}}},
		{"hermes with content and two calls", Hermes,
			"Let me check.\n<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n<tool_call>\n{\"name\": \"b\", \"arguments\": {\"x\": [1, 2]}}\n</tool_call>",
			"Let me check.", []Call{{"a", `{}`}, {"b", `{"x":[1,2]}`}}},
		{"hermes unclosed at the end", Hermes, "<tool_call>\n{\"name\": \"a\", \"arguments\": {\"q\": \"x\"}}",
			"", []Call{{"a", `{"q":"x"}`}}},
		{"hermes string arguments", Hermes, "<tool_call>{\"name\": \"a\", \"arguments\": \"{\\\"q\\\": 1}\"}</tool_call>",
			"", []Call{{"a", `{"q":1}`}}},
		{"hermes invalid json stays content", Hermes, "<tool_call>{\"name\": \"a\", </tool_call>",
			"<tool_call>{\"name\": \"a\", </tool_call>", nil},
		{"hermes no name stays content", Hermes, "<tool_call>{\"arguments\": {}}</tool_call>",
			"<tool_call>{\"arguments\": {}}</tool_call>", nil},
		{"hermes plain text", Hermes, "just text", "just text", nil},
		{"llama3", Llama3, `{"name": "get_weather", "parameters": {"city": "Paris"}}`,
			"", []Call{{"get_weather", `{"city":"Paris"}`}}},
		{"llama3 python tag", Llama3, `<|python_tag|>{"name": "f", "parameters": {}}`, "", []Call{{"f", `{}`}}},
		{"llama3 two", Llama3, `{"name": "f", "parameters": {}}; {"name": "g", "parameters": {"a": 1}}`,
			"", []Call{{"f", `{}`}, {"g", `{"a":1}`}}},
		{"llama3 text", Llama3, "The weather is fine.", "The weather is fine.", nil},
		{"llama3 json that is not a call", Llama3, `{"answer": 42}`, `{"answer": 42}`, nil},
		{"llama3 trailing text", Llama3, `{"name": "f", "parameters": {}} and more`, `{"name": "f", "parameters": {}} and more`, nil},
		{"mistral", MistralV1, `[TOOL_CALLS][{"name": "f", "arguments": {"a": "b"}}]`, "", []Call{{"f", `{"a":"b"}`}}},
		{"none", None, "<tool_call>{\"name\": \"a\"}</tool_call>", "<tool_call>{\"name\": \"a\"}</tool_call>", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content, calls := Parse(tt.format, tt.text)
			if content != tt.content || !reflect.DeepEqual(calls, tt.calls) {
				t.Errorf("Parse(%v, %q) = %q, %v; want %q, %v", tt.format, tt.text, content, calls, tt.content, tt.calls)
			}
		})
	}
}

// TestDetect reads real templates from the fixtures.
func TestDetect(t *testing.T) {
	dir := fixtures.Path(t, "chat", "templates")
	tests := []struct {
		file string
		want Format
	}{
		{"Qwen-Qwen3-0.6B.jinja", Hermes},
		{"Qwen-Qwen2.5-7B-Instruct.jinja", Hermes},
		{"NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", Hermes},
		{"meta-llama-Llama-3.1-8B-Instruct.jinja", Llama3},
		{"Mistral-Small-3.2-24B-Instruct-2506.jinja", MistralV1},
	}
	for _, tt := range tests {
		b, err := os.ReadFile(filepath.Join(dir, tt.file))
		if err != nil {
			t.Fatal(err)
		}
		if got := Detect(string(b)); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.file, got, tt.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("<tool_call>{\"name\": \"a\", \"arguments\": {}}</tool_call>")
	f.Add(`{"name": "f", "parameters": {}}; {"name": "g"}`)
	f.Add(`[TOOL_CALLS][{"name": "f", "arguments": {}}]`)
	f.Fuzz(func(t *testing.T, s string) {
		for _, fm := range []Format{None, Hermes, Llama3, MistralV1} {
			content, calls := Parse(fm, s)
			if len(calls) == 0 && content != s {
				t.Fatalf("%v: no calls but content %q differs from the text %q", fm, content, s)
			}
			for _, c := range calls {
				if c.Name == "" || len(c.Arguments) == 0 || c.Arguments[0] != '{' {
					t.Fatalf("%v: bad call %+v from %q", fm, c, s)
				}
			}
		}
	})
}
