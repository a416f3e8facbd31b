package weights

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/tensor"
)

// streamAlign is the alignment of O_DIRECT reads.
const streamAlign = 4096

// mergeGap is the largest hole between two tensors of a unit that is read
// through rather than starting a new read.
const mergeGap = 256 << 10

// readChunk is the size of one read call.
const readChunk = 8 << 20

// Binding is one tensor view that a stream unit fills: while the unit is
// acquired, *T's Data points into the stream buffer holding it.
type Binding struct {
	T *tensor.Tensor
	// file and off locate the tensor's bytes (from Locate); n is their
	// length.
	file string
	off  int64
	n    int64
	pos  int64 // offset in the unit's buffer
}

// unit is the data of one streamed layer: aligned file ranges read one
// after the other into a buffer.
type unit struct {
	layer    int
	ranges   []span
	bytes    int64 // buffer bytes the ranges take
	bindings []Binding
}

type span struct {
	file     string
	off, end int64 // aligned
	pos      int64 // where it goes in the buffer
}

// Streamer reads the streamed layers of a model, in order and over and
// over, into a ring of two buffers, one layer ahead of the forward pass: the
// next layer is read while this one computes. Reads bypass the page cache
// (O_DIRECT; where the file system refuses it, reads are followed by
// posix_fadvise DONTNEED), so memory use stays at the ledger's figure.
type Streamer struct {
	units  []*unit
	byLyr  map[int]int // layer → unit index
	fds    map[string]int
	direct bool
	slots  [2]streamSlot
	res    *ledger.Reservation

	acquired int // acquisitions so far (the consumer's position in the cycle)
	stop     chan struct{}
	done     chan struct{}
	errMu    sync.Mutex
	err      error

	// BytesRead counts bytes read from disk (for bench and metrics).
	BytesRead int64
	readMu    sync.Mutex
}

type streamSlot struct {
	buf   []byte
	ready chan int // unit index, once loaded
	free  chan struct{}
}

// Locate returns the file and offset of a view's bytes in the model's
// mappings.
func (m *Model) Locate(data []byte) (string, int64, bool) {
	if len(data) == 0 {
		return "", 0, false
	}
	p := uintptr(unsafe.Pointer(&data[0]))
	for path, b := range m.maps {
		if len(b) == 0 {
			continue
		}
		base := uintptr(unsafe.Pointer(&b[0]))
		if p >= base && p+uintptr(len(data)) <= base+uintptr(len(b)) {
			return path, int64(p - base), true
		}
	}
	return "", 0, false
}

// Bind returns a binding for t, whose Data is a view of the model's
// mapping; the view is detached (Data = nil) until the unit is acquired.
func (m *Model) Bind(t *tensor.Tensor) (Binding, error) {
	file, off, ok := m.Locate(t.Data)
	if !ok {
		return Binding{}, fmt.Errorf("model %s: tensor %s is not in the model's files", m.Path, t.Name)
	}
	b := Binding{T: t, file: file, off: off, n: int64(len(t.Data))}
	t.Data = nil
	return b, nil
}

