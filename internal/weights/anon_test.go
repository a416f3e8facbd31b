package weights

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"
	"unsafe"
)

// TestLoadFile checks that loadFile returns a file's bytes exactly, for
// sizes around the O_DIRECT block, the read chunk and the huge page, on the
// test's file system (O_DIRECT where it is allowed) and on tmpfs (which
// refuses O_DIRECT: buffered reads), at a huge-page-aligned address.
func TestLoadFile(t *testing.T) {
	dirs := map[string]string{"tempdir": t.TempDir()}
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		d, err := os.MkdirTemp("/dev/shm", "memfit-load-")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.RemoveAll(d) })
		dirs["tmpfs"] = d
	}
	r := rand.New(rand.NewPCG(1, 2))
	sizes := []int{0, 1, 4095, 4096, 4097, hugePage - 1, hugePage + 1, loadChunk, 2*loadChunk + 4099}
	for name, dir := range dirs {
		for _, n := range sizes {
			path := filepath.Join(dir, "f")
			want := writeRandom(t, path, n, r)
			got, err := loadFile(path)
			if err != nil {
				t.Fatalf("%s, %d bytes: %v", name, n, err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("%s, %d bytes: loaded bytes differ from the file", name, n)
			}
			if n > 0 && uintptr(unsafe.Pointer(&got[0]))%hugePage != 0 {
				t.Errorf("%s, %d bytes: region at %p, not huge-page aligned", name, n, &got[0])
			}
			if err := freeRegion(got); err != nil {
				t.Fatalf("%s, %d bytes: free: %v", name, n, err)
			}
		}
	}
}

// TestLoadFileErrors checks that a missing file is an error naming it.
func TestLoadFileErrors(t *testing.T) {
	path := filepath.Join(t.TempDir(), "missing.gguf")
	if _, err := loadFile(path); err == nil || !bytes.Contains([]byte(err.Error()), []byte("missing.gguf")) {
		t.Fatalf("loadFile of a missing file: %v, want an error naming it", err)
	}
}

// TestPreadFull checks reads that stop at the end of the file.
func TestPreadFull(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(path, []byte("0123456789"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, tc := range []struct {
		off, n, want int
	}{{0, 4, 4}, {6, 8, 4}, {10, 3, 0}, {0, 10, 10}} {
		buf := make([]byte, tc.n)
		got, err := preadFull(int(f.Fd()), buf, int64(tc.off))
		if err != nil || got != tc.want || string(buf[:got]) != "0123456789"[tc.off:tc.off+got] {
			t.Errorf("preadFull(off %d, %d bytes) = %d, %v (%q); want %d", tc.off, tc.n, got, err, buf[:got], tc.want)
		}
	}
	if err := readAtLeast(int(f.Fd()), make([]byte, 8), 6, 5); err == nil {
		t.Error("readAtLeast past the end of the file: no error")
	}
}
