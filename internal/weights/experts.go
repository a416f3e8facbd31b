package weights

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/tensor"
)

// DefaultExpertReaders is how many expert reads run at once (the disk's
// queue depth): AIO requests in flight, or reader goroutines.
const DefaultExpertReaders = 4

// ExpertCache holds a budget's worth of MoE experts in memory and reads the
// others on demand. One expert of one layer (its gate, up and down slices,
// each contiguous in the file) is one cache entry; each layer has its own
// slots, sized for that layer's experts, so layers never evict each other.
// Reads bypass the page cache (O_DIRECT), one read per slice, a few at a
// time, demand reads before prefetches. On Linux they are asynchronous I/O
// that the forward pass itself submits and reaps (no thread has to wake to
// start or finish a read, which on two busy cores costs a sizeable share
// of the read); where AIO or O_DIRECT is not available, reader goroutines
// do them with pread.
//
// Eviction within a layer mixes recency and frequency: the slot with the
// lowest lastUse + FreqWeight·min(uses, FreqCap) goes first, where lastUse
// counts the layer's batches (tokens, in decode) and uses the times the
// expert was used since it was read. A prefetched expert that has not been
// used yet scores as if last used PrefetchAge batches before it was read,
// so wrong guesses leave first.
//
// A layer's batch is computed with Begin, then Next and Done for each
// expert: Begin pins the experts already cached and starts reading as many
// missing ones as there are free slots; Next hands out the experts
// (resident ones first, then in the order their reads were queued) as they
// arrive; More hands out the next one too if it is in memory already, so
// several can be computed together; Done unpins one, which frees its slot
// for the next missing expert. So a batch that uses more experts than the
// layer has slots still reads each of them once. Begin, Next, More, Done,
// End and Prefetch are called by one goroutine (the forward pass); reader
// goroutines, if any, run beside it.
type ExpertCache struct {
	layers  []cacheLayer
	fds     map[string]int
	direct  bool
	region  []byte
	res     *ledger.Reservation
	readers int

	mu            sync.Mutex
	work          *sync.Cond // readers wait for jobs
	ready         *sync.Cond // the forward pass waits for reads
	demand        []readJob  // FIFO, served first
	pref          []readJob  // FIFO
	demandRunning int        // demand reads in progress
	stopping      bool
	wg            sync.WaitGroup

	// With AIO (Linux, O_DIRECT) the forward pass submits and reaps the
	// reads itself; aio is nil when reader goroutines do them.
	aio    *aioRing
	reqs   []aioReq // per AIO request slot: the job it reads
	aioErr error    // AIO failed: reads are plain preads from then on

	// The layer batch being computed.
	cur    int     // layer, -1 when none
	order  []int32 // its experts in the order Next hands them out
	issued int     // order[:issued] have slots
	next   int     // order[:next] were handed out by Next
	outs   []int32 // experts handed out and not yet Done

	// Policy knobs (see the type comment); set before use.
	FreqWeight, FreqCap, PrefetchAge int64
	// useful is a running average of whether a prefetched expert was used
	// by the batch it was read for; below UsefulFloor, Prefetch reads only
	// its first guess per call (enough to keep measuring).
	useful      float64
	UsefulFloor float64

	hits, prefetchHits, misses, prefetched, prefetchWasted atomic.Int64
	bytesRead, demandBytes, predicted, predictedRight      atomic.Int64
	waits, waitNanos                                       atomic.Int64
}

// cacheLayer is one layer's experts and slots.
type cacheLayer struct {
	experts []expertEntry
	slots   []cacheSlot
	slotLen int64
	clock   int64 // batches of this layer so far
}

// expertEntry is one expert's three tensors.
type expertEntry struct {
	binds [3]Binding
	slot  int32 // -1: not in the cache
}

// cacheSlot is one cache entry's memory and state.
type cacheSlot struct {
	buf        []byte
	exp        int32 // -1 when empty
	lastUse    int64
	uses       int64
	pins       int32
	queued     int8 // reads not started yet
	pending    int8 // reads not finished yet (queued or running)
	prefetch   bool // read by a prefetch and not used yet
	err        error
	readOffset [3]int64 // where each tensor's bytes start in buf
}

// aioReq is the job one AIO request slot reads.
type aioReq struct {
	job    readJob
	demand bool
	live   bool // submitted or prepared, not finished
}

