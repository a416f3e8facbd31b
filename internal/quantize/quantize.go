// Package quantize writes a model as a GGUF file of one of llama-quantize's
// file types (Q8_0, Q4_K_M, IQ4_XS, F16, ...) exactly as llama-quantize
// does: the same tensor type for every tensor (its rules for the output and
// embedding, the "use more bits" layers of the _M mixes, grouped-query
// attention and expert counts, fallbacks when a row length does not fit a
// block), the same bytes for every quantized tensor (internal/quant's
// reference quantizers, bit-exact with ggml), the same tensor order and the
// same metadata (copied, then general.quantization_version and
// general.file_type). Work is split across threads row range by row range,
// in bounded memory, and the file is written under a temporary name and
// renamed into place when complete.
package quantize

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/memfit/memfit/internal/convert"
	"github.com/memfit/memfit/internal/gguf"
	"github.com/memfit/memfit/internal/quant"
	"github.com/memfit/memfit/internal/tensor"
)

// QuantizationVersion is GGML_QNT_VERSION, written as
// general.quantization_version.
const QuantizationVersion = 2

// slabValues bounds the values converted at once (per tensor, across all
// threads): the float32 scratch is 4 bytes per value.
const slabValues = 8 << 20

// Options configure Write.
type Options struct {
	Type    FileType
	Threads int // 0: one per CPU
	// AllowRequantize permits quantizing tensors that are already quantized
	// (llama-quantize --allow-requantize); the result is worse than
	// quantizing the original weights.
	AllowRequantize bool
	// Progress, if set, is called with the source bytes done and the total.
	Progress func(done, total int64)
}

// Choice is the type chosen for one tensor.
type Choice struct {
	Name  string
	From  tensor.DType // type in the source
	To    tensor.DType // type in the output
	Shape tensor.Shape
}

// Plan is the output file's header and where each tensor comes from.
type Plan struct {
	File      *gguf.File // metadata and tensor index, laid out
	Choices   []Choice   // one per output tensor, in output order
	source    []int      // index in the model's Tensors, per output tensor
	Fallbacks int        // tensors that needed a fallback type
	InBytes   int64      // tensor bytes read
}

// MakePlan chooses every tensor's type and lays out the output file.
func MakePlan(m *convert.Model, opt Options) (*Plan, error) {
	if opt.Type.Name == "" {
		return nil, errors.New("quantize: no file type given")
	}
	hp, err := HparamsFromKVs(m.KVs, m.Path)
	if err != nil {
		return nil, err
	}
	out := gguf.NewFile()
	for _, kv := range m.KVs {
		switch kv.Key {
		case "general.quantization_version", "general.file_type", "split.no", "split.count", "split.tensors.count":
			continue
		}
		out.Set(kv.Key, kv.Value)
	}
	out.Set("general.quantization_version", gguf.Uint32(QuantizationVersion))
	out.Set("general.file_type", gguf.Uint32(opt.Type.ID))

	names := make([]string, len(m.Tensors))
	for i := range m.Tensors {
		names[i] = m.Tensors[i].Name
	}
	pol := NewPolicy(opt.Type, hp, names)
	p := &Plan{File: out}
	for _, i := range Order(names) {
		t := &m.Tensors[i]
		to, err := pol.Choose(t.Name, t.Type, t.Shape)
		if err != nil {
			return nil, err
		}
		if to != t.Type && quantized(t.Type) && !opt.AllowRequantize {
			return nil, fmt.Errorf("quantize: %s: tensor %s is already %v; requantizing to %v loses accuracy and is off (use --allow-requantize, or quantize the original weights)", m.Path, t.Name, t.Type, to)
		}
		if to != t.Type {
			if _, err := quant.Traits(to); err != nil {
				return nil, fmt.Errorf("quantize: tensor %s: %w", t.Name, err)
			}
			if _, err := quant.Traits(t.Type); err != nil {
				return nil, fmt.Errorf("quantize: tensor %s: cannot convert from %v: %w", t.Name, t.Type, err)
			}
		}
		if err := out.AddTensor(t.Name, to, t.Shape); err != nil {
			return nil, fmt.Errorf("quantize: %w", err)
		}
		p.Choices = append(p.Choices, Choice{Name: t.Name, From: t.Type, To: to, Shape: t.Shape})
		p.source = append(p.source, i)
		p.InBytes += t.Bytes()
	}
	p.Fallbacks = pol.Fallbacks
	out.Layout()
	return p, nil
}

