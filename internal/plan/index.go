// Package plan decides, before one weight byte is read, how a model runs
// inside a memory budget: which tensors stay resident and which stream from
// disk layer by layer, how much the KV cache, scratch and runtime take, and
// how fast prefill and decode should be on this machine (a roofline model
// fed by a cached device probe). `memfit plan` prints it; every command that
// loads a model under --mem-budget follows it.
package plan

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"

	"github.com/memfit/memfit/internal/arch"
	"github.com/memfit/memfit/internal/gguf"
	"github.com/memfit/memfit/internal/hfconfig"
	"github.com/memfit/memfit/internal/safetensors"
	"github.com/memfit/memfit/internal/tensor"
)

// Kind is what a tensor does, which decides its residency priority.
type Kind string

// Tensor kinds.
const (
	KindEmbed   Kind = "embed"   // token embeddings (rows read per token)
	KindOutput  Kind = "output"  // output projection (every token reads all of it)
	KindVector  Kind = "vector"  // norms, biases, rope factors: copied to float32 at load
	KindAttn    Kind = "attn"    // Q, K, V, O
	KindRouter  Kind = "router"  // MoE router
	KindFFN     Kind = "ffn"     // dense MLP
	KindExperts Kind = "experts" // routed experts
	KindShared  Kind = "shared"  // shared expert
	KindOther   Kind = "other"   // in the file, not used by memfit
)

// Tensor is one tensor of the model file as the planner sees it.
type Tensor struct {
	Name  string       `json:"name"`
	Type  tensor.DType `json:"-"`
	Bytes int64        `json:"bytes"`
	Elems int64        `json:"-"`
	Cols  int          `json:"-"`     // row length (the innermost dimension)
	Layer int          `json:"layer"` // block index, -1 for global tensors
	Kind  Kind         `json:"kind"`
	// Part is which group of a dense layer's matrices the tensor belongs
	// to, the groups the forward pass uses together and the streamer reads
	// as separate units (PartAttn, PartUp, PartDown; PartLayer otherwise).
	Part int `json:"-"`
}

// Parts of a dense layer (the values internal/weights streams them by).
const (
	PartLayer = iota
	PartAttn
	PartUp
	PartDown
)

// Index is a model's architecture and tensor index, read from the file
// headers only.
type Index struct {
	Path      string
	Format    string // "gguf" or "hf"
	Spec      *arch.Spec
	Tensors   []Tensor // file order (GGUF) or name order (HF)
	FileBytes int64    // size of the model's files
	Disk      string   // the file the model's bytes are read from (for the disk probe)
	// MetaBytes is what loading reads through the page cache besides the
	// weights: the GGUF header (metadata and tensor index), or a folder's
	// safetensors headers, config and tokenizer files.
	MetaBytes int64
}

// Open reads the headers of the model at path (a GGUF file or a Hugging
// Face folder) and builds its index. It reads no tensor data.
func Open(path string) (*Index, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w", path, err)
	}
	ix := &Index{Path: path}
	type info struct {
		typ   tensor.DType
		shape tensor.Shape
		bytes int64
		name  string
	}
	var infos []info
	if st.IsDir() {
		ix.Format = "hf"
		cfg, err := hfconfig.Load(path)
		if err != nil {
			return nil, err
		}
		if ix.Spec, err = arch.FromHF(cfg); err != nil {
			return nil, err
		}
		ck, err := safetensors.OpenDir(path)
		if err != nil {
			return nil, err
		}
		for _, n := range ck.Names() {
			ti, _ := ck.Tensor(n)
			infos = append(infos, info{ti.Type, ti.Shape, ti.Size, n})
		}
		var tensorBytes int64
		for _, f := range ck.Files {
			if fs, err := os.Stat(f.Path); err == nil {
				ix.FileBytes += fs.Size()
				ix.Disk = f.Path
			}
		}
		for _, in := range infos {
			tensorBytes += in.bytes
		}
		ix.MetaBytes = max(ix.FileBytes-tensorBytes, 0)
		for _, side := range []string{"config.json", "generation_config.json", "tokenizer.json", "tokenizer_config.json"} {
			if fs, err := os.Stat(filepath.Join(path, side)); err == nil {
				ix.MetaBytes += fs.Size()
			}
		}
	} else {
		ix.Format = "gguf"
		f, err := gguf.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if ix.Spec, err = arch.FromGGUF(f); err != nil {
			return nil, err
		}
		for _, t := range f.Tensors {
			infos = append(infos, info{t.Type, t.Shape, t.Size, t.Name})
		}
		ix.FileBytes, ix.Disk, ix.MetaBytes = st.Size(), path, f.DataOffset
	}
	kinds, layers, parts := classify(ix.Spec)
	for _, in := range infos {
		t := Tensor{Name: in.name, Type: in.typ, Bytes: in.bytes, Elems: in.shape.Elems(), Layer: -1, Kind: KindOther}
		if len(in.shape) > 0 {
			t.Cols = int(in.shape[0])
		}
		if k, ok := kinds[in.name]; ok {
			t.Kind, t.Layer = k, layers[in.name]
			if ix.Spec.Experts == 0 {
				t.Part = parts[in.name]
			}
		} else if m := layerNum.FindStringSubmatch(in.name); m != nil {
			fmt.Sscan(m[1], &t.Layer)
		}
		ix.Tensors = append(ix.Tensors, t)
	}
	if ix.Spec.Vocab == 0 {
		g := ix.Spec.Globals()
		if i := slices.IndexFunc(infos, func(x info) bool { return x.name == g.Embed.Name }); i >= 0 && len(infos[i].shape) == 2 {
			ix.Spec.Vocab = int(infos[i].shape[1])
		}
	}
	// A model without an output projection ties it to the embeddings.
	g := ix.Spec.Globals()
	if !slices.ContainsFunc(ix.Tensors, func(t Tensor) bool { return t.Name == g.Output.Name }) {
		ix.Spec.Tied = true
	}
	return ix, nil
}

