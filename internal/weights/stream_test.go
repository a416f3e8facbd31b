package weights

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/tensor"
)

// writeRandom writes n bytes drawn from r to a file at path and returns
// them.
func writeRandom(t *testing.T, path string, n int, r *rand.Rand) []byte {
	t.Helper()
	data := make([]byte, n)
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return data
}

// testModel maps a file of random bytes as a Model.
func testModel(t *testing.T, size int) (*Model, []byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "w.bin")
	data := writeRandom(t, path, size, rand.New(rand.NewPCG(1, 2)))
	b, err := mapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Munmap(b) })
	return &Model{Path: path, maps: map[string][]byte{path: b}}, data
}

// TestStreamerCycles streams layers of tensors at odd offsets and sizes
// (several ranges per unit, units larger than a read, a range running to
// the end of the file) for several cycles with tiny reads, and checks each
// acquired tensor holds the file's bytes.
func TestStreamerCycles(t *testing.T) {
	for _, chunk := range []int64{streamAlign, 3 * streamAlign, StreamChunk} {
		old := streamChunk
		streamChunk = chunk
		m, data := testModel(t, 3<<20+123)
		type tt struct{ off, n int }
		layout := [][]tt{
			{{100, 70000}, {80000, 5000}},          // merged into one range
			{{200000, 300000}, {1200000, 4097}},    // two ranges
			{{600000, 1}},                          // one byte
			{{1300000, 1800000}, {3<<20 + 1, 122}}, // to the end of the file
		}
		tensors := make([][]tensor.Tensor, len(layout))
		var units []StreamUnit
		for li, ts := range layout {
			tensors[li] = make([]tensor.Tensor, len(ts))
			var bs []Binding
			for i, x := range ts {
				tensors[li][i] = tensor.Tensor{Name: "t", Data: m.maps[m.Path][x.off : x.off+x.n]}
				b, err := m.Bind(&tensors[li][i])
				if err != nil {
					t.Fatal(err)
				}
				bs = append(bs, b)
			}
			units = append(units, StreamUnit{Layer: 10 + li/2, Part: PartUp + li%2, Bindings: bs})
		}
		l := ledger.New(ledger.Unlimited)
		s, err := m.NewStreamer(l, units)
		if err != nil {
			t.Fatal(err)
		}
		for cycle := range 5 {
			for li, ts := range layout {
				if err := s.Acquire(10+li/2, PartAttn); err != nil { // not streamed: nothing
					t.Fatal(err)
				}
				if err := s.Acquire(10+li/2, PartUp+li%2); err != nil {
					t.Fatal(err)
				}
				for i, x := range ts {
					if !bytes.Equal(tensors[li][i].Data, data[x.off:x.off+x.n]) {
						t.Fatalf("chunk %d, cycle %d, layer %d, tensor %d: wrong bytes", chunk, cycle, li, i)
					}
				}
				s.Release(10+li/2, PartUp+li%2)
				if tensors[li][0].Data != nil {
					t.Fatal("a released tensor still points at the buffer")
				}
			}
		}
		if err := s.Acquire(11, PartDown); err == nil {
			t.Error("acquiring out of order: no error")
		}
		if !s.Streams(11) || s.Streams(12) {
			t.Error("Streams: wrong layers")
		}
		var sizes int64
		for _, ts := range layout {
			for _, x := range ts {
				sizes += int64(x.n)
			}
		}
		st := s.Stats()
		if st.BytesRead < 5*sizes || st.BytesRead > 6*sizes+4*streamAlign || st.Acquires != 20 || st.ReadBusy <= 0 {
			t.Errorf("stats %+v", st)
		}
		if l.Used() != s.BufferBytes() || s.BufferBytes() < StreamSlots*(3<<20+123-1300000) {
			t.Errorf("ledger holds %d, buffers %d", l.Used(), s.BufferBytes())
		}
		procs := runtime.GOMAXPROCS(0)
		s.Close()
		s.Close() // a second Close releases nothing more
		if l.Used() != 0 {
			t.Errorf("%d bytes left on the ledger", l.Used())
		}
		if got := runtime.GOMAXPROCS(0); got != procs-1 {
			t.Errorf("GOMAXPROCS %d after Close, want %d", got, procs-1)
		}
		streamChunk = old
	}
}

// TestStreamerCloseWhileReading closes a streamer whose readers are busy
// and one that was never acquired from.
func TestStreamerCloseWhileReading(t *testing.T) {
	m, _ := testModel(t, 1<<20)
	procs := runtime.GOMAXPROCS(0)
	for range 20 {
		a := tensor.Tensor{Data: m.maps[m.Path][0 : 1<<19]}
		b := tensor.Tensor{Data: m.maps[m.Path][1<<19 : 1<<20]}
		ba, _ := m.Bind(&a)
		bb, _ := m.Bind(&b)
		s, err := m.NewStreamer(ledger.New(ledger.Unlimited), []StreamUnit{{0, PartLayer, []Binding{ba}}, {1, PartLayer, []Binding{bb}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Acquire(0, PartLayer); err != nil {
			t.Fatal(err)
		}
		if p := runtime.GOMAXPROCS(0); p != procs+1 {
			t.Errorf("GOMAXPROCS %d while streaming, want %d (a P for the readers)", p, procs+1)
		}
		s.Close()
	}
	if p := runtime.GOMAXPROCS(0); p != procs {
		t.Errorf("GOMAXPROCS %d after the streamers closed, want %d", p, procs)
	}
}

func TestStreamerBudget(t *testing.T) {
	m, _ := testModel(t, 1<<20)
	a := tensor.Tensor{Data: m.maps[m.Path][0 : 1<<19]}
	ba, _ := m.Bind(&a)
	if _, err := m.NewStreamer(ledger.New(1<<19), []StreamUnit{{0, PartLayer, []Binding{ba}}}); err == nil {
		t.Error("buffers over the budget: no error")
	}
	if _, err := m.NewStreamer(ledger.New(ledger.Unlimited), []StreamUnit{{0, PartUp, []Binding{ba}}, {0, PartUp, []Binding{ba}}}); err == nil {
		t.Error("a repeated unit: no error")
	}
	var s *Streamer // nil: nothing streams
	if err := s.Acquire(3, PartUp); err != nil || s.Streams(3) {
		t.Errorf("nil streamer: %v", err)
	}
	s.Release(3, PartUp)
}

// TestIOProcs: each reader pool adds a P while it runs, and GOMAXPROCS is
// back where it was when the last one stops.
func TestIOProcs(t *testing.T) {
	base := runtime.GOMAXPROCS(0)
	for i, want := range []int{base + 1, base + 2} {
		AddIOProc()
		if got := runtime.GOMAXPROCS(0); got != want {
			t.Errorf("after %d AddIOProc: GOMAXPROCS %d, want %d", i+1, got, want)
		}
	}
	for i, want := range []int{base + 1, base} {
		DropIOProc()
		if got := runtime.GOMAXPROCS(0); got != want {
			t.Errorf("after %d DropIOProc: GOMAXPROCS %d, want %d", i+1, got, want)
		}
	}
}
