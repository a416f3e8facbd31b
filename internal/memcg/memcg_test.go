package memcg

import (
	"fmt"
	"os"
	"testing"
)

// TestGroup runs a process that touches 64 MiB inside a 256 MiB group and
// checks the peak is charged, then one that touches 96 MiB inside 32 MiB and
// checks it is killed.
func TestGroup(t *testing.T) {
	g, err := New(fmt.Sprintf("memfit-test-%d", os.Getpid()), 256<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
	out, err := g.Command("/bin/sh", "-c", "head -c 67108864 /dev/zero | tail -c 67108864 > /dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	peak, err := g.MaxUsage()
	if err != nil {
		t.Fatal(err)
	}
	if peak < 60<<20 || peak > 256<<20 {
		t.Errorf("peak %d bytes after touching 64 MiB, want 60 MiB..256 MiB", peak)
	}
	small, err := New(fmt.Sprintf("memfit-test-small-%d", os.Getpid()), 32<<20)
	if err != nil {
		t.Fatal(err)
	}
	defer small.Remove()
	if err := small.Command("/bin/sh", "-c", "head -c 100663296 /dev/zero | tail -c 100663296 > /dev/null").Run(); err == nil {
		t.Error("touching 96 MiB in a 32 MiB group succeeded")
	}
	if n, err := small.OOMKills(); err != nil || n == 0 {
		t.Errorf("OOM kills %d, %v; want at least 1", n, err)
	}
}
