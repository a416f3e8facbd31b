package main

import (
	"bytes"
	"encoding/binary"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/gguf"
	"github.com/memfit/memfit/internal/tensor"
)

// TestQuantizeCommand quantizes gocoder's bf16 GGUF to Q4_K_M with the
// command and compares with llama-quantize's file; --dry-run and
// --list-types print what they say.
func TestQuantizeCommand(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "g.gguf")
	bf16 := fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf")
	_, errText, code := runCLI(t, "quantize", bf16, out, "--type", "q4_k_m", "--threads", "2")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errText)
	}
	if !strings.Contains(errText, "25 Q4_K, 9 F32, 5 Q6_K") {
		t.Errorf("summary %q does not count the types", errText)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(fixtures.Path(t, "models", "gocoder", "gocoder.Q4_K_M.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("memfit quantize output differs from llama-quantize's gocoder.Q4_K_M.gguf")
	}
	assertOnly(t, dir, "g.gguf")

	stdout, errText, code := runCLI(t, "quantize", bf16, filepath.Join(dir, "dry.gguf"), "--type", "Q4_K_M", "--dry-run")
	if code != exitOK || !strings.Contains(stdout, "blk.3.ffn_down.weight") || !strings.Contains(stdout, "BF16   -> Q6_K") || !strings.Contains(stdout, "39 tensors") {
		t.Errorf("--dry-run: exit %d, stdout %q, stderr %q", code, stdout, errText)
	}
	assertOnly(t, dir, "g.gguf")

	stdout, _, code = runCLI(t, "quantize", "--list-types")
	if code != exitOK || !strings.Contains(stdout, "IQ4_XS\n") || !strings.Contains(stdout, "Q5_K_S\n") {
		t.Errorf("--list-types: exit %d, %q", code, stdout)
	}
}

// assertOnly fails unless dir holds exactly the named files (no temporary
// file left behind).
func assertOnly(t *testing.T, dir string, names ...string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("%s holds %v, want %v", dir, got, names)
	}
}

// TestQuantizeBadInput checks that bad arguments and inputs give a clear
// error and leave nothing in the output folder.
func TestQuantizeBadInput(t *testing.T) {
	hf := fixtures.Path(t, "models", "gocoder", "hf")
	q8 := fixtures.Path(t, "models", "gocoder", "gocoder.Q8_0.gguf")
	src := t.TempDir()
	text := filepath.Join(src, "notes.txt")
	if err := os.WriteFile(text, []byte("not a model\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bert := filepath.Join(src, "bert")
	if err := os.MkdirAll(bert, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bert, "config.json"), []byte(`{"model_type": "bert", "vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2}`), 0o644); err != nil {
		t.Fatal(err)
	}
	nan := filepath.Join(src, "nan.gguf")
	writeNaNModel(t, nan)
	out := t.TempDir()
	o := filepath.Join(out, "x.gguf")
	tests := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unknown type", []string{"quantize", hf, o, "--type", "Q3_XS"}, exitUsage, `unknown type "Q3_XS"`},
		{"no type", []string{"quantize", hf, o}, exitUsage, "--type is required"},
		{"one argument", []string{"quantize", hf, "--type", "Q8_0"}, exitUsage, "want IN and OUT"},
		{"negative threads", []string{"quantize", hf, o, "--type", "Q8_0", "--threads", "-1"}, exitUsage, "--threads -1"},
		{"missing input", []string{"quantize", filepath.Join(src, "nope"), o, "--type", "Q8_0"}, exitError, "no such file"},
		{"text file", []string{"quantize", text, o, "--type", "Q8_0"}, exitError, "neither a Hugging Face folder nor a readable GGUF file"},
		{"unsupported architecture", []string{"quantize", bert, o, "--type", "Q8_0"}, exitError, `model_type "bert" is not supported`},
		{"already quantized", []string{"quantize", q8, o, "--type", "Q4_0"}, exitError, "requantizing"},
		{"output in a file", []string{"quantize", hf, filepath.Join(text, "x.gguf"), "--type", "Q8_0"}, exitError, "cannot write"},
		{"output is a folder", []string{"quantize", hf, out, "--type", "Q8_0"}, exitError, "it is a folder"},
		{"output is the input", []string{"quantize", nan, nan, "--type", "F16"}, exitError, "is the input"},
		{"no fallback", []string{"quantize", fixtures.Path(t, "archs", "llama-odd", "hf"), o, "--type", "Q4_K_M"}, exitError, "defines no fallback for Q8_0"},
		{"not finite", []string{"quantize", nan, o, "--type", "Q8_0"}, exitError, "not finite"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, errText, code := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(errText, tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, errText, tc.code, tc.msg)
			}
			assertOnly(t, out)
		})
	}
}

// writeNaNModel writes a one-layer GGUF whose second matrix holds a NaN in
// its last row, so quantizing fails after part of the file is written.
func writeNaNModel(t *testing.T, path string) {
	t.Helper()
	f := gguf.NewFile()
	f.Set("general.architecture", gguf.String("llama"))
	f.Set("llama.block_count", gguf.Uint32(1))
	shape := tensor.Shape{64, 8}
	for _, name := range []string{"blk.0.attn_q.weight", "blk.0.attn_k.weight"} {
		if err := f.AddTensor(name, tensor.F32, shape); err != nil {
			t.Fatal(err)
		}
	}
	f.Layout()
	data := func(nan bool) []byte {
		b := make([]byte, 64*8*4)
		for i := 0; i < 64*8; i++ {
			v := float32(i%7) - 3
			if nan && i == 64*8-1 {
				v = float32(math.NaN())
			}
			binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
		}
		return b
	}
	var buf bytes.Buffer
	if _, err := f.Write(&buf, func(i int) (io.Reader, error) { return bytes.NewReader(data(i == 0)), nil }); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}
