package convert

import (
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/memfit/memfit/internal/arch"
	"github.com/memfit/memfit/internal/gguf"
	"github.com/memfit/memfit/internal/hfconfig"
	"github.com/memfit/memfit/internal/quant"
	"github.com/memfit/memfit/internal/safetensors"
	"github.com/memfit/memfit/internal/tensor"
)

// converterClass is what differs between the converter's model classes.
type converterClass struct {
	params     familyParams
	llamaLike  bool // LlamaModel subclass: rope_freqs for llama3 RoPE, llama vocabulary rules
	dropLMHead bool // gemma2 skips lm_head.weight
	trimEmbed  bool // gemma3 drops embedding rows past the tokenizer's vocabulary
}

// classes maps memfit's architecture families to the converter's classes.
var classes = map[string]converterClass{
	"llama":      {params: llamaParams, llamaLike: true},
	"mistral":    {params: llamaParams, llamaLike: true},
	"mixtral":    {params: llamaParams, llamaLike: true},
	"granite":    {params: graniteParams(false), llamaLike: true},
	"granitemoe": {params: graniteParams(true), llamaLike: true},
	"qwen2":      {params: textModelParams},
	"qwen3":      {params: textModelParams},
	"qwen2moe":   {params: qwenMoEParams},
	"qwen3moe":   {params: qwenMoEParams},
	"olmoe":      {params: olmoeParams},
	"gemma2":     {params: gemma2Params, dropLMHead: true},
	"gemma3":     {params: gemma3Params, trimEmbed: true},
	"phi3":       {params: phi3Params},
}

// skippedSuffixes are checkpoint tensors the converter drops.
var skippedSuffixes = []string{".attention.masked_bias", ".attention.bias", ".rotary_emb.inv_freq"}

// FromHF converts the Hugging Face folder dir as llama.cpp's
// convert_hf_to_gguf.py would, without reading any weights yet.
func FromHF(dir string) (m *Model, err error) {
	h, err := loadHparams(dir)
	if err != nil {
		return nil, err
	}
	cfg, err := hfconfig.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	spec, err := arch.FromHF(cfg)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	class, ok := classes[spec.Arch]
	if !ok {
		return nil, fmt.Errorf("convert: %s: converting architecture %s to GGUF is not supported", dir, spec.Arch)
	}
	ggArch, permute, gg, err := spec.GGUFForm()
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	ck, err := safetensors.OpenDir(dir)
	if err != nil {
		return nil, fmt.Errorf("convert: %w", err)
	}
	m = &Model{Path: dir, Format: "hf"}
	opened := m
	defer func() {
		if err != nil {
			opened.Close()
		}
	}()
	readers := map[string]io.ReaderAt{}
	for _, f := range ck.Files {
		fh, err := os.Open(f.Path)
		if err != nil {
			return nil, fmt.Errorf("convert: %w", err)
		}
		m.closers = append(m.closers, fh)
		readers[f.Path] = fh
	}
	vocab, err := readVocab(dir, h, class.llamaLike)
	if err != nil {
		return nil, err
	}
	b := &builder{ck: ck, readers: readers, groups: map[string][]placed{}, used: map[string]bool{}}
	pairs := rolePairs(spec, gg, permute, class)
	for _, p := range pairs {
		if err := b.add(p); err != nil {
			return nil, fmt.Errorf("convert: %s: %w", dir, err)
		}
	}
	var unused []string
	for _, n := range ck.Names() {
		if b.used[n] || (class.dropLMHead && n == "lm_head.weight") || hasAnySuffix(n, skippedSuffixes) {
			continue
		}
		unused = append(unused, n)
	}
	if len(unused) > 0 {
		return nil, fmt.Errorf("convert: %s: the checkpoint holds tensors with no place in llama.cpp's %s form, which memfit does not convert: %s", dir, ggArch, strings.Join(unused, ", "))
	}
	if class.llamaLike {
		if f := llama3RopeFactors(h); f != nil {
			m.Tensors = append(m.Tensors, Tensor{Name: "rope_freqs.weight", Type: tensor.F32, Shape: tensor.Shape{int64(len(f))}, src: floatRows(f)})
		}
	}
	ts, err := b.tensors(ck.Names(), class, vocab.embedRows)
	if err != nil {
		return nil, fmt.Errorf("convert: %s: %w", dir, err)
	}
	m.Tensors = append(m.Tensors, ts...)

	blockCount, ok := h.integer("num_hidden_layers", h.find("n_layers", "num_hidden_layers", "n_layer", "num_layers"))
	if !ok {
		return nil, fmt.Errorf("convert: %s: field num_hidden_layers: missing", h.file)
	}
	kv := &kvList{}
	kv.set("general.architecture", gguf.String(ggArch))
	kv.set("general.type", gguf.String("model"))
	total, shared, expert, experts := paramCounts(m.Tensors)
	if err := generalMeta(kv, dir, h, total, shared, expert, experts); err != nil {
		return nil, err
	}
	class.params(archKVs{kv, ggArch, h}, h, blockCount, outputFileType(m.Tensors))
	kv.set("general.quantization_version", gguf.Uint32(2))
	vocab.write(kv)
	if h.err != nil {
		return nil, h.err
	}
	m.KVs = kv.kvs
	return m, nil
}

