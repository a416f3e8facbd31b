// Package ledger is memfit's memory budget: every allocation that scales with
// the model or the context (weights, KV cache, scratch, streaming buffers,
// expert cache) is reserved here first, and a reservation that would cross
// the budget fails with an error saying what did not fit.
package ledger

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"sync"
)

// ErrOverBudget is wrapped by every error from a reservation that does not
// fit.
var ErrOverBudget = errors.New("over the memory budget")

// Unlimited is the budget of a ledger that only counts.
const Unlimited = math.MaxInt64

// Ledger counts reserved bytes against a budget. It is safe for concurrent
// use.
type Ledger struct {
	mu     sync.Mutex
	budget int64
	used   int64
	peak   int64
	byKind map[string]int64
	// baseline is the process's resident memory when the ledger was made
	// (invariants build tag only; zero otherwise): what was there before
	// the ledger is not the ledger's to account for.
	baseline int64
}

// New returns a ledger with the given budget in bytes (Unlimited to only
// count).
func New(budget int64) *Ledger {
	return &Ledger{budget: budget, byKind: map[string]int64{}, baseline: residentBaseline()}
}

// Reservation is bytes held on a ledger until Release.
type Reservation struct {
	l     *Ledger
	kind  string
	bytes int64
}

// Reserve reserves n bytes of the given kind ("weights", "kv", "scratch",
// ...). It fails, wrapping ErrOverBudget, when the budget would be crossed.
func (l *Ledger) Reserve(kind string, n int64) (*Reservation, error) {
	if n < 0 {
		return nil, fmt.Errorf("ledger: negative reservation of %d bytes for %s", n, kind)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.verify()
	if n > l.budget-l.used {
		return nil, fmt.Errorf("%w: %s needs %s but only %s of the %s budget is free (%s in use)",
			ErrOverBudget, kind, FormatBytes(n), FormatBytes(l.budget-l.used), FormatBytes(l.budget), FormatBytes(l.used))
	}
	l.used += n
	l.peak = max(l.peak, l.used)
	l.byKind[kind] += n
	return &Reservation{l: l, kind: kind, bytes: n}, nil
}

// Bytes is the size of the reservation.
func (r *Reservation) Bytes() int64 { return r.bytes }

// Release returns the reservation's bytes to the ledger. Releasing twice is
// a no-op.
func (r *Reservation) Release() {
	if r == nil || r.l == nil {
		return
	}
	l := r.l
	l.mu.Lock()
	l.used -= r.bytes
	l.byKind[r.kind] -= r.bytes
	l.mu.Unlock()
	r.l = nil
}

// Budget returns the budget in bytes.
func (l *Ledger) Budget() int64 { return l.budget }

// Used returns the bytes reserved now.
func (l *Ledger) Used() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.used
}

// Peak returns the largest number of bytes reserved at once.
func (l *Ledger) Peak() int64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.peak
}

// Kinds returns the bytes reserved now per kind, in kind order.
func (l *Ledger) Kinds() []KindBytes {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make([]KindBytes, 0, len(l.byKind))
	for k, n := range l.byKind {
		out = append(out, KindBytes{k, n})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Kind < out[j].Kind })
	return out
}

// KindBytes is the bytes reserved for one kind.
type KindBytes struct {
	Kind  string
	Bytes int64
}

// FormatBytes formats n with a binary unit (KiB, MiB, GiB).
func FormatBytes(n int64) string {
	if n == Unlimited {
		return "unlimited"
	}
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	f, i := float64(n), 0
	units := []string{"KiB", "MiB", "GiB", "TiB", "PiB"}
	for f /= unit; f >= unit && i < len(units)-1; f /= unit {
		i++
	}
	return fmt.Sprintf("%.1f %s", f, units[i])
}