// AsyncIO is whether expert caches read with Linux AIO where they can
// (O_DIRECT, and the kernel allows it) rather than with reader goroutines.
// Set it before loading a model.
var AsyncIO = true

// readJob is one slice (gate, up or down) of one slot's expert.
type readJob struct {
	layer, slot int32
	k           int8
}

// ExpertStats are the cache's counters.
type ExpertStats struct {
	// Expert loads (one expert of one layer for one batch): served from
	// memory, served by a prefetch that had not been used yet, or read on
	// demand.
	Hits, PrefetchHits, Misses int64
	Prefetched                 int64 // experts read ahead of their layer
	PrefetchWasted             int64 // of those, evicted without being used
	BytesRead                  int64 // all reads, demand and prefetch
	DemandBytes                int64 // reads for misses
	Predicted, Correct         int64 // router guesses, and how many the router then picked
	Waits                      int64 // times the forward pass waited for a read
	WaitNanos                  int64 // and how long, in all
	Slots                      int   // experts the cache holds
	Bytes                      int64 // the cache's memory
}

// Loads is every expert load the counters saw.
func (s ExpertStats) Loads() int64 { return s.Hits + s.PrefetchHits + s.Misses }

// HitRate is the share of expert loads served without a demand read (from
// the cache or a prefetch); 0 when nothing was loaded.
func (s ExpertStats) HitRate() float64 {
	if s.Loads() == 0 {
		return 0
	}
	return float64(s.Hits+s.PrefetchHits) / float64(s.Loads())
}

// PrefetchAccuracy is the share of the router's guesses for the next layer
// that the router then picked; 0 when there were none.
func (s ExpertStats) PrefetchAccuracy() float64 {
	if s.Predicted == 0 {
		return 0
	}
	return float64(s.Correct) / float64(s.Predicted)
}

// Sub returns the counters accumulated since an earlier snapshot b.
func (s ExpertStats) Sub(b ExpertStats) ExpertStats {
	return ExpertStats{
		Hits: s.Hits - b.Hits, PrefetchHits: s.PrefetchHits - b.PrefetchHits, Misses: s.Misses - b.Misses,
		Prefetched: s.Prefetched - b.Prefetched, PrefetchWasted: s.PrefetchWasted - b.PrefetchWasted,
		BytesRead: s.BytesRead - b.BytesRead, DemandBytes: s.DemandBytes - b.DemandBytes,
		Predicted: s.Predicted - b.Predicted, Correct: s.Correct - b.Correct, Waits: s.Waits - b.Waits, WaitNanos: s.WaitNanos - b.WaitNanos,
		Slots: s.Slots, Bytes: s.Bytes,
	}
}

