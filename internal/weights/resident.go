package weights

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/tensor"
)

// residentRegion is anonymous memory that LoadResident read tensors into:
// whole 4 KiB-aligned file ranges (runs), one after another.
type residentRegion struct {
	buf  []byte
	runs []residentRun // in region order, which is (file, offset) order
	res  *ledger.Reservation
}

// residentRun is one aligned file range held in a resident region.
type residentRun struct {
	file     string
	off, end int64 // file range, both multiples of streamAlign
	want     int64 // bytes of the range the file holds (the last run may pass its end)
	pos      int64 // where the range starts in the region
}

// LoadResident reads the given tensors' bytes from the model's mapped files
// into anonymous memory in transparent huge pages and points each tensor's
// Data there, for a model whose files are mapped because some weights
// stream or are cached (Open with resident ≥ 0). The forward pass reads
// every resident weight each token; through the mapping each 4 KiB
// page-cache page costs a TLB miss (see loadFile), from huge pages it costs
// nothing measurable.
//
// The tensors' file ranges, rounded out to 4 KiB, are merged where they
// touch or overlap (in file order) into runs, read with O_DIRECT, several
// reads in flight, into one region: so a memory cgroup counts the bytes
// once, as anonymous memory, and the page cache holds none of them (where
// the file system refuses O_DIRECT, each buffered read is dropped from the
// page cache afterwards, FADV_DONTNEED, as are pages of the runs some
// earlier read left there, before the reads). The region starts at a huge-page
// boundary and ends at the last run's 4 KiB page: the tail past the last
// whole huge page takes 4 KiB pages rather than a mostly empty 2 MiB one.
//
// The tensors' own bytes are the ones Open reserved as "weights"; what the
// 4 KiB rounding adds (at most 8 KiB a run) is reserved on the ledger as
// "weights alignment" before the region is made. Tensors with no bytes,
// and tensors not in a mapping (already loaded into memory, detached for
// streaming, or copies) are left alone. Locate and Bind keep working for
// the moved views: they report the file range the bytes came from. The
// region is freed by Close; on an error nothing is changed.
func (m *Model) LoadResident(ts []*tensor.Tensor) error {
	type piece struct {
		t    *tensor.Tensor
		file string
		off  int64
		n    int64
	}
	var ps []piece
	for _, t := range ts {
		if len(t.Data) == 0 {
			continue
		}
		file, off, ok := m.locateMapped(t.Data)
		if !ok || m.anon[file] {
			continue
		}
		ps = append(ps, piece{t, file, off, int64(len(t.Data))})
	}
	if len(ps) == 0 {
		return nil
	}
	slices.SortStableFunc(ps, func(a, b piece) int {
		return cmp.Or(strings.Compare(a.file, b.file), cmp.Compare(a.off, b.off))
	})
	// Runs of aligned ranges, and the bytes the tensors themselves cover
	// (tensors may share bytes: a tied output, rows of a fused tensor).
	var (
		runs    []residentRun
		covered int64
		upTo    int64 // end of the bytes counted in covered, in the current file
	)
	for i, p := range ps {
		if i == 0 || p.file != ps[i-1].file {
			upTo = 0
		}
		covered += max(p.off+p.n-max(p.off, upTo), 0)
		upTo = max(upTo, p.off+p.n)
		lo, hi := p.off&^(streamAlign-1), int64(alignUp(int(p.off+p.n), streamAlign))
		if k := len(runs) - 1; k >= 0 && runs[k].file == p.file && lo <= runs[k].end {
			runs[k].end = max(runs[k].end, hi)
			runs[k].want = max(runs[k].want, p.off+p.n-runs[k].off)
			continue
		}
		var pos int64
		if k := len(runs) - 1; k >= 0 {
			pos = runs[k].pos + runs[k].end - runs[k].off
		}
		runs = append(runs, residentRun{file: p.file, off: lo, end: hi, want: p.off + p.n - lo, pos: pos})
	}
	last := runs[len(runs)-1]
	total := last.pos + last.end - last.off
	reg := residentRegion{runs: runs}
	if m.ledger != nil && total > covered {
		var err error
		if reg.res, err = m.ledger.Reserve("weights alignment", total-covered); err != nil {
			return fmt.Errorf("model %s: aligning %d resident weight bytes for direct reads: %w", m.Path, covered, err)
		}
	}
	var err error
	if reg.buf, err = anonRegion(int(total)); err != nil {
		reg.res.Release()
		return fmt.Errorf("model %s: %d bytes of memory for the resident weights: %w", m.Path, total, err)
	}
	if err := readRuns(reg.buf, runs); err != nil {
		freeRegion(reg.buf)
		reg.res.Release()
		return fmt.Errorf("model %s: reading resident weights: %w", m.Path, err)
	}
	for _, p := range ps {
		// The run holding p: the last one starting at or before it.
		k := sort.Search(len(runs), func(k int) bool {
			r := runs[k]
			return r.file > p.file || (r.file == p.file && r.off > p.off)
		}) - 1
		pos := runs[k].pos + p.off - runs[k].off
		p.t.Data = reg.buf[pos : pos+p.n : pos+p.n]
	}
	m.regions = append(m.regions, reg)
	return nil
}

