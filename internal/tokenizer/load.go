package tokenizer

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/memfit/memfit/internal/gguf"
)

// maxJSONSize bounds the tokenizer files read into memory.
const maxJSONSize = 1 << 30

// Load builds a tokenizer from path: a GGUF file (its embedded
// vocabulary), a Hugging Face model folder, a folder holding only
// tokenizer.json and tokenizer_config.json, or a tokenizer.json file.
func Load(path string) (*Tokenizer, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	if !st.IsDir() {
		if filepath.Base(path) == "tokenizer.json" {
			return loadDir(filepath.Dir(path))
		}
		isGGUF, err := hasGGUFMagic(path)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		if !isGGUF {
			return nil, fmt.Errorf("tokenizer: %s is neither a GGUF file nor a folder with tokenizer.json", path)
		}
		f, err := gguf.Open(path)
		if err != nil {
			return nil, fmt.Errorf("tokenizer: %w", err)
		}
		defer f.Close()
		return FromGGUF(f)
	}
	return loadDir(path)
}

func hasGGUFMagic(path string) (bool, error) {
	fh, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer fh.Close()
	var magic [4]byte
	if _, err := io.ReadFull(fh, magic[:]); err != nil {
		return false, nil
	}
	return string(magic[:]) == gguf.Magic, nil
}

func readLimited(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxJSONSize {
		return nil, fmt.Errorf("%s: %d bytes, larger than the %d-byte limit", path, st.Size(), maxJSONSize)
	}
	return os.ReadFile(path)
}

// loadDir loads tokenizer.json (+ tokenizer_config.json and, for the
// end-of-generation ids, generation_config.json) from a folder.
func loadDir(dir string) (*Tokenizer, error) {
	tj := filepath.Join(dir, "tokenizer.json")
	data, err := readLimited(tj)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("tokenizer: %s has no tokenizer.json", dir)
		}
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	cfg, err := readLimited(filepath.Join(dir, "tokenizer_config.json"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("tokenizer: %w", err)
	}
	t, err := FromJSON(data, cfg, tj)
	if err != nil {
		return nil, err
	}
	if gen, err := os.ReadFile(filepath.Join(dir, "generation_config.json")); err == nil && len(gen) < 1<<20 {
		t.addGenerationEOS(bytes.TrimSpace(gen))
	}
	return t, nil
}

// addGenerationEOS adds the eos_token_id (a number or a list) of
// generation_config.json to the end-of-generation ids; a malformed file is
// ignored, as transformers ignores it for tokenization.
func (t *Tokenizer) addGenerationEOS(data []byte) {
	p := &jsonParser{data: data, name: "generation_config.json"}
	v, err := p.value()
	m, ok := v.(map[string]any)
	if err != nil || !ok {
		return
	}
	var ids []int32
	add := func(x any) {
		if f, ok := x.(int64); ok && f >= 0 && f < int64(len(t.pieces)) {
			ids = append(ids, int32(f))
		}
	}
	switch x := m["eos_token_id"].(type) {
	case []any:
		for _, e := range x {
			add(e)
		}
	default:
		add(x)
	}
	for _, id := range ids {
		if !t.IsEOG(id) {
			t.eog = append(t.eog, id)
		}
	}
}
