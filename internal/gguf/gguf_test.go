package gguf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/tensor"
)

// fixtureGGUFs lists every GGUF file under the shared fixtures.
func fixtureGGUFs(t *testing.T) []string {
	t.Helper()
	dir := fixtures.Path(t)
	var files []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasSuffix(p, ".gguf") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("found only %d GGUF fixtures under %s", len(files), dir)
	}
	return files
}

// TestRoundTripFixtures reads every fixture GGUF and writes it back, which
// must give the same bytes.
func TestRoundTripFixtures(t *testing.T) {
	for _, path := range fixtureGGUFs(t) {
		t.Run(filepath.Base(path), func(t *testing.T) {
			orig, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(bytes.NewReader(orig), int64(len(orig)), path)
			if err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			_, err = f.Write(&out, func(i int) (io.Reader, error) {
				ti := &f.Tensors[i]
				return io.NewSectionReader(bytes.NewReader(orig), f.TensorOffset(ti), ti.Size), nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(out.Bytes(), orig) {
				n := 0
				for n < min(out.Len(), len(orig)) && out.Bytes()[n] == orig[n] {
					n++
				}
				t.Fatalf("rewritten file differs: %d bytes vs %d, first difference at %d", out.Len(), len(orig), n)
			}
		})
	}
}

func TestReadFixtureMetadata(t *testing.T) {
	f, err := Open(fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tests := []struct {
		key  string
		want any
	}{
		{"general.architecture", "llama"},
		{"llama.block_count", uint64(4)},
		{"llama.embedding_length", uint64(256)},
		{"llama.attention.head_count", uint64(4)},
		{"llama.attention.head_count_kv", uint64(2)},
		{"tokenizer.ggml.model", "gpt2"},
	}
	for _, tc := range tests {
		v, ok := f.Get(tc.key)
		if !ok {
			t.Errorf("%s missing", tc.key)
			continue
		}
		var got any
		if s, ok := v.Str(); ok {
			got = s
		} else if u, ok := v.Uint(); ok {
			got = u
		}
		if got != tc.want {
			t.Errorf("%s = %v, want %v", tc.key, got, tc.want)
		}
	}
	toks, err := f.Strings("tokenizer.ggml.tokens")
	if err != nil || len(toks) != 2048 || toks[0] != "<|bos|>" {
		t.Errorf("tokens: len %d, err %v", len(toks), err)
	}
	if _, err := f.Uint("general.architecture"); err == nil || !strings.Contains(err.Error(), "general.architecture") {
		t.Errorf("type mismatch error = %v, want one naming the key", err)
	}
	emb, ok := f.Tensor("token_embd.weight")
	if !ok || emb.Type != tensor.BF16 || !emb.Shape.Equal(tensor.Shape{256, 2048}) || emb.Size != 256*2048*2 {
		t.Fatalf("token_embd.weight = %+v", emb)
	}
	buf := make([]byte, emb.Size)
	if err := f.ReadTensor(emb, buf); err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(buf, make([]byte, len(buf))) {
		t.Error("token_embd.weight read as all zeros")
	}
}

// build writes a file from f with tensor data of value b.
func build(t testing.TB, f *File) []byte {
	t.Helper()
	f.Layout()
	var out bytes.Buffer
	if _, err := f.Write(&out, func(i int) (io.Reader, error) {
		return bytes.NewReader(bytes.Repeat([]byte{byte(i + 1)}, int(f.Tensors[i].Size))), nil
	}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// sample is a small file with every value type, nested arrays and two tensors.
func sample(t testing.TB) []byte {
	f := NewFile()
	f.Set("general.architecture", String("llama"))
	f.Set("u8", Uint8(200))
	f.Set("i8", Int8(-5))
	f.Set("u16", Uint16(60000))
	f.Set("i16", Int16(-3000))
	f.Set("u32", Uint32(4000000000))
	f.Set("i32", Int32(-70000))
	f.Set("u64", Uint64(1<<60))
	f.Set("i64", Int64(-1<<60))
	f.Set("f32", Float32(1.5))
	f.Set("f64", Float64(-2.25))
	f.Set("b", Bool(true))
	f.Set("strs", Strings([]string{"a", "", "ünï"}))
	f.Set("floats", Float32s([]float32{1, 2, 3}))
	inner1, _ := Values(TypeInt32, []Value{Int32(1), Int32(2)})
	inner2 := Strings([]string{"x"})
	nested, err := Values(TypeArray, []Value{inner1, inner2})
	if err != nil {
		t.Fatal(err)
	}
	f.Set("nested", nested)
	if err := f.AddTensor("a", tensor.F32, tensor.Shape{3, 2}); err != nil {
		t.Fatal(err)
	}
	if err := f.AddTensor("b", tensor.Q8_0, tensor.Shape{64}); err != nil {
		t.Fatal(err)
	}
	return build(t, f)
}

func TestValuesRoundTrip(t *testing.T) {
	data := sample(t)
	f, err := Parse(bytes.NewReader(data), int64(len(data)), "sample.gguf")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		key  string
		want any
	}{
		{"u8", uint64(200)}, {"i8", int64(-5)}, {"u16", uint64(60000)}, {"i16", int64(-3000)},
		{"u32", uint64(4000000000)}, {"i32", int64(-70000)}, {"u64", uint64(1 << 60)}, {"i64", int64(-1 << 60)},
		{"f32", 1.5}, {"f64", -2.25}, {"b", true}, {"general.architecture", "llama"},
	}
	for _, tc := range tests {
		v, ok := f.Get(tc.key)
		if !ok {
			t.Fatalf("%s missing", tc.key)
		}
		if got := v.GoValue(); got != tc.want {
			t.Errorf("%s = %v (%T), want %v (%T)", tc.key, got, got, tc.want, tc.want)
		}
	}
	v, _ := f.Get("nested")
	a, ok := v.Array()
	if !ok || a.Elem != TypeArray || a.Len != 2 {
		t.Fatalf("nested = %+v", v)
	}
	got := v.GoValue().([]any)
	if got[0].([]any)[1] != int64(2) || got[1].([]any)[0] != "x" {
		t.Errorf("nested = %v", got)
	}
	s, err := f.Strings("strs")
	if err != nil || strings.Join(s, ",") != "a,,ünï" {
		t.Errorf("strs = %q, %v", s, err)
	}
	b, _ := f.Tensor("b")
	if b.Size != 34*2 || b.Offset%32 != 0 {
		t.Errorf("tensor b = %+v", b)
	}
}

// TestBadInput checks that malformed files give a FormatError naming the
// file, never a panic.
func TestBadInput(t *testing.T) {
	good := sample(t)
	f, err := Parse(bytes.NewReader(good), int64(len(good)), "x.gguf")
	if err != nil {
		t.Fatal(err)
	}
	// Offsets of fields in the sample, found by searching for the encoded key.
	keyPos := func(key string) int {
		i := bytes.Index(good, append(binary.LittleEndian.AppendUint64(nil, uint64(len(key))), key...))
		if i < 0 {
			t.Fatalf("key %s not found", key)
		}
		return i
	}
	tensorPos := func(name string) int {
		enc := append(binary.LittleEndian.AppendUint64(nil, uint64(len(name))), name...)
		enc = binary.LittleEndian.AppendUint32(enc, uint32(len(f.Tensors[f.tensorIndex[name]].Shape)))
		i := bytes.Index(good, enc)
		if i < 0 {
			t.Fatalf("tensor %s not found", name)
		}
		return i
	}
	put64 := func(off int, v uint64) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint64(b[off:], v) }
	}
	put32 := func(off int, v uint32) func([]byte) {
		return func(b []byte) { binary.LittleEndian.PutUint32(b[off:], v) }
	}
	bOff := tensorPos("b") + 8 + 1 + 4 + 8 + 4 // name, ndims, 1 dim, type
	tests := []struct {
		name   string
		mutate func([]byte)
		want   string
	}{
		{"bad magic", func(b []byte) { copy(b, "GGUG") }, "not a GGUF file"},
		{"v1", put32(4, 1), "v1"},
		{"big endian", put32(4, 0x03000000), "big-endian"},
		{"huge tensor count", put64(8, 1<<62), "tensor count"},
		{"huge kv count", put64(16, 1<<62), "metadata count"},
		{"huge key length", put64(24, 1<<50), "string length"},
		{"huge string length", put64(keyPos("general.architecture")+8+20+4, 1<<40), "exceeds"},
		{"unknown value type", put32(keyPos("u8")+8+2, 99), "unknown value type"},
		{"huge array count", put64(keyPos("floats")+8+6+4+4, 1<<61), "cannot fit"},
		{"bad bool", func(b []byte) { b[keyPos("b")+8+1+4] = 7 }, "neither 0 nor 1"},
		{"too many dims", put32(tensorPos("a")+8+1, 9), "dimensions"},
		{"unknown tensor type", put32(tensorPos("a")+8+1+4+16, 77), "unknown tensor type"},
		{"row not whole blocks", put64(tensorPos("b")+8+1+4, 33), "block size"},
		{"misaligned offset", put64(bOff, 3), "alignment"},
		{"offset past end", put64(bOff, 1<<40), "past the end"},
		{"overlap", put64(bOff, 0), "overlaps"},
		{"duplicate key", func(b []byte) { copy(b[keyPos("i8")+8:], "u8") }, "duplicate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := append([]byte(nil), good...)
			tc.mutate(b)
			_, err := Parse(bytes.NewReader(b), int64(len(b)), "x.gguf")
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("err = %v, want a FormatError", err)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "x.gguf") {
				t.Errorf("err = %q, want it to name the file and mention %q", err, tc.want)
			}
		})
	}
	// Every truncation of the file before the end of the last tensor's data
	// is an error, never a panic. (The final alignment padding is optional.)
	last := f.Tensors[len(f.Tensors)-1]
	for n := 0; n < int(f.TensorOffset(&last)+last.Size); n++ {
		if _, err := Parse(bytes.NewReader(good[:n]), int64(n), "x.gguf"); err == nil {
			t.Fatalf("file truncated to %d of %d bytes parsed without error", n, len(good))
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add(sample(f))
	for _, name := range []string{"llama/llama.f16.gguf", "qwen3/qwen3.f32.gguf"} {
		b, err := os.ReadFile(filepath.Join(fixtureDir(f), "archs", name))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b[:min(len(b), 4096)])
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := Parse(bytes.NewReader(data), int64(len(data)), "fuzz.gguf")
		if err != nil {
			return
		}
		// A file that parses must write back to a file that parses the same.
		var out bytes.Buffer
		if _, err := g.Write(&out, func(i int) (io.Reader, error) {
			ti := &g.Tensors[i]
			return io.NewSectionReader(bytes.NewReader(data), g.TensorOffset(ti), ti.Size), nil
		}); err != nil {
			t.Fatal(err)
		}
		h, err := Parse(bytes.NewReader(out.Bytes()), int64(out.Len()), "rewritten.gguf")
		if err != nil {
			t.Fatalf("rewritten file does not parse: %v", err)
		}
		if len(h.KVs) != len(g.KVs) || len(h.Tensors) != len(g.Tensors) {
			t.Fatal("rewritten file has different counts")
		}
	})
}

func fixtureDir(t testing.TB) string { return fixtures.Path(t) }
