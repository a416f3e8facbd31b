package gguf

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"

	"github.com/memfit/memfit/internal/tensor"
)

// MaxAlignment is the largest general.alignment accepted (1 MiB; llama.cpp
// writes 32, and larger values only pad the file).
const MaxAlignment = 1 << 20

// maxNesting bounds how deeply arrays may nest.
const maxNesting = 16

// FormatError reports a malformed GGUF file.
type FormatError struct {
	File   string // file name
	Offset int64  // byte offset where the bad field starts
	Field  string // what was being read
	Msg    string // what is wrong
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("gguf: %s: %s at offset %d: %s", e.File, e.Field, e.Offset, e.Msg)
}

// decoder reads little-endian fields sequentially, tracking the position and
// checking every length against the bytes left in the file.
type decoder struct {
	r    *bufio.Reader
	pos  int64
	size int64
	name string
	buf  [8]byte
}

func (d *decoder) errorf(at int64, field, format string, args ...any) error {
	return &FormatError{File: d.name, Offset: at, Field: field, Msg: fmt.Sprintf(format, args...)}
}

func (d *decoder) left() int64 { return d.size - d.pos }

func (d *decoder) read(p []byte, field string) error {
	if int64(len(p)) > d.left() {
		return d.errorf(d.pos, field, "file ends after %d more bytes, need %d", d.left(), len(p))
	}
	if _, err := io.ReadFull(d.r, p); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return d.errorf(d.pos, field, "unexpected end of file")
		}
		return d.errorf(d.pos, field, "%v", err)
	}
	d.pos += int64(len(p))
	return nil
}

func (d *decoder) u32(field string) (uint32, error) {
	if err := d.read(d.buf[:4], field); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint32(d.buf[:4]), nil
}

func (d *decoder) u64(field string) (uint64, error) {
	if err := d.read(d.buf[:8], field); err != nil {
		return 0, err
	}
	return binary.LittleEndian.Uint64(d.buf[:8]), nil
}

func (d *decoder) str(field string) (string, error) {
	at := d.pos
	n, err := d.u64(field + " length")
	if err != nil {
		return "", err
	}
	if n > uint64(d.left()) {
		return "", d.errorf(at, field, "string length %d exceeds the %d bytes left in the file", n, d.left())
	}
	b := make([]byte, n)
	if err := d.read(b, field); err != nil {
		return "", err
	}
	return string(b), nil
}

// value reads a value of type t.
func (d *decoder) value(t ValueType, field string, depth int) (Value, error) {
	at := d.pos
	switch {
	case t == TypeString:
		s, err := d.str(field)
		return Value{Type: t, str: s}, err
	case t == TypeArray:
		a, err := d.array(field, depth+1)
		return Value{Type: t, arr: a}, err
	case t.fixedSize() > 0:
		n := t.fixedSize()
		if err := d.read(d.buf[:n], field); err != nil {
			return Value{}, err
		}
		v := Value{Type: t, bits: scalarBits(d.buf[:n], t)}
		if t == TypeBool && v.bits > 1 {
			return Value{}, d.errorf(at, field, "bool value %d is neither 0 nor 1", v.bits)
		}
		return v, nil
	}
	return Value{}, d.errorf(at, field, "unknown value type %d", uint32(t))
}

func (d *decoder) array(field string, depth int) (*Array, error) {
	at := d.pos
	if depth > maxNesting {
		return nil, d.errorf(at, field, "arrays nested deeper than %d", maxNesting)
	}
	et, err := d.u32(field + " element type")
	if err != nil {
		return nil, err
	}
	elem := ValueType(et)
	if elem.minSize() == 0 {
		return nil, d.errorf(at, field, "unknown array element type %d", et)
	}
	n, err := d.u64(field + " count")
	if err != nil {
		return nil, err
	}
	if n > uint64(d.left())/uint64(elem.minSize()) {
		return nil, d.errorf(at+4, field, "array of %d %v elements cannot fit in the %d bytes left in the file", n, elem, d.left())
	}
	a := &Array{Elem: elem, Len: int(n)}
	switch elem {
	case TypeString:
		a.strs = make([]string, n)
		for i := range a.strs {
			if a.strs[i], err = d.str(field); err != nil {
				return nil, err
			}
		}
	case TypeArray:
		a.vals = make([]Value, n)
		for i := range a.vals {
			if a.vals[i], err = d.value(TypeArray, field, depth); err != nil {
				return nil, err
			}
		}
	default:
		a.raw = make([]byte, int(n)*elem.fixedSize())
		if err := d.read(a.raw, field); err != nil {
			return nil, err
		}
		if elem == TypeBool {
			for i, b := range a.raw {
				if b > 1 {
					return nil, d.errorf(d.pos-int64(len(a.raw))+int64(i), field, "bool value %d is neither 0 nor 1", b)
				}
			}
		}
	}
	return a, nil
}

