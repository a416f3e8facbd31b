package arch

import (
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/gguf"
	"github.com/memfit/memfit/internal/hfconfig"
)

// TestHFAndGGUFAgree reads every architecture fixture both ways and checks
// that the two Specs agree, except where llama.cpp's reading differs on
// purpose (documented in the fixtures' README).
func TestHFAndGGUFAgree(t *testing.T) {
	root := fixtures.Path(t, "archs")
	dirs, _ := os.ReadDir(root)
	for _, d := range dirs {
		if !d.IsDir() {
			continue
		}
		t.Run(d.Name(), func(t *testing.T) {
			cfg, err := hfconfig.Load(filepath.Join(root, d.Name(), "hf"))
			if err != nil {
				t.Fatal(err)
			}
			hf, err := FromHF(cfg)
			if err != nil {
				t.Fatal(err)
			}
			files, _ := filepath.Glob(filepath.Join(root, d.Name(), "*.f32.gguf"))
			if len(files) != 1 {
				t.Fatalf("%d f32 GGUF files", len(files))
			}
			f, err := gguf.Open(files[0])
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			gg, err := FromGGUF(f)
			if err != nil {
				t.Fatal(err)
			}
			same := func(what string, a, b any) {
				if a != b {
					t.Errorf("%s: hf %v, gguf %v", what, a, b)
				}
			}
			same("hidden", hf.Hidden, gg.Hidden)
			same("heads", hf.Heads, gg.Heads)
			same("kv heads", hf.KVHeads, gg.KVHeads)
			same("head_dim", hf.HeadDim, gg.HeadDim)
			same("ffn", hf.FFN, gg.FFN)
			same("experts", hf.Experts, gg.Experts)
			same("experts used", hf.ExpertsUsed, gg.ExpertsUsed)
			same("expert ffn", hf.ExpertFFN, gg.ExpertFFN)
			same("norm top-k", hf.NormTopK, gg.NormTopK)
			same("shared ffn", hf.SharedFFN, gg.SharedFFN)
			same("layers", len(hf.Layers), len(gg.Layers))
			same("embed scale", hf.EmbedScale, gg.EmbedScale)
			same("residual scale", hf.ResidualScale, gg.ResidualScale)
			same("logit scale", hf.LogitScale, gg.LogitScale)
			same("softcaps", [2]float32{hf.AttnSoftcap, hf.FinalSoftcap}, [2]float32{gg.AttnSoftcap, gg.FinalSoftcap})
			same("qk norm", hf.QKNorm, gg.QKNorm)
			same("eps", hf.Eps, gg.Eps)
			if d.Name() != "gemma2" { // the GGUF lacks query_pre_attn_scalar
				if math.Abs(float64(hf.AttnScale-gg.AttnScale)) > 1e-7 {
					t.Errorf("attention scale: hf %v, gguf %v", hf.AttnScale, gg.AttnScale)
				}
			}
			for i := range hf.Layers {
				if d.Name() != "mistral" { // the GGUF has no sliding window
					same("window", hf.Layers[i].Window, gg.Layers[i].Window)
				}
				hr, gr := hf.Layers[i].Rope, gg.Layers[i].Rope
				same("rope dims", hr.Dims, gr.Dims)
				same("rope theta", hr.Theta, gr.Theta)
				same("rope scale", hr.Scale, gr.Scale)
				if hr.Style != NeoX {
					t.Errorf("layer %d: HF rope style %v, want neox", i, hr.Style)
				}
			}
		})
	}
}

// TestLlama3InvFreqs checks the llama3 frequency smoothing against the
// fixture README: at head_dim 16 one frequency is kept, two are smoothed
// and five divided by 8.
func TestLlama3InvFreqs(t *testing.T) {
	plain := Rope{Dims: 16, Theta: 1e4, Scale: 1}
	scaled := plain
	scaled.Llama3 = &Llama3Rope{Factor: 8, LowFreqFactor: 1, HighFreqFactor: 4, OriginalMaxPositions: 64}
	p, s := plain.InvFreqs(), scaled.InvFreqs()
	var kept, divided, smoothed int
	for i := range p {
		switch r := p[i] / s[i]; {
		case math.Abs(r-1) < 1e-12:
			kept++
		case math.Abs(r-8) < 1e-9:
			divided++
		case r > 1 && r < 8:
			smoothed++
		default:
			t.Errorf("frequency %d: ratio %v", i, r)
		}
	}
	if kept != 1 || smoothed != 2 || divided != 5 {
		t.Errorf("kept %d, smoothed %d, divided %d; want 1, 2, 5", kept, smoothed, divided)
	}
}
