package model

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/gguf"
)

// hfCopy makes a copy of an HF fixture folder whose config.json is edited
// by edit (the safetensors files are linked, not copied).
func hfCopy(t *testing.T, fixture string, edit func(map[string]any)) string {
	t.Helper()
	src := fixtures.Path(t, "archs", fixture, "hf")
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() == "config.json" {
			continue
		}
		if err := os.Symlink(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(filepath.Join(src, "config.json"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg map[string]any
	if err := json.Unmarshal(b, &cfg); err != nil {
		t.Fatal(err)
	}
	edit(cfg)
	b, _ = json.Marshal(cfg)
	if err := os.WriteFile(filepath.Join(dst, "config.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// ggufCopy rewrites a GGUF fixture after edit changes its header; dropped
// tensors are dropped with their data.
func ggufCopy(t *testing.T, fixture string, edit func(f *gguf.File)) string {
	t.Helper()
	path := fixtures.Path(t, "archs", fixture, fixture+".f32.gguf")
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := gguf.Parse(bytes.NewReader(orig), int64(len(orig)), path)
	if err != nil {
		t.Fatal(err)
	}
	old := map[string]int64{}
	for i := range f.Tensors {
		old[f.Tensors[i].Name] = f.TensorOffset(&f.Tensors[i])
	}
	g := gguf.NewFile()
	for _, kv := range f.KVs {
		g.Set(kv.Key, kv.Value)
	}
	for _, ti := range f.Tensors {
		if err := g.AddTensor(ti.Name, ti.Type, ti.Shape); err != nil {
			t.Fatal(err)
		}
	}
	edit(g)
	g.Layout()
	dst := filepath.Join(t.TempDir(), fixture+".gguf")
	var out bytes.Buffer
	if _, err := g.Write(&out, func(i int) (io.Reader, error) {
		ti := &g.Tensors[i]
		off, ok := old[ti.Name]
		if !ok || off+ti.Size > int64(len(orig)) {
			return bytes.NewReader(make([]byte, ti.Size)), nil
		}
		return bytes.NewReader(orig[off : off+ti.Size]), nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

// dropTensor returns g without the named tensor.
func dropTensor(g *gguf.File, name string) {
	h := gguf.NewFile()
	for _, kv := range g.KVs {
		h.Set(kv.Key, kv.Value)
	}
	for _, ti := range g.Tensors {
		if ti.Name != name {
			h.AddTensor(ti.Name, ti.Type, ti.Shape)
		}
	}
	*g = *h
}

func TestBadModels(t *testing.T) {
	tests := []struct {
		name string
		path func(t *testing.T) string
		want []string
	}{
		{"hf wrong hidden size", func(t *testing.T) string {
			return hfCopy(t, "llama", func(c map[string]any) { c["hidden_size"] = 72; c["head_dim"] = 18 })
		}, []string{"model.embed_tokens.weight", "shape", "want [72, 320]"}},
		{"hf unknown architecture", func(t *testing.T) string {
			return hfCopy(t, "llama", func(c map[string]any) { c["model_type"] = "bert" })
		}, []string{"config.json", "model_type", "bert", "not supported"}},
		{"hf more layers than the checkpoint", func(t *testing.T) string {
			return hfCopy(t, "llama", func(c map[string]any) { c["num_hidden_layers"] = 3 })
		}, []string{"model.layers.2.", "missing"}},
		{"hf contradictory heads", func(t *testing.T) string {
			return hfCopy(t, "llama", func(c map[string]any) { c["num_key_value_heads"] = 3 })
		}, []string{"config.json", "num_key_value_heads"}},
		{"hf missing field", func(t *testing.T) string {
			return hfCopy(t, "qwen3", func(c map[string]any) { delete(c, "num_attention_heads") })
		}, []string{"config.json", "num_attention_heads", "missing"}},
		{"hf wrong experts", func(t *testing.T) string {
			return hfCopy(t, "mixtral", func(c map[string]any) { c["num_local_experts"] = 5 })
		}, []string{"block_sparse_moe.gate.weight", "want [64, 5]"}},
		{"hf sliding window without size", func(t *testing.T) string {
			return hfCopy(t, "gemma2", func(c map[string]any) { delete(c, "sliding_window") })
		}, []string{"sliding_window"}},
		{"gguf missing metadata", func(t *testing.T) string {
			return ggufCopy(t, "llama", func(g *gguf.File) {
				h := gguf.NewFile()
				for _, kv := range g.KVs {
					if kv.Key != "llama.block_count" {
						h.Set(kv.Key, kv.Value)
					}
				}
				for _, ti := range g.Tensors {
					h.AddTensor(ti.Name, ti.Type, ti.Shape)
				}
				*g = *h
			})
		}, []string{"llama.block_count", "missing"}},
		{"gguf wrong metadata type", func(t *testing.T) string {
			return ggufCopy(t, "llama", func(g *gguf.File) { g.Set("llama.embedding_length", gguf.String("64")) })
		}, []string{"llama.embedding_length", "string"}},
		{"gguf missing tensor", func(t *testing.T) string {
			return ggufCopy(t, "qwen2", func(g *gguf.File) { dropTensor(g, "blk.1.ffn_down.weight") })
		}, []string{"blk.1.ffn_down.weight", "missing"}},
		{"gguf unknown architecture", func(t *testing.T) string {
			return ggufCopy(t, "llama", func(g *gguf.File) { g.Set("general.architecture", gguf.String("rwkv9")) })
		}, []string{"rwkv9", "not supported"}},
		{"gguf contradictory heads", func(t *testing.T) string {
			return ggufCopy(t, "phi3", func(g *gguf.File) { g.Set("phi3.attention.head_count", gguf.Uint32(3)) })
		}, []string{"head"}},
		{"gguf huge layer count", func(t *testing.T) string {
			return ggufCopy(t, "llama", func(g *gguf.File) { g.Set("llama.block_count", gguf.Uint32(1<<30)) })
		}, []string{"layers"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := Load(tc.path(t), Options{Threads: 1})
			if err == nil {
				m.Close()
				t.Fatal("loaded without error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
