package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
)

// TestTokenizeCommand checks tokenize and detokenize on a tokenizer-only
// folder, an HF model folder and a GGUF file, single and batch.
func TestTokenizeCommand(t *testing.T) {
	mistral := fixtures.Path(t, "tokenizers", "mistral")
	gocoderHF := fixtures.Path(t, "models", "gocoder", "hf")
	gocoderGGUF := fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf")
	tests := []struct {
		name   string
		args   []string
		ids    []int32
		pieces []string
	}{
		{"mistral", []string{"-m", mistral, "--text", "Hello world"}, []int32{22557, 1526}, []string{"▁Hello", "▁world"}},
		{"mistral special", []string{"-m", mistral, "--text", "Hello", "--special"}, []int32{1, 22557}, []string{"<s>", "▁Hello"}},
		{"mistral literal special", []string{"-m", mistral, "--text", "<s>"}, []int32{1}, []string{"<s>"}},
		{"gocoder hf", []string{"-m", gocoderHF, "--text", "package main\n\nimport (", "--special"}, []int32{0, 929, 323, 602, 200, 200, 927, 312}, nil},
		{"gocoder gguf", []string{"-m", gocoderGGUF, "--text", "package main\n\nimport (", "--special"}, []int32{0, 929, 323, 602, 200, 200, 927, 312}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, errText, code := runCLI(t, append([]string{"tokenize"}, tc.args...)...)
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errText)
			}
			var got tokenizeOutput
			if err := json.Unmarshal([]byte(out), &got); err != nil {
				t.Fatalf("output %q: %v", out, err)
			}
			if !slices.Equal(got.IDs, tc.ids) {
				t.Errorf("ids = %v, want %v", got.IDs, tc.ids)
			}
			if tc.pieces != nil && !slices.Equal(got.Pieces, tc.pieces) {
				t.Errorf("pieces = %q, want %q", got.Pieces, tc.pieces)
			}
			if len(got.Pieces) != len(got.IDs) {
				t.Errorf("%d pieces for %d ids", len(got.Pieces), len(got.IDs))
			}
			// Decoding the ids gives the text back (minus the BOS).
			ids := make([]string, len(got.IDs))
			for i, id := range got.IDs {
				ids[i] = idString(id)
			}
			model := tc.args[1]
			dout, errText, code := runCLI(t, "detokenize", "-m", model, "--ids", strings.Join(ids, ","), "--skip-special")
			if code != 0 {
				t.Fatalf("detokenize exit %d: %s", code, errText)
			}
			var dec detokenizeOutput
			if err := json.Unmarshal([]byte(dout), &dec); err != nil {
				t.Fatal(err)
			}
			if want := tc.args[3]; dec.Text != want && !(tc.name == "mistral literal special" && dec.Text == "") {
				t.Errorf("detokenize = %q, want %q", dec.Text, want)
			}
		})
	}
}

func idString(id int32) string {
	b, _ := json.Marshal(id)
	return string(b)
}

// TestTokenizeBatch checks --batch for both commands: one output line per
// input line, per-line options, blank lines skipped.
func TestTokenizeBatch(t *testing.T) {
	dir := t.TempDir()
	model := fixtures.Path(t, "tokenizers", "gemma3")
	in := filepath.Join(dir, "in.jsonl")
	if err := os.WriteFile(in, []byte("{\"text\": \"Hello\"}\n\n{\"text\": \"Hello\", \"special\": true}\n{\"text\": \"\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errText, code := runCLI(t, "tokenize", "-m", model, "--batch", in)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errText)
	}
	want := []string{`{"ids":[9259],"pieces":["Hello"]}`, `{"ids":[2,9259],"pieces":["<bos>","Hello"]}`, `{"ids":[],"pieces":[]}`}
	if got := strings.Split(strings.TrimSpace(out), "\n"); !slices.Equal(got, want) {
		t.Errorf("tokenize --batch:\n got %q\nwant %q", got, want)
	}
	din := filepath.Join(dir, "ids.jsonl")
	if err := os.WriteFile(din, []byte("{\"ids\": [2, 9259]}\n{\"ids\": [2, 9259], \"skip_special\": true}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errText, code = runCLI(t, "detokenize", "-m", model, "--batch", din)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errText)
	}
	want = []string{`{"text":"<bos>Hello"}`, `{"text":"Hello"}`}
	if got := strings.Split(strings.TrimSpace(out), "\n"); !slices.Equal(got, want) {
		t.Errorf("detokenize --batch:\n got %q\nwant %q", got, want)
	}
}

// TestTokenizeErrors checks bad flags (exit 2) and bad input (exit 1).
func TestTokenizeErrors(t *testing.T) {
	dir := t.TempDir()
	model := fixtures.Path(t, "tokenizers", "mistral")
	badLine := filepath.Join(dir, "bad.jsonl")
	if err := os.WriteFile(badLine, []byte("{\"text\": \"ok\"}\n{\"text\": 3}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	badIDs := filepath.Join(dir, "badids.jsonl")
	if err := os.WriteFile(badIDs, []byte("{\"ids\": [1, 99999]}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no model", []string{"tokenize", "--text", "x"}, 2, "--model"},
		{"no text", []string{"tokenize", "-m", model}, 2, "exactly one of --text"},
		{"text and batch", []string{"tokenize", "-m", model, "--text", "x", "--batch", badLine}, 2, "exactly one of --text"},
		{"unknown flag", []string{"tokenize", "-m", model, "--txt", "x"}, 2, "unknown flag"},
		{"bad model", []string{"tokenize", "-m", filepath.Join(dir, "nope"), "--text", "x"}, 1, "no such file"},
		{"bad batch line", []string{"tokenize", "-m", model, "--batch", badLine}, 1, "bad.jsonl:2"},
		{"missing batch", []string{"tokenize", "-m", model, "--batch", filepath.Join(dir, "none.jsonl")}, 1, "none.jsonl"},
		{"no ids", []string{"detokenize", "-m", model}, 2, "exactly one of --ids"},
		{"bad id", []string{"detokenize", "-m", model, "--ids", "1,x"}, 2, `"x" is not a token id`},
		{"id out of range", []string{"detokenize", "-m", model, "--ids", "1,32000"}, 2, "out of range [0, 32000)"},
		{"batch id out of range", []string{"detokenize", "-m", model, "--batch", badIDs}, 1, "badids.jsonl:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errText, code := runCLI(t, tc.args...)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errText)
			}
			if !strings.Contains(errText, tc.want) {
				t.Errorf("stderr %q does not mention %q", errText, tc.want)
			}
		})
	}
}
