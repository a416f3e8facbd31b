// Package weights owns the bytes of a model's tensors and hands out typed
// views of them. This first residency mode maps the model's files read-only
// (mmap) and counts every mapped byte on the ledger; streaming and expert
// residency build on the same views.
package weights

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/memfit/memfit/internal/gguf"
	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/safetensors"
	"github.com/memfit/memfit/internal/tensor"
)

// Format is the on-disk format of a model.
type Format int

// The model formats memfit reads.
const (
	GGUF Format = iota + 1 // one .gguf file
	HF                     // a Hugging Face folder with safetensors
)

func (f Format) String() string {
	switch f {
	case GGUF:
		return "gguf"
	case HF:
		return "hf"
	}
	return "unknown"
}

// Detect tells whether path is a GGUF file or a Hugging Face folder.
func Detect(path string) (Format, error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("model %s: %w", path, err)
	}
	if st.IsDir() {
		if _, err := os.Stat(filepath.Join(path, "config.json")); err != nil {
			return 0, fmt.Errorf("model %s: a model folder needs config.json: %w", path, err)
		}
		return HF, nil
	}
	fh, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("model %s: %w", path, err)
	}
	defer fh.Close()
	var magic [4]byte
	if _, err := fh.ReadAt(magic[:], 0); err != nil || string(magic[:]) != gguf.Magic {
		return 0, fmt.Errorf("model %s: not a GGUF file (no GGUF magic) and not a Hugging Face folder", path)
	}
	return GGUF, nil
}

// Model is an opened model: its tensor index and the mapped bytes.
type Model struct {
	Path   string
	Format Format
	GGUF   *gguf.File              // set for GGUF
	HF     *safetensors.Checkpoint // set for HF

	maps    map[string][]byte // file path → mapping (or loaded copy)
	anon    map[string]bool   // files loaded into anonymous memory
	regions []residentRegion  // tensors LoadResident read out of the mappings
	ledger  *ledger.Ledger
	res     *ledger.Reservation
}

// Open opens the model at path (a GGUF file or a Hugging Face folder) and
// reserves on l, as "weights", the bytes that will be in memory: resident
// bytes, or (resident < 0) every byte of the files. With resident < 0 the
// files are read into anonymous memory in huge pages (loadFile); with
// resident ≥ 0 they are mapped, advised MADV_RANDOM, so touching a
// resident tensor does not read ahead into streamed ones, and the caller
// reads the resident tensors out of the mapping with LoadResident.
func Open(path string, l *ledger.Ledger, resident int64) (*Model, error) {
	format, err := Detect(path)
	if err != nil {
		return nil, err
	}
	m := &Model{Path: path, Format: format, maps: map[string][]byte{}, anon: map[string]bool{}, ledger: l}
	var files []string
	switch format {
	case GGUF:
		if m.GGUF, err = gguf.Open(path); err != nil {
			return nil, err
		}
		m.GGUF.Close() // the data is read through the mapping
		files = []string{path}
	case HF:
		if m.HF, err = safetensors.OpenDir(path); err != nil {
			return nil, err
		}
		for _, f := range m.HF.Files {
			files = append(files, f.Path)
		}
	}
	var total int64
	for _, p := range files {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("model %s: %w", path, err)
		}
		total += st.Size()
	}
	if resident >= 0 {
		total = resident
	}
	if l != nil {
		if m.res, err = l.Reserve("weights", total); err != nil {
			return nil, fmt.Errorf("model %s: mapping %d bytes of weights: %w", path, total, err)
		}
	}
	for _, p := range files {
		var b []byte
		if resident < 0 {
			// Every byte stays: read it into huge pages (see loadFile).
			b, err = loadFile(p)
			m.anon[p] = true
		} else {
			b, err = mapFile(p)
		}
		if err != nil {
			m.Close()
			return nil, fmt.Errorf("model %s: %w", path, err)
		}
		m.maps[p] = b
		if resident >= 0 && len(b) > 0 {
			_ = unix.Madvise(b, unix.MADV_RANDOM)
		}
	}
	return m, nil
}

func mapFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	st, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if st.Size() == 0 {
		return []byte{}, nil
	}
	b, err := unix.Mmap(int(fh.Fd()), 0, int(st.Size()), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("mmap %s: %w", path, err)
	}
	return b, nil
}

// Close unmaps the files, frees what LoadResident read and releases the
// reservations. Views handed out before must not be used after Close.
func (m *Model) Close() error {
	var errs []error
	if err := m.freeRegions(); err != nil {
		errs = append(errs, err)
	}
	for p, b := range m.maps {
		if m.anon[p] {
			if err := freeRegion(b); err != nil {
				errs = append(errs, fmt.Errorf("munmap %s: %w", p, err))
			}
		} else if len(b) > 0 {
			if err := unix.Munmap(b); err != nil {
				errs = append(errs, fmt.Errorf("munmap %s: %w", p, err))
			}
		}
		delete(m.maps, p)
	}
	m.res.Release()
	m.res = nil
	return errors.Join(errs...)
}

// ErrNoTensor is wrapped by Tensor's error when the name is not in the model.
var ErrNoTensor = fs.ErrNotExist

// Tensor returns a view of the named tensor's bytes.
func (m *Model) Tensor(name string) (tensor.Tensor, error) {
	switch m.Format {
	case GGUF:
		ti, ok := m.GGUF.Tensor(name)
		if !ok {
			return tensor.Tensor{}, fmt.Errorf("model %s: tensor %s: %w", m.Path, name, ErrNoTensor)
		}
		b := m.maps[m.Path]
		off := m.GGUF.TensorOffset(ti)
		return tensor.Tensor{Name: name, Type: ti.Type, Shape: ti.Shape, Data: b[off : off+ti.Size : off+ti.Size]}, nil
	case HF:
		ti, ok := m.HF.Tensor(name)
		if !ok {
			return tensor.Tensor{}, fmt.Errorf("model %s: tensor %s: %w", m.Path, name, ErrNoTensor)
		}
		b := m.maps[ti.File]
		return tensor.Tensor{Name: name, Type: ti.Type, Shape: ti.Shape, Data: b[ti.Offset : ti.Offset+ti.Size : ti.Offset+ti.Size]}, nil
	}
	return tensor.Tensor{}, fmt.Errorf("model %s: unknown format", m.Path)
}

// Has reports whether the model holds the named tensor.
func (m *Model) Has(name string) bool {
	switch m.Format {
	case GGUF:
		_, ok := m.GGUF.Tensor(name)
		return ok
	case HF:
		_, ok := m.HF.Tensor(name)
		return ok
	}
	return false
}

// Names returns every tensor name in file order (GGUF) or sorted (HF).
func (m *Model) Names() []string {
	if m.Format == GGUF {
		out := make([]string, len(m.GGUF.Tensors))
		for i, t := range m.GGUF.Tensors {
			out[i] = t.Name
		}
		return out
	}
	return m.HF.Names()
}

// Dir returns the folder holding the model's side files (config.json,
// tokenizer.json): the model folder, or the GGUF file's folder.
func (m *Model) Dir() string {
	if m.Format == HF {
		return m.Path
	}
	return filepath.Dir(m.Path)
}

// IsGGUFName reports whether a path names a GGUF file by extension.
func IsGGUFName(path string) bool { return strings.EqualFold(filepath.Ext(path), ".gguf") }
