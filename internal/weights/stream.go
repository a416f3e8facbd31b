package weights

import (
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
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

// StreamChunk is the size of one read call, and StreamReaders the reads
// kept in flight at once: a virtual or NVMe disk reads fastest with
// several requests outstanding (measured here: 0.9 GB/s with one 8 MiB
// read at a time, 1.1–1.6 GB/s with four of 4 MiB; docs/benchmarks.md).
const (
	StreamChunk   = 4 << 20
	StreamReaders = 4
)

// streamChunk and streamReaders are StreamChunk and StreamReaders (tests
// and benchmarks change them).
var (
	streamChunk   int64 = StreamChunk
	streamReaders       = StreamReaders
)

// StreamSlots is the number of buffers of the largest unit a streamer
// holds: the unit the forward pass computes with and the next one, being
// read meanwhile.
const StreamSlots = 2

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

// Parts of a layer that stream as separate units: the forward pass needs
// the attention matrices together, then the MLP's gate and up projections
// together, then its down projection, so a dense layer streams as up to
// three units and the buffers need only hold the largest part, not the
// whole layer. PartLayer is a whole layer as one unit (mixture-of-experts
// layers, whose expert MLPs interleave their projections).
const (
	PartLayer = iota
	PartAttn
	PartUp
	PartDown
)

// StreamUnit is one unit to stream: the streamed tensors of one part of a
// layer.
type StreamUnit struct {
	Layer, Part int
	Bindings    []Binding
}

// unitKey names a unit.
type unitKey struct{ layer, part int }

// unit is the data of one streamed unit: aligned file ranges read into a
// buffer.
type unit struct {
	layer, part int
	ranges      []span
	bytes       int64 // buffer bytes the ranges take
	bindings    []Binding
}

type span struct {
	file     string
	fd       int
	off, end int64 // aligned
	pos      int64 // where it goes in the buffer
}

// Slot states.
const (
	slotFree    = iota // nothing in it; the readers may fill it
	slotFilling        // reads of its unit are issued or in flight
	slotReady          // its unit is loaded
	slotInUse          // acquired by the forward pass
)

// streamSlot is one buffer of the ring.
type streamSlot struct {
	buf      []byte
	state    int
	seq      int  // the position in the cycle of the unit it holds
	inflight int  // reads in flight into it
	issued   bool // every read of its unit has been issued
}

// Streamer reads the streamed layers of a model, in order and over and
// over, into a ring of StreamSlots buffers ahead of the forward pass: while
// one layer computes, the next is read. StreamReaders persistent reader
// goroutines keep that many reads of StreamChunk bytes in flight, so the
// disk is busy for as long as a buffer is free. Reads bypass the page cache
// (O_DIRECT; where the file system refuses it, each read is followed by
// posix_fadvise DONTNEED), so memory use stays at the ledger's figure.
type Streamer struct {
	units  []*unit
	byKey  map[unitKey]int // (layer, part) → unit index
	layers map[int]bool    // layers with a streamed unit
	fds    map[string]int
	direct bool
	slots  []streamSlot
	res    *ledger.Reservation

	mu       sync.Mutex
	work     *sync.Cond // readers wait for a free slot
	ready    *sync.Cond // the forward pass waits for its unit
	fill     int        // cycle position of the unit being issued
	rng      int        // range of that unit being issued
	off      int64      // next offset in that range
	acquired int        // units the forward pass has acquired
	closed   bool
	err      error
	readers  sync.WaitGroup

	// Counters (under mu).
	bytesRead  int64
	inflight   int
	busySince  time.Time
	busy       time.Duration // time with at least one read in flight
	waited     time.Duration // time the forward pass waited in Acquire
	acquires   int64
	waitedOnes int64 // acquisitions that had to wait
}

// Locate returns the file and offset of a view's bytes: in the model's
// mappings (or files loaded whole), or in the memory LoadResident read
// them into.
func (m *Model) Locate(data []byte) (string, int64, bool) {
	if file, off, ok := m.locateMapped(data); ok {
		return file, off, true
	}
	if len(data) == 0 {
		return "", 0, false
	}
	return m.locateRegion(data)
}

// locateMapped is Locate for views of the mappings (or of files loaded
// whole) only.
func (m *Model) locateMapped(data []byte) (string, int64, bool) {
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

// NewStreamer prepares streaming of the given units (in the order the
// forward pass acquires them), reserves its buffers on l as "stream
// buffers" and starts its readers.
func (m *Model) NewStreamer(l *ledger.Ledger, units []StreamUnit) (*Streamer, error) {
	if len(units) == 0 {
		return nil, fmt.Errorf("model %s: streaming no units", m.Path)
	}
	s := &Streamer{byKey: map[unitKey]int{}, layers: map[int]bool{}, fds: map[string]int{}}
	s.work, s.ready = sync.NewCond(&s.mu), sync.NewCond(&s.mu)
	var biggest int64
	for _, su := range units {
		key := unitKey{su.Layer, su.Part}
		if _, dup := s.byKey[key]; dup || len(su.Bindings) == 0 {
			return nil, fmt.Errorf("model %s: stream unit layer %d part %d is repeated or empty", m.Path, su.Layer, su.Part)
		}
		u := &unit{layer: su.Layer, part: su.Part, bindings: su.Bindings}
		bs := slices.Clone(su.Bindings)
		slices.SortFunc(bs, func(a, b Binding) int {
			return cmp.Or(strings.Compare(a.file, b.file), cmp.Compare(a.off, b.off))
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
		s.byKey[key] = len(s.units)
		s.layers[su.Layer] = true
		s.units = append(s.units, u)
	}
	var err error
	if s.res, err = l.Reserve("stream buffers", StreamSlots*biggest); err != nil {
		return nil, fmt.Errorf("model %s: streaming %d units: %w", m.Path, len(units), err)
	}
	s.slots = make([]streamSlot, StreamSlots)
	for i := range s.slots {
		if s.slots[i].buf, err = alignedBuffer(int(biggest)); err != nil {
			s.free()
			return nil, err
		}
	}
	s.direct = true
	for _, u := range s.units {
		for i := range u.ranges {
			r := &u.ranges[i]
			if fd, ok := s.fds[r.file]; ok {
				r.fd = fd
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
			r.fd = fd
		}
	}
	s.readers.Add(streamReaders)
	for range streamReaders {
		go s.reader()
	}
	AddIOProc()
	return s, nil
}

// ioProcs counts the users of AddIOProc.
var ioProcs struct {
	sync.Mutex
	users, prev int
}

// AddIOProc raises GOMAXPROCS by one for each reader pool of weights
// running (the layer streamer, the expert cache), and DropIOProc undoes
// it as each stops. The compute workers keep every core busy during a
// matrix product and yield only between products; without a spare P, a
// reader whose read completed would wait up to a scheduling quantum
// (10 ms) to issue the next one, idling the disk while the forward pass
// waits for it. Readers mostly sleep in pread (O_DIRECT), so the extra P
// costs the compute threads almost nothing.
func AddIOProc() {
	ioProcs.Lock()
	defer ioProcs.Unlock()
	if ioProcs.users == 0 {
		ioProcs.prev = runtime.GOMAXPROCS(0)
	}
	ioProcs.users++
	runtime.GOMAXPROCS(ioProcs.prev + ioProcs.users)
}

// DropIOProc releases what AddIOProc took.
func DropIOProc() {
	ioProcs.Lock()
	defer ioProcs.Unlock()
	ioProcs.users--
	runtime.GOMAXPROCS(ioProcs.prev + ioProcs.users)
}

// Direct reports whether reads bypass the page cache with O_DIRECT.
func (s *Streamer) Direct() bool { return s.direct }

// BufferBytes is the size of the buffers.
func (s *Streamer) BufferBytes() int64 { return int64(len(s.slots)) * int64(len(s.slots[0].buf)) }

// read is one read call a reader makes.
type read struct {
	slot *streamSlot
	fd   int
	off  int64
	dst  []byte
}

// next returns the next read to make, waiting for a free slot; ok is
// false once the streamer is closed. Called with s.mu held.
func (s *Streamer) next() (read, bool) {
	for {
		if s.closed {
			return read{}, false
		}
		sl := &s.slots[s.fill%len(s.slots)]
		if sl.state == slotFree {
			sl.state, sl.seq, sl.issued, sl.inflight = slotFilling, s.fill, false, 0
			s.rng, s.off = 0, s.units[s.fill%len(s.units)].ranges[0].off
		}
		if sl.state == slotFilling && sl.seq == s.fill && !sl.issued {
			u := s.units[s.fill%len(s.units)]
			r := u.ranges[s.rng]
			n := min(streamChunk, r.end-s.off)
			rd := read{slot: sl, fd: r.fd, off: s.off, dst: sl.buf[r.pos+s.off-r.off : r.pos+s.off-r.off+n]}
			s.off += n
			if s.off >= r.end {
				s.rng++
				if s.rng < len(u.ranges) {
					s.off = u.ranges[s.rng].off
				} else {
					sl.issued = true
					s.fill++
				}
			}
			sl.inflight++
			return rd, true
		}
		s.work.Wait()
	}
}

// reader makes reads until the streamer closes.
func (s *Streamer) reader() {
	defer s.readers.Done()
	s.mu.Lock()
	for {
		rd, ok := s.next()
		if !ok {
			s.mu.Unlock()
			return
		}
		if s.inflight == 0 {
			s.busySince = time.Now()
		}
		s.inflight++
		s.mu.Unlock()
		n, err := s.readFull(rd)
		s.mu.Lock()
		s.inflight--
		if s.inflight == 0 {
			s.busy += time.Since(s.busySince)
		}
		s.bytesRead += n
		if err != nil && s.err == nil {
			s.err = err
		}
		rd.slot.inflight--
		if rd.slot.issued && rd.slot.inflight == 0 {
			rd.slot.state = slotReady
			s.ready.Broadcast()
		}
	}
}

// readFull reads rd.dst from the file, stopping early only at the end of
// the file (a range's alignment padding).
func (s *Streamer) readFull(rd read) (int64, error) {
	got, err := preadFull(rd.fd, rd.dst, rd.off)
	done := int64(got)
	if err != nil {
		return done, fmt.Errorf("streaming weights at offset %d: %w", rd.off+done, err)
	}
	if !s.direct {
		_ = unix.Fadvise(rd.fd, rd.off, int64(len(rd.dst)), unix.FADV_DONTNEED)
	}
	return done, nil
}

// Streams reports whether any part of layer is streamed.
func (s *Streamer) Streams(layer int) bool {
	return s != nil && s.layers[layer]
}

// Acquire waits until the part of layer is in a buffer and points its
// tensors at it; for a part that does not stream (or a nil streamer) it
// does nothing. Units must be acquired in the order NewStreamer was given,
// each released before the next is acquired.
func (s *Streamer) Acquire(layer, part int) error {
	if s == nil {
		return nil
	}
	ui, ok := s.byKey[unitKey{layer, part}]
	if !ok {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	seq := s.acquired
	sl := &s.slots[seq%len(s.slots)]
	if want := s.units[seq%len(s.units)]; want != s.units[ui] {
		return fmt.Errorf("weights: streamed layer %d part %d acquired out of order (layer %d part %d is next)", layer, part, want.layer, want.part)
	}
	s.acquires++
	if !(sl.state == slotReady && sl.seq == seq) && s.err == nil {
		start := time.Now()
		for !(sl.state == slotReady && sl.seq == seq) && s.err == nil && !s.closed {
			s.ready.Wait()
		}
		s.waited += time.Since(start)
		s.waitedOnes++
	}
	if s.err != nil {
		return s.err
	}
	if s.closed {
		return errors.New("weights: streamer closed")
	}
	sl.state = slotInUse
	s.acquired++
	for _, b := range s.units[ui].bindings {
		b.T.Data = sl.buf[b.pos : b.pos+b.n : b.pos+b.n]
	}
	return nil
}

// Release hands the buffer of the part of layer back to the readers (a
// part that does not stream, or a nil streamer: nothing).
func (s *Streamer) Release(layer, part int) {
	if s == nil {
		return
	}
	ui, ok := s.byKey[unitKey{layer, part}]
	if !ok {
		return
	}
	for _, b := range s.units[ui].bindings {
		b.T.Data = nil
	}
	s.mu.Lock()
	sl := &s.slots[(s.acquired-1)%len(s.slots)]
	if sl.state == slotInUse {
		sl.state = slotFree
		s.work.Broadcast()
	}
	s.mu.Unlock()
}

// StreamStats are a streamer's counters since it started.
type StreamStats struct {
	BytesRead int64         // bytes read from disk
	ReadBusy  time.Duration // time with at least one read in flight
	Waited    time.Duration // time the forward pass waited for a layer
	Acquires  int64         // layers acquired
	Waits     int64         // acquisitions that had to wait
}

// Bandwidth is the achieved read bandwidth while reading, in bytes per
// second.
func (st StreamStats) Bandwidth() float64 {
	if st.ReadBusy <= 0 {
		return 0
	}
	return float64(st.BytesRead) / st.ReadBusy.Seconds()
}

// Stats returns the counters.
func (s *Streamer) Stats() StreamStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	busy := s.busy
	if s.inflight > 0 {
		busy += time.Since(s.busySince)
	}
	return StreamStats{BytesRead: s.bytesRead, ReadBusy: busy, Waited: s.waited, Acquires: s.acquires, Waits: s.waitedOnes}
}

// Read returns the bytes read from disk so far.
func (s *Streamer) Read() int64 { return s.Stats().BytesRead }

// Close stops the readers and frees the buffers.
func (s *Streamer) Close() error {
	s.mu.Lock()
	if s.closed { // closed before: nothing left to release
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.work.Broadcast()
	s.ready.Broadcast()
	s.mu.Unlock()
	s.readers.Wait()
	DropIOProc()
	s.free()
	return nil
}

func (s *Streamer) free() {
	for i := range s.slots {
		if len(s.slots[i].buf) > 0 {
			_ = unix.Munmap(s.slots[i].buf)
			s.slots[i].buf = nil
		}
	}
	for _, fd := range s.fds {
		unix.Close(fd)
	}
	s.res.Release()
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
	// Huge pages where the kernel allows them: the kernels stream every
	// byte of the buffer each token (see loadFile). The buffer is backed
	// now, whole (prefault), so the memory the ledger reserved for it is
	// in use from the start, not only once the largest unit has passed
	// through it.
	prefault(b)
	return b, nil
}
