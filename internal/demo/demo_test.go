package demo

import (
	"bytes"
	"os"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
)

// TestPath checks that the embedded model is the gocoder fixture's bf16
// GGUF and that Path writes it once and reuses it.
func TestPath(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	want, err := os.ReadFile(fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gguf, want) {
		t.Fatal("embedded demo model differs from models/gocoder/gocoder.bf16.gguf")
	}
	p, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: %d bytes, %v", p, len(got), err)
	}
	st1, _ := os.Stat(p)
	p2, err := Path()
	if err != nil || p2 != p {
		t.Fatalf("second Path: %s, %v", p2, err)
	}
	st2, _ := os.Stat(p2)
	if !st1.ModTime().Equal(st2.ModTime()) {
		t.Error("second Path rewrote the file")
	}
}
