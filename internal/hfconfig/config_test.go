package hfconfig

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
)

func TestFixtureConfigs(t *testing.T) {
	tests := []struct {
		dir    []string
		check  func(c *Config) bool
		expect string
	}{
		{[]string{"archs", "llama", "hf"}, func(c *Config) bool {
			return c.ModelType == "llama" && c.HiddenSize == 64 && c.HeadDim == 16 && c.NumKVHeads == 2 && !c.TieEmbeddings && c.RoPE.Type == "default" && c.RoPE.Theta == 10000
		}, "plain llama"},
		{[]string{"archs", "llama3", "hf"}, func(c *Config) bool {
			r := c.RoPE
			return r.Type == "llama3" && r.Factor == 8 && r.LowFreqFactor == 1 && r.HighFreqFactor == 4 && r.OriginalMaxPositions == 64 && r.Theta == 10000 && c.TieEmbeddings
		}, "llama3 rope in rope_parameters form"},
		{[]string{"archs", "qwen3", "hf"}, func(c *Config) bool {
			return c.HeadDim == 32 && c.HiddenSize == 64 && c.NumHeads == 4 && c.RoPE.Theta == 1e6 && c.TieEmbeddings
		}, "head_dim != hidden/heads"},
		{[]string{"archs", "gemma2", "hf"}, func(c *Config) bool {
			return c.AttnSoftcap == 2.5 && c.FinalSoftcap == 6 && c.QueryPreAttnScalar == 24 && len(c.LayerTypes) == 3 && c.SlidingWindow == 6 && c.HiddenAct == "gelu_pytorch_tanh"
		}, "gemma2 fields"},
		{[]string{"archs", "gemma3", "hf"}, func(c *Config) bool {
			return c.RoPE.Type == "linear" && c.RoPE.Factor == 8 && c.RoPE.Theta == 1e6 && c.RoPELocal != nil && c.RoPELocal.Theta == 1e4 && c.SlidingWindowPattern == 6
		}, "gemma3 local rope"},
		{[]string{"archs", "granite", "hf"}, func(c *Config) bool {
			return c.EmbeddingMultiplier == 12 && c.AttentionMultiplier == 0.125 && c.ResidualMultiplier == 0.22 && c.LogitsScaling == 4
		}, "granite multipliers"},
		{[]string{"archs", "qwen2_moe", "hf"}, func(c *Config) bool {
			return c.NumExperts == 4 && c.ExpertsPerToken == 2 && c.MoEIntermediateSize == 32 && c.SharedExpertIntermediateSize == 64 && !c.NormTopKProb
		}, "qwen2 moe"},
		{[]string{"archs", "mixtral", "hf"}, func(c *Config) bool {
			return c.NumExperts == 4 && c.ExpertsPerToken == 2
		}, "mixtral num_local_experts"},
		{[]string{"models", "gocoder", "hf"}, func(c *Config) bool {
			return c.HeadDim == 64 && c.VocabSize == 2048 && len(c.EOS) == 1 && c.EOS[0] == 1
		}, "gocoder"},
	}
	for _, tc := range tests {
		t.Run(tc.expect, func(t *testing.T) {
			c, err := Load(fixtures.Path(t, tc.dir...))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("%s: unexpected config %+v", tc.expect, *c)
			}
		})
	}
	g, err := LoadGeneration(fixtures.Path(t, "models", "gocoder", "hf"))
	if err != nil || g == nil || len(g.EOS) != 1 || g.EOS[0] != 1 || len(g.BOS) != 1 || g.BOS[0] != 0 {
		t.Errorf("generation config = %+v, %v", g, err)
	}
	if g, err := LoadGeneration(t.TempDir()); g != nil || err != nil {
		t.Errorf("absent generation_config.json: %v, %v", g, err)
	}
}

func TestRoPESpellingsAgree(t *testing.T) {
	base := `"model_type":"llama","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2`
	old, err := Parse([]byte(`{`+base+`,"rope_theta":500000,"rope_scaling":{"type":"linear","factor":2}}`), "old.json")
	if err != nil {
		t.Fatal(err)
	}
	nw, err := Parse([]byte(`{`+base+`,"rope_parameters":{"rope_type":"linear","rope_theta":500000,"factor":2}}`), "new.json")
	if err != nil {
		t.Fatal(err)
	}
	if old.RoPE != nw.RoPE || old.RoPE.Theta != 500000 || old.RoPE.Factor != 2 {
		t.Errorf("old %+v, new %+v", old.RoPE, nw.RoPE)
	}
	g3, err := Parse([]byte(`{`+base+`,"rope_parameters":{"full_attention":{"rope_type":"linear","rope_theta":1000000,"factor":8},"sliding_attention":{"rope_type":"default","rope_theta":10000}}}`), "g3.json")
	if err != nil {
		t.Fatal(err)
	}
	if g3.RoPE.Factor != 8 || g3.RoPELocal == nil || g3.RoPELocal.Theta != 10000 {
		t.Errorf("per-kind rope: %+v %+v", g3.RoPE, g3.RoPELocal)
	}
}

