// Package convert presents a model file as llama.cpp's GGUF form: metadata
// keys in order and tensors under llama.cpp's names, shapes and layouts. A
// GGUF file is presented as it is; a Hugging Face folder is converted as
// llama.cpp's convert_hf_to_gguf.py converts it (tensor names, Q/K row
// permutation, stacked experts, norms baked in, rope factors, the
// hyper-parameter keys, and the tokenizer.ggml.* vocabulary), reading
// tensors lazily row range by row range so that a model of any size is
// converted in bounded memory. Weights keep the precision of the checkpoint
// (F32, F16 or BF16), except the tensors the converter always writes in F32.
package convert

import (
	"fmt"
	"io"
	"os"

	"github.com/memfit/memfit/internal/gguf"
	"github.com/memfit/memfit/internal/tensor"
)

// Model is a model in GGUF form.
type Model struct {
	Path    string      // the file or folder it came from
	Format  string      // "gguf" or "hf"
	KVs     []gguf.KV   // metadata, in file order
	Tensors []Tensor    // in file order
	closers []io.Closer // files held open for reading tensor data
}

// Tensor is one tensor of a Model.
type Tensor struct {
	Name  string
	Type  tensor.DType // type of the bytes ReadRows returns
	Shape tensor.Shape // ggml order: Shape[0] is the row length
	src   rowReader
}

// rowReader reads whole rows of one tensor.
type rowReader interface {
	// readRows fills dst with rows [r0, r1) in the tensor's type.
	readRows(dst []byte, r0, r1 int64) error
}

// Rows is the number of rows (the product of the dimensions after the
// first).
func (t *Tensor) Rows() int64 { return t.Shape.Rows() }

// RowBytes is the size of one row in Type.
func (t *Tensor) RowBytes() int64 {
	n, _ := t.Type.RowBytes(t.Shape[0])
	return n
}

// Bytes is the size of the whole tensor in Type.
func (t *Tensor) Bytes() int64 { return t.RowBytes() * t.Rows() }

// ReadRows fills dst, which must hold exactly rows [r0, r1), with those
// rows.
func (t *Tensor) ReadRows(dst []byte, r0, r1 int64) error {
	if r0 < 0 || r1 < r0 || r1 > t.Rows() {
		return fmt.Errorf("convert: tensor %s: rows [%d, %d) outside its %d rows", t.Name, r0, r1, t.Rows())
	}
	if want := (r1 - r0) * t.RowBytes(); int64(len(dst)) != want {
		return fmt.Errorf("convert: tensor %s: buffer of %d bytes for %d rows, want %d", t.Name, len(dst), r1-r0, want)
	}
	if err := t.src.readRows(dst, r0, r1); err != nil {
		return fmt.Errorf("convert: tensor %s: %w", t.Name, err)
	}
	return nil
}

// Get returns the metadata value of key.
func (m *Model) Get(key string) (gguf.Value, bool) {
	for _, kv := range m.KVs {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return gguf.Value{}, false
}

// Close closes the files the model reads from.
func (m *Model) Close() error {
	var first error
	for _, c := range m.closers {
		if err := c.Close(); err != nil && first == nil {
			first = err
		}
	}
	m.closers = nil
	return first
}

// Open opens the model at path: a GGUF file, or a Hugging Face folder
// (config.json, safetensors, tokenizer.json), converted.
func Open(path string) (*Model, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	if st.IsDir() {
		return FromHF(path)
	}
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("convert: %s is neither a Hugging Face folder nor a readable GGUF file: %w", path, err)
	}
	m, err := FromGGUF(f)
	if err != nil {
		f.Close()
		return nil, err
	}
	m.closers = append(m.closers, f)
	return m, nil
}

// FromGGUF presents an open GGUF file as it is. The file stays owned by the
// caller (Close does not close it).
func FromGGUF(f *gguf.File) (*Model, error) {
	m := &Model{Path: f.Name, Format: "gguf", KVs: f.KVs}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		if !ti.Type.Known() {
			return nil, fmt.Errorf("convert: %s: tensor %s has type %v, which memfit does not know", f.Name, ti.Name, ti.Type)
		}
		if len(ti.Shape) == 0 {
			return nil, fmt.Errorf("convert: %s: tensor %s has no dimensions", f.Name, ti.Name)
		}
		t := Tensor{Name: ti.Name, Type: ti.Type, Shape: ti.Shape}
		rb := t.RowBytes()
		t.src = ggufRows{r: f.ReaderAt(), off: f.TensorOffset(ti), rowBytes: rb}
		m.Tensors = append(m.Tensors, t)
	}
	return m, nil
}

// ggufRows reads rows of a tensor stored contiguously in a file.
type ggufRows struct {
	r        io.ReaderAt
	off      int64
	rowBytes int64
}

func (g ggufRows) readRows(dst []byte, r0, r1 int64) error {
	if _, err := g.r.ReadAt(dst, g.off+r0*g.rowBytes); err != nil {
		return fmt.Errorf("reading rows %d to %d: %w", r0, r1, err)
	}
	return nil
}
