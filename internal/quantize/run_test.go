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

// microDense and microMoE are small shapes (1.3M and 2.3M parameters)
// whose row lengths fit every block type.
var microDense = synth.Shape{Name: "micro-dense", Arch: "llama", Hidden: 256, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 64, FFN: 512,
	Vocab: 1024, RopeTheta: 1e4, Eps: 1e-5, Context: 512}

var microMoE = synth.Shape{Name: "micro-moe", Arch: "qwen3moe", Hidden: 256, Layers: 2, Heads: 4, KVHeads: 2, HeadDim: 64, FFN: 512,
	Experts: 4, ExpertsUsed: 2, ExpertFFN: 256, Vocab: 1024, RopeTheta: 1e6, Eps: 1e-6, Context: 512, QKNorm: "head"}

// synthF32 writes a float32 synth model of shape s and returns its path.
func synthF32(t *testing.T, s synth.Shape) string {
	t.Helper()
	ft, _ := synth.LookupType("F32")
	p := filepath.Join(t.TempDir(), s.Name+".f32.gguf")
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

// TestEveryTypeRuns quantizes a dense and an MoE synth model to every file
// type, loads each in memfit and compares its logits with the float32
// model's: finite, and for the dense model the error (RMS over RMS of the
// reference) within what the type's bits allow. (In the MoE model a small
// change can flip a token's top-2 of 4 experts, so its error is not a
// measure of the type; it only has to run.)
func TestEveryTypeRuns(t *testing.T) {
	// Relative RMS error bounds, 1.5 to 2 times what each type measures on
	// the dense model (activations quantized to 8 bits add to the weights'
	// error; MXFP4_MOE has no experts to quantize here: it is Q8_0). The ternary types cannot represent random weights; they only
	// have to run.
	bound := map[string]float64{
		"F32": 0, "F16": 0.002, "BF16": 0.012, "Q8_0": 0.04, "Q6_K": 0.1, "Q5_0": 0.2, "Q5_1": 0.2, "Q5_K_S": 0.2, "Q5_K_M": 0.2,
		"Q4_0": 0.4, "Q4_1": 0.35, "Q4_K_S": 0.3, "Q4_K_M": 0.3, "IQ4_NL": 0.4, "IQ4_XS": 0.4, "MXFP4_MOE": 0.04,
		"Q3_K_S": 0.65, "Q3_K_M": 0.55, "Q3_K_L": 0.5, "Q2_K": 0.9, "TQ1_0": 2, "TQ2_0": 2,
	}
	for _, s := range []synth.Shape{microDense, microMoE} {
		shape := s.Name
		src := synthF32(t, s)
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
			if s.Experts > 0 {
				b = math.Inf(1)
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
	src := synthF32(t, microMoE)
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