func hasAnySuffix(s string, suffixes []string) bool {
	for _, x := range suffixes {
		if strings.HasSuffix(s, x) {
			return true
		}
	}
	return false
}

// rolePair pairs one weight's place in the checkpoint with its place in
// the GGUF file.
type rolePair struct {
	hf, gg    arch.Ref
	permHeads int // >0: rows permuted for interleaved RoPE with this many heads
}

// rolePairs lists every weight of the spec in both namings.
func rolePairs(hf, gg *arch.Spec, permute bool, class converterClass) []rolePair {
	var out []rolePair
	hg, gG := hf.Globals(), gg.Globals()
	out = append(out, rolePair{hf: hg.Embed, gg: gG.Embed}, rolePair{hf: hg.OutputNorm, gg: gG.OutputNorm})
	if !class.dropLMHead {
		out = append(out, rolePair{hf: hg.Output, gg: gG.Output})
	}
	for i := range hf.Layers {
		h, g := hf.LayerRefs(i), gg.LayerRefs(i)
		qh, kh := 0, 0
		if permute {
			qh, kh = hf.Heads, hf.KVHeads
		}
		out = append(out,
			rolePair{hf: h.AttnNorm, gg: g.AttnNorm},
			rolePair{hf: h.Q, gg: g.Q, permHeads: qh}, rolePair{hf: h.K, gg: g.K, permHeads: kh}, rolePair{hf: h.V, gg: g.V},
			rolePair{hf: h.QBias, gg: g.QBias, permHeads: qh}, rolePair{hf: h.KBias, gg: g.KBias, permHeads: kh}, rolePair{hf: h.VBias, gg: g.VBias},
			rolePair{hf: h.QNorm, gg: g.QNorm}, rolePair{hf: h.KNorm, gg: g.KNorm}, rolePair{hf: h.O, gg: g.O},
			rolePair{hf: h.PostAttnNorm, gg: g.PostAttnNorm}, rolePair{hf: h.FFNNorm, gg: g.FFNNorm}, rolePair{hf: h.PostFFNNorm, gg: g.PostFFNNorm},
			rolePair{hf: h.Gate, gg: g.Gate}, rolePair{hf: h.Up, gg: g.Up}, rolePair{hf: h.Down, gg: g.Down},
			rolePair{hf: h.Router, gg: g.Router},
			rolePair{hf: h.ShGate, gg: g.ShGate}, rolePair{hf: h.ShUp, gg: g.ShUp}, rolePair{hf: h.ShDown, gg: g.ShDown}, rolePair{hf: h.ShGateInp, gg: g.ShGateInp},
		)
		for e := range h.ExpGate {
			out = append(out, rolePair{hf: h.ExpGate[e], gg: g.ExpGate[e]}, rolePair{hf: h.ExpUp[e], gg: g.ExpUp[e]}, rolePair{hf: h.ExpDown[e], gg: g.ExpDown[e]})
		}
	}
	return out
}

// placed is a run of source rows placed in a GGUF tensor.
type placed struct {
	expert int   // slot of a stacked tensor, -1 if not stacked
	row0   int64 // first row within the slot (or the tensor)
	p      piece
	oneD   bool // the source is a vector
	addOne bool
	order  int // position of the source tensor in the checkpoint, for the tensor order
}

// piece is a run of rows of one checkpoint tensor.
type piece struct {
	r         io.ReaderAt
	off       int64 // file offset of the source tensor's data
	typ       tensor.DType
	cols      int64
	row0      int64 // first source row
	rows      int64
	permHeads int
}

