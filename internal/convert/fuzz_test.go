package convert

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
)

// FuzzFromHF converts a Hugging Face folder whose config.json and
// tokenizer_config.json are fuzzed (the weights and tokenizer.json are the
// llama fixture's): an error or a model, never a panic, a hang or a huge
// allocation; a converted model's tensors read back whole.
func FuzzFromHF(f *testing.F) {
	src := fixtures.Path(f, "archs", "llama", "hf")
	cfg, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		f.Fatal(err)
	}
	tc, _ := os.ReadFile(filepath.Join(src, "tokenizer_config.json"))
	f.Add(cfg, tc)
	f.Add([]byte(`{"model_type": "llama", "vocab_size": 320, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2, "intermediate_size": 128, "rope_scaling": {"rope_type": "llama3", "factor": 8}, "head_dim": 16}`), []byte(`{"bos_token": {"content": 5}, "chat_template": 7, "add_bos_token": "yes"}`))
	f.Add([]byte(`{"model_type": "llama", "vocab_size": 99999999999, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4}`), []byte(`[]`))
	f.Add([]byte(`{"model_type": "llama", "vocab_size": 320, "hidden_size": 64, "num_hidden_layers": 2, "num_attention_heads": 4, "max_position_embeddings": 1e30, "rope_scaling": {"rope_type": "yarn", "factor": "x"}}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, config, tokConfig []byte) {
		dir := t.TempDir()
		for _, name := range []string{"model.safetensors", "tokenizer.json"} {
			if err := os.Symlink(filepath.Join(src, name), filepath.Join(dir, name)); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, "config.json"), config, 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "tokenizer_config.json"), tokConfig, 0o644); err != nil {
			t.Fatal(err)
		}
		m, err := FromHF(dir)
		if err != nil {
			return
		}
		defer m.Close()
		for i := range m.Tensors {
			x := &m.Tensors[i]
			if x.Bytes() > 64<<20 {
				t.Fatalf("tensor %s of %d bytes from a 1 MB checkpoint", x.Name, x.Bytes())
			}
			b := make([]byte, x.Bytes())
			if err := x.ReadRows(b, 0, x.Rows()); err != nil {
				t.Fatalf("%s: %v", x.Name, err)
			}
		}
	})
}
