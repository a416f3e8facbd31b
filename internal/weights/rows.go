package weights

import (
	"fmt"

	"golang.org/x/sys/unix"

	"github.com/memfit/memfit/internal/tensor"
)

// RowReader reads single rows of a tensor from disk on demand (token
// embeddings of a model that does not fit: a token needs one row, not the
// matrix), bypassing the page cache.
type RowReader struct {
	t      tensor.Tensor // Data detached; Shape and Type describe the rows
	file   string
	off    int64
	fd     int
	direct bool
	buf    []byte       // aligned: one row plus alignment
	shape  tensor.Shape // of one row, shared by the views Row returns
}

// NewRowReader detaches t from the mapping and returns a reader of its
// rows. Its buffer (a few KiB) is the caller's to count.
func (m *Model) NewRowReader(t *tensor.Tensor) (*RowReader, error) {
	b, err := m.Bind(t)
	if err != nil {
		return nil, err
	}
	r := &RowReader{t: *t, file: b.file, off: b.off, direct: true, shape: tensor.Shape{t.Shape[0], 1}}
	if r.fd, err = unix.Open(b.file, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0); err != nil {
		r.direct = false
		if r.fd, err = unix.Open(b.file, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
			return nil, fmt.Errorf("model %s: opening %s: %w", m.Path, b.file, err)
		}
	}
	if r.buf, err = alignedBuffer(r.BufferBytes()); err != nil {
		unix.Close(r.fd)
		return nil, err
	}
	return r, nil
}

// BufferBytes is the reader's buffer size.
func (r *RowReader) BufferBytes() int {
	return (r.t.RowBytes() + 2*streamAlign + streamAlign - 1) &^ (streamAlign - 1)
}

// Row returns row i as a one-row tensor view valid until the next call.
func (r *RowReader) Row(i int) (tensor.Tensor, error) {
	rb := int64(r.t.RowBytes())
	start := r.off + int64(i)*rb
	lo := start &^ (streamAlign - 1)
	hi := (start + rb + streamAlign - 1) &^ (streamAlign - 1)
	if _, err := preadFull(r.fd, r.buf[:hi-lo], lo); err != nil {
		return tensor.Tensor{}, fmt.Errorf("reading row %d of %s: %w", i, r.t.Name, err)
	}
	if !r.direct {
		_ = unix.Fadvise(r.fd, lo, hi-lo, unix.FADV_DONTNEED)
	}
	row := r.t
	row.Shape = r.shape
	row.Data = r.buf[start-lo : start-lo+rb : start-lo+rb]
	return row, nil
}

// Close frees the reader.
func (r *RowReader) Close() error {
	unix.Munmap(r.buf)
	return unix.Close(r.fd)
}
