// Package kernels holds memfit's compute: matrix products over the weight
// types, attention, norms, RoPE and activations, each with a plain-Go
// reference, plus the persistent worker pool that splits work across cores.
package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Task is work split into chunks: Do runs items [lo, hi) on worker w
// (0 ≤ w < Pool.Threads()). A Task is usually a long-lived struct whose
// fields the caller sets before each Run, so running it allocates nothing.
type Task interface {
	Do(w, lo, hi int)
}

// Pool is a fixed set of worker goroutines started once and reused for every
// parallel step; no goroutine is started per token. The goroutine calling
// Run works too, as worker 0.
//
// A decode step runs dozens of small parallel operations back to back, so
// waking parked goroutines for each would cost more than the work. Workers
// therefore spin on a generation counter for a short while after each job
// (spinFor) and only then park on their channel; Run wakes parked workers.
type Pool struct {
	threads int
	wake    []chan struct{}
	parked  []atomic.Bool // per worker: waiting on its wake channel
	gen     atomic.Uint64 // incremented for every job
	pending atomic.Int32  // helpers still working on the current job

	// The current job, set by Run before bumping gen.
	task  Task
	n     int
	chunk int
	next  atomic.Int64
	mu    sync.Mutex // serialises Run
	done  atomic.Bool
}

// spinFor is how long an idle worker spins before parking.
const spinFor = 200 * time.Microsecond

// NewPool starts a pool of n workers (n ≤ 0: one per CPU).
func NewPool(n int) *Pool {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	p := &Pool{threads: n, wake: make([]chan struct{}, n), parked: make([]atomic.Bool, n)}
	for w := 1; w < n; w++ {
		p.wake[w] = make(chan struct{}, 1)
		go p.worker(w)
	}
	return p
}

// Threads is the number of workers, including the caller of Run.
func (p *Pool) Threads() int { return p.threads }

func (p *Pool) worker(w int) {
	var seen uint64
	for {
		if !p.await(w, seen) {
			return
		}
		seen = p.gen.Load()
		p.work(w)
		p.pending.Add(-1)
	}
}

// await waits until a job newer than seen is published; it returns false
// when the pool is closed.
func (p *Pool) await(w int, seen uint64) bool {
	start := time.Now()
	for spins := 0; ; spins++ {
		if p.gen.Load() != seen {
			return !p.done.Load()
		}
		spinWait()
		if spins&255 == 255 {
			if time.Since(start) > spinFor {
				break
			}
			if spins&2047 == 2047 {
				runtime.Gosched()
			}
		}
	}
	for {
		p.parked[w].Store(true)
		if p.gen.Load() != seen && p.parked[w].CompareAndSwap(true, false) {
			return !p.done.Load()
		}
		// Either no job yet, or Run saw us parked and is sending a wake-up.
		if _, ok := <-p.wake[w]; !ok || p.done.Load() {
			return false
		}
		// A Run that was descheduled between bumping gen and waking us
		// may wake us for a job we already did (we saw gen while
		// spinning, did it, and parked again): park again.
		if p.gen.Load() != seen {
			return true
		}
	}
}

func (p *Pool) work(w int) {
	for {
		lo := int(p.next.Add(int64(p.chunk))) - p.chunk
		if lo >= p.n {
			return
		}
		p.task.Do(w, lo, min(lo+p.chunk, p.n))
	}
}

// Run calls t.Do over [0, n) in chunks of about grain items (at least 1),
// spread over the workers, and returns when all are done. Chunks are handed
// out dynamically, so a worker slowed by a noisy neighbour takes fewer.
func (p *Pool) Run(n, grain int, t Task) {
	if n <= 0 {
		return
	}
	grain = max(grain, 1)
	if p.threads == 1 || n <= grain {
		t.Do(0, 0, n)
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.task, p.n, p.chunk = t, n, grain
	p.next.Store(0)
	p.pending.Store(int32(p.threads - 1))
	p.gen.Add(1)
	for w := 1; w < p.threads; w++ {
		if p.parked[w].CompareAndSwap(true, false) {
			p.wake[w] <- struct{}{}
		}
	}
	p.work(0)
	for spins := 0; p.pending.Load() > 0; spins++ {
		spinWait()
		if spins&2047 == 2047 {
			runtime.Gosched()
		}
	}
	p.task = nil
}

// Grain returns a chunk size that splits n items into about 4 chunks per
// worker, but no fewer than min items per chunk.
func (p *Pool) Grain(n, minItems int) int {
	g := (n + 4*p.threads - 1) / (4 * p.threads)
	return max(g, minItems, 1)
}

// Close stops the workers. The pool must not be used after Close.
func (p *Pool) Close() {
	if p.done.Swap(true) {
		return
	}
	p.gen.Add(1) // spinning workers see it and stop
	for w := 1; w < p.threads; w++ {
		close(p.wake[w])
	}
}