// NewExpertCache builds a cache of slots[layer] entries per layer for
// experts[layer][expert] = the expert's gate, up and down views (which it
// detaches from the mapping), and reserves it on l as "expert cache".
// readers ≤ 0 means DefaultExpertReaders.
func (m *Model) NewExpertCache(l *ledger.Ledger, slots []int, experts [][][3]*tensor.Tensor, readers int) (*ExpertCache, error) {
	if len(slots) != len(experts) {
		return nil, fmt.Errorf("model %s: expert cache slots for %d layers, experts of %d", m.Path, len(slots), len(experts))
	}
	if readers <= 0 {
		readers = DefaultExpertReaders
	}
	c := &ExpertCache{fds: map[string]int{}, direct: true, cur: -1, readers: readers,
		FreqWeight: 1, FreqCap: 4, PrefetchAge: 2, UsefulFloor: 0.25, useful: 0.5}
	c.work = sync.NewCond(&c.mu)
	c.ready = sync.NewCond(&c.mu)
	var total, mostExperts int
	var bytes int64
	for li, layer := range experts {
		ly := cacheLayer{experts: make([]expertEntry, len(layer))}
		for e, ts := range layer {
			var need int64
			for k, t := range ts {
				b, err := m.Bind(t)
				if err != nil {
					return nil, err
				}
				ly.experts[e].binds[k] = b
				need += alignedLen(b.off, b.n)
			}
			ly.experts[e].slot = -1
			ly.slotLen = max(ly.slotLen, need)
		}
		n := min(slots[li], len(layer))
		if n < 0 || (n == 0 && len(layer) > 0) {
			return nil, fmt.Errorf("model %s: an expert cache of %d slots for the %d experts of layer %d", m.Path, slots[li], len(layer), li)
		}
		ly.slots = make([]cacheSlot, n)
		total += n
		bytes += int64(n) * ly.slotLen
		mostExperts = max(mostExperts, len(layer))
		c.layers = append(c.layers, ly)
	}
	if total == 0 {
		return nil, fmt.Errorf("model %s: an expert cache with no slots", m.Path)
	}
	var err error
	if c.res, err = l.Reserve("expert cache", bytes); err != nil {
		return nil, fmt.Errorf("model %s: expert cache of %d experts: %w", m.Path, total, err)
	}
	if c.region, err = alignedBuffer(int(bytes)); err != nil {
		c.res.Release()
		return nil, err
	}
	prefault(c.region)
	var pos int64
	for li := range c.layers {
		ly := &c.layers[li]
		for i := range ly.slots {
			ly.slots[i] = cacheSlot{buf: c.region[pos : pos+ly.slotLen : pos+ly.slotLen], exp: -1}
			pos += ly.slotLen
		}
	}
	// Every job is for a distinct slice of a distinct slot, so the queues
	// never outgrow these.
	c.demand = make([]readJob, 0, 3*total)
	c.pref = make([]readJob, 0, 3*total)
	c.order = make([]int32, 0, mostExperts)
	c.outs = make([]int32, 0, mostExperts)
	for _, ly := range c.layers {
		for _, en := range ly.experts {
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
	if c.direct && AsyncIO {
		if r, err := newAIORing(readers); err == nil {
			c.aio, c.reqs = r, make([]aioReq, readers)
			return c, nil
		}
	}
	for range readers {
		c.wg.Add(1)
		go c.reader()
	}
	AddIOProc()
	return c, nil
}

// prefault backs region with memory now, in transparent huge pages where
// the kernel allows them, rather than page by page in the reads the forward
// pass waits for. Huge pages matter twice: the matrix kernels stream each
// expert's weights with a few TLB misses instead of hundreds (costly under
// virtualisation), and an O_DIRECT read pins a few pages, not hundreds. The
// memory is on the ledger already and every slot gets filled; faulting it
// in at load (in a VM, with the host's faults behind it) keeps that cost
// out of decoding.
func prefault(region []byte) {
	_ = unix.Madvise(region, unix.MADV_HUGEPAGE)
	if unix.Madvise(region, unix.MADV_POPULATE_WRITE) == nil {
		return
	}
	for i := 0; i < len(region); i += 4096 { // kernels before 5.14
		region[i] = 0
	}
}

func alignedLen(off, n int64) int64 {
	lo := off &^ (streamAlign - 1)
	hi := (off + n + streamAlign - 1) &^ (streamAlign - 1)
	return hi - lo
}

// Slots is the number of experts the cache holds.
func (c *ExpertCache) Slots() int {
	n := 0
	for i := range c.layers {
		n += len(c.layers[i].slots)
	}
	return n
}

// LayerSlots is the number of experts the cache holds for layer.
func (c *ExpertCache) LayerSlots(layer int) int { return len(c.layers[layer].slots) }

// Readers is the number of reader goroutines.
func (c *ExpertCache) Readers() int { return c.readers }

// Direct reports whether reads bypass the page cache with O_DIRECT.
func (c *ExpertCache) Direct() bool { return c.direct }

// Async reports whether reads use Linux AIO (submitted and reaped by the
// forward pass) rather than reader goroutines.
func (c *ExpertCache) Async() bool { return c.aio != nil }

// Stats returns the counters.
func (c *ExpertCache) Stats() ExpertStats {
	return ExpertStats{
		Hits: c.hits.Load(), PrefetchHits: c.prefetchHits.Load(), Misses: c.misses.Load(),
		Prefetched: c.prefetched.Load(), PrefetchWasted: c.prefetchWasted.Load(),
		BytesRead: c.bytesRead.Load(), DemandBytes: c.demandBytes.Load(),
		Predicted: c.predicted.Load(), Correct: c.predictedRight.Load(), Waits: c.waits.Load(), WaitNanos: c.waitNanos.Load(),
		Slots: c.Slots(), Bytes: c.res.Bytes(),
	}
}

// reader serves read jobs, demand first (the reads of a cache without
// AIO).
func (c *ExpertCache) reader() {
	defer c.wg.Done()
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		j, demand, ok := c.take()
		for !ok && !c.stopping {
			c.work.Wait()
			j, demand, ok = c.take()
		}
		if c.stopping {
			return
		}
		b, dst := c.target(j)
		c.mu.Unlock()
		got, err := c.readSlice(b, dst, 0)
		c.mu.Lock()
		c.finish(j, demand, got, err)
	}
}

// take pops the next read job to start: demand reads first, and a
// prefetch only while no demand read runs (the forward pass waits for
// those, and they share the disk). Called with mu held.
func (c *ExpertCache) take() (j readJob, demand, ok bool) {
	switch {
	case len(c.demand) > 0:
		j, demand = popJob(&c.demand), true
		c.demandRunning++
	case len(c.pref) > 0 && c.demandRunning == 0:
		j = popJob(&c.pref)
	default:
		return j, false, false
	}
	c.layers[j.layer].slots[j.slot].queued--
	return j, demand, true
}

// target is the binding job j reads and where its aligned range goes.
// Called with mu held.
func (c *ExpertCache) target(j readJob) (Binding, []byte) {
	s := &c.layers[j.layer].slots[j.slot]
	b := c.layers[j.layer].experts[s.exp].binds[j.k]
	pos := s.readOffset[j.k] - (b.off - b.off&^(streamAlign-1))
	return b, s.buf[pos : pos+alignedLen(b.off, b.n)]
}

// finish records a read of job j that brought got bytes (err: how it
// failed). Called with mu held.
func (c *ExpertCache) finish(j readJob, demand bool, got int, err error) {
	s := &c.layers[j.layer].slots[j.slot]
	b, _ := c.target(j)
	c.bytesRead.Add(int64(got))
	if demand {
		c.demandBytes.Add(int64(got))
	}
	lo := b.off &^ (streamAlign - 1)
	if err != nil {
		err = fmt.Errorf("%s at offset %d: %w", b.file, lo+int64(got), err)
	} else if lo+int64(got) < b.off+b.n { // short of the slice, not only of its alignment padding
		err = fmt.Errorf("%s: file ends at offset %d, inside a tensor", b.file, lo+int64(got))
	}
	if err != nil && s.err == nil {
		s.err = fmt.Errorf("reading expert %d of layer %d: %w", s.exp, j.layer, err)
	}
	s.pending--
	if s.pending == 0 && c.aio == nil {
		c.ready.Broadcast()
	}
	if demand {
		if c.demandRunning--; c.demandRunning == 0 && len(c.pref) > 0 {
			c.kick()
		}
	}
}

func popJob(q *[]readJob) readJob {
	j := (*q)[0]
	n := copy(*q, (*q)[1:])
	*q = (*q)[:n]
	return j
}

// readSlice reads b's aligned range into dst from byte done on (the bytes
// before it are there already) and returns the bytes in dst.
func (c *ExpertCache) readSlice(b Binding, dst []byte, done int) (int, error) {
	lo := b.off &^ (streamAlign - 1)
	fd := c.fds[b.file]
	got, err := preadFull(fd, dst[done:], lo+int64(done))
	if err == nil && !c.direct {
		_ = unix.Fadvise(fd, lo, int64(len(dst)), unix.FADV_DONTNEED)
	}
	return done + got, err
}

// kick starts queued reads: it submits them (AIO) or wakes the readers.
// Called with mu held.
func (c *ExpertCache) kick() {
	r := c.aio
	if r == nil {
		c.work.Broadcast()
		return
	}
	for r.busy() < len(r.iocbs) {
		j, demand, ok := c.take()
		if !ok {
			break
		}
		b, dst := c.target(j)
		i := r.prepare(c.fds[b.file], dst, b.off&^(streamAlign-1))
		c.reqs[i] = aioReq{job: j, demand: demand, live: true}
	}
	if len(r.prepared) == 0 {
		return
	}
	var left []int32
	if c.aioErr == nil {
		left, c.aioErr = r.submit()
	} else {
		left, r.prepared = r.prepared, r.prepared[:0]
	}
	// Reads the kernel did not take (out of AIO resources, say) are
	// read here instead. left shares r.prepared's array, which finishing
	// a read may refill (it kicks again): iterate over a copy.
	for _, i := range slices.Clone(left) {
		c.readHere(i, 0)
	}
}

// readHere reads request slot i's job with pread from byte done on (the
// bytes before it are there already), records it and frees the slot.
// Called with mu held.
func (c *ExpertCache) readHere(i int32, done int) {
	req := c.reqs[i]
	c.reqs[i].live = false
	c.aio.release(i)
	b, dst := c.target(req.job)
	got, err := c.readSlice(b, dst, done)
	c.finish(req.job, req.demand, got, err)
}

// await waits until a read finishes (at least one, when any runs).
// Called with mu held.
func (c *ExpertCache) await() {
	if c.aio == nil {
		c.ready.Wait()
		return
	}
	c.reap(1)
}

// reap records the AIO reads that finished, waiting for at least min of
// them, then starts queued ones. Called with mu held, which it releases
// while it waits.
func (c *ExpertCache) reap(min int) {
	r := c.aio
	if r == nil {
		return
	}
	if r.busy() == 0 {
		c.kick() // nothing in flight: start what is queued, if anything
		if r.busy() == 0 {
			return
		}
	}
	if min > 0 {
		c.mu.Unlock()
	}
	evs, err := r.reap(min)
	if min > 0 {
		c.mu.Lock()
	}
	if err != nil {
		// The context is unusable (it should not happen): let the
		// kernel drain it, then read what was in flight, and all
		// later reads, with pread.
		c.aioErr = err
		r.close()
		for i := range c.reqs {
			if c.reqs[i].live {
				c.readHere(int32(i), 0)
			}
		}
		return
	}
	for _, ev := range evs {
		i := int32(ev.data)
		if ev.res < 0 {
			req := c.reqs[i]
			c.reqs[i].live = false
			r.release(i)
			c.finish(req.job, req.demand, 0, unix.Errno(-ev.res))
			continue
		}
		// A short read (at the end of the file, normally) is completed
		// with pread; a whole one only recorded.
		c.readHere(i, int(ev.res))
	}
	c.kick()
}

// score is a slot's value for eviction (lower goes first).
func (c *ExpertCache) score(s *cacheSlot) int64 {
	if s.prefetch {
		return s.lastUse - c.PrefetchAge
	}
	return s.lastUse + c.FreqWeight*min(s.uses, c.FreqCap)
}

// victim returns the index of the slot of ly to reuse, or -1 when every
// slot is pinned or being read. A prefetch whose reads have not started
// may be taken back. With below ≥ 0 only slots scoring under it qualify.
// Called with mu held.
func (c *ExpertCache) victim(ly *cacheLayer, below int64) int {
	best, bestScore := -1, int64(0)
	for i := range ly.slots {
		s := &ly.slots[i]
		if s.pins > 0 || s.queued < s.pending {
			continue
		}
		if s.exp < 0 {
			return i
		}
		sc := c.score(s)
		if below >= 0 && sc >= below {
			continue
		}
		if best < 0 || sc < bestScore {
			best, bestScore = i, sc
		}
	}
	return best
}

// assign puts expert e of layer li into slot i and queues its reads.
// Called with mu held.
func (c *ExpertCache) assign(li, i int, e int32, prefetch bool) {
	ly := &c.layers[li]
	s := &ly.slots[i]
	if s.exp >= 0 {
		if s.pending > 0 {
			// An unstarted prefetch taken back: drop its jobs.
			c.pref = slices.DeleteFunc(c.pref, func(j readJob) bool { return int(j.layer) == li && int(j.slot) == i })
		}
		if s.prefetch {
			c.prefetchWasted.Add(1)
		}
		ly.experts[s.exp].slot = -1
	}
	en := &ly.experts[e]
	en.slot = int32(i)
	*s = cacheSlot{buf: s.buf, exp: e, lastUse: ly.clock, queued: 3, pending: 3, prefetch: prefetch}
	var pos int64
	for k, b := range en.binds {
		s.readOffset[k] = pos + b.off - b.off&^(streamAlign-1)
		pos += alignedLen(b.off, b.n)
		j := readJob{layer: int32(li), slot: int32(i), k: int8(k)}
		if prefetch {
			c.pref = append(c.pref, j)
		} else {
			c.demand = append(c.demand, j)
		}
	}
	c.kick()
}

// promote moves slot i's queued prefetch reads to the demand queue.
// Called with mu held.
func (c *ExpertCache) promote(li, i int) {
	moved := false
	c.pref = slices.DeleteFunc(c.pref, func(j readJob) bool {
		if int(j.layer) == li && int(j.slot) == i {
			c.demand = append(c.demand, j)
			moved = true
			return true
		}
		return false
	})
	if moved {
		c.kick()
	}
}

// Begin starts a batch of layer that uses experts (distinct). It pins the
// cached ones and starts reading the others, as many as free slots allow.
func (c *ExpertCache) Begin(layer int, experts []int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur >= 0 {
		c.endLocked()
	}
	c.reap(0)
	ly := &c.layers[layer]
	ly.clock++
	c.cur, c.order, c.issued, c.next, c.outs = layer, c.order[:0], 0, 0, c.outs[:0]
	// Resident first, then the ones being read, then the misses.
	for pass := 0; pass < 2; pass++ {
		for _, e := range experts {
			i := ly.experts[e].slot
			if i < 0 {
				continue
			}
			s := &ly.slots[i]
			if (s.pending == 0) != (pass == 0) {
				continue
			}
			if s.prefetch {
				s.prefetch = false
				c.prefetchHits.Add(1)
				if s.lastUse == ly.clock {
					c.scorePrefetch(true) // read for this batch
				}
				s.uses = 0
			} else {
				c.hits.Add(1)
			}
			if s.queued > 0 {
				c.promote(layer, int(i))
			}
			s.pins++
			s.uses++
			s.lastUse = ly.clock
			c.order = append(c.order, e)
		}
	}
	// Guesses read for this batch that it did not use.
	for i := range ly.slots {
		if s := &ly.slots[i]; s.prefetch && s.lastUse == ly.clock {
			c.scorePrefetch(false)
		}
	}
	c.issued = len(c.order)
	for _, e := range experts {
		if ly.experts[e].slot < 0 {
			c.order = append(c.order, e)
			c.misses.Add(1)
		}
	}
	c.issue()
}

// issue gives free slots to the batch's missing experts, in order, and
// queues their reads. Called with mu held.
func (c *ExpertCache) issue() {
	ly := &c.layers[c.cur]
	for c.issued < len(c.order) {
		i := c.victim(ly, -1)
		if i < 0 {
			return
		}
		e := c.order[c.issued]
		c.assign(c.cur, i, e, false)
		s := &ly.slots[i]
		s.pins++
		s.uses = 1
		c.issued++
	}
}

// Next returns the batch's next expert, with its tensors pointing into the
// cache, waiting for its read if need be; -1 when every expert was handed
// out. Every expert handed out must be given back with Done before Next is
// called again (a wait must not hold slots a missing expert may need).
func (c *ExpertCache) Next() (int32, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur < 0 || c.next >= len(c.order) {
		return -1, nil
	}
	if len(c.outs) > 0 {
		return -1, fmt.Errorf("expert cache: Next before Done of expert %d", c.outs[0])
	}
	ly := &c.layers[c.cur]
	var start time.Time
	for c.next >= c.issued {
		c.issue()
		if c.next < c.issued {
			break
		}
		// Every slot is pinned or being read: wait for a read to finish.
		if start.IsZero() {
			start = time.Now()
		}
		c.await()
	}
	s := &ly.slots[ly.experts[c.order[c.next]].slot]
	for s.pending > 0 {
		if start.IsZero() {
			start = time.Now()
		}
		c.await()
	}
	if !start.IsZero() {
		c.waits.Add(1)
		c.waitNanos.Add(int64(time.Since(start)))
	}
	if s.err != nil {
		return -1, s.err
	}
	return c.handOut(), nil
}

// More returns the batch's next expert as Next does, but only when it is
// in memory already (never waiting); -1 otherwise. It may be called with
// experts handed out, to take several at once.
func (c *ExpertCache) More() int32 {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cur < 0 || c.next >= c.issued {
		return -1
	}
	ly := &c.layers[c.cur]
	s := &ly.slots[ly.experts[c.order[c.next]].slot]
	if s.pending > 0 {
		c.reap(0) // it may have arrived since
	}
	if s.pending > 0 || s.err != nil {
		return -1
	}
	return c.handOut()
}

// handOut points the tensors of the batch's next expert (read without
// error) into its slot and hands it out. Called with mu held.
func (c *ExpertCache) handOut() int32 {
	ly := &c.layers[c.cur]
	e := c.order[c.next]
	en := &ly.experts[e]
	s := &ly.slots[en.slot]
	for k := range en.binds {
		b := &en.binds[k]
		b.T.Data = s.buf[s.readOffset[k] : s.readOffset[k]+b.n : s.readOffset[k]+b.n]
	}
	c.next++
	c.outs = append(c.outs, e)
	return e
}

// Done gives back an expert Next or More returned: its tensors are
// detached and its slot may be reused.
func (c *ExpertCache) Done(e int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i := slices.Index(c.outs, e)
	if c.cur < 0 || i < 0 {
		return
	}
	c.outs = slices.Delete(c.outs, i, i+1)
	c.giveBack(e)
	c.issue()
}

// giveBack detaches expert e of the current layer and unpins its slot.
// Called with mu held.
func (c *ExpertCache) giveBack(e int32) {
	ly := &c.layers[c.cur]
	en := &ly.experts[e]
	for k := range en.binds {
		en.binds[k].T.Data = nil
	}
	ly.slots[en.slot].pins--
}

// End finishes the batch: experts not handed out or not given back are
// unpinned (after an error), and failed reads leave the cache.
func (c *ExpertCache) End() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.endLocked()
}

