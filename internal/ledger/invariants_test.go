//go:build invariants

package ledger

import (
	"runtime/debug"
	"testing"
)

// TestInvariantCatchesUnreservedMemory allocates and touches memory the
// ledger does not know about and checks that the next reservation panics.
func TestInvariantCatchesUnreservedMemory(t *testing.T) {
	l := New(1 << 40)
	if _, err := l.Reserve("runtime", 0); err != nil { // within the slack: fine
		t.Fatal(err)
	}
	hog := make([]byte, 512<<20)
	for i := range hog {
		hog[i] = byte(i)
	}
	defer func() {
		if recover() == nil {
			t.Error("512 MiB resident without a reservation: no panic")
		}
		_ = hog[len(hog)-1]
		hog = nil
		debug.FreeOSMemory() // later tests' ledgers start from a clean process
	}()
	l.Reserve("kv", 1)
}

// TestInvariantBaseline checks that memory the process held before a ledger
// was made is not charged to it.
func TestInvariantBaseline(t *testing.T) {
	hog := make([]byte, 256<<20)
	for i := range hog {
		hog[i] = byte(i)
	}
	l := New(1 << 40)
	if _, err := l.Reserve("kv", 1); err != nil {
		t.Fatal(err)
	}
	_ = hog[len(hog)-1]
}