type builder struct {
	ck      *safetensors.Checkpoint
	readers map[string]io.ReaderAt
	groups  map[string][]placed
	names   []string // GGUF names in the order first met
	used    map[string]bool
}

func (b *builder) add(rp rolePair) error {
	h, g := rp.hf, rp.gg
	if g.Name == "" || h.Name == "" {
		return nil
	}
	ti, ok := b.ck.Tensor(h.Name)
	if !ok {
		if h.Optional {
			return nil
		}
		return fmt.Errorf("the checkpoint has no tensor %s", h.Name)
	}
	b.used[h.Name] = true
	shape := ti.Shape
	var matRows, base int64
	switch {
	case h.Expert >= 0:
		if len(shape) != 3 || int64(h.Expert) >= shape[2] {
			return fmt.Errorf("tensor %s has shape %v, want experts stacked in a third dimension of more than %d", h.Name, shape, h.Expert)
		}
		matRows, base = shape[1], int64(h.Expert)*shape[1]
	case len(shape) == 1:
		matRows = 1
	default:
		matRows = shape.Rows()
	}
	rows := int64(h.Rows)
	if rows == 0 {
		rows = matRows - int64(h.Row0)
	}
	if int64(h.Row0)+rows > matRows || rows <= 0 {
		return fmt.Errorf("tensor %s has %d rows, fewer than the %d the architecture uses", h.Name, matRows, int64(h.Row0)+rows)
	}
	if rp.permHeads > 0 {
		n := rows
		if len(shape) == 1 {
			n = shape[0]
		}
		if n%(2*int64(rp.permHeads)) != 0 {
			return fmt.Errorf("tensor %s: %d rows cannot be permuted for %d heads", h.Name, n, rp.permHeads)
		}
	}
	p := placed{
		expert: g.Expert, row0: int64(g.Row0), oneD: len(shape) == 1, addOne: h.AddOne && !g.AddOne,
		order: slices.Index(b.ck.Names(), h.Name),
		p: piece{r: b.readers[ti.File], off: ti.Offset, typ: ti.Type, cols: shape[0],
			row0: base + int64(h.Row0), rows: rows, permHeads: rp.permHeads},
	}
	if _, seen := b.groups[g.Name]; !seen {
		b.names = append(b.names, g.Name)
	}
	b.groups[g.Name] = append(b.groups[g.Name], p)
	return nil
}

// tensors assembles the GGUF tensors from their pieces, in the order of
// their first source tensor in the checkpoint. embedRows, if positive,
// bounds the embedding's rows (gemma3).
func (b *builder) tensors(_ []string, class converterClass, embedRows int64) ([]Tensor, error) {
	type built struct {
		t     Tensor
		order int
	}
	var out []built
	for _, name := range b.names {
		ps := b.groups[name]
		slices.SortFunc(ps, func(x, y placed) int {
			if x.expert != y.expert {
				return x.expert - y.expert
			}
			return int(x.row0 - y.row0)
		})
		t, err := assemble(name, ps)
		if err != nil {
			return nil, err
		}
		if class.trimEmbed && name == "token_embd.weight" && embedRows > 0 && embedRows < t.Shape[1] {
			t.Shape = tensor.Shape{t.Shape[0], embedRows}
			src := t.src.(*hfRows)
			src.pieces[0].rows = embedRows
		}
		order := ps[0].order
		for _, p := range ps {
			order = min(order, p.order)
		}
		out = append(out, built{t, order})
	}
	slices.SortStableFunc(out, func(x, y built) int { return x.order - y.order })
	ts := make([]Tensor, len(out))
	for i := range out {
		ts[i] = out[i].t
	}
	return ts, nil
}