func TestBadConfigs(t *testing.T) {
	base := `"model_type":"llama","vocab_size":10,"hidden_size":8,"num_hidden_layers":2,"num_attention_heads":2`
	tests := []struct {
		name, json, field string
	}{
		{"not json", `{`, "not a JSON object"},
		{"array", `[1]`, "not a JSON object"},
		{"no model_type", `{"vocab_size":10}`, "model_type"},
		{"missing hidden", `{"model_type":"llama","vocab_size":10,"num_hidden_layers":1,"num_attention_heads":2}`, "hidden_size"},
		{"zero heads", `{"model_type":"llama","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":0}`, "num_attention_heads"},
		{"string number", `{` + base + `,"intermediate_size":"16"}`, "intermediate_size"},
		{"fraction", `{` + base + `,"intermediate_size":1.5}`, "intermediate_size"},
		{"kv heads", `{` + base + `,"num_key_value_heads":3}`, "num_key_value_heads"},
		{"head dim", `{"model_type":"llama","vocab_size":10,"hidden_size":9,"num_hidden_layers":1,"num_attention_heads":2}`, "head_dim"},
		{"layer types length", `{` + base + `,"layer_types":["full_attention"]}`, "layer_types"},
		{"layer type", `{` + base + `,"layer_types":["full_attention","chunked"]}`, "layer_types"},
		{"experts", `{` + base + `,"num_local_experts":4,"num_experts_per_tok":5}`, "num_experts_per_tok"},
		{"no experts", `{` + base + `,"num_experts_per_tok":2}`, "num_experts_per_tok"},
		{"rope type", `{` + base + `,"rope_scaling":{"rope_type":"yarnish","factor":2}}`, "rope_scaling.rope_type"},
		{"rope factor", `{` + base + `,"rope_scaling":{"rope_type":"linear"}}`, "rope_scaling.factor"},
		{"llama3 rope", `{` + base + `,"rope_parameters":{"rope_type":"llama3","factor":8,"low_freq_factor":4,"high_freq_factor":1,"original_max_position_embeddings":64}}`, "high_freq_factor"},
		{"rope contradiction", `{` + base + `,"rope_theta":10000,"rope_parameters":{"rope_type":"default","rope_theta":500000}}`, "rope_theta"},
		{"negative theta", `{` + base + `,"rope_theta":-1}`, "rope_theta"},
		{"eps", `{` + base + `,"rms_norm_eps":0}`, "rms_norm_eps"},
		{"eos type", `{` + base + `,"eos_token_id":"x"}`, "eos_token_id"},
		{"eos list", `{` + base + `,"eos_token_id":[1,-2]}`, "eos_token_id[1]"},
		{"bool", `{` + base + `,"tie_word_embeddings":"yes"}`, "tie_word_embeddings"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.json), "bad/config.json")
			if err == nil {
				t.Fatal("parsed without error")
			}
			if !strings.Contains(err.Error(), "bad/config.json") || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("err = %q, want it to name the file and %q", err, tc.field)
			}
		})
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "generation_config.json"), []byte(`{"eos_token_id": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadGeneration(dir); err == nil || !strings.Contains(err.Error(), "eos_token_id") {
		t.Errorf("bad generation config: err = %v", err)
	}
	if _, err := Load(t.TempDir()); err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Errorf("missing config: err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	b, err := os.ReadFile(fixtures.Path(f, "archs", "gemma3", "hf", "config.json"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"model_type":"llama","vocab_size":10,"hidden_size":8,"num_hidden_layers":1,"num_attention_heads":2,"rope_parameters":{"rope_type":"llama3","factor":8,"low_freq_factor":1,"high_freq_factor":4,"original_max_position_embeddings":64}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := Parse(data, "fuzz.json")
		if err != nil {
			return
		}
		if c.HeadDim <= 0 || c.NumKVHeads <= 0 || c.NumHeads%c.NumKVHeads != 0 || c.RoPE.Theta <= 0 {
			t.Fatalf("accepted an inconsistent config: %+v", c)
		}
	})
}