var layerNum = regexp.MustCompile(`(?:^|\.)(?:blk|layers|h|block)\.(\d+)\.`)

// classify maps every tensor name the Spec refers to onto its kind, layer
// and part.
func classify(s *arch.Spec) (map[string]Kind, map[string]int, map[string]int) {
	kinds, layers, parts := map[string]Kind{}, map[string]int{}, map[string]int{}
	put := func(r arch.Ref, k Kind, layer int) {
		if r.Name == "" {
			return
		}
		if _, ok := kinds[r.Name]; !ok {
			kinds[r.Name], layers[r.Name] = k, layer
		}
	}
	g := s.Globals()
	put(g.Output, KindOutput, -1)
	put(g.Embed, KindEmbed, -1)
	put(g.OutputNorm, KindVector, -1)
	put(g.RopeFreqs, KindVector, -1)
	for i := range s.Layers {
		r := s.LayerRefs(i)
		for _, v := range []arch.Ref{r.AttnNorm, r.QBias, r.KBias, r.VBias, r.QNorm, r.KNorm, r.PostAttnNorm, r.FFNNorm, r.PostFFNNorm} {
			put(v, KindVector, i)
		}
		for _, a := range []arch.Ref{r.Q, r.K, r.V, r.O} {
			put(a, KindAttn, i)
			parts[a.Name] = PartAttn
		}
		for _, f := range []arch.Ref{r.Gate, r.Up, r.Down} {
			put(f, KindFFN, i)
			parts[f.Name] = PartUp
		}
		parts[r.Down.Name] = PartDown
		put(r.Router, KindRouter, i)
		for _, e := range slices.Concat(r.ExpGate, r.ExpUp, r.ExpDown) {
			put(e, KindExperts, i)
		}
		for _, e := range []arch.Ref{r.ShGate, r.ShUp, r.ShDown, r.ShGateInp} {
			put(e, KindShared, i)
		}
	}
	return kinds, layers, parts
}

// MatrixKinds lists the kinds of the matrices a forward pass multiplies
// with (an untied embedding is only read a row at a time), for the device
// probe.
func (ix *Index) MatrixKinds() []MatrixKind {
	return ix.matrixKinds(func(Tensor) bool { return true })
}

// DecodeKinds lists the matrix kinds whose decode kernel rates the
// planner needs: the routed experts' (DecodePasses time the rest), or
// every kind the forward pass multiplies with when a model's passes cannot
// be timed.
func (ix *Index) DecodeKinds() []MatrixKind {
	if ix.DecodePasses(0) == nil {
		return ix.MatrixKinds()
	}
	return ix.matrixKinds(func(t Tensor) bool { return t.Kind == KindExperts })
}

// matrixKinds lists the kinds of the matrices a forward pass multiplies
// with for which use is true.
func (ix *Index) matrixKinds(use func(Tensor) bool) []MatrixKind {
	var out []MatrixKind
	for _, t := range ix.Tensors {
		switch t.Kind {
		case KindOther, KindVector:
			continue
		case KindEmbed:
			if !ix.Spec.Tied {
				continue
			}
		}
		if !use(t) {
			continue
		}
		if k := (MatrixKind{t.Type, t.Cols}); !slices.Contains(out, k) {
			out = append(out, k)
		}
	}
	slices.SortFunc(out, func(a, b MatrixKind) int {
		if a.Type != b.Type {
			return int(a.Type) - int(b.Type)
		}
		return a.Cols - b.Cols
	})
	return out
}

// WeightBytes is the bytes of the tensors memfit uses.
func (ix *Index) WeightBytes() int64 {
	var n int64
	for _, t := range ix.Tensors {
		if t.Kind != KindOther {
			n += t.Bytes
		}
	}
	return n
}

// Name is the model's file or folder name.
func (ix *Index) Name() string { return filepath.Base(filepath.Clean(ix.Path)) }