func (c *ExpertCache) endLocked() {
	if c.cur < 0 {
		return
	}
	ly := &c.layers[c.cur]
	for _, e := range c.outs { // handed out, not given back
		c.giveBack(e)
	}
	for _, e := range c.order[c.next:c.issued] {
		ly.slots[ly.experts[e].slot].pins--
	}
	// A slot whose read failed is emptied once nothing reads into it.
	for _, e := range c.order[:c.issued] {
		if i := ly.experts[e].slot; i >= 0 {
			if s := &ly.slots[i]; s.err != nil && s.pending == 0 {
				ly.experts[e].slot = -1
				*s = cacheSlot{buf: s.buf, exp: -1}
			}
		}
	}
	c.cur, c.order, c.outs = -1, c.order[:0], c.outs[:0]
}

// scorePrefetch updates the running average of prefetch usefulness.
// Called with mu held.
func (c *ExpertCache) scorePrefetch(used bool) {
	v := 0.0
	if used {
		v = 1
	}
	c.useful += (v - c.useful) / 32
}

// PrefetchUseful is the running average of the share of prefetched experts
// that the batch they were read for used.
func (c *ExpertCache) PrefetchUseful() float64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.useful
}

// Prefetch starts reading experts of layer that are not cached (best guess
// first), into free slots or ones worth less than a fresh guess; it never
// waits. Reads queue behind demand reads. While guesses have mostly been
// wrong lately (the running usefulness under UsefulFloor), only the first
// uncached guess is read.
func (c *ExpertCache) Prefetch(layer int, experts []int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reap(0)
	ly := &c.layers[layer]
	issued := 0
	// A guess is worth what an expert used PrefetchAge batches before the
	// next one is: it may not push out anything used more recently.
	worth := ly.clock + 1 - c.PrefetchAge
	for _, e := range experts {
		if ly.experts[e].slot >= 0 {
			continue
		}
		if issued > 0 && c.useful < c.UsefulFloor {
			return
		}
		i := c.victim(ly, max(worth, 0))
		if i < 0 {
			return
		}
		c.assign(layer, i, e, true)
		c.prefetched.Add(1)
		issued++
		// Score it as a batch ahead of the layer's next use.
		ly.slots[i].lastUse = ly.clock + 1
	}
}

// Score records how many of the predicted experts the router picked.
func (c *ExpertCache) Score(predicted, actual []int32) {
	c.predicted.Add(int64(len(predicted)))
	n := 0
	for _, p := range predicted {
		if slices.Contains(actual, p) {
			n++
		}
	}
	c.predictedRight.Add(int64(n))
}

// Close stops the readers and frees the cache.
func (c *ExpertCache) Close() error {
	c.mu.Lock()
	if c.stopping { // closed before: nothing left to release
		c.mu.Unlock()
		return nil
	}
	c.stopping = true
	c.work.Broadcast()
	c.mu.Unlock()
	c.wg.Wait()
	if c.aio != nil {
		c.aio.close() // waits for the reads in flight
	} else {
		DropIOProc()
	}
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
