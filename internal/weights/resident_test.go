package weights

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/tensor"
)

// mappedModel writes n random bytes to dir and maps them as a Model whose
// reservations go to l; the caller closes it (Close unmaps the file).
func mappedModel(t *testing.T, dir string, n int, l *ledger.Ledger) (*Model, []byte) {
	t.Helper()
	path := filepath.Join(dir, "w.bin")
	data := writeRandom(t, path, n, rand.New(rand.NewPCG(3, 4)))
	b, err := mapFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return &Model{Path: path, maps: map[string][]byte{path: b}, anon: map[string]bool{}, ledger: l}, data
}

// TestLoadResident reads tensors at odd offsets out of a mapped file and
// checks the coalescing into runs, the region's size and alignment, the
// alignment reservation, that each tensor then holds the file's bytes in
// the region (len = cap), that Locate and Bind still find their file
// offsets, and that Close frees the region and the reservation. On the
// test's file system (O_DIRECT) and on tmpfs (buffered reads).
func TestLoadResident(t *testing.T) {
	const size = 2*loadChunk + 5<<20 + 123
	dirs := map[string]string{"tempdir": t.TempDir()}
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "memfit-resident-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		dirs["tmpfs"] = d
	}
	type span struct{ off, n int }
	tests := []struct {
		name    string
		tensors []span
		runs    int
		region  int // bytes
	}{
		{"one tensor at an odd offset", []span{{100, 70000}}, 1, 73728},
		{"one byte", []span{{4097, 1}}, 1, 4096},
		{"neighbours within a page", []span{{0, 10}, {4000, 10}}, 1, 4096},
		{"adjacent after alignment", []span{{100, 4000}, {4196, 5000}}, 1, 12288},
		{"a page apart", []span{{0, 4096}, {8192, 100}}, 2, 8192},
		{"shared bytes (tied, fused rows)", []span{{5000, 9000}, {5000, 9000}, {7000, 100}}, 1, 12288},
		{"out of file order", []span{{200000, 300}, {100, 50}, {100000, 4096}}, 3, 4096 + 8192 + 4096},
		{"larger than a read", []span{{1, 2*loadChunk + 3}}, 1, 2*loadChunk + 4096},
		{"to the end of the file", []span{{size - 122, 122}, {size - 5000, 10}}, 2, 8192},
	}
	for dname, dir := range dirs {
		for _, tt := range tests {
			t.Run(dname+"/"+tt.name, func(t *testing.T) {
				l := ledger.New(ledger.Unlimited)
				m, data := mappedModel(t, dir, size, l)
				defer m.Close()
				mapped := m.maps[m.Path]
				ts := make([]tensor.Tensor, len(tt.tensors))
				ptrs := make([]*tensor.Tensor, 0, len(ts)+2)
				covered := make([]bool, size)
				for i, s := range tt.tensors {
					ts[i] = tensor.Tensor{Name: "t", Type: tensor.F32, Data: mapped[s.off : s.off+s.n]}
					ptrs = append(ptrs, &ts[i])
					for j := s.off; j < s.off+s.n; j++ {
						covered[j] = true
					}
				}
				// Left alone: a detached view and a copy on the heap.
				detached := tensor.Tensor{Name: "streamed"}
				heap := tensor.Tensor{Name: "copy", Data: []byte{1, 2, 3}}
				ptrs = append(ptrs, &detached, &heap)
				if err := m.LoadResident(ptrs); err != nil {
					t.Fatal(err)
				}
				if len(m.regions) != 1 || len(m.regions[0].runs) != tt.runs || m.ResidentRegionBytes() != int64(tt.region) {
					t.Fatalf("%d regions, %d runs, %d bytes; want 1, %d, %d", len(m.regions), len(m.regions[0].runs), m.ResidentRegionBytes(), tt.runs, tt.region)
				}
				region := m.regions[0].buf
				if uintptr(unsafe.Pointer(&region[0]))%hugePage != 0 {
					t.Errorf("region at %p, not huge-page aligned", &region[0])
				}
				var cov int
				for _, c := range covered {
					if c {
						cov++
					}
				}
				if got := l.Used(); got != int64(tt.region-cov) {
					t.Errorf("reserved %d bytes for alignment, want %d (region %d less the tensors' %d)", got, tt.region-cov, tt.region, cov)
				}
				for i, s := range tt.tensors {
					d := ts[i].Data
					if len(d) != s.n || cap(d) != s.n {
						t.Errorf("tensor %d: len %d cap %d, want %d", i, len(d), cap(d), s.n)
					}
					p := uintptr(unsafe.Pointer(&d[0]))
					if base := uintptr(unsafe.Pointer(&region[0])); p < base || p >= base+uintptr(len(region)) {
						t.Errorf("tensor %d: not in the region", i)
					}
					if !bytes.Equal(d, data[s.off:s.off+s.n]) {
						t.Errorf("tensor %d (bytes %d-%d): differs from the file", i, s.off, s.off+s.n)
					}
					if file, off, ok := m.Locate(d); !ok || file != m.Path || off != int64(s.off) {
						t.Errorf("tensor %d: Locate = %s, %d, %v; want %s, %d", i, file, off, ok, m.Path, s.off)
					}
				}
				if detached.Data != nil || !bytes.Equal(heap.Data, []byte{1, 2, 3}) {
					t.Errorf("a detached view or a heap copy was changed")
				}
				// A moved view still binds to its file range.
				b, err := m.Bind(&ts[0])
				if err != nil || b.file != m.Path || b.off != int64(tt.tensors[0].off) || b.n != int64(tt.tensors[0].n) || ts[0].Data != nil {
					t.Errorf("Bind of a moved view: %+v, %v", b, err)
				}
				if err := m.Close(); err != nil {
					t.Fatal(err)
				}
				if l.Used() != 0 || m.regions != nil {
					t.Errorf("after Close: %d bytes reserved, %d regions", l.Used(), len(m.regions))
				}
				// The region is unmapped: madvise fails with ENOMEM.
				if err := unix.Madvise(region, unix.MADV_NORMAL); !errors.Is(err, unix.ENOMEM) {
					t.Errorf("madvise of the freed region: %v, want ENOMEM", err)
				}
			})
		}
	}
}

