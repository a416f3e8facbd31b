package quantize

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/convert"
	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/gguf"
)

// quantizeTypes is the fixture's quantize_types.json: the tensor types
// llama-quantize chose.
type quantizeTypes map[string]struct {
	TensorTypes map[string]string `json:"tensor_types"`
}

func loadQuantizeTypes(t *testing.T) quantizeTypes {
	t.Helper()
	b, err := os.ReadFile(fixtures.Path(t, "models", "gocoder", "quantize_types.json"))
	if err != nil {
		t.Fatal(err)
	}
	var qt quantizeTypes
	if err := json.Unmarshal(b, &qt); err != nil {
		t.Fatal(err)
	}
	return qt
}

// quantizeFile quantizes the model at src to typ in memory.
func quantizeFile(t *testing.T, src, typ string) ([]byte, *Plan) {
	t.Helper()
	m, err := convert.Open(src)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ft, err := LookupFileType(typ)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	p, err := WriteTo(context.Background(), m, &buf, Options{Type: ft, Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), p
}

// TestGocoderMatchesLlamaQuantize quantizes the bf16 GGUF of gocoder to Q8_0
// and Q4_K_M and compares with llama-quantize's files: the same type for
// every tensor (also as quantize_types.json lists them), the same tensor
// data byte for byte — in fact the whole file.
func TestGocoderMatchesLlamaQuantize(t *testing.T) {
	qt := loadQuantizeTypes(t)
	bf16 := fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf")
	for _, typ := range []string{"Q8_0", "Q4_K_M"} {
		t.Run(typ, func(t *testing.T) {
			got, p := quantizeFile(t, bf16, typ)
			wantPath := fixtures.Path(t, "models", "gocoder", "gocoder."+typ+".gguf")
			want, err := os.ReadFile(wantPath)
			if err != nil {
				t.Fatal(err)
			}
			wf, err := gguf.Parse(bytes.NewReader(want), int64(len(want)), wantPath)
			if err != nil {
				t.Fatal(err)
			}
			types := qt[typ].TensorTypes
			if len(types) == 0 || len(p.Choices) != len(types) || len(wf.Tensors) != len(types) {
				t.Fatalf("%d tensors chosen, quantize_types.json lists %d, llama-quantize wrote %d", len(p.Choices), len(types), len(wf.Tensors))
			}
			for i, c := range p.Choices {
				if w := types[c.Name]; !strings.EqualFold(w, c.To.String()) {
					t.Errorf("%s: type %v, llama-quantize chose %s", c.Name, c.To, w)
				}
				wt := wf.Tensors[i]
				if wt.Name != c.Name || wt.Type != c.To {
					t.Errorf("tensor %d: %s %v, llama-quantize wrote %s %v", i, c.Name, c.To, wt.Name, wt.Type)
					continue
				}
				gt := p.File.Tensors[i]
				a := got[p.File.DataOffset+gt.Offset : p.File.DataOffset+gt.Offset+gt.Size]
				b := want[wf.DataOffset+wt.Offset : wf.DataOffset+wt.Offset+wt.Size]
				if !bytes.Equal(a, b) {
					t.Errorf("%s (%v): tensor data differs from llama-quantize's", c.Name, c.To)
				}
			}
			if !bytes.Equal(got, want) {
				t.Errorf("the file (%d bytes) differs from llama-quantize's (%d bytes)", len(got), len(want))
			}
		})
	}
}

// TestGocoderHFRoute quantizes gocoder's HF folder (converted on the fly)
// and checks that every tensor has the type and bytes of the GGUF route's,
// and that the metadata differs only by the converter's add_sep_token (see
// convert.TestGocoderHFAsConverter).
func TestGocoderHFRoute(t *testing.T) {
	hf := fixtures.Path(t, "models", "gocoder", "hf")
	bf16 := fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf")
	for _, typ := range []string{"Q8_0", "Q4_K_M"} {
		t.Run(typ, func(t *testing.T) {
			got, gp := quantizeFile(t, hf, typ)
			want, wp := quantizeFile(t, bf16, typ)
			if len(gp.Choices) != len(wp.Choices) {
				t.Fatalf("%d tensors, the GGUF route has %d", len(gp.Choices), len(wp.Choices))
			}
			for i, c := range gp.Choices {
				w := wp.Choices[i]
				if c.Name != w.Name || c.To != w.To || !c.Shape.Equal(w.Shape) {
					t.Errorf("tensor %d: %s %v %v, the GGUF route has %s %v %v", i, c.Name, c.To, c.Shape, w.Name, w.To, w.Shape)
					continue
				}
				gt, wt := gp.File.Tensors[i], wp.File.Tensors[i]
				a := got[gp.File.DataOffset+gt.Offset : gp.File.DataOffset+gt.Offset+gt.Size]
				b := want[wp.File.DataOffset+wt.Offset : wp.File.DataOffset+wt.Offset+wt.Size]
				if !bytes.Equal(a, b) {
					t.Errorf("%s: tensor data differs from the GGUF route's", c.Name)
				}
			}
			var keys []string
			for _, kv := range gp.File.KVs {
				if _, ok := wp.File.Get(kv.Key); !ok {
					keys = append(keys, kv.Key)
				}
			}
			if len(keys) != 1 || keys[0] != "tokenizer.ggml.add_sep_token" || len(gp.File.KVs) != len(wp.File.KVs)+1 {
				t.Errorf("keys only in the HF route's file: %v (%d keys vs %d)", keys, len(gp.File.KVs), len(wp.File.KVs))
			}
		})
	}
}
