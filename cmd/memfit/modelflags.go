package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/memfit/memfit/internal/model"
	"github.com/memfit/memfit/internal/tokenizer"
)

// modelFlags are the flags of every command that runs a model.
type modelFlags struct {
	path    string
	threads int
}

func (f *modelFlags) register(c *cobra.Command) {
	c.Flags().StringVarP(&f.path, "model", "m", "", "model: a GGUF file or a Hugging Face folder (required)")
	c.Flags().IntVarP(&f.threads, "threads", "t", 0, "worker threads (default: one per CPU)")
}

// registerOptional registers the flags of a command that runs the built-in
// demo model when -m is not given.
func (f *modelFlags) registerOptional(c *cobra.Command) {
	c.Flags().StringVarP(&f.path, "model", "m", "", "model: a GGUF file or a Hugging Face folder (default: the built-in demo model)")
	c.Flags().IntVarP(&f.threads, "threads", "t", 0, "worker threads (default: one per CPU)")
}

func (f *modelFlags) check() error {
	if f.path == "" {
		return usagef("--model (-m) is required")
	}
	if f.threads < 0 {
		return usagef("--threads %d: want 0 (one per CPU) or more", f.threads)
	}
	return nil
}

func (f *modelFlags) load() (*model.Model, error) {
	return model.Load(f.path, model.Options{Threads: f.threads})
}

// loadTokenizer loads the tokenizer that comes with the model at path.
func loadTokenizer(path string) (*tokenizer.Tokenizer, error) {
	tok, err := tokenizer.Load(path)
	if err != nil {
		return nil, fmt.Errorf("loading the tokenizer of %s: %w", path, err)
	}
	return tok, nil
}

// parseIDs parses a comma-separated list of token ids.
func parseIDs(flag, s string) ([]int32, error) {
	var ids []int32
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		n, err := strconv.ParseInt(part, 10, 32)
		if err != nil || n < 0 {
			return nil, usagef("--%s: %q is not a token id (want non-negative integers separated by commas)", flag, part)
		}
		ids = append(ids, int32(n))
	}
	if len(ids) == 0 {
		return nil, usagef("--%s: no token ids given", flag)
	}
	return ids, nil
}

// jsonWriter writes JSON by hand for large float arrays: float32 values in
// their shortest exact form.
type jsonWriter struct {
	w   *bufio.Writer
	buf []byte
}

func newJSONWriter(w io.Writer) *jsonWriter { return &jsonWriter{w: bufio.NewWriterSize(w, 1<<16)} }

func (j *jsonWriter) raw(s string) { j.w.WriteString(s) }

func (j *jsonWriter) float(f float32) {
	if math.IsNaN(float64(f)) || math.IsInf(float64(f), 0) {
		j.w.WriteString("null")
		return
	}
	j.buf = strconv.AppendFloat(j.buf[:0], float64(f), 'g', -1, 32)
	j.w.Write(j.buf)
}

func (j *jsonWriter) floats(v []float32) {
	j.w.WriteByte('[')
	for i, f := range v {
		if i > 0 {
			j.w.WriteByte(',')
		}
		j.float(f)
	}
	j.w.WriteByte(']')
}

func (j *jsonWriter) ints(v []int32) {
	j.w.WriteByte('[')
	for i, x := range v {
		if i > 0 {
			j.w.WriteByte(',')
		}
		j.buf = strconv.AppendInt(j.buf[:0], int64(x), 10)
		j.w.Write(j.buf)
	}
	j.w.WriteByte(']')
}

func (j *jsonWriter) flush() error { return j.w.Flush() }
