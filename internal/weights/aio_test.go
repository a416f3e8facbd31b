package weights

import (
	"bytes"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// TestAIORing reads a file with O_DIRECT through an AIO ring, more reads
// than it has slots (so slots are reused), the last one reaching past the
// end of the file, and checks every byte and every count; then a read of a
// closed descriptor, which the kernel refuses, comes back as not taken.
func TestAIORing(t *testing.T) {
	const chunk = 64 << 10
	path := filepath.Join(t.TempDir(), "f")
	data := writeRandom(t, path, 10*chunk+1000, rand.New(rand.NewPCG(7, 8)))
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECT|unix.O_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("O_DIRECT on the test's temporary directory: %v", err)
	}
	defer unix.Close(fd)
	ring, err := newAIORing(3)
	if err != nil {
		t.Fatal(err)
	}
	defer ring.close()
	buf, err := alignedBuffer(11 * chunk)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Munmap(buf)
	got := make(map[int32]int64) // request slot → bytes read
	at := make(map[int32]int)    // request slot → chunk
	next, done := 0, 0
	for done < 11 {
		for next < 11 {
			i := ring.prepare(fd, buf[next*chunk:(next+1)*chunk], int64(next*chunk))
			if i < 0 {
				break
			}
			at[i] = next
			next++
		}
		if left, err := ring.submit(); err != nil || len(left) > 0 {
			t.Fatalf("submit: %v, %d reads not taken", err, len(left))
		}
		if ring.busy() > 3 {
			t.Fatalf("%d request slots busy in a ring of 3", ring.busy())
		}
		evs, err := ring.reap(1)
		if err != nil || len(evs) == 0 {
			t.Fatalf("reap: %d events, %v", len(evs), err)
		}
		for _, ev := range evs {
			i := int32(ev.data)
			c := at[i]
			got[int32(c)] = ev.res
			ring.release(i)
			done++
		}
	}
	for c := range 11 {
		want := int64(min(chunk, max(0, len(data)-c*chunk)))
		if got[int32(c)] != want {
			t.Errorf("chunk %d: read %d bytes, want %d", c, got[int32(c)], want)
		}
	}
	if !bytes.Equal(buf[:len(data)], data) {
		t.Error("the bytes read differ from the file's")
	}
	if ring.prepare(-1, buf[:chunk], 0) < 0 {
		t.Fatal("no free request slot after every read was reaped")
	}
	left, err := ring.submit()
	if err == nil || len(left) != 1 {
		t.Errorf("a read of fd -1: error %v, %d reads not taken; want EBADF and 1", err, len(left))
	}
}
