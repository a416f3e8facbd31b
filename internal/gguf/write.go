package gguf

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"

	"github.com/memfit/memfit/internal/tensor"
)

// NewFile returns an empty GGUF v3 file description to fill and write, with
// the default alignment.
func NewFile() *File {
	return &File{Version: 3, Alignment: DefaultAlignment, kvIndex: map[string]int{}, tensorIndex: map[string]int{}}
}

// Set sets metadata key to v, replacing an existing entry in place or
// appending a new one.
func (f *File) Set(key string, v Value) {
	if f.kvIndex == nil {
		f.kvIndex = map[string]int{}
	}
	if i, ok := f.kvIndex[key]; ok {
		f.KVs[i].Value = v
	} else {
		f.kvIndex[key] = len(f.KVs)
		f.KVs = append(f.KVs, KV{Key: key, Value: v})
	}
	if key == KeyAlignment {
		if a, ok := v.Uint(); ok && a > 0 {
			f.Alignment = int64(a)
		}
	}
}

// AddTensor appends a tensor to the index; Layout assigns its offset.
func (f *File) AddTensor(name string, typ tensor.DType, shape tensor.Shape) error {
	if f.tensorIndex == nil {
		f.tensorIndex = map[string]int{}
	}
	if _, dup := f.tensorIndex[name]; dup {
		return fmt.Errorf("gguf: duplicate tensor %s", name)
	}
	if len(shape) > MaxDims {
		return fmt.Errorf("gguf: tensor %s: %d dimensions, at most %d allowed", name, len(shape), MaxDims)
	}
	sz, err := tensor.Bytes(typ, shape)
	if err != nil {
		return fmt.Errorf("gguf: tensor %s: %w", name, err)
	}
	f.tensorIndex[name] = len(f.Tensors)
	f.Tensors = append(f.Tensors, TensorInfo{Name: name, Type: typ, Shape: append(tensor.Shape(nil), shape...), Size: sz})
	return nil
}

// Layout assigns tensor offsets in index order, each aligned, and sets
// DataOffset; it returns the total file size.
func (f *File) Layout() int64 {
	var off int64
	for i := range f.Tensors {
		f.Tensors[i].Offset = off
		off = alignUp(off+f.Tensors[i].Size, f.Alignment)
	}
	f.DataOffset = alignUp(f.headerSize(), f.Alignment)
	if len(f.Tensors) == 0 {
		return f.DataOffset
	}
	last := f.Tensors[len(f.Tensors)-1]
	return f.DataOffset + alignUp(last.Offset+last.Size, f.Alignment)
}

func (f *File) headerSize() int64 {
	n := int64(4 + 4 + 8 + 8)
	for _, kv := range f.KVs {
		n += 8 + int64(len(kv.Key)) + 4 + valueSize(kv.Value)
	}
	for _, t := range f.Tensors {
		n += 8 + int64(len(t.Name)) + 4 + 8*int64(len(t.Shape)) + 4 + 8
	}
	return n
}

func valueSize(v Value) int64 {
	switch v.Type {
	case TypeString:
		return 8 + int64(len(v.str))
	case TypeArray:
		n := int64(12)
		a := v.arr
		switch a.Elem {
		case TypeString:
			for _, s := range a.strs {
				n += 8 + int64(len(s))
			}
		case TypeArray:
			for _, e := range a.vals {
				n += valueSize(e)
			}
		default:
			n += int64(len(a.raw))
		}
		return n
	}
	return int64(v.Type.fixedSize())
}

// encoder writes little-endian fields.
type encoder struct {
	w   *bufio.Writer
	n   int64
	buf [8]byte
}

func (e *encoder) bytes(p []byte) {
	nn, _ := e.w.Write(p)
	e.n += int64(nn)
}

func (e *encoder) str(s string) {
	e.u64(uint64(len(s)))
	nn, _ := e.w.WriteString(s)
	e.n += int64(nn)
}

