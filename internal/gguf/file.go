// Package gguf reads and writes GGUF files (versions 2 and 3) as llama.cpp
// writes them: metadata of every value type including nested arrays,
// general.alignment, and the tensor index. Every count, size and offset read
// from a file is checked against the file before it is used, and every error
// names the file, the field and what was expected.
package gguf

import (
	"fmt"
	"io"
	"os"

	"github.com/memfit/memfit/internal/tensor"
)

// Magic is the first four bytes of every GGUF file.
const Magic = "GGUF"

// DefaultAlignment is the data alignment when general.alignment is absent.
const DefaultAlignment = 32

// KeyAlignment is the metadata key that sets the data alignment.
const KeyAlignment = "general.alignment"

// MaxDims is the largest number of dimensions a tensor may have (GGML_MAX_DIMS).
const MaxDims = 4

// KV is one metadata entry.
type KV struct {
	Key   string
	Value Value
}

// TensorInfo is one entry of the tensor index.
type TensorInfo struct {
	Name   string
	Type   tensor.DType
	Shape  tensor.Shape // ggml order: Shape[0] is the row length
	Offset int64        // from the start of the data section
	Size   int64        // bytes of data
}

// File is a parsed GGUF header: metadata and tensor index, plus the reader
// the tensor data comes from.
type File struct {
	Name       string // file name, used in errors
	Version    uint32
	Alignment  int64
	KVs        []KV
	Tensors    []TensorInfo
	DataOffset int64 // absolute offset of the data section
	FileSize   int64

	kvIndex     map[string]int
	tensorIndex map[string]int
	r           io.ReaderAt
	closer      io.Closer
}

// Open parses the GGUF file at path. The file stays open for ReadTensor until
// Close.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return nil, fmt.Errorf("gguf: %w", err)
	}
	f, err := Parse(fh, st.Size(), path)
	if err != nil {
		fh.Close()
		return nil, err
	}
	f.closer = fh
	return f, nil
}

// Close closes the underlying file, if Open opened it.
func (f *File) Close() error {
	if f.closer == nil {
		return nil
	}
	err := f.closer.Close()
	f.closer = nil
	return err
}

// Get returns the metadata value for key.
func (f *File) Get(key string) (Value, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return Value{}, false
	}
	return f.KVs[i].Value, true
}

// Tensor returns the index entry of the named tensor.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// TensorOffset returns the absolute file offset of a tensor's data.
func (f *File) TensorOffset(ti *TensorInfo) int64 { return f.DataOffset + ti.Offset }

// ReadTensor reads the data of ti into dst, which must be ti.Size bytes.
func (f *File) ReadTensor(ti *TensorInfo, dst []byte) error {
	if int64(len(dst)) != ti.Size {
		return fmt.Errorf("gguf: %s: tensor %s: buffer of %d bytes, want %d", f.Name, ti.Name, len(dst), ti.Size)
	}
	if f.r == nil {
		return fmt.Errorf("gguf: %s: no reader for tensor data", f.Name)
	}
	if _, err := f.r.ReadAt(dst, f.TensorOffset(ti)); err != nil {
		return fmt.Errorf("gguf: %s: reading tensor %s: %w", f.Name, ti.Name, err)
	}
	return nil
}

// ReaderAt returns the reader tensor data is read from.
func (f *File) ReaderAt() io.ReaderAt { return f.r }

// keyError builds the error for a metadata key that is missing or has the
// wrong type.
func (f *File) keyError(key, want string) error {
	v, ok := f.Get(key)
	if !ok {
		return fmt.Errorf("gguf: %s: metadata key %s is missing (want %s)", f.Name, key, want)
	}
	t := v.Type.String()
	if a, ok := v.Array(); ok {
		t = "array of " + a.Elem.String()
	}
	return fmt.Errorf("gguf: %s: metadata key %s has type %s, want %s", f.Name, key, t, want)
}

// String returns a string metadata value, or an error naming the key.
func (f *File) String(key string) (string, error) {
	v, _ := f.Get(key)
	if s, ok := v.Str(); ok {
		return s, nil
	}
	return "", f.keyError(key, "string")
}

// Uint returns a non-negative integer metadata value of any integer type.
func (f *File) Uint(key string) (uint64, error) {
	v, _ := f.Get(key)
	if x, ok := v.Uint(); ok {
		return x, nil
	}
	return 0, f.keyError(key, "a non-negative integer")
}

// Float returns a float (or integer) metadata value.
func (f *File) Float(key string) (float64, error) {
	v, _ := f.Get(key)
	if x, ok := v.Float(); ok {
		return x, nil
	}
	return 0, f.keyError(key, "a number")
}

// Bool returns a bool metadata value.
func (f *File) Bool(key string) (bool, error) {
	v, _ := f.Get(key)
	if x, ok := v.Bool(); ok {
		return x, nil
	}
	return false, f.keyError(key, "bool")
}

// Strings returns an array-of-strings metadata value.
func (f *File) Strings(key string) ([]string, error) {
	v, _ := f.Get(key)
	if a, ok := v.Array(); ok {
		if s, ok := a.Strings(); ok {
			return s, nil
		}
	}
	return nil, f.keyError(key, "array of string")
}

// Has reports whether key is present.
func (f *File) Has(key string) bool {
	_, ok := f.kvIndex[key]
	return ok
}
