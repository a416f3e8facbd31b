// Package demo holds memfit's built-in demo model: gocoder, a 4.2M-parameter
// Llama trained on the Go standard library (it writes Go-looking code),
// embedded in the binary so that `memfit run` works offline with no model
// given. The file is memfit's own Q8_0 quantization of the gocoder fixture,
// made with
//
//	memfit quantize ../shared/fixtures/models/gocoder/gocoder.bf16.gguf \
//	    internal/demo/gocoder.Q8_0.gguf --type Q8_0
//
// and a test checks that it is exactly what that command writes. The
// training text is © The Go Authors, under the licence in GO-LICENSE.
package demo

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
)

//go:embed gocoder.Q8_0.gguf
var gguf []byte

// Name is how the demo model is shown (model id in the server).
const Name = "gocoder-demo"

// Path returns the path of the demo model's GGUF file, writing it to the
// user's cache folder (or the temp folder) the first time. Models are
// memory-mapped from files, so the embedded bytes are written out once.
func Path() (string, error) {
	sum := sha256.Sum256(gguf)
	name := "gocoder-" + hex.EncodeToString(sum[:6]) + ".Q8_0.gguf"
	var dirs []string
	if d, err := os.UserCacheDir(); err == nil {
		dirs = append(dirs, filepath.Join(d, "memfit"))
	}
	dirs = append(dirs, filepath.Join(os.TempDir(), "memfit"))
	var lastErr error
	for _, dir := range dirs {
		p := filepath.Join(dir, name)
		if b, err := os.ReadFile(p); err == nil && bytes.Equal(b, gguf) {
			return p, nil
		}
		if err := write(dir, p); err != nil {
			lastErr = err
			continue
		}
		return p, nil
	}
	return "", fmt.Errorf("demo model: %w", lastErr)
}

// write writes the model to p through a temporary file and a rename, so a
// concurrent reader never sees a partial file.
func write(dir, p string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".demo-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(gguf); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), p)
}