func (e *encoder) u32(v uint32) {
	binary.LittleEndian.PutUint32(e.buf[:4], v)
	e.bytes(e.buf[:4])
}

func (e *encoder) u64(v uint64) {
	binary.LittleEndian.PutUint64(e.buf[:8], v)
	e.bytes(e.buf[:8])
}

func (e *encoder) value(v Value) {
	switch v.Type {
	case TypeString:
		e.str(v.str)
	case TypeArray:
		a := v.arr
		e.u32(uint32(a.Elem))
		e.u64(uint64(a.Len))
		switch a.Elem {
		case TypeString:
			for _, s := range a.strs {
				e.str(s)
			}
		case TypeArray:
			for _, x := range a.vals {
				e.value(x)
			}
		default:
			e.bytes(a.raw)
		}
	default:
		n := v.Type.fixedSize()
		putScalar(e.buf[:n], v.Type, v.bits)
		e.bytes(e.buf[:n])
	}
}

// WriteHeader writes the header, metadata and tensor index with the offsets
// the tensors have now, then zero padding up to DataOffset. Call Layout first
// for a new file; a parsed file keeps the offsets it was read with.
func (f *File) WriteHeader(w io.Writer) error {
	e := &encoder{w: bufio.NewWriterSize(w, 1<<16)}
	e.bytes([]byte(Magic))
	e.u32(f.Version)
	e.u64(uint64(len(f.Tensors)))
	e.u64(uint64(len(f.KVs)))
	for _, kv := range f.KVs {
		e.str(kv.Key)
		e.u32(uint32(kv.Value.Type))
		e.value(kv.Value)
	}
	for _, t := range f.Tensors {
		e.str(t.Name)
		e.u32(uint32(len(t.Shape)))
		for _, d := range t.Shape {
			e.u64(uint64(d))
		}
		e.u32(uint32(t.Type))
		e.u64(uint64(t.Offset))
	}
	if e.n > f.DataOffset {
		return fmt.Errorf("gguf: header is %d bytes but the data section starts at %d", e.n, f.DataOffset)
	}
	if len(f.Tensors) > 0 {
		// A file without tensors ends after its index, unpadded, as
		// llama.cpp writes vocabulary-only files.
		e.bytes(make([]byte, f.DataOffset-e.n))
	}
	return e.w.Flush()
}

// Write writes the whole file: the header, then every tensor's data read
// from data(i) (exactly Tensors[i].Size bytes) at its offset, with zero
// padding between tensors and after the last one up to the alignment. A file
// read by Parse and written back by Write with its own tensor data is
// byte-identical to the original when its padding was zeros.
func (f *File) Write(w io.Writer, data func(i int) (io.Reader, error)) (int64, error) {
	cw := &countWriter{w: w}
	if err := f.WriteHeader(cw); err != nil {
		return cw.n, err
	}
	pos := int64(0)
	for i := range f.Tensors {
		t := &f.Tensors[i]
		if t.Offset < pos {
			return cw.n, fmt.Errorf("gguf: tensor %s at data offset %d overlaps the previous tensor (ends at %d); write tensors in offset order", t.Name, t.Offset, pos)
		}
		if err := zeros(cw, t.Offset-pos); err != nil {
			return cw.n, err
		}
		r, err := data(i)
		if err != nil {
			return cw.n, fmt.Errorf("gguf: tensor %s: %w", t.Name, err)
		}
		n, err := io.CopyN(cw, r, t.Size)
		if err != nil {
			return cw.n, fmt.Errorf("gguf: tensor %s: wrote %d of %d bytes: %w", t.Name, n, t.Size, err)
		}
		pos = t.Offset + t.Size
	}
	if len(f.Tensors) > 0 {
		if err := zeros(cw, alignUp(pos, f.Alignment)-pos); err != nil {
			return cw.n, err
		}
	}
	return cw.n, nil
}

func zeros(w io.Writer, n int64) error {
	var z [4096]byte
	for n > 0 {
		k := min(n, int64(len(z)))
		if _, err := w.Write(z[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
