package weights

import (
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/tensor"
)

// ExpertCache holds a budget's worth of MoE experts in memory and reads the
// others on demand: one expert of one layer (its gate, up and down slices,
// each contiguous in the file) is one cache entry. Reads bypass the page
// cache (O_DIRECT) and run on a few reader goroutines, demand reads before
// prefetches. Eviction mixes recency and frequency: the entry with the
// oldest last use, where every past hit counts as a later use, goes first.
//
// Load, Release and Prefetch are called by the forward pass (one
// goroutine); the readers run beside it.
type ExpertCache struct {
	layers  [][]expertEntry // [layer][expert]
	slots   []cacheSlot
	slotLen int64
	region  []byte
	fds     map[string]int
	direct  bool
	res     *ledger.Reservation

	mu     sync.Mutex
	clock  int64
	demand chan *cacheSlot
	pref   chan *cacheSlot
	stop   chan struct{}
	wg     sync.WaitGroup

	hits, misses, prefetched, prefetchUsed, bytesRead atomic.Int64
	predicted, predictedRight                         atomic.Int64
}

// expertEntry is one expert's three tensors.
type expertEntry struct {
	binds [3]Binding
	slot  int32 // -1: not in the cache
}

// cacheSlot is one cache entry's memory and state.
type cacheSlot struct {
	buf        []byte
	idx        int32
	layer, exp int32 // -1 when empty
	lastUse    int64
	hits       int64
	pins       int32
	loading    bool
	prefetch   bool // loaded by a prefetch and not used yet
	done       chan struct{}
	err        error
	binds      *[3]Binding
	readOffset [3]int64 // where each tensor's bytes start in buf
}

// ExpertStats are the cache's counters.
type ExpertStats struct {
	Hits, Misses       int64 // expert loads served from memory / read from disk
	Prefetched         int64 // experts read ahead of their layer
	PrefetchUsed       int64 // of those, used before eviction
	BytesRead          int64
	Predicted, Correct int64 // predicted experts, and how many the router then picked
	Slots              int
}

// NewExpertCache builds a cache of slots entries for experts[layer][expert]
// = the expert's gate, up and down views (which it detaches from the
// mapping), and reserves it on l as "expert cache".
func (m *Model) NewExpertCache(l *ledger.Ledger, slots int, experts [][][3]*tensor.Tensor) (*ExpertCache, error) {
	c := &ExpertCache{fds: map[string]int{}, stop: make(chan struct{}), direct: true}
	var total int
	for _, layer := range experts {
		row := make([]expertEntry, len(layer))
		for e, ts := range layer {
			var need int64
			for k, t := range ts {
				b, err := m.Bind(t)
				if err != nil {
					return nil, err
				}
				row[e].binds[k] = b
				need += alignedLen(b.off, b.n)
			}
			row[e].slot = -1
			c.slotLen = max(c.slotLen, need)
			total++
		}
		c.layers = append(c.layers, row)
	}
	if slots <= 0 || total == 0 {
		return nil, fmt.Errorf("model %s: an expert cache of %d slots for %d experts", m.Path, slots, total)
	}
	slots = min(slots, total)
	var err error
	if c.res, err = l.Reserve("expert cache", int64(slots)*c.slotLen); err != nil {
		return nil, fmt.Errorf("model %s: expert cache of %d experts: %w", m.Path, slots, err)
	}
	if c.region, err = alignedBuffer(int(int64(slots) * c.slotLen)); err != nil {
		c.res.Release()
		return nil, err
	}
	c.slots = make([]cacheSlot, slots)
	for i := range c.slots {
		c.slots[i] = cacheSlot{buf: c.region[int64(i)*c.slotLen : int64(i+1)*c.slotLen], idx: int32(i), layer: -1, exp: -1}
	}
	// Every queued read is a distinct loading slot, so sends never block.
	c.demand = make(chan *cacheSlot, slots)
	c.pref = make(chan *cacheSlot, slots)
	for _, row := range c.layers {
		for _, en := range row {
			for _, b := range en.binds {
				if _, ok := c.fds[b.file]; ok {
					continue
				}
				fd, err := unix.Open(b.file, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
				if err != nil {
					c.direct = false
					if fd, err = unix.Open(b.file, unix.O_RDONLY|unix.O_CLOEXEC, 0); err != nil {
						c.Close()
						return nil, fmt.Errorf("model %s: opening %s: %w", m.Path, b.file, err)
					}
				}
				c.fds[b.file] = fd
			}
		}
	}
	for range 4 {
		c.wg.Add(1)
		go c.reader()
	}
	return c, nil
}

func alignedLen(off, n int64) int64 {
	lo := off &^ (streamAlign - 1)
	hi := (off + n + streamAlign - 1) &^ (streamAlign - 1)
	return hi - lo
}

// Slots is the number of experts the cache holds.
func (c *ExpertCache) Slots() int { return len(c.slots) }

// Stats returns the counters.
func (c *ExpertCache) Stats() ExpertStats {
	return ExpertStats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Prefetched: c.prefetched.Load(),
		PrefetchUsed: c.prefetchUsed.Load(), BytesRead: c.bytesRead.Load(),
		Predicted: c.predicted.Load(), Correct: c.predictedRight.Load(), Slots: len(c.slots),
	}
}

// reader serves read requests, demand first.
func (c *ExpertCache) reader() {
	defer c.wg.Done()
	for {
		var s *cacheSlot
		select {
		case s = <-c.demand:
		default:
			select {
			case s = <-c.demand:
			case s = <-c.pref:
			case <-c.stop:
				return
			}
		}
		err := c.read(s)
		c.mu.Lock()
		s.err, s.loading = err, false
		close(s.done)
		c.mu.Unlock()
	}
}

