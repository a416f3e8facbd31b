package main

import (
	"bytes"
	"encoding/json"
	"io"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/memfit/memfit/internal/fixtures"
)

// runCLI runs `memfit <args>` in-process and returns stdout, stderr and the
// exit code. Every command's flags are reset first, since cobra keeps flag
// values between Execute calls.
func runCLI(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var reset func(c *cobra.Command)
	reset = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if sv, ok := f.Value.(pflag.SliceValue); ok {
				_ = sv.Replace(nil)
			} else {
				_ = f.Value.Set(f.DefValue)
			}
			f.Changed = false
		})
		for _, sub := range c.Commands() {
			reset(sub)
		}
	}
	reset(rootCmd)
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

func TestEveryCommandHasHelp(t *testing.T) {
	for _, c := range rootCmd.Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue
		}
		t.Run(c.Name(), func(t *testing.T) {
			out, _, code := runCLI(t, c.Name(), "--help")
			if code != exitOK || !strings.Contains(out, "Usage:") || !strings.Contains(out, "memfit "+c.Name()) || !strings.Contains(out, "Examples:") {
				t.Errorf("%s --help: exit %d, output %q", c.Name(), code, out)
			}
		})
	}
}

func TestExitCodes(t *testing.T) {
	llama := fixtures.Path(t, "archs", "llama", "hf")
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"no-such-command"}, exitUsage, "unknown command"},
		{[]string{"logits", "--tokens", "1"}, exitUsage, "--model"},
		{[]string{"logits", "-m", llama}, exitUsage, "exactly one"},
		{[]string{"logits", "-m", llama, "--tokens", "1,x"}, exitUsage, `"x" is not a token id`},
		{[]string{"logits", "-m", llama, "--tokens", "1", "--bogus"}, exitUsage, "unknown flag"},
		{[]string{"logits", "-m", llama, "--tokens", "1", "extra"}, exitUsage, "unknown command"},
		{[]string{"logits", "-m", llama, "--tokens", "99999"}, exitError, "outside the vocabulary"},
		{[]string{"logits", "-m", "/nonexistent/model", "--tokens", "1"}, exitError, "/nonexistent/model"},
		{[]string{"perplexity", "-m", llama, "-f", "/nonexistent/text", "--ctx", "8"}, exitError, "/nonexistent/text"},
		{[]string{"perplexity", "-m", llama, "--ctx", "8"}, exitUsage, "--file"},
		{[]string{"inspect"}, exitUsage, "--model"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, errText, code := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(errText, tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, errText, tc.code, tc.msg)
			}
		})
	}
}

// TestLogitsCommand checks the JSON of memfit logits against an
// architecture fixture.
func TestLogitsCommand(t *testing.T) {
	dir := fixtures.Path(t, "archs", "qwen3")
	var exp struct {
		Tokens []int32     `json:"tokens"`
		Logits [][]float64 `json:"logits"`
	}
	b, err := os.ReadFile(dir + "/expected.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	ids := make([]string, len(exp.Tokens))
	for i, id := range exp.Tokens {
		ids[i] = itoa(int(id))
	}
	for _, all := range []bool{false, true} {
		args := []string{"logits", "-m", dir + "/qwen3.f32.gguf", "--tokens", strings.Join(ids, ",")}
		if all {
			args = append(args, "--all-positions")
		}
		out, errText, code := runCLI(t, args...)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errText)
		}
		var got struct {
			Tokens []int32     `json:"tokens"`
			Logits [][]float64 `json:"logits"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("output is not JSON: %v", err)
		}
		want := exp.Logits[len(exp.Logits)-1:]
		if all {
			want = exp.Logits
		}
		if len(got.Tokens) != len(exp.Tokens) || len(got.Logits) != len(want) {
			t.Fatalf("all=%v: %d tokens, %d rows", all, len(got.Tokens), len(got.Logits))
		}
		for p := range want {
			for i := range want[p] {
				if d := math.Abs(got.Logits[p][i] - want[p][i]); d > 1e-4 {
					t.Fatalf("all=%v: row %d logit %d: %v, want %v", all, p, i, got.Logits[p][i], want[p][i])
				}
			}
		}
	}
}

func TestInspectCommand(t *testing.T) {
	for _, path := range []string{
		fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"),
		fixtures.Path(t, "models", "gocoder", "hf"),
	} {
		out, errText, code := runCLI(t, "inspect", "-m", path)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, errText)
		}
		var got struct {
			Format string `json:"format"`
			Spec   struct {
				Arch   string `json:"arch"`
				Hidden int    `json:"hidden"`
			} `json:"spec"`
			Tensors []struct {
				Name string `json:"name"`
			} `json:"tensors"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatal(err)
		}
		if got.Spec.Arch != "llama" || got.Spec.Hidden != 256 || len(got.Tensors) != 39 {
			t.Errorf("%s: format %s, spec %+v, %d tensors", path, got.Format, got.Spec, len(got.Tensors))
		}
	}
}

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}