// NewStreamer prepares streaming of the given layers (in forward order),
// each with the bindings of its streamed tensors, and reserves its two
// buffers on l as "stream buffers".
func (m *Model) NewStreamer(l *ledger.Ledger, layers []int, bindings [][]Binding) (*Streamer, error) {
	if len(layers) == 0 || len(layers) != len(bindings) {
		return nil, fmt.Errorf("model %s: streaming %d layers with %d binding lists", m.Path, len(layers), len(bindings))
	}
	s := &Streamer{byLyr: map[int]int{}, fds: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	var biggest int64
	for i, layer := range layers {
		u := &unit{layer: layer, bindings: bindings[i]}
		bs := slices.Clone(bindings[i])
		slices.SortFunc(bs, func(a, b Binding) int {
			if a.file != b.file {
				if a.file < b.file {
					return -1
				}
				return 1
			}
			return int(a.off - b.off)
		})
		for _, b := range bs {
			lo := b.off &^ (streamAlign - 1)
			hi := (b.off + b.n + streamAlign - 1) &^ (streamAlign - 1)
			if n := len(u.ranges); n > 0 && u.ranges[n-1].file == b.file && lo <= u.ranges[n-1].end+mergeGap {
				r := &u.ranges[n-1]
				if hi > r.end {
					u.bytes += hi - r.end
					r.end = hi
				}
				continue
			}
			u.ranges = append(u.ranges, span{file: b.file, off: lo, end: hi, pos: u.bytes})
			u.bytes += hi - lo
		}
		for j := range u.bindings {
			b := &u.bindings[j]
			for _, r := range u.ranges {
				if r.file == b.file && b.off >= r.off && b.off+b.n <= r.end {
					b.pos = r.pos + b.off - r.off
				}
			}
		}
		biggest = max(biggest, u.bytes)
		s.byLyr[layer] = len(s.units)
		s.units = append(s.units, u)
	}
	var err error
	if s.res, err = l.Reserve("stream buffers", 2*biggest); err != nil {
		return nil, fmt.Errorf("model %s: streaming %d layers: %w", m.Path, len(layers), err)
	}
	for i := range s.slots {
		if s.slots[i].buf, err = alignedBuffer(int(biggest)); err != nil {
			s.free()
			return nil, err
		}
		s.slots[i].ready = make(chan int, 1)
		s.slots[i].free = make(chan struct{}, 1)
		s.slots[i].free <- struct{}{}
	}
	s.direct = true
	for _, u := range s.units {
		for _, r := range u.ranges {
			if _, ok := s.fds[r.file]; ok {
				continue
			}
			fd, err := unix.Open(r.file, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
			if err != nil {
				s.direct = false
				if fd, err = unix.Open(r.file, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
					s.free()
					return nil, fmt.Errorf("model %s: opening %s for streaming: %w", m.Path, r.file, err)
				}
			}
			s.fds[r.file] = fd
		}
	}
	go s.loop()
	return s, nil
}

// Direct reports whether reads bypass the page cache with O_DIRECT.
func (s *Streamer) Direct() bool { return s.direct }

// BufferBytes is the size of the two buffers.
func (s *Streamer) BufferBytes() int64 { return 2 * int64(len(s.slots[0].buf)) }

// loop reads the units in cycle order into alternating slots.
func (s *Streamer) loop() {
	defer close(s.done)
	for k := 0; ; k++ {
		sl := &s.slots[k%2]
		select {
		case <-sl.free:
		case <-s.stop:
			return
		}
		ui := k % len(s.units)
		if err := s.read(s.units[ui], sl.buf); err != nil {
			s.errMu.Lock()
			s.err = err
			s.errMu.Unlock()
		}
		sl.ready <- ui
	}
}

// read fills buf with u's ranges.
func (s *Streamer) read(u *unit, buf []byte) error {
	for _, r := range u.ranges {
		fd := s.fds[r.file]
		for off := r.off; off < r.end; {
			n := min(int64(readChunk), r.end-off)
			dst := buf[r.pos+off-r.off : r.pos+off-r.off+n]
			got, err := unix.Pread(fd, dst, off)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return fmt.Errorf("streaming %s at offset %d: %w", r.file, off, err)
			}
			if got == 0 {
				break // past the end of the file (alignment padding)
			}
			off += int64(got)
			s.readMu.Lock()
			s.BytesRead += int64(got)
			s.readMu.Unlock()
		}
		if !s.direct {
			_ = unix.Fadvise(fd, r.off, r.end-r.off, unix.FADV_DONTNEED)
		}
	}
	return nil
}

// Streams reports whether layer is streamed.
func (s *Streamer) Streams(layer int) bool {
	if s == nil {
		return false
	}
	_, ok := s.byLyr[layer]
	return ok
}

// Acquire waits until layer's data is in a buffer and points its tensors
// at it. Layers must be acquired in forward order, each released before the
// next streamed one is acquired twice over (the ring holds two).
func (s *Streamer) Acquire(layer int) error {
	ui, ok := s.byLyr[layer]
	if !ok {
		return nil
	}
	sl := &s.slots[s.acquired%2]
	got := <-sl.ready
	s.acquired++
	if got != ui {
		return fmt.Errorf("weights: streamed layer %d acquired out of order (buffer holds layer %d)", layer, s.units[got].layer)
	}
	s.errMu.Lock()
	err := s.err
	s.errMu.Unlock()
	if err != nil {
		return err
	}
	u := s.units[ui]
	for _, b := range u.bindings {
		b.T.Data = sl.buf[b.pos : b.pos+b.n : b.pos+b.n]
	}
	return nil
}

// Release hands layer's buffer back to the reader.
func (s *Streamer) Release(layer int) {
	ui, ok := s.byLyr[layer]
	if !ok {
		return
	}
	for _, b := range s.units[ui].bindings {
		b.T.Data = nil
	}
	s.slots[(s.acquired-1)%2].free <- struct{}{}
}

// Read returns the bytes read from disk so far.
func (s *Streamer) Read() int64 {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	return s.BytesRead
}

// Close stops the reader and frees the buffers.
func (s *Streamer) Close() error {
	close(s.stop)
	// The reader may be blocked handing over a loaded slot; drain.
	for i := range s.slots {
		select {
		case <-s.slots[i].ready:
		default:
		}
	}
	<-s.done
	s.free()
	return nil
}

func (s *Streamer) free() {
	var errs []error
	for i := range s.slots {
		if len(s.slots[i].buf) > 0 {
			if err := unix.Munmap(s.slots[i].buf); err != nil {
				errs = append(errs, err)
			}
			s.slots[i].buf = nil
		}
	}
	for _, fd := range s.fds {
		unix.Close(fd)
	}
	s.res.Release()
	_ = errors.Join(errs...)
}

// alignedBuffer returns n bytes of page-aligned anonymous memory.
func alignedBuffer(n int) ([]byte, error) {
	if n <= 0 {
		n = streamAlign
	}
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("allocating a %d-byte stream buffer: %w", n, err)
	}
	return b, nil
}
