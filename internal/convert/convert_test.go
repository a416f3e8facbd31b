package convert

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/gguf"
	"github.com/memfit/memfit/internal/quant"
	"github.com/memfit/memfit/internal/tensor"
)

// readAll reads every row of t.
func readAll(t *testing.T, x *Tensor) []byte {
	t.Helper()
	b := make([]byte, x.Bytes())
	if err := x.ReadRows(b, 0, x.Rows()); err != nil {
		t.Fatal(err)
	}
	return b
}

// asF32 decodes data of type typ to float32 bits.
func asF32(t *testing.T, typ tensor.DType, data []byte, n int64) []uint32 {
	t.Helper()
	f := make([]float32, n)
	if err := quant.Dequantize(typ, f, data); err != nil {
		t.Fatal(err)
	}
	out := make([]uint32, n)
	for i, v := range f {
		out[i] = math.Float32bits(v)
	}
	return out
}

func openGGUF(t *testing.T, path string) *gguf.File {
	t.Helper()
	f, err := gguf.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

func describe(v gguf.Value) string {
	s := fmt.Sprint(v.GoValue())
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return s
}

// TestGocoderHFAsConverter converts gocoder's HF folder and compares it
// with the bf16 GGUF llama.cpp's converter wrote from the same folder:
// every metadata key in the same order with the same value, every tensor
// with the same name, type, shape and bytes. One key differs by design:
// the fixture's vocabulary step was a wrapper (see the fixture README) that
// wrote only bos/eos ids and add_bos/add_eos, while the converter's
// SpecialVocab also writes add_sep_token = false for this tokenizer (its
// TemplateProcessing pair "<|bos|> A <|bos|> B" has a middle token that is
// neither SEP nor EOS); memfit writes what the converter writes.
func TestGocoderHFAsConverter(t *testing.T) {
	m, err := Open(fixtures.Path(t, "models", "gocoder", "hf"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	want := openGGUF(t, fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"))
	var kvs []gguf.KV
	for _, kv := range m.KVs {
		if kv.Key == "tokenizer.ggml.add_sep_token" {
			if b, ok := kv.Value.Bool(); !ok || b {
				t.Errorf("tokenizer.ggml.add_sep_token = %s, want false", describe(kv.Value))
			}
			continue
		}
		kvs = append(kvs, kv)
	}
	if len(kvs) != len(want.KVs) {
		t.Errorf("%d metadata keys, the converter wrote %d", len(kvs), len(want.KVs))
	}
	for i := range min(len(kvs), len(want.KVs)) {
		g, w := kvs[i], want.KVs[i]
		if g.Key != w.Key || !reflect.DeepEqual(g.Value, w.Value) {
			t.Errorf("key %d: %s = %s, the converter wrote %s = %s", i, g.Key, describe(g.Value), w.Key, describe(w.Value))
		}
	}
	compareTensors(t, m, want, false)
}

// compareTensors checks that m has exactly want's tensors; with values
// true, types may differ and the values (as float32) must be equal.
func compareTensors(t *testing.T, m *Model, want *gguf.File, values bool) {
	t.Helper()
	got := map[string]*Tensor{}
	for i := range m.Tensors {
		got[m.Tensors[i].Name] = &m.Tensors[i]
	}
	if len(m.Tensors) != len(want.Tensors) {
		var names []string
		for _, x := range m.Tensors {
			names = append(names, x.Name)
		}
		t.Errorf("%d tensors, the converter wrote %d: %s", len(m.Tensors), len(want.Tensors), strings.Join(names, " "))
	}
	for i := range want.Tensors {
		wt := &want.Tensors[i]
		g := got[wt.Name]
		if g == nil {
			t.Errorf("no tensor %s", wt.Name)
			continue
		}
		if !g.Shape.Equal(wt.Shape) || (!values && g.Type != wt.Type) {
			t.Errorf("%s: %v %v, the converter wrote %v %v", wt.Name, g.Type, g.Shape, wt.Type, wt.Shape)
			continue
		}
		wb := make([]byte, wt.Size)
		if err := want.ReadTensor(wt, wb); err != nil {
			t.Fatal(err)
		}
		gb := readAll(t, g)
		if !values {
			if !bytes.Equal(gb, wb) {
				t.Errorf("%s: data differs", wt.Name)
			}
			continue
		}
		n := wt.Shape.Elems()
		gv, wv := asF32(t, g.Type, gb, n), asF32(t, wt.Type, wb, n)
		for k := range gv {
			if gv[k] != wv[k] {
				t.Errorf("%s (%v): value %d is %v, the converter wrote %v", wt.Name, g.Type, k, math.Float32frombits(gv[k]), math.Float32frombits(wv[k]))
				break
			}
		}
	}
}

// TestArchsAsConverter converts every architecture fixture's HF folder and
// compares it with the f32 GGUF llama.cpp's converter wrote from it: every
// tensor (values equal; the conversion keeps bf16 checkpoints in bf16, the
// fixture is f32) and every hyper-parameter key in order. The fixtures'
// vocabularies are stand-ins written by the fixture tools, so tokenizer.*
// keys and general.file_type are not compared here.
func TestArchsAsConverter(t *testing.T) {
	root := fixtures.Path(t, "archs")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		n++
		name := e.Name()
		t.Run(name, func(t *testing.T) {
			m, err := Open(filepath.Join(root, name, "hf"))
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			want := openGGUF(t, filepath.Join(root, name, name+".f32.gguf"))
			keep := func(kvs []gguf.KV) []gguf.KV {
				var out []gguf.KV
				for _, kv := range kvs {
					if !strings.HasPrefix(kv.Key, "tokenizer.") && kv.Key != "general.file_type" {
						out = append(out, kv)
					}
				}
				return out
			}
			g, w := keep(m.KVs), keep(want.KVs)
			if len(g) != len(w) {
				t.Errorf("%d keys, the converter wrote %d", len(g), len(w))
			}
			for i := range max(len(g), len(w)) {
				switch {
				case i >= len(g):
					t.Errorf("missing %s = %s", w[i].Key, describe(w[i].Value))
				case i >= len(w):
					t.Errorf("extra %s = %s", g[i].Key, describe(g[i].Value))
				case g[i].Key != w[i].Key || !reflect.DeepEqual(g[i].Value, w[i].Value):
					t.Errorf("key %d: %s = %s, the converter wrote %s = %s", i, g[i].Key, describe(g[i].Value), w[i].Key, describe(w[i].Value))
				}
			}
			compareTensors(t, m, want, true)
		})
	}
	if n != 15 {
		t.Errorf("%d architecture fixtures, want 15", n)
	}
}

// TestPreTokenizerName fingerprints real tokenizers as llama.cpp's
// converter does. The llama3 fixture is the first Llama 3 tokenizer.json,
// whose post-processor adds no BOS: the converter's table knows its ids from
// Smaug-Llama-3 (smaug-bpe, which llama.cpp runs with Llama 3's regex);
// Qwen 3's is qwen2.
func TestPreTokenizerName(t *testing.T) {
	for _, tc := range []struct{ dir, want string }{
		{"llama3", "smaug-bpe"},
		{"qwen3", "qwen2"},
	} {
		dir := fixtures.Path(t, "tokenizers", tc.dir)
		tj, err := readJSONObject(filepath.Join(dir, "tokenizer.json"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := preTokenizerName(dir, tj)
		if err != nil || got != tc.want {
			t.Errorf("%s: pre-tokenizer %q, %v; want %q", tc.dir, got, err, tc.want)
		}
	}
}
