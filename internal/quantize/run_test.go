package quantize_test

import (
	"bytes"
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/memfit/memfit/internal/convert"
	"github.com/memfit/memfit/internal/model"
	"github.com/memfit/memfit/internal/quantize"
	"github.com/memfit/memfit/internal/synth"
)

// synthF32 writes a float32 synth model and returns its path.
func synthF32(t *testing.T, shape string) string {
	t.Helper()
	s, err := synth.Lookup(shape)
	if err != nil {
		t.Fatal(err)
	}
	ft, _ := synth.LookupType("F32")
	p := filepath.Join(t.TempDir(), shape+".f32.gguf")
	if err := synth.WriteFile(p, s, ft, synth.Options{Seed: 11}); err != nil {
		t.Fatal(err)
	}
	return p
}

// logits runs 8 tokens through the model at path and returns the logits
// of every position.
func logits(t *testing.T, path string) []float32 {
	t.Helper()
	m, err := model.Load(path, model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	const n = 8
	st, err := m.NewState(n, n)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Release()
	ids := make([]int32, n)
	for i := range ids {
		ids[i] = int32((i*7919 + 3) % m.Spec.Vocab)
	}
	out := make([]float32, n*m.Spec.Vocab)
	if err := m.Forward(st, ids, out, true); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestEveryTypeRuns quantizes an MoE synth model (dense attention, stacked
// experts, router) to every file type, loads each in memfit and compares its logits with the float32
// model's: finite, and the error (RMS over RMS of the reference) within
// what the type's bits allow.
func TestEveryTypeRuns(t *testing.T) {
	// Relative RMS error bounds, about 1.5 times what each type measures on
	// these random-weight models (activations quantized to 8 bits add to
	// the weights' error). The ternary types cannot represent random
	// weights; they only have to run.
	bound := map[string]float64{
		"F32": 0, "F16": 0.03, "BF16": 0.05, "Q8_0": 0.12, "Q6_K": 0.12, "Q5_0": 0.25, "Q5_1": 0.3, "Q5_K_S": 0.25, "Q5_K_M": 0.25,
		"Q4_0": 0.4, "Q4_1": 0.4, "Q4_K_S": 0.35, "Q4_K_M": 0.35, "IQ4_NL": 0.4, "IQ4_XS": 0.4, "MXFP4_MOE": 0.25,
		"Q3_K_S": 0.7, "Q3_K_M": 0.5, "Q3_K_L": 0.5, "Q2_K": 0.9, "TQ1_0": 2, "TQ2_0": 2,
	}
	for _, shape := range []string{"tiny-moe"} {
		src := synthF32(t, shape)
		ref := logits(t, src)
		m, err := convert.Open(src)
		if err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		for _, name := range quantize.FileTypeNames() {
			ft, _ := quantize.LookupFileType(name)
			out := filepath.Join(dir, name+".gguf")
			if _, err := quantize.Write(context.Background(), m, out, quantize.Options{Type: ft, Threads: 2}); err != nil {
				t.Fatalf("%s %s: %v", shape, name, err)
			}
			got := logits(t, out)
			var se, sr float64
			for i, v := range got {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s %s: logit %d is %v", shape, name, i, v)
				}
				d := float64(v - ref[i])
				se += d * d
				sr += float64(ref[i]) * float64(ref[i])
			}
			rel := math.Sqrt(se / sr)
			t.Logf("%s %-9s relative RMS error %.4f", shape, name, rel)
			b, ok := bound[name]
			if !ok {
				t.Errorf("no error bound for %s", name)
			}
			if rel > b {
				t.Errorf("%s %s: relative RMS error %.4f, want at most %g", shape, name, rel, b)
			}
			os.Remove(out)
		}
		m.Close()
	}
}

// TestThreadsAndCancel checks that the bytes do not depend on the thread
// count and that a cancelled quantization leaves no file behind.
func TestThreadsAndCancel(t *testing.T) {
	src := synthF32(t, "tiny-moe")
	m, err := convert.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ft, _ := quantize.LookupFileType("Q4_K_M")
	var one, three bytes.Buffer
	if _, err := quantize.WriteTo(context.Background(), m, &one, quantize.Options{Type: ft, Threads: 1}); err != nil {
		t.Fatal(err)
	}
	if _, err := quantize.WriteTo(context.Background(), m, &three, quantize.Options{Type: ft, Threads: 3}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(one.Bytes(), three.Bytes()) {
		t.Error("1 and 3 threads wrote different files")
	}
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	opt := quantize.Options{Type: ft, Threads: 2, Progress: func(done, total int64) {
		if calls++; calls == 3 {
			cancel()
		}
	}}
	_, err = quantize.Write(ctx, m, filepath.Join(dir, "x.gguf"), opt)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v, want context.Canceled", err)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("a cancelled quantization left %d files behind", len(entries))
	}
}
