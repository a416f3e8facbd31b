package ledger

import (
	"errors"
	"sync"
	"testing"
)

func TestReserveRelease(t *testing.T) {
	l := New(1000)
	a, err := l.Reserve("weights", 600)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Reserve("kv", 500); !errors.Is(err, ErrOverBudget) {
		t.Fatalf("over-budget reservation: err = %v", err)
	}
	b, err := l.Reserve("kv", 400)
	if err != nil {
		t.Fatal(err)
	}
	if l.Used() != 1000 || l.Peak() != 1000 {
		t.Errorf("used %d peak %d", l.Used(), l.Peak())
	}
	a.Release()
	a.Release()
	if l.Used() != 400 || l.Peak() != 1000 {
		t.Errorf("after release: used %d peak %d", l.Used(), l.Peak())
	}
	b.Release()
	if _, err := l.Reserve("x", -1); err == nil {
		t.Error("negative reservation accepted")
	}
}

func TestConcurrent(t *testing.T) {
	l := New(Unlimited)
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 1000; j++ {
				r, err := l.Reserve("scratch", 10)
				if err != nil {
					t.Error(err)
					return
				}
				r.Release()
			}
		}()
	}
	wg.Wait()
	if l.Used() != 0 {
		t.Errorf("used %d after all releases", l.Used())
	}
}

func TestFormatBytes(t *testing.T) {
	for n, want := range map[int64]string{12: "12 B", 1536: "1.5 KiB", 350 << 20: "350.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := FormatBytes(n); got != want {
			t.Errorf("FormatBytes(%d) = %q, want %q", n, got, want)
		}
	}
}
