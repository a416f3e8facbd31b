package weights

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/memfit/memfit/internal/tensor"
)

// prefetchChunk is the size of one populate call: small enough that
// several run at once (the disk reads fastest with several requests
// outstanding), large enough that the kernel's readahead makes big reads.
const prefetchChunk = 8 << 20

// Prefetch brings the bytes of the given mapped tensors into memory now,
// with large reads several at a time, instead of page by page on first use
// (the mapping is advised MADV_RANDOM when some tensors stream, so a fault
// reads only its own page). Tensors whose Data is not in the mapping are
// skipped. The pages are the ones the ledger's "weights" reservation
// counts.
func (m *Model) Prefetch(ts []*tensor.Tensor) error {
	type rng struct {
		file   string
		lo, hi int
	}
	var rs []rng
	for _, t := range ts {
		if len(t.Data) == 0 {
			continue
		}
		file, off, ok := m.Locate(t.Data)
		if !ok {
			continue
		}
		hi := min((int(off)+len(t.Data)+streamAlign-1)&^(streamAlign-1), len(m.maps[file]))
		rs = append(rs, rng{file, int(off) &^ (streamAlign - 1), hi})
	}
	slices.SortFunc(rs, func(a, b rng) int {
		if a.file != b.file {
			if a.file < b.file {
				return -1
			}
			return 1
		}
		return a.lo - b.lo
	})
	// Merge overlapping ranges and cut them into chunks.
	var chunks [][]byte
	for i := 0; i < len(rs); {
		r := rs[i]
		for i++; i < len(rs) && rs[i].file == r.file && rs[i].lo <= r.hi; i++ {
			r.hi = max(r.hi, rs[i].hi)
		}
		mb := m.maps[r.file]
		for lo := r.lo; lo < r.hi; lo += prefetchChunk {
			chunks = append(chunks, mb[lo:min(lo+prefetchChunk, r.hi)])
		}
	}
	var (
		mu   sync.Mutex
		next int
		errs []error
		wg   sync.WaitGroup
	)
	for range StreamReaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= len(chunks) {
					mu.Unlock()
					return
				}
				c := chunks[next]
				next++
				mu.Unlock()
				b := c
				_ = unix.Madvise(b, unix.MADV_WILLNEED)
				if err := unix.Madvise(b, unix.MADV_POPULATE_READ); err != nil {
					if !errors.Is(err, unix.EINVAL) {
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
						continue
					}
					// Kernels before 5.14: touch every page.
					var sink byte
					for i := 0; i < len(b); i += streamAlign {
						sink += b[i]
					}
					_ = sink
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("model %s: reading resident weights: %w", m.Path, err)
	}
	return nil
}
