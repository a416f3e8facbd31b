// Package kernels holds memfit's compute: matrix products over the weight
// types, attention, norms, RoPE and activations, each with a plain-Go
// reference, plus the persistent worker pool that splits work across cores.
package kernels

import (
	"runtime"
	"sync"
	"sync/atomic"
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
type Pool struct {
	threads int
	wake    []chan struct{}
	wg      sync.WaitGroup

	// The current job, set by Run before waking the workers.
	task  Task
	n     int
	chunk int
	next  atomic.Int64
	mu    sync.Mutex // serialises Run
	done  atomic.Bool
}

// NewPool starts a pool of n workers (n ≤ 0: one per CPU).
func NewPool(n int) *Pool {
	if n <= 0 {
		n = runtime.NumCPU()
	}
	p := &Pool{threads: n, wake: make([]chan struct{}, n)}
	for w := 1; w < n; w++ {
		p.wake[w] = make(chan struct{}, 1)
		go p.worker(w)
	}
	return p
}

// Threads is the number of workers, including the caller of Run.
func (p *Pool) Threads() int { return p.threads }

func (p *Pool) worker(w int) {
	for range p.wake[w] {
		p.work(w)
		p.wg.Done()
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
	helpers := min(p.threads-1, (n+grain-1)/grain-1)
	p.wg.Add(helpers)
	for w := 1; w <= helpers; w++ {
		p.wake[w] <- struct{}{}
	}
	p.work(0)
	p.wg.Wait()
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
	for w := 1; w < p.threads; w++ {
		close(p.wake[w])
	}
}
