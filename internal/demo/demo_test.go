package demo

import (
	"bytes"
	"context"
	"os"
	"testing"

	"github.com/memfit/memfit/internal/convert"
	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/quantize"
)

// TestEmbeddedIsMemfitQuantize checks that the embedded model is exactly
// what `memfit quantize gocoder.bf16.gguf OUT --type Q8_0` writes from the
// gocoder fixture: reproducible, not a hand-made blob.
func TestEmbeddedIsMemfitQuantize(t *testing.T) {
	m, err := convert.Open(fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ft, err := quantize.LookupFileType("Q8_0")
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if _, err := quantize.WriteTo(context.Background(), m, &want, quantize.Options{Type: ft}); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gguf, want.Bytes()) {
		t.Fatalf("the embedded demo model (%d bytes) is not memfit quantize's Q8_0 of gocoder.bf16.gguf (%d bytes)", len(gguf), want.Len())
	}
}

// TestPath checks that Path writes the embedded model once and reuses it.
func TestPath(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	p, err := Path()
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil || !bytes.Equal(got, gguf) {
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
