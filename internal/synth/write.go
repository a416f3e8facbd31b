package synth

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sync"

	"github.com/memfit/memfit/internal/gguf"
	"github.com/memfit/memfit/internal/model"
	"github.com/memfit/memfit/internal/quant"
	"github.com/memfit/memfit/internal/tensor"
)

// poolBlocks is how many distinct random blocks a quantized tensor's
// blocks are drawn from (quantizing every block of an 8B model with the
// reference quantizers would take minutes; drawing from a pool writes at
// disk speed and still gives every row different values).
const poolBlocks = 4096

// Header returns the GGUF metadata and tensor index of shape s in file type
// ft, laid out (offsets set).
func Header(s Shape, ft FileType) (*gguf.File, []Tensor, error) {
	f := gguf.NewFile()
	a := s.Arch
	u32 := func(k string, v int) { f.Set(k, gguf.Uint32(uint32(v))) }
	f.Set("general.architecture", gguf.String(a))
	f.Set("general.type", gguf.String("model"))
	f.Set("general.name", gguf.String("memfit synth "+s.Name))
	u32(a+".block_count", s.Layers)
	u32(a+".context_length", s.Context)
	u32(a+".embedding_length", s.Hidden)
	u32(a+".feed_forward_length", s.FFN)
	u32(a+".attention.head_count", s.Heads)
	u32(a+".attention.head_count_kv", s.KVHeads)
	f.Set(a+".rope.freq_base", gguf.Float32(float32(s.RopeTheta)))
	f.Set(a+".attention.layer_norm_rms_epsilon", gguf.Float32(float32(s.Eps)))
	if s.Experts > 0 {
		u32(a+".expert_count", s.Experts)
		u32(a+".expert_used_count", s.ExpertsUsed)
		if s.Arch != "olmoe" {
			u32(a+".expert_feed_forward_length", s.ExpertFFN)
		}
	}
	u32(a+".attention.key_length", s.HeadDim)
	u32(a+".attention.value_length", s.HeadDim)
	u32(a+".rope.dimension_count", s.HeadDim)
	u32(a+".vocab_size", s.Vocab)
	u32("general.file_type", int(ft.ID))
	u32("general.quantization_version", 2)
	u32("general.alignment", 32)
	tokens, types, merges := vocab(s.Vocab)
	f.Set("tokenizer.ggml.model", gguf.String("gpt2"))
	f.Set("tokenizer.ggml.pre", gguf.String("default"))
	f.Set("tokenizer.ggml.tokens", gguf.Strings(tokens))
	f.Set("tokenizer.ggml.token_type", gguf.Int32s(types))
	f.Set("tokenizer.ggml.merges", gguf.Strings(merges))
	u32("tokenizer.ggml.bos_token_id", 1)
	u32("tokenizer.ggml.eos_token_id", 2)
	u32("tokenizer.ggml.padding_token_id", 0)
	f.Set("tokenizer.ggml.add_bos_token", gguf.Bool(true))
	ts, err := s.Tensors(ft)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range ts {
		if err := f.AddTensor(t.Name, t.Type, t.Shape); err != nil {
			return nil, nil, fmt.Errorf("synth: %w", err)
		}
	}
	f.Layout()
	return f, ts, nil
}

// Options configure Write.
type Options struct {
	Seed uint64
	// Progress, if set, is called with the bytes written so far and the
	// total.
	Progress func(done, total int64)
}

// WriteFile writes shape s in file type ft to path (through a temporary
// file renamed into place).
func WriteFile(path string, s Shape, ft FileType, opt Options) error {
	f, ts, err := Header(s, ft)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".synth-*")
	if err != nil {
		return fmt.Errorf("synth: %w", err)
	}
	defer os.Remove(tmp.Name())
	w := bufio.NewWriterSize(tmp, 8<<20)
	total := f.DataOffset
	for _, t := range f.Tensors {
		total = max(total, f.DataOffset+t.Offset+t.Size)
	}
	g := &generator{seed: opt.Seed, pools: map[poolKey][]byte{}, rope: s.ropeFactors()}
	var done int64
	_, err = f.Write(w, func(i int) (io.Reader, error) {
		data, err := g.tensor(i, ts[i], f.Tensors[i].Size)
		if err != nil {
			return nil, err
		}
		done += int64(len(data))
		if opt.Progress != nil {
			opt.Progress(f.DataOffset+done, total)
		}
		return &sliceReader{b: data}, nil
	})
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Close()
	}
	if err != nil {
		tmp.Close()
		return fmt.Errorf("synth: writing %s: %w", path, err)
	}
	return os.Rename(tmp.Name(), path)
}

type sliceReader struct{ b []byte }