// assemble checks that the pieces fill the tensor and describes it.
func assemble(name string, ps []placed) (Tensor, error) {
	cols := ps[0].p.cols
	typ := ps[0].p.typ
	for _, p := range ps {
		if p.p.cols != cols {
			return Tensor{}, fmt.Errorf("tensor %s: its parts have rows of %d and %d values", name, cols, p.p.cols)
		}
		if p.p.typ != typ {
			typ = tensor.F32 // mixed precisions: the converter's float32
		}
	}
	var shape tensor.Shape
	switch {
	case ps[0].expert >= 0:
		per := int64(0)
		experts := 0
		for _, p := range ps {
			if p.expert == experts {
				experts++
			}
		}
		for _, p := range ps {
			if p.expert == 0 {
				per += p.p.rows
			}
		}
		next := map[int]int64{}
		for _, p := range ps {
			if p.expert < 0 || p.expert >= experts || p.row0 != next[p.expert] {
				return Tensor{}, fmt.Errorf("tensor %s: expert parts do not fit together", name)
			}
			next[p.expert] += p.p.rows
		}
		for e := 0; e < experts; e++ {
			if next[e] != per {
				return Tensor{}, fmt.Errorf("tensor %s: expert %d has %d rows, expert 0 has %d", name, e, next[e], per)
			}
		}
		shape = tensor.Shape{cols, per, int64(experts)}
	case ps[0].oneD:
		if len(ps) != 1 {
			return Tensor{}, fmt.Errorf("tensor %s: a vector assembled from %d parts", name, len(ps))
		}
		shape = tensor.Shape{cols}
	default:
		rows := int64(0)
		for _, p := range ps {
			if p.row0 != rows {
				return Tensor{}, fmt.Errorf("tensor %s: parts leave a gap at row %d", name, rows)
			}
			rows += p.p.rows
		}
		shape = tensor.Shape{cols, rows}
	}
	if forcedF32(name, shape) || ps[0].addOne {
		typ = tensor.F32
	}
	src := &hfRows{typ: typ, oneD: ps[0].oneD, addOne: ps[0].addOne}
	for _, p := range ps {
		src.pieces = append(src.pieces, p.p)
	}
	return Tensor{Name: name, Type: typ, Shape: shape, src: src}, nil
}

// forcedF32 says which tensors the converter always writes in float32:
// vectors, norms, routers, and everything that is not a weight (biases).
func forcedF32(name string, shape tensor.Shape) bool {
	if len(shape) <= 1 || strings.HasSuffix(name, "_norm.weight") || !strings.HasSuffix(name, ".weight") {
		return true
	}
	return strings.HasSuffix(name, ".ffn_gate_inp.weight") || strings.HasSuffix(name, ".ffn_gate_inp_shexp.weight")
}

// hfRows reads rows of a converted tensor from its checkpoint pieces.
type hfRows struct {
	pieces []piece
	typ    tensor.DType
	oneD   bool
	addOne bool
	row    []byte    // one source row
	f32    []float32 // one row in float32
}

func (s *hfRows) readRows(dst []byte, r0, r1 int64) error {
	outRow := int64(len(dst)) / max(r1-r0, 1)
	if s.oneD {
		return s.readVector(dst)
	}
	pos := int64(0) // first row of the current piece
	for i := range s.pieces {
		p := &s.pieces[i]
		a, b := max(r0, pos), min(r1, pos+p.rows)
		for r := a; r < b; r++ {
			src := p.row0 + permuteRow(r-pos, p.rows, p.permHeads)
			if err := s.copyRow(dst[(r-r0)*outRow:(r-r0+1)*outRow], p, src); err != nil {
				return err
			}
		}
		pos += p.rows
	}
	return nil
}

// permuteRow maps row k of the converter's permuted layout to the
// checkpoint's row: w.reshape(heads, 2, d/2, ...).swapaxes(1, 2).
func permuteRow(k, rows int64, heads int) int64 {
	if heads <= 0 {
		return k
	}
	d := rows / int64(heads)
	h, rem := k/d, k%d
	i, j := rem/2, rem%2
	return h*d + j*(d/2) + i
}

// copyRow reads source row src of p into out, converted to s.typ.
func (s *hfRows) copyRow(out []byte, p *piece, src int64) error {
	rb, _ := p.typ.RowBytes(p.cols)
	if p.typ == s.typ && !s.addOne {
		_, err := p.r.ReadAt(out, p.off+src*rb)
		return wrapRead(err, src)
	}
	if int64(cap(s.row)) < rb {
		s.row = make([]byte, rb)
		s.f32 = make([]float32, p.cols)
	}
	if _, err := p.r.ReadAt(s.row[:rb], p.off+src*rb); err != nil {
		return wrapRead(err, src)
	}
	return s.emit(out, p.typ, s.row[:rb], s.f32[:p.cols])
}

// emit converts raw values of type from to s.typ (only float32 output
// needs converting: mixed or modified tensors are float32).
func (s *hfRows) emit(out []byte, from tensor.DType, raw []byte, f32 []float32) error {
	if err := quant.Dequantize(from, f32, raw); err != nil {
		return err
	}
	if s.typ != tensor.F32 {
		return fmt.Errorf("internal error: converting %v to %v", from, s.typ)
	}
	for i, v := range f32 {
		if s.addOne {
			v++
		}
		binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(v))
	}
	return nil
}

