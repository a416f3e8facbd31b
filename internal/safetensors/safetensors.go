// Package safetensors reads Hugging Face safetensors checkpoints: a single
// file or a sharded set with model.safetensors.index.json. Tensor types F32,
// F16 and BF16 are supported. The header is validated against the file before
// any offset is used, and errors name the file, the tensor and what was
// expected.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/memfit/memfit/internal/tensor"
)

// MaxHeaderBytes bounds the JSON header (the format's reference
// implementation uses 100 MB).
const MaxHeaderBytes = 100 << 20

// TensorInfo is one tensor of a checkpoint.
type TensorInfo struct {
	Name   string
	Type   tensor.DType
	Shape  tensor.Shape // ggml order (innermost first): a PyTorch [out, in] matrix is {in, out}
	File   string       // path of the file holding the data
	Offset int64        // absolute offset of the data in File
	Size   int64        // bytes
}

// File is one parsed safetensors file.
type File struct {
	Path     string
	Metadata map[string]string // the __metadata__ entry
	Tensors  []TensorInfo      // sorted by offset
	DataOff  int64             // start of the data section
	Size     int64
}

var dtypes = map[string]tensor.DType{"F32": tensor.F32, "F16": tensor.F16, "BF16": tensor.BF16}

// headerEntry is one tensor's entry in the JSON header.
type headerEntry struct {
	Dtype       string   `json:"dtype"`
	Shape       []int64  `json:"shape"`
	DataOffsets [2]int64 `json:"data_offsets"`
}

// Parse reads the header of the safetensors file of size bytes in r. path
// is used in errors and recorded in each TensorInfo.
func Parse(r io.ReaderAt, size int64, path string) (*File, error) {
	if size < 8 {
		return nil, fmt.Errorf("safetensors: %s: file is %d bytes, too short for the 8-byte header length", path, size)
	}
	var lenBuf [8]byte
	if _, err := r.ReadAt(lenBuf[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: %s: reading header length: %w", path, err)
	}
	n := binary.LittleEndian.Uint64(lenBuf[:])
	if n > MaxHeaderBytes {
		return nil, fmt.Errorf("safetensors: %s: header length %d exceeds the %d-byte limit", path, n, MaxHeaderBytes)
	}
	if n > uint64(size-8) {
		return nil, fmt.Errorf("safetensors: %s: header length %d runs past the end of the %d-byte file", path, n, size)
	}
	hdr := make([]byte, n)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, fmt.Errorf("safetensors: %s: reading header: %w", path, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		return nil, fmt.Errorf("safetensors: %s: header is not a JSON object: %w", path, err)
	}
	f := &File{Path: path, DataOff: 8 + int64(n), Size: size}
	dataLen := size - f.DataOff
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors: %s: __metadata__ must map strings to strings: %w", path, err)
			}
			continue
		}
		var e headerEntry
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("safetensors: %s: tensor %s: bad header entry: %w", path, name, err)
		}
		dt, ok := dtypes[e.Dtype]
		if !ok {
			return nil, fmt.Errorf("safetensors: %s: tensor %s: dtype %q is not supported (want F32, F16 or BF16)", path, name, e.Dtype)
		}
		if len(e.Shape) > 4 {
			return nil, fmt.Errorf("safetensors: %s: tensor %s: %d dimensions, at most 4 supported", path, name, len(e.Shape))
		}
		shape := make(tensor.Shape, len(e.Shape))
		for i, d := range e.Shape {
			if d < 0 {
				return nil, fmt.Errorf("safetensors: %s: tensor %s: negative dimension %d", path, name, d)
			}
			shape[len(e.Shape)-1-i] = d
		}
		want, err := tensor.Bytes(dt, shape)
		if err != nil {
			return nil, fmt.Errorf("safetensors: %s: tensor %s: %w", path, name, err)
		}
		begin, end := e.DataOffsets[0], e.DataOffsets[1]
		if begin < 0 || end < begin || end > dataLen {
			return nil, fmt.Errorf("safetensors: %s: tensor %s: data_offsets [%d, %d] outside the %d-byte data section", path, name, begin, end, dataLen)
		}
		if end-begin != want {
			return nil, fmt.Errorf("safetensors: %s: tensor %s: data_offsets span %d bytes, but %s %v needs %d", path, name, end-begin, e.Dtype, e.Shape, want)
		}
		f.Tensors = append(f.Tensors, TensorInfo{Name: name, Type: dt, Shape: shape, File: path, Offset: f.DataOff + begin, Size: want})
	}
	sort.Slice(f.Tensors, func(i, j int) bool {
		if f.Tensors[i].Offset != f.Tensors[j].Offset {
			return f.Tensors[i].Offset < f.Tensors[j].Offset
		}
		return f.Tensors[i].Name < f.Tensors[j].Name
	})
	for i := 1; i < len(f.Tensors); i++ {
		a, b := &f.Tensors[i-1], &f.Tensors[i]
		if a.Offset+a.Size > b.Offset {
			return nil, fmt.Errorf("safetensors: %s: tensor %s overlaps tensor %s", path, b.Name, a.Name)
		}
	}
	return f, nil
}

// Open parses the header of the safetensors file at path.
func Open(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	if st.Size() > math.MaxInt64/2 {
		return nil, fmt.Errorf("safetensors: %s: file too large", path)
	}
	return Parse(fh, st.Size(), path)
}