// Write quantizes m as opt says into the file at path, through a temporary
// file in the same folder renamed into place at the end; on any error (or
// ctx cancelled) nothing is left behind.
func Write(ctx context.Context, m *convert.Model, path string, opt Options) (*Plan, error) {
	p, err := MakePlan(m, opt)
	if err != nil {
		return nil, err
	}
	if same, _ := sameFile(m.Path, path); same {
		return nil, fmt.Errorf("quantize: the output %s is the input; write to another file", path)
	}
	if st, err := os.Stat(path); err == nil && st.IsDir() {
		return nil, fmt.Errorf("quantize: cannot write %s: it is a folder", path)
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = fmt.Errorf("%w (creating a file in %s)", pe.Err, dir)
		}
		return nil, fmt.Errorf("quantize: cannot write %s: %w", path, err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	w := bufio.NewWriterSize(tmp, 4<<20)
	if err := p.write(ctx, m, w, opt); err != nil {
		return nil, err
	}
	if err := w.Flush(); err != nil {
		return nil, fmt.Errorf("quantize: writing %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("quantize: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return nil, fmt.Errorf("quantize: %w", err)
	}
	done = true
	return p, nil
}

// WriteTo writes the quantized file to w (tests and the demo model).
func WriteTo(ctx context.Context, m *convert.Model, w io.Writer, opt Options) (*Plan, error) {
	p, err := MakePlan(m, opt)
	if err != nil {
		return nil, err
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	if err := p.write(ctx, m, bw, opt); err != nil {
		return nil, err
	}
	return p, bw.Flush()
}

func sameFile(a, b string) (bool, error) {
	sa, err := os.Stat(a)
	if err != nil {
		return false, err
	}
	sb, err := os.Stat(b)
	if err != nil {
		return false, err
	}
	return os.SameFile(sa, sb), nil
}

// write writes the header and every tensor.
func (p *Plan) write(ctx context.Context, m *convert.Model, w io.Writer, opt Options) error {
	threads := opt.Threads
	if threads <= 0 {
		threads = runtime.NumCPU()
	}
	var done int64
	c := &converter{threads: threads}
	_, err := p.File.Write(w, func(k int) (io.Reader, error) {
		return &tensorReader{ctx: ctx, c: c, t: &m.Tensors[p.source[k]], to: p.File.Tensors[k].Type, failed: &c.err, progress: func(n int64) {
			done += n
			if opt.Progress != nil {
				opt.Progress(done, p.InBytes)
			}
		}}, nil
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case c.err != nil:
		return c.err // the reason, without the writer's wrapping
	}
	return fmt.Errorf("quantize: %w", err)
}

// converter turns source rows into output rows; its buffers are reused
// from tensor to tensor.
type converter struct {
	threads int
	in, out []byte
	f32     []float32
	err     error // why converting a tensor failed
}

// tensorReader produces a tensor's output bytes slab by slab.
type tensorReader struct {
	ctx      context.Context
	c        *converter
	t        *convert.Tensor
	to       tensor.DType
	r0       int64  // next row to convert
	buf      []byte // converted bytes not yet read
	failed   *error // where a conversion error is kept
	progress func(int64)
}

func (r *tensorReader) Read(p []byte) (int, error) {
	for len(r.buf) == 0 {
		if r.r0 >= r.t.Rows() {
			return 0, io.EOF
		}
		if err := r.ctx.Err(); err != nil {
			return 0, err
		}
		if err := r.next(); err != nil {
			*r.failed = err
			return 0, err
		}
	}
	n := copy(p, r.buf)
	r.buf = r.buf[n:]
	return n, nil
}

// next converts the next slab of rows into r.buf.
func (r *tensorReader) next() error {
	t, c := r.t, r.c
	n := t.Shape[0]
	inRow := t.RowBytes()
	outRow, err := r.to.RowBytes(n)
	if err != nil {
		return fmt.Errorf("quantize: tensor %s: %w", t.Name, err)
	}
	slab := max(1, slabValues/n)
	if r.to == t.Type {
		slab = max(1, 4*slabValues/inRow) // copied as is, in larger pieces
	}
	r0, r1 := r.r0, min(t.Rows(), r.r0+slab)
	in := grow(&c.in, (r1-r0)*inRow)
	if err := t.ReadRows(in, r0, r1); err != nil {
		return fmt.Errorf("quantize: %w", err)
	}
	r.buf = in
	if r.to != t.Type {
		r.buf = grow(&c.out, (r1-r0)*outRow)
		if err := c.convert(t, r.to, in, r.buf, r0, r1); err != nil {
			return err
		}
	}
	r.r0 = r1
	r.progress(int64(len(in)))
	return nil
}

// convert converts rows [r0, r1) of t from in to out, split across the
// threads.
func (c *converter) convert(t *convert.Tensor, to tensor.DType, in, out []byte, r0, r1 int64) error {
	n := t.Shape[0]
	rows := r1 - r0
	if int64(cap(c.f32)) < rows*n {
		c.f32 = make([]float32, rows*n)
	}
	f32 := c.f32[:rows*n]
	inRow, outRow := t.RowBytes(), int64(len(out))/rows
	parts := min(int64(c.threads), rows)
	errs := make([]error, parts)
	var wg sync.WaitGroup
	for k := int64(0); k < parts; k++ {
		a, b := rows*k/parts, rows*(k+1)/parts
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[k] = convertRows(t, to, in[a*inRow:b*inRow], out[a*outRow:b*outRow], f32[a*n:b*n], r0+a, n)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// convertRows converts whole rows, the first of which is row first of the
// tensor: to float32, checked, quantized, and the result checked as
// llama-quantize validates it (no infinite or NaN values or scales).
func convertRows(t *convert.Tensor, to tensor.DType, in, out []byte, f32 []float32, first, n int64) error {
	if err := quant.Dequantize(t.Type, f32, in); err != nil {
		return fmt.Errorf("quantize: tensor %s: %w", t.Name, err)
	}
	if i := nonFinite(f32); i >= 0 {
		return fmt.Errorf("quantize: tensor %s: row %d holds a value that is not finite (%v at column %d)", t.Name, first+int64(i)/n, f32[i], int64(i)%n)
	}
	if err := quant.Quantize(to, out, f32); err != nil {
		return fmt.Errorf("quantize: tensor %s: %w", t.Name, err)
	}
	if err := quant.Dequantize(to, f32, out); err != nil {
		return fmt.Errorf("quantize: tensor %s: %w", t.Name, err)
	}
	if i := nonFinite(f32); i >= 0 {
		return fmt.Errorf("quantize: tensor %s: row %d does not fit %v (a value or block scale overflows near column %d)", t.Name, first+int64(i)/n, to, int64(i)%n)
	}
	return nil
}

// nonFinite returns the index of the first NaN or infinite value, or -1.
func nonFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}

func grow(b *[]byte, n int64) []byte {
	if int64(cap(*b)) < n {
		*b = make([]byte, n)
	}
	return (*b)[:n]
}