// TestLoadResidentBudget checks that a ledger without room for the
// alignment fails the load and leaves the tensors in the mapping.
func TestLoadResidentBudget(t *testing.T) {
	l := ledger.New(100)
	m, data := mappedModel(t, t.TempDir(), 1<<20, l)
	defer m.Close()
	ts := tensor.Tensor{Name: "t", Data: m.maps[m.Path][10 : 10+50000]}
	if err := m.LoadResident([]*tensor.Tensor{&ts}); !errors.Is(err, ledger.ErrOverBudget) {
		t.Fatalf("LoadResident over the budget: %v, want ErrOverBudget", err)
	}
	if file, off, ok := m.locateMapped(ts.Data); !ok || file != m.Path || off != 10 || !bytes.Equal(ts.Data, data[10:10+50000]) {
		t.Errorf("after the failure the tensor is not its mapped view")
	}
	if len(m.regions) != 0 || l.Used() != 0 {
		t.Errorf("after the failure: %d regions, %d bytes reserved", len(m.regions), l.Used())
	}
}

// TestLoadResidentNothing checks that no tensors in a mapping is no work.
func TestLoadResidentNothing(t *testing.T) {
	l := ledger.New(ledger.Unlimited)
	m, _ := mappedModel(t, t.TempDir(), 8192, l)
	defer m.Close()
	if err := m.LoadResident([]*tensor.Tensor{{Name: "empty"}}); err != nil || len(m.regions) != 0 {
		t.Fatalf("LoadResident of an empty view: %v, %d regions", err, len(m.regions))
	}
}