// read fills a slot with its expert's three tensors.
func (c *ExpertCache) read(s *cacheSlot) error {
	var pos int64
	for k, b := range s.binds {
		lo := b.off &^ (streamAlign - 1)
		n := alignedLen(b.off, b.n)
		fd := c.fds[b.file]
		for done := int64(0); done < n; {
			got, err := unix.Pread(fd, s.buf[pos+done:pos+n], lo+done)
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				return fmt.Errorf("reading expert %d of layer %d from %s: %w", s.exp, s.layer, b.file, err)
			}
			if got == 0 {
				break
			}
			done += int64(got)
			c.bytesRead.Add(int64(got))
		}
		if !c.direct {
			_ = unix.Fadvise(fd, lo, n, unix.FADV_DONTNEED)
		}
		s.readOffset[k] = pos + b.off - lo
		pos += n
	}
	return nil
}

// victim returns an unpinned slot to reuse, or nil when all are pinned or
// loading. Called with mu held.
func (c *ExpertCache) victim() *cacheSlot {
	var best *cacheSlot
	bonus := int64(len(c.layers))
	for i := range c.slots {
		s := &c.slots[i]
		if s.pins > 0 || s.loading {
			continue
		}
		if s.layer < 0 {
			return s
		}
		score := s.lastUse + bonus*min(s.hits, 8)
		if best == nil || score < best.lastUse+bonus*min(best.hits, 8) {
			best = s
		}
	}
	return best
}

// assign puts expert (layer, e) into a free slot and queues its read.
// Called with mu held.
func (c *ExpertCache) assign(layer, e int, prefetch bool) *cacheSlot {
	s := c.victim()
	if s == nil {
		return nil
	}
	if s.layer >= 0 {
		c.layers[s.layer][s.exp].slot = -1
	}
	en := &c.layers[layer][e]
	en.slot = s.idx
	*s = cacheSlot{buf: s.buf, idx: s.idx, layer: int32(layer), exp: int32(e), lastUse: c.clock, loading: true, prefetch: prefetch, done: make(chan struct{}), binds: &en.binds}
	if prefetch {
		c.prefetched.Add(1)
		c.pref <- s
	} else {
		c.demand <- s
	}
	return s
}

// Load makes the listed experts of layer resident, pins them, and points
// their tensors at the cache. Each must later be released with Release.
func (c *ExpertCache) Load(layer int, experts []int32) error {
	c.mu.Lock()
	c.clock++
	var wait []*cacheSlot
	for _, e := range experts {
		en := &c.layers[layer][e]
		var s *cacheSlot
		if en.slot >= 0 {
			s = &c.slots[en.slot]
			if s.prefetch {
				s.prefetch = false
				c.prefetchUsed.Add(1)
			}
			c.hits.Add(1)
			s.hits++
		} else {
			c.misses.Add(1)
			for s == nil {
				if s = c.assign(layer, int(e), false); s != nil {
					break
				}
				// Every slot is pinned or being filled: wait for a
				// prefetch to finish, which makes its slot evictable.
				var busy *cacheSlot
				for i := range c.slots {
					if c.slots[i].loading && c.slots[i].pins == 0 {
						busy = &c.slots[i]
						break
					}
				}
				if busy == nil {
					c.mu.Unlock()
					return fmt.Errorf("expert cache of %d slots: every slot is in use (layer %d needs %d experts)", len(c.slots), layer, len(experts))
				}
				done := busy.done
				c.mu.Unlock()
				<-done
				c.mu.Lock()
			}
		}
		s.pins++
		s.lastUse = c.clock
		wait = append(wait, s)
	}
	c.mu.Unlock()
	for i, s := range wait {
		<-s.done
		if s.err != nil {
			return s.err
		}
		en := &c.layers[layer][experts[i]]
		for k := range en.binds {
			b := &en.binds[k]
			b.T.Data = s.buf[s.readOffset[k] : s.readOffset[k]+b.n : s.readOffset[k]+b.n]
		}
	}
	return nil
}

// Release unpins the experts Load pinned.
func (c *ExpertCache) Release(layer int, experts []int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range experts {
		en := &c.layers[layer][e]
		if en.slot >= 0 {
			c.slots[en.slot].pins--
		}
		for k := range en.binds {
			en.binds[k].T.Data = nil
		}
	}
}

// Prefetch starts reading experts of layer that are not cached, into slots
// that are free or least valuable; it never waits. It also records the
// guess so that Check can score it.
func (c *ExpertCache) Prefetch(layer int, experts []int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range experts {
		if c.layers[layer][e].slot >= 0 {
			continue
		}
		if c.assign(layer, int(e), true) == nil {
			return
		}
	}
}

// Score records how many of the predicted experts the router picked.
func (c *ExpertCache) Score(predicted, actual []int32) {
	c.predicted.Add(int64(len(predicted)))
	n := 0
	for _, p := range predicted {
		for _, a := range actual {
			if p == a {
				n++
				break
			}
		}
	}
	c.predictedRight.Add(int64(n))
}

// Close stops the readers and frees the cache.
func (c *ExpertCache) Close() error {
	close(c.stop)
	c.wg.Wait()
	for _, fd := range c.fds {
		unix.Close(fd)
	}
	if len(c.region) > 0 {
		unix.Munmap(c.region)
		c.region = nil
	}
	c.res.Release()
	return nil
}