func (r *sliceReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

type poolKey struct {
	t   tensor.DType
	row int64
}

// generator makes tensor bytes.
type generator struct {
	seed  uint64
	pools map[poolKey][]byte
	rope  []float32
	buf   []byte
}

// pool returns poolBlocks quantized blocks of random values with std
// 1/sqrt(row).
func (g *generator) pool(t tensor.DType, row int64) ([]byte, error) {
	k := poolKey{t, row}
	if p, ok := g.pools[k]; ok {
		return p, nil
	}
	n := poolBlocks * t.BlockElems()
	src := make([]float32, n)
	r := rand.New(rand.NewPCG(g.seed^0x5eed, uint64(t)<<32|uint64(row)))
	a := float32(math.Sqrt(3 / float64(row)))
	for i := range src {
		src[i] = (2*r.Float32() - 1) * a
	}
	p := make([]byte, poolBlocks*t.BlockBytes())
	if err := quant.Quantize(t, p, src); err != nil {
		return nil, fmt.Errorf("synth: quantizing a %v pool: %w", t, err)
	}
	g.pools[k] = p
	return p, nil
}

// tensor returns the bytes of tensor i.
func (g *generator) tensor(i int, t Tensor, size int64) ([]byte, error) {
	if int64(cap(g.buf)) < size {
		g.buf = make([]byte, size)
	}
	b := g.buf[:size]
	switch t.Kind {
	case "norm":
		for j := 0; j < len(b); j += 4 {
			binary.LittleEndian.PutUint32(b[j:], math.Float32bits(1))
		}
		return b, nil
	case "rope":
		for j, v := range g.rope {
			binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(v))
		}
		return b, nil
	}
	row := t.Shape[0]
	a := float32(math.Sqrt(3 / float64(row)))
	switch t.Type {
	case tensor.F32, tensor.F16, tensor.BF16:
		fillFloats(b, t.Type, a, g.seed, uint64(i))
		return b, nil
	}
	p, err := g.pool(t.Type, row)
	if err != nil {
		return nil, err
	}
	fillBlocks(b, p, t.Type.BlockBytes(), g.seed, uint64(i))
	return b, nil
}

// fillFloats fills b with uniform values in [-a, a) of type t, in parallel
// chunks each with its own generator (deterministic for a seed).
func fillFloats(b []byte, t tensor.DType, a float32, seed, stream uint64) {
	size := 4
	if t != tensor.F32 {
		size = 2
	}
	const chunk = 1 << 20 // values
	n := len(b) / size
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.NumCPU())
	for c := 0; c*chunk < n; c++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(c int) {
			defer wg.Done()
			defer func() { <-sem }()
			r := rand.New(rand.NewPCG(seed, stream<<24|uint64(c)))
			lo, hi := c*chunk, min((c+1)*chunk, n)
			for j := lo; j < hi; j++ {
				v := (2*r.Float32() - 1) * a
				switch t {
				case tensor.F32:
					binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(v))
				case tensor.F16:
					binary.LittleEndian.PutUint16(b[2*j:], tensor.F32ToF16(v))
				default:
					binary.LittleEndian.PutUint16(b[2*j:], uint16(math.Float32bits(v)>>16))
				}
			}
		}(c)
	}
	wg.Wait()
}

// fillBlocks fills b with blocks drawn at random from pool.
func fillBlocks(b, pool []byte, blockBytes int, seed, stream uint64) {
	blocks := len(b) / blockBytes
	const chunk = 1 << 16
	var wg sync.WaitGroup
	sem := make(chan struct{}, runtime.NumCPU())
	for c := 0; c*chunk < blocks; c++ {
		wg.Add(1)
		sem <- struct{}{}
		go func(c int) {
			defer wg.Done()
			defer func() { <-sem }()
			r := rand.New(rand.NewPCG(seed, stream<<24|uint64(c)))
			lo, hi := c*chunk, min((c+1)*chunk, blocks)
			for j := lo; j < hi; j++ {
				k := r.IntN(poolBlocks)
				copy(b[j*blockBytes:(j+1)*blockBytes], pool[k*blockBytes:(k+1)*blockBytes])
			}
		}(c)
	}
	wg.Wait()
}

// RoutingStats decodes n tokens one at a time through MoE model m (inputs
// varied pseudo-randomly) and returns the mean share of a layer's experts
// that the previous token also used (consecutive-token reuse), and the
// number of distinct expert sets layer 0 chose.
func RoutingStats(m *model.Model, n int) (float64, int, error) {
	if m.Spec.Experts == 0 {
		return 0, 0, fmt.Errorf("synth: %s is not an MoE model", m.Weights.Path)
	}
	prev := map[int][]int32{}
	var shared, total float64
	sets := map[string]bool{}
	m.OnRoute = func(layer int, used []int32) {
		if p, ok := prev[layer]; ok {
			for _, e := range used {
				for _, q := range p {
					if e == q {
						shared++
						break
					}
				}
			}
			total += float64(len(used))
		}
		prev[layer] = append(prev[layer][:0], used...)
		if layer == 0 {
			sets[fmt.Sprint(used)] = true
		}
	}
	defer func() { m.OnRoute = nil }()
	st, err := m.NewState(n+1, 1)
	if err != nil {
		return 0, 0, err
	}
	defer st.Release()
	out := make([]float32, m.Spec.Vocab)
	r := rand.New(rand.NewPCG(1, 2))
	for range n {
		if err := m.Forward(st, []int32{int32(r.IntN(m.Spec.Vocab))}, out, false); err != nil {
			return 0, 0, err
		}
	}
	return shared / max(total, 1), len(sets), nil
}
