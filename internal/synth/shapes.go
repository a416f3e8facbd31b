// Package synth writes valid random-weight GGUF models of real shapes
// (llama-3.2-1b, llama-3.1-8b, qwen3-4b, olmoe-1b-7b, qwen3-30b-a3b, and
// tiny ones for tests) with llama.cpp's metadata keys and tensor names, so
// that memfit and llama.cpp load the same file. Benchmarks and budget tests
// need models of real sizes; no model hub is reachable, so they are made.
//
// Weights are scaled like a trained model's (about 1/sqrt(fan-in)), so
// activations stay finite over long generations, and routers are random
// matrices, so MoE routing changes from token to token. The bytes depend
// only on the shape, type and seed.
package synth

import (
	"fmt"
	"math"
	"sort"
	"strings"
)

// Shape is a model architecture's hyper-parameters.
type Shape struct {
	Name        string
	Arch        string // GGUF general.architecture
	Hidden      int
	Layers      int
	Heads       int
	KVHeads     int
	HeadDim     int
	FFN         int // dense MLP width (MoE: feed_forward_length as the converter writes it)
	Experts     int
	ExpertsUsed int
	ExpertFFN   int
	Vocab       int
	Tied        bool
	RopeTheta   float64
	Eps         float64
	Context     int
	QKNorm      string // "", "head" (per-head [head_dim]) or "full" ([heads·head_dim])
	// Llama 3 RoPE scaling (written as rope_freqs.weight); Factor 0: none.
	RopeFactor, RopeLow, RopeHigh float64
	RopeOrigContext               int
}

// Shapes are the shapes synth knows, by name.
var Shapes = map[string]Shape{
	"llama-3.2-1b": {Arch: "llama", Hidden: 2048, Layers: 16, Heads: 32, KVHeads: 8, HeadDim: 64, FFN: 8192, Vocab: 128256, Tied: true,
		RopeTheta: 500000, Eps: 1e-5, Context: 131072, RopeFactor: 32, RopeLow: 1, RopeHigh: 4, RopeOrigContext: 8192},
	"llama-3.1-8b": {Arch: "llama", Hidden: 4096, Layers: 32, Heads: 32, KVHeads: 8, HeadDim: 128, FFN: 14336, Vocab: 128256,
		RopeTheta: 500000, Eps: 1e-5, Context: 131072, RopeFactor: 8, RopeLow: 1, RopeHigh: 4, RopeOrigContext: 8192},
	"qwen3-4b": {Arch: "qwen3", Hidden: 2560, Layers: 36, Heads: 32, KVHeads: 8, HeadDim: 128, FFN: 9728, Vocab: 151936, Tied: true,
		RopeTheta: 1000000, Eps: 1e-6, Context: 40960, QKNorm: "head"},
	"olmoe-1b-7b": {Arch: "olmoe", Hidden: 2048, Layers: 16, Heads: 16, KVHeads: 16, HeadDim: 128, FFN: 1024, Experts: 64, ExpertsUsed: 8, ExpertFFN: 1024,
		Vocab: 50304, RopeTheta: 10000, Eps: 1e-5, Context: 4096, QKNorm: "full"},
	"qwen3-30b-a3b": {Arch: "qwen3moe", Hidden: 2048, Layers: 48, Heads: 32, KVHeads: 4, HeadDim: 128, FFN: 6144, Experts: 128, ExpertsUsed: 8, ExpertFFN: 768,
		Vocab: 151936, RopeTheta: 1000000, Eps: 1e-6, Context: 40960, QKNorm: "head"},
	// Tiny shapes for tests: a few MB.
	"tiny-llama": {Arch: "llama", Hidden: 256, Layers: 4, Heads: 4, KVHeads: 2, HeadDim: 64, FFN: 768, Vocab: 4096,
		RopeTheta: 10000, Eps: 1e-5, Context: 2048},
	"tiny-moe": {Arch: "qwen3moe", Hidden: 256, Layers: 4, Heads: 4, KVHeads: 2, HeadDim: 64, FFN: 768, Experts: 16, ExpertsUsed: 4, ExpertFFN: 256,
		Vocab: 4096, RopeTheta: 1000000, Eps: 1e-6, Context: 2048, QKNorm: "head"},
}

func init() {
	for name, s := range Shapes {
		s.Name = name
		Shapes[name] = s
	}
}

// ShapeNames lists the shapes, sorted.
func ShapeNames() []string {
	var out []string
	for n := range Shapes {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}

// Lookup returns the shape called name.
func Lookup(name string) (Shape, error) {
	s, ok := Shapes[strings.ToLower(name)]
	if !ok {
		return Shape{}, fmt.Errorf("synth: unknown shape %q (have %s)", name, strings.Join(ShapeNames(), ", "))
	}
	return s, nil
}

// ropeFactors are llama.cpp's converter's Llama 3 per-frequency factors.
func (s Shape) ropeFactors() []float32 {
	if s.RopeFactor == 0 {
		return nil
	}
	dim := s.HeadDim
	lowWave := float64(s.RopeOrigContext) / s.RopeLow
	highWave := float64(s.RopeOrigContext) / s.RopeHigh
	out := make([]float32, dim/2)
	for i := range out {
		freq := 1 / math.Pow(s.RopeTheta, float64(2*i)/float64(dim))
		wave := 2 * math.Pi / freq
		switch {
		case wave < highWave:
			out[i] = 1
		case wave > lowWave:
			out[i] = float32(s.RopeFactor)
		default:
			smooth := (float64(s.RopeOrigContext)/wave - s.RopeLow) / (s.RopeHigh - s.RopeLow)
			out[i] = float32(1 / ((1-smooth)/s.RopeFactor + smooth))
		}
	}
	return out
}