// Parse reads the header, metadata and tensor index of a GGUF file of size
// bytes from r. name is used in errors. The tensor data is read later, from r,
// by ReadTensor.
func Parse(r io.ReaderAt, size int64, name string) (*File, error) {
	d := &decoder{r: bufio.NewReaderSize(io.NewSectionReader(r, 0, size), 1<<16), size: size, name: name}
	var magic [4]byte
	if err := d.read(magic[:], "magic"); err != nil {
		return nil, err
	}
	if string(magic[:]) != Magic {
		return nil, d.errorf(0, "magic", "got %q, want %q: not a GGUF file", magic[:], Magic)
	}
	version, err := d.u32("version")
	if err != nil {
		return nil, err
	}
	switch {
	case version == 2 || version == 3:
	case version == 1:
		return nil, d.errorf(4, "version", "GGUF v1 is not supported (want 2 or 3)")
	case version == 0x02000000 || version == 0x03000000:
		return nil, d.errorf(4, "version", "big-endian GGUF is not supported")
	default:
		return nil, d.errorf(4, "version", "unsupported version %d (want 2 or 3)", version)
	}
	nTensors, err := d.u64("tensor count")
	if err != nil {
		return nil, err
	}
	nKV, err := d.u64("metadata count")
	if err != nil {
		return nil, err
	}
	// Each KV takes at least 8 (key length) + 4 (type) + 1 bytes; each tensor
	// info at least 8 + 4 + 4 + 8.
	if nKV > uint64(d.left())/13 {
		return nil, d.errorf(16, "metadata count", "%d entries cannot fit in the %d bytes left in the file", nKV, d.left())
	}
	if nTensors > uint64(d.left())/24 {
		return nil, d.errorf(8, "tensor count", "%d tensors cannot fit in the %d bytes left in the file", nTensors, d.left())
	}
	f := &File{
		Name:        name,
		Version:     version,
		Alignment:   DefaultAlignment,
		KVs:         make([]KV, 0, nKV),
		kvIndex:     make(map[string]int, nKV),
		tensorIndex: make(map[string]int, nTensors),
		FileSize:    size,
		r:           r,
	}
	for i := uint64(0); i < nKV; i++ {
		at := d.pos
		key, err := d.str(fmt.Sprintf("metadata key %d", i))
		if err != nil {
			return nil, err
		}
		if _, dup := f.kvIndex[key]; dup {
			return nil, d.errorf(at, "metadata key "+key, "duplicate key")
		}
		t, err := d.u32("type of metadata " + key)
		if err != nil {
			return nil, err
		}
		v, err := d.value(ValueType(t), "metadata "+key, 0)
		if err != nil {
			return nil, err
		}
		f.kvIndex[key] = len(f.KVs)
		f.KVs = append(f.KVs, KV{Key: key, Value: v})
	}
	if v, ok := f.Get(KeyAlignment); ok {
		a, isU32 := v.Uint()
		if v.Type != TypeUint32 || !isU32 || a == 0 || a&(a-1) != 0 || a > MaxAlignment {
			return nil, &FormatError{File: name, Field: "metadata " + KeyAlignment, Msg: fmt.Sprintf("want a uint32 power of two up to %d, got %v %v", MaxAlignment, v.Type, v.GoValue())}
		}
		f.Alignment = int64(a)
	}
	f.Tensors = make([]TensorInfo, 0, nTensors)
	for i := uint64(0); i < nTensors; i++ {
		ti, err := d.tensorInfo(i)
		if err != nil {
			return nil, err
		}
		if _, dup := f.tensorIndex[ti.Name]; dup {
			return nil, d.errorf(d.pos, "tensor "+ti.Name, "duplicate tensor name")
		}
		f.tensorIndex[ti.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, ti)
	}
	f.DataOffset = alignUp(d.pos, f.Alignment)
	if err := f.checkTensorData(); err != nil {
		return nil, err
	}
	return f, nil
}

