package main

import (
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
)

// TestRunGreedyReference checks `memfit run --temp 0 -n 48 --json` against
// greedy_ids of every reference prompt, from the HF folder and the bf16
// GGUF, with the prompt tokenized to exactly its ids.
func TestRunGreedyReference(t *testing.T) {
	b, err := os.ReadFile(fixtures.Path(t, "models", "gocoder", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Prompts []struct {
			Prompt    string  `json:"prompt"`
			IDs       []int32 `json:"ids"`
			GreedyIDs []int32 `json:"greedy_ids"`
		} `json:"prompts"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Prompts) == 0 {
		t.Fatal("no prompts")
	}
	for _, path := range []string{
		fixtures.Path(t, "models", "gocoder", "hf"),
		fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"),
	} {
		for _, p := range ref.Prompts {
			out, errText, code := runCLI(t, "run", "-m", path, "-p", p.Prompt, "--temp", "0", "-n", "48", "--json")
			if code != 0 {
				t.Fatalf("%s %q: exit %d: %s", path, p.Prompt, code, errText)
			}
			var got struct {
				PromptIDs []int32 `json:"prompt_ids"`
				IDs       []int32 `json:"ids"`
				Text      string  `json:"text"`
				Finish    string  `json:"finish_reason"`
			}
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("%s %q: output %q: %v", path, p.Prompt, out, err)
			}
			if !slices.Equal(got.PromptIDs, p.IDs) {
				t.Errorf("%s %q: prompt ids %v, want %v", path, p.Prompt, got.PromptIDs, p.IDs)
			}
			if !slices.Equal(got.IDs, p.GreedyIDs) {
				t.Errorf("%s %q: ids %v, want %v", path, p.Prompt, got.IDs, p.GreedyIDs)
			}
			if got.Finish != "length" {
				t.Errorf("%s %q: finish %q, want length", path, p.Prompt, got.Finish)
			}
		}
	}
}

// TestRunDemo runs the built-in demo model with no -m and checks that the
// output continues the prompt with Go-looking code.
func TestRunDemo(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	out, errText, code := runCLI(t, "run", "-p", "func main() {", "-n", "64", "--seed", "1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errText)
	}
	if !strings.HasPrefix(out, "func main() {") || len(out) < len("func main() {")+40 {
		t.Fatalf("output %q: want the prompt and at least 40 more bytes", out)
	}
	rest := out[len("func main() {"):]
	goish := 0
	for _, w := range []string{"\n\t", "(", ")", ":=", "return", "if ", "err", "}", ".", "nil", "func"} {
		if strings.Contains(rest, w) {
			goish++
		}
	}
	if goish < 5 {
		t.Errorf("output %q does not look like Go (%d of the Go markers)", out, goish)
	}
}

func TestRunBadFlags(t *testing.T) {
	model := fixtures.Path(t, "models", "gocoder", "hf")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "-m", model}, "--prompt"},
		{[]string{"run", "-m", model, "-p", "x", "-n", "-1"}, "--max-tokens"},
		{[]string{"run", "-m", model, "-p", "x", "--temp", "-1"}, "temperature"},
		{[]string{"run", "-m", model, "-p", "x", "--kv-type", "q4"}, "--kv-type"},
		{[]string{"run", "-m", model, "-p", "x", "--top-p", "2"}, "top_p"},
		{[]string{"run", "-m", model, "-p", "x", "--chat"}, "no chat template"},
		{[]string{"run", "-m", "/nonexistent", "-p", "x"}, "/nonexistent"},
		{[]string{"run", "-m", model, "-p", strings.Repeat("func ", 100), "--ctx", "32"}, "context"},
	}
	for _, tt := range tests {
		_, errText, code := runCLI(t, tt.args...)
		if code == 0 || !strings.Contains(errText, tt.want) {
			t.Errorf("%v: exit %d, stderr %q, want an error mentioning %q", tt.args, code, errText, tt.want)
		}
	}
}
