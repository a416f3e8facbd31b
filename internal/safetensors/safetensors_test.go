package safetensors

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/tensor"
)

// file assembles a safetensors file from a JSON header and data bytes.
func file(header string, data []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, data...)
}

func TestFixtureSingle(t *testing.T) {
	c, err := OpenDir(fixtures.Path(t, "archs", "phi3", "hf"))
	if err != nil {
		t.Fatal(err)
	}
	qkv, ok := c.Tensor("model.layers.0.self_attn.qkv_proj.weight")
	if !ok {
		t.Fatal("qkv_proj missing")
	}
	if qkv.Type != tensor.F32 || !qkv.Shape.Equal(tensor.Shape{64, 128}) || qkv.Size != 64*128*4 {
		t.Errorf("qkv_proj = %+v", qkv)
	}
	if c.Files[0].Metadata["format"] != "pt" {
		t.Errorf("metadata = %v", c.Files[0].Metadata)
	}
}

func TestFixtureSharded(t *testing.T) {
	c, err := OpenDir(fixtures.Path(t, "archs", "qwen3", "hf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Files) != 2 {
		t.Fatalf("%d files, want 2 shards", len(c.Files))
	}
	down, ok := c.Tensor("model.layers.0.mlp.down_proj.weight")
	if !ok || !strings.HasSuffix(down.File, "model-00002-of-00002.safetensors") {
		t.Errorf("down_proj = %+v", down)
	}
	if _, ok := c.Tensor("model.embed_tokens.weight"); !ok {
		t.Error("embed_tokens missing")
	}
}

func TestFixtureBF16(t *testing.T) {
	c, err := OpenDir(fixtures.Path(t, "models", "gocoder", "hf"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Names()) != 39 {
		t.Errorf("%d tensors, want 39", len(c.Names()))
	}
	e, _ := c.Tensor("model.embed_tokens.weight")
	if e.Type != tensor.BF16 || !e.Shape.Equal(tensor.Shape{256, 2048}) {
		t.Errorf("embed_tokens = %+v", e)
	}
}

func TestBadFiles(t *testing.T) {
	eight := make([]byte, 8)
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"short", []byte{1, 2}, "too short"},
		{"huge header", binary.LittleEndian.AppendUint64(nil, 1<<40), "exceeds"},
		{"header past end", binary.LittleEndian.AppendUint64(nil, 100), "past the end"},
		{"not json", file("{nope", nil), "not a JSON object"},
		{"bad dtype", file(`{"a":{"dtype":"I64","shape":[1],"data_offsets":[0,8]}}`, eight), "not supported"},
		{"negative dim", file(`{"a":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`, eight), "negative"},
		{"offsets past end", file(`{"a":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}}`, eight), "outside"},
		{"offsets reversed", file(`{"a":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`, eight), "outside"},
		{"size mismatch", file(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}}`, eight), "needs 4"},
		{"overlap", file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[2],"data_offsets":[4,8]}}`, eight), "overlaps"},
		{"huge shape", file(`{"a":{"dtype":"F32","shape":[4294967296,4294967296,4294967296],"data_offsets":[0,8]}}`, eight), "too large"},
		{"bad metadata", file(`{"__metadata__":{"a":1}}`, nil), "__metadata__"},
		{"bad entry", file(`{"a":[1,2]}`, nil), "bad header entry"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse(bytes.NewReader(tc.data), int64(len(tc.data)), "bad.safetensors")
			if err == nil {
				t.Fatal("parsed without error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bad.safetensors") {
				t.Errorf("err = %q, want it to name the file and mention %q", err, tc.want)
			}
		})
	}
}

func TestBadIndex(t *testing.T) {
	good := file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, make([]byte, 8))
	tests := []struct {
		name  string
		index string
		files map[string][]byte
		want  string
	}{
		{"empty map", `{"weight_map":{}}`, nil, "missing or empty"},
		{"bad json", `{"weight_map":`, nil, "unexpected end"},
		{"missing shard", `{"weight_map":{"a":"s1.safetensors"}}`, nil, "missing"},
		{"path escape", `{"weight_map":{"a":"../x.safetensors"}}`, nil, "not a file name"},
		{"unmapped tensor", `{"weight_map":{"b":"s1.safetensors"}}`, map[string][]byte{"s1.safetensors": good}, "weight_map says"},
		{"absent tensor", `{"weight_map":{"a":"s1.safetensors","c":"s1.safetensors"}}`, map[string][]byte{"s1.safetensors": good}, "does not hold"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.WriteFile(filepath.Join(dir, IndexFile), []byte(tc.index), 0o644); err != nil {
				t.Fatal(err)
			}
			for n, b := range tc.files {
				if err := os.WriteFile(filepath.Join(dir, n), b, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := OpenDir(dir)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want it to mention %q", err, tc.want)
			}
		})
	}
	if _, err := OpenDir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no model.safetensors") {
		t.Errorf("empty folder: err = %v", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add(file(`{"__metadata__":{"format":"pt"},"a":{"dtype":"BF16","shape":[2,2],"data_offsets":[0,8]}}`, make([]byte, 8)))
	f.Add(file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F16","shape":[3],"data_offsets":[8,14]}}`, make([]byte, 14)))
	b, err := os.ReadFile(filepath.Join(fixtures.Path(f, "archs", "llama", "hf", "model.safetensors")))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b[:min(len(b), 8192)])
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := Parse(bytes.NewReader(data), int64(len(data)), "fuzz.safetensors")
		if err != nil {
			return
		}
		for _, ti := range sf.Tensors {
			if ti.Offset < sf.DataOff || ti.Offset+ti.Size > int64(len(data)) {
				t.Fatalf("tensor %s [%d, +%d) outside the file", ti.Name, ti.Offset, ti.Size)
			}
		}
	})
}