func (d *decoder) tensorInfo(i uint64) (TensorInfo, error) {
	at := d.pos
	name, err := d.str(fmt.Sprintf("name of tensor %d", i))
	if err != nil {
		return TensorInfo{}, err
	}
	field := "tensor " + name
	nd, err := d.u32(field + " dimension count")
	if err != nil {
		return TensorInfo{}, err
	}
	if nd > MaxDims {
		return TensorInfo{}, d.errorf(at, field, "%d dimensions, at most %d allowed", nd, MaxDims)
	}
	shape := make(tensor.Shape, nd)
	for j := range shape {
		n, err := d.u64(field + " dimension")
		if err != nil {
			return TensorInfo{}, err
		}
		if n > math.MaxInt64 {
			return TensorInfo{}, d.errorf(at, field, "dimension %d is %d, too large", j, n)
		}
		shape[j] = int64(n)
	}
	if shape.Elems() < 0 {
		return TensorInfo{}, d.errorf(at, field, "shape %v has too many elements", shape)
	}
	tt, err := d.u32(field + " type")
	if err != nil {
		return TensorInfo{}, err
	}
	typ := tensor.DType(tt)
	if !typ.Known() {
		return TensorInfo{}, d.errorf(at, field, "unknown tensor type %d", tt)
	}
	sz, err := tensor.Bytes(typ, shape)
	if err != nil {
		return TensorInfo{}, d.errorf(at, field, "%v", err)
	}
	off, err := d.u64(field + " offset")
	if err != nil {
		return TensorInfo{}, err
	}
	if off > math.MaxInt64 {
		return TensorInfo{}, d.errorf(at, field, "offset %d is too large", off)
	}
	return TensorInfo{Name: name, Type: typ, Shape: shape, Offset: int64(off), Size: sz}, nil
}

// checkTensorData checks that every tensor's data is aligned, lies inside the
// file and overlaps no other tensor.
func (f *File) checkTensorData() error {
	if len(f.Tensors) == 0 {
		return nil
	}
	if f.DataOffset > f.FileSize {
		return &FormatError{File: f.Name, Offset: f.DataOffset, Field: "data section", Msg: fmt.Sprintf("starts past the end of the %d-byte file", f.FileSize)}
	}
	dataLen := f.FileSize - f.DataOffset
	order := make([]int, len(f.Tensors))
	for i := range order {
		order[i] = i
	}
	for _, i := range order {
		t := &f.Tensors[i]
		if t.Offset%f.Alignment != 0 {
			return &FormatError{File: f.Name, Offset: f.DataOffset + t.Offset, Field: "tensor " + t.Name + " offset", Msg: fmt.Sprintf("offset %d is not a multiple of the alignment %d", t.Offset, f.Alignment)}
		}
		if t.Offset > dataLen || t.Size > dataLen-t.Offset {
			return &FormatError{File: f.Name, Offset: f.DataOffset + t.Offset, Field: "tensor " + t.Name + " data", Msg: fmt.Sprintf("%d bytes at data offset %d run past the end of the file (data section is %d bytes)", t.Size, t.Offset, dataLen)}
		}
	}
	sort.Slice(order, func(a, b int) bool { return f.Tensors[order[a]].Offset < f.Tensors[order[b]].Offset })
	for k := 1; k < len(order); k++ {
		prev, cur := &f.Tensors[order[k-1]], &f.Tensors[order[k]]
		if prev.Offset+prev.Size > cur.Offset {
			return &FormatError{File: f.Name, Offset: f.DataOffset + cur.Offset, Field: "tensor " + cur.Name + " offset", Msg: fmt.Sprintf("data overlaps tensor %s", prev.Name)}
		}
	}
	return nil
}

func alignUp(n, a int64) int64 { return (n + a - 1) / a * a }