// readRuns fills buf with the runs' file ranges, loadReaders reads of up to
// loadChunk bytes in flight: O_DIRECT where the file system allows it,
// otherwise buffered reads dropped from the page cache afterwards.
func readRuns(buf []byte, runs []residentRun) error {
	type chunk struct {
		run       *residentRun
		off, want int64 // file offset; bytes the file must supply
		dst       []byte
	}
	var chunks []chunk
	for i := range runs {
		r := &runs[i]
		for off := r.off; off < r.end; off += loadChunk {
			n := min(loadChunk, r.end-off)
			pos := r.pos + off - r.off
			chunks = append(chunks, chunk{r, off, min(n, r.off+r.want-off), buf[pos : pos+n]})
		}
	}
	type fds struct{ direct, buffered int }
	files := map[string]fds{}
	defer func() {
		for _, f := range files {
			if f.direct >= 0 {
				unix.Close(f.direct)
			}
			unix.Close(f.buffered)
		}
	}()
	for _, r := range runs {
		if _, ok := files[r.file]; ok {
			continue
		}
		fh, err := os.Open(r.file)
		if err != nil {
			return err
		}
		buffered, err := unix.Dup(int(fh.Fd()))
		fh.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", r.file, err)
		}
		direct, err := unix.Open(r.file, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
		if err != nil {
			direct = -1
		}
		files[r.file] = fds{direct, buffered}
	}
	// Pages of the runs already in the page cache (the read-ahead of the
	// file's header runs into the first tensors) would stay there beside
	// their copy: drop them first. Pages this process has mapped stay.
	for _, r := range runs {
		_ = unix.Fadvise(files[r.file].buffered, r.off, r.end-r.off, unix.FADV_DONTNEED)
	}
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	errs := make([]error, loadReaders)
	for w := range loadReaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(chunks) || errs[w] != nil {
					return
				}
				c := chunks[i]
				f := files[c.run.file]
				if f.direct >= 0 {
					err := readAtLeast(f.direct, c.dst, c.off, int(c.want))
					if err == nil {
						continue
					}
					if !errors.Is(err, unix.EINVAL) {
						errs[w] = fmt.Errorf("%s: reading bytes %d-%d: %w", c.run.file, c.off, c.off+c.want, err)
						continue
					}
					// The file system refused O_DIRECT after all: read
					// through the page cache below.
				}
				if err := readAtLeast(f.buffered, c.dst[:c.want], c.off, int(c.want)); err != nil {
					errs[w] = fmt.Errorf("%s: reading bytes %d-%d: %w", c.run.file, c.off, c.off+c.want, err)
					continue
				}
				_ = unix.Fadvise(f.buffered, c.off, c.want, unix.FADV_DONTNEED)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// locateRegion returns the file and offset data was read from when it lies
// in a region LoadResident filled.
func (m *Model) locateRegion(data []byte) (string, int64, bool) {
	p := uintptr(unsafe.Pointer(unsafe.SliceData(data)))
	for _, reg := range m.regions {
		base := uintptr(unsafe.Pointer(unsafe.SliceData(reg.buf)))
		if p < base || p+uintptr(len(data)) > base+uintptr(len(reg.buf)) {
			continue
		}
		pos := int64(p - base)
		k := sort.Search(len(reg.runs), func(k int) bool { return reg.runs[k].pos > pos }) - 1
		r := reg.runs[k]
		if pos+int64(len(data)) > r.pos+r.end-r.off {
			return "", 0, false // spans two runs: not one file range
		}
		return r.file, r.off + pos - r.pos, true
	}
	return "", 0, false
}

// ResidentRegionBytes is the memory LoadResident's regions hold.
func (m *Model) ResidentRegionBytes() int64 {
	var n int64
	for _, reg := range m.regions {
		n += int64(len(reg.buf))
	}
	return n
}

// freeRegions frees the regions LoadResident made and their reservations.
func (m *Model) freeRegions() error {
	var errs []error
	for _, reg := range m.regions {
		if err := freeRegion(reg.buf); err != nil {
			errs = append(errs, fmt.Errorf("munmap resident weights: %w", err))
		}
		reg.res.Release()
	}
	m.regions = nil
	return errors.Join(errs...)
}