func wrapRead(err error, row int64) error {
	if err != nil {
		return fmt.Errorf("reading row %d: %w", row, err)
	}
	return nil
}

// readVector reads a 1-D tensor (a norm or bias), permuted and shifted as
// the converter does.
func (s *hfRows) readVector(dst []byte) error {
	p := &s.pieces[0]
	eb := int64(p.typ.BlockBytes())
	raw := make([]byte, p.cols*eb)
	if _, err := p.r.ReadAt(raw, p.off); err != nil {
		return wrapRead(err, 0)
	}
	if p.permHeads > 0 {
		perm := make([]byte, len(raw))
		for k := int64(0); k < p.cols; k++ {
			src := permuteRow(k, p.cols, p.permHeads)
			copy(perm[k*eb:(k+1)*eb], raw[src*eb:(src+1)*eb])
		}
		raw = perm
	}
	if p.typ == s.typ && !s.addOne {
		copy(dst, raw)
		return nil
	}
	return s.emit(dst, p.typ, raw, make([]float32, p.cols))
}

// floatRows is a computed float32 vector.
type floatRows []float32

func (f floatRows) readRows(dst []byte, r0, r1 int64) error {
	for i, v := range f {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
	return nil
}

// llama3RopeFactors is LlamaModel.generate_extra_tensors: the per-frequency
// divisors of "llama3" RoPE scaling, computed in float32 as the converter
// does; nil for other RoPE types.
func llama3RopeFactors(h *hparams) []float32 {
	rp := h.ropeParams()
	if t, _ := rp["rope_type"].(string); !strings.EqualFold(t, "llama3") {
		return nil
	}
	num := func(key string, def float64) float64 {
		if v, ok := h.number(key, rp[key]); ok {
			return v
		}
		return def
	}
	base := float32(num("rope_theta", 10000))
	dim := llamaRopeDim(h)
	factor := num("factor", 8)
	low, high := num("low_freq_factor", 1), num("high_freq_factor", 4)
	old := num("original_max_position_embeddings", 8192)
	lowWave, highWave := old/low, old/high
	// torch float32 arithmetic: a Python number on the left of a division
	// is a reciprocal times the number (Tensor.__rtruediv__), and every
	// scalar is rounded to float32 first. The conversions keep Go from
	// fusing a product into a sum.
	var out []float32
	for i := int64(0); i < dim; i += 2 {
		freq := 1 / float32(math.Pow(float64(base), float64(float32(i)/float32(dim))))
		wave := (1 / freq) * float32(2*math.Pi)
		switch {
		case float64(wave) < highWave:
			out = append(out, 1)
		case float64(wave) > lowWave:
			out = append(out, float32(factor))
		default:
			smooth := (float32((1/wave)*float32(old)) - float32(low)) / float32(high-low)
			out = append(out, 1/(float32((1-smooth)/float32(factor))+smooth))
		}
	}
	return out
}

// paramCounts is GGUFWriter.get_total_parameter_count over the converted
// tensors: total, shared and per-expert parameters, and the expert count.
func paramCounts(ts []Tensor) (total, shared, expert, experts int64) {
	var sum, n int64
	for _, t := range ts {
		size := t.Shape.Elems()
		if strings.Contains(t.Name, "_exps.") && len(t.Shape) >= 3 {
			e := t.Shape[2]
			if strings.Contains(t.Name, ".bias") {
				e = t.Shape[1]
			}
			expert += size / e
			sum += e
			n++
		} else {
			shared += size
		}
		total += size
	}
	if n > 0 {
		experts = sum / n
	}
	return
}

// outputFileType is the general.file_type of the converted model: the
// precision of its weight matrices (float32 when they differ).
func outputFileType(ts []Tensor) uint32 {
	var bf16, f16, f32 bool
	for _, t := range ts {
		if len(t.Shape) < 2 || forcedF32(t.Name, t.Shape) {
			continue
		}
		switch t.Type {
		case tensor.BF16:
			bf16 = true
		case tensor.F16:
			f16 = true
		default:
			f32 = true
		}
	}
	switch {
	case bf16 && !f16 && !f32:
		return 32
	case f16 && !bf16 && !f32:
		return 1
	}
	return 0
}
