// Package model is memfit's one generic transformer forward pass. A Model is
// an architecture Spec plus typed views of its weights; Forward runs any
// Spec, with no per-architecture code.
package model

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/memfit/memfit/internal/arch"
	"github.com/memfit/memfit/internal/hfconfig"
	"github.com/memfit/memfit/internal/kernels"
	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/plan"
	"github.com/memfit/memfit/internal/tensor"
	"github.com/memfit/memfit/internal/weights"
)

// layer holds one block's weights. Vectors (norms, biases) are float32
// copies; matrices are views of the weights' memory (loaded files, the
// resident region, or the mapping until they are bound to a streamer or
// the expert cache).
type layer struct {
	attnNorm, qNorm, kNorm, postAttnNorm, ffnNorm, postFFNNorm []float32
	qBias, kBias, vBias                                        []float32
	q, k, v, o                                                 tensor.Tensor
	gate, up, down                                             tensor.Tensor
	router                                                     tensor.Tensor
	expGate, expUp, expDown                                    []tensor.Tensor
	shGate, shUp, shDown, shGateInp                            tensor.Tensor
	hasShared                                                  bool
	rope                                                       int // index into Model.ropes
}

// Model is a loaded model ready to run.
type Model struct {
	Spec    *arch.Spec
	Weights *weights.Model
	Config  *hfconfig.Config     // HF models only
	Gen     *hfconfig.Generation // HF models with generation_config.json
	// OnRoute, if set, is called by MoE layers with the experts a batch
	// uses, in expert order (routing statistics; not for the hot path).
	OnRoute func(layer int, experts []int32)

	embed, output tensor.Tensor
	outputNorm    []float32
	layers        []layer
	ropes         [][]float64 // distinct inverse-frequency tables
	ops           *kernels.Ops
	ledger        *ledger.Ledger
	vecRes        *ledger.Reservation
	stream        *weights.Streamer // nil: all resident
	experts       *weights.ExpertCache
	embedRows     *weights.RowReader // untied embeddings read per token
	embedRes      *ledger.Reservation
	streamErr     error // a failed stream read: the model is unusable
}

// Options configure Load.
type Options struct {
	Ledger  *ledger.Ledger // nil: an unlimited ledger that only counts
	Threads int            // worker threads (≤ 0: one per CPU)
	// Plan, when set, says which tensors stream from disk (internal/plan);
	// nil keeps every weight resident (mapped).
	Plan *plan.Plan
	// ExpertReaders is how many reads of MoE experts run at once when the
	// plan caches experts (≤ 0: weights.DefaultExpertReaders).
	ExpertReaders int
}

// Load opens the model at path (GGUF file or Hugging Face folder), builds its
// Spec and checks every weight's presence, type and shape.
func Load(path string, opt Options) (*Model, error) {
	l := opt.Ledger
	if l == nil {
		l = ledger.New(ledger.Unlimited)
	}
	resident := int64(-1)
	if opt.Plan != nil && (opt.Plan.Streaming() || opt.Plan.CachesExperts() || opt.Plan.EmbedOnDemand) {
		resident = opt.Plan.ResidentBytes
	}
	w, err := weights.Open(path, l, resident)
	if err != nil {
		return nil, err
	}
	m := &Model{Weights: w, ledger: l}
	if err := m.init(); err != nil {
		w.Close()
		return nil, err
	}
	if opt.Plan != nil && (opt.Plan.Streaming() || opt.Plan.CachesExperts() || opt.Plan.EmbedOnDemand) {
		if err := m.startStreaming(opt.Plan, opt.ExpertReaders); err != nil {
			m.closeStreams()
			m.vecRes.Release()
			w.Close()
			return nil, err
		}
	}
	if resident >= 0 {
		// The files are mapped: read the resident matrices out of them
		// now, into huge pages (4 KiB page-cache pages would cost a TLB
		// miss each, every token), in large direct reads.
		if err := m.Weights.LoadResident(m.residentMatrices()); err != nil {
			m.closeStreams()
			m.vecRes.Release()
			w.Close()
			return nil, err
		}
	}
	m.ops = kernels.NewOps(kernels.NewPool(opt.Threads))
	return m, nil
}

// residentMatrices lists the matrix views that stay in memory (not
// streamed, not cached experts, not read row by row).
func (m *Model) residentMatrices() []*tensor.Tensor {
	out := []*tensor.Tensor{&m.output}
	if m.embedRows == nil {
		out = append(out, &m.embed)
	}
	for li := range m.layers {
		out = append(out, m.layers[li].matrices()...)
	}
	return out
}

// startStreaming detaches the tensors the plan streams from the mapping and
// starts the reader that brings them in layer by layer.
func (m *Model) startStreaming(p *plan.Plan, readers int) error {
	streamed := map[string]bool{}
	for _, t := range p.Tensors {
		if t.Residency == plan.Streamed {
			streamed[t.Name] = true
		}
	}
	if !m.Spec.Tied && p.EmbedOnDemand {
		var err error
		if m.embedRows, err = m.Weights.NewRowReader(&m.embed); err != nil {
			return err
		}
		if m.embedRes, err = m.ledger.Reserve("embedding rows", int64(m.embedRows.BufferBytes())); err != nil {
			return err
		}
	}
	if p.CachesExperts() {
		var experts [][][3]*tensor.Tensor
		for li := range m.layers {
			L := &m.layers[li]
			row := make([][3]*tensor.Tensor, len(L.expGate))
			for e := range L.expGate {
				row[e] = [3]*tensor.Tensor{&L.expGate[e], &L.expUp[e], &L.expDown[e]}
			}
			experts = append(experts, row)
		}
		var err error
		if m.experts, err = m.Weights.NewExpertCache(m.ledger, p.ExpertLayerSlots, experts, readers); err != nil {
			return err
		}
	}
	var units []weights.StreamUnit
	for li := range m.layers {
		for _, part := range m.streamParts(li) {
			var bs []weights.Binding
			for _, t := range part.tensors {
				base, _, _ := strings.Cut(t.Name, "[")
				if !streamed[base] || t.Data == nil {
					continue
				}
				b, err := m.Weights.Bind(t)
				if err != nil {
					return err
				}
				bs = append(bs, b)
			}
			if len(bs) > 0 {
				units = append(units, weights.StreamUnit{Layer: li, Part: part.part, Bindings: bs})
			}
		}
	}
	if len(units) == 0 {
		return nil
	}
	var err error
	m.stream, err = m.Weights.NewStreamer(m.ledger, units)
	return err
}

// streamPart is the matrices of one streamed part of a layer.
type streamPart struct {
	part    int
	tensors []*tensor.Tensor
}

// streamParts splits layer li's matrices into the parts the forward pass
// uses together, in its order: a dense layer's attention, MLP gate and up,
// MLP down (plan.Tensor.Part says the same); a mixture-of-experts layer is
// one part.
func (m *Model) streamParts(li int) []streamPart {
	L := &m.layers[li]
	if m.Spec.Experts > 0 {
		return []streamPart{{weights.PartLayer, L.matrices()}}
	}
	return []streamPart{
		{weights.PartAttn, []*tensor.Tensor{&L.q, &L.k, &L.v, &L.o}},
		{weights.PartUp, []*tensor.Tensor{&L.gate, &L.up}},
		{weights.PartDown, []*tensor.Tensor{&L.down}},
	}
}

func (m *Model) closeStreams() {
	if m.embedRows != nil {
		m.embedRows.Close()
		m.embedRows = nil
		m.embedRes.Release()
	}
	if m.stream != nil {
		m.stream.Close()
		m.stream = nil
	}
	if m.experts != nil {
		m.experts.Close()
		m.experts = nil
	}
}

// Experts returns the model's expert cache, nil when every expert is
// resident.
func (m *Model) Experts() *weights.ExpertCache { return m.experts }

// ExpertStats returns the expert cache's counters (hits, misses, bytes
// read, prefetch accuracy): what `memfit bench --json` and the server's
// /metrics report. The zero value when the model has no expert cache.
func (m *Model) ExpertStats() weights.ExpertStats {
	if m.experts == nil {
		return weights.ExpertStats{}
	}
	return m.experts.Stats()
}

// matrices returns pointers to every matrix view of the layer.
func (L *layer) matrices() []*tensor.Tensor {
	out := []*tensor.Tensor{&L.q, &L.k, &L.v, &L.o, &L.gate, &L.up, &L.down, &L.router, &L.shGate, &L.shUp, &L.shDown, &L.shGateInp}
	for e := range L.expGate {
		out = append(out, &L.expGate[e], &L.expUp[e], &L.expDown[e])
	}
	return out
}

// Streamer returns the model's layer streamer, nil when every weight is
// resident.
func (m *Model) Streamer() *weights.Streamer { return m.stream }

// Close releases the model's memory and workers.
func (m *Model) Close() error {
	if m.ops != nil {
		m.ops.Pool.Close()
	}
	m.closeStreams()
	m.vecRes.Release()
	return m.Weights.Close()
}

// Ledger is the ledger the model's memory is reserved on; sequences and
// scratch made for the model reserve theirs there too.
func (m *Model) Ledger() *ledger.Ledger { return m.ledger }

// Threads is the number of worker threads.
func (m *Model) Threads() int { return m.ops.Pool.Threads() }

func (m *Model) init() error {
	w := m.Weights
	var err error
	switch w.Format {
	case weights.GGUF:
		m.Spec, err = arch.FromGGUF(w.GGUF)
	case weights.HF:
		if m.Config, err = hfconfig.Load(w.Path); err != nil {
			return err
		}
		if m.Gen, err = hfconfig.LoadGeneration(w.Path); err != nil {
			return err
		}
		m.Spec, err = arch.FromHF(m.Config)
	}
	if err != nil {
		return err
	}
	s := m.Spec
	ld := &loader{w: w, arch: s.Arch}
	g := s.Globals()
	if m.embed, err = ld.tensor(g.Embed); err != nil {
		return err
	}
	vocab := m.embed.NumRows()
	if s.Vocab != 0 && s.Vocab != vocab {
		return fmt.Errorf("model %s: the embedding has %d rows but the vocabulary size is %d", w.Path, vocab, s.Vocab)
	}
	s.Vocab = vocab
	if err := ld.shape(&m.embed, g.Embed, s.Hidden, vocab); err != nil {
		return err
	}
	if m.outputNorm, err = ld.vector(g.OutputNorm, s.Hidden); err != nil {
		return err
	}
	if w.Has(g.Output.Name) {
		if m.output, err = ld.matrix(g.Output, s.Hidden, vocab); err != nil {
			return err
		}
		s.Tied = false
	} else {
		m.output, s.Tied = m.embed, true
	}
	if !kernels.Supports(m.output.Type) {
		return fmt.Errorf("model %s: tensor %s has type %v, which memfit cannot multiply yet", w.Path, m.output.Name, m.output.Type)
	}
	var factors []float32
	if g.RopeFreqs.Name != "" && w.Has(g.RopeFreqs.Name) {
		if factors, err = ld.vector(g.RopeFreqs, s.Layers[0].Rope.Dims/2); err != nil {
			return err
		}
	}
	m.layers = make([]layer, len(s.Layers))
	for i := range s.Layers {
		if factors != nil {
			s.Layers[i].Rope.Factors = factors
		}
		if err := m.loadLayer(ld, i); err != nil {
			return err
		}
	}
	if m.vecRes, err = m.ledger.Reserve("norms", ld.vecBytes); err != nil {
		return err
	}
	return nil
}

func (m *Model) loadLayer(ld *loader, i int) error {
	s, r, L := m.Spec, m.Spec.LayerRefs(i), &m.layers[i]
	var err error
	vec := func(dst *[]float32, ref arch.Ref, n int) {
		if err == nil && ref.Name != "" && (!ref.Optional || ld.w.Has(ref.Name)) {
			*dst, err = ld.vector(ref, n)
		}
	}
	mat := func(dst *tensor.Tensor, ref arch.Ref, in, rows int) {
		if err == nil && ref.Name != "" {
			*dst, err = ld.matrix(ref, in, rows)
		}
	}
	vec(&L.attnNorm, r.AttnNorm, s.Hidden)
	mat(&L.q, r.Q, s.Hidden, s.QDim())
	mat(&L.k, r.K, s.Hidden, s.KVDim())
	mat(&L.v, r.V, s.Hidden, s.KVDim())
	vec(&L.qBias, r.QBias, s.QDim())
	vec(&L.kBias, r.KBias, s.KVDim())
	vec(&L.vBias, r.VBias, s.KVDim())
	switch s.QKNorm {
	case arch.HeadQKNorm:
		vec(&L.qNorm, r.QNorm, s.HeadDim)
		vec(&L.kNorm, r.KNorm, s.HeadDim)
	case arch.FullQKNorm:
		vec(&L.qNorm, r.QNorm, s.QDim())
		vec(&L.kNorm, r.KNorm, s.KVDim())
	}
	mat(&L.o, r.O, s.QDim(), s.Hidden)
	vec(&L.postAttnNorm, r.PostAttnNorm, s.Hidden)
	vec(&L.ffnNorm, r.FFNNorm, s.Hidden)
	vec(&L.postFFNNorm, r.PostFFNNorm, s.Hidden)
	if s.Experts == 0 {
		mat(&L.gate, r.Gate, s.Hidden, s.FFN)
		mat(&L.up, r.Up, s.Hidden, s.FFN)
		mat(&L.down, r.Down, s.FFN, s.Hidden)
	} else {
		mat(&L.router, r.Router, s.Hidden, s.Experts)
		L.expGate = make([]tensor.Tensor, s.Experts)
		L.expUp = make([]tensor.Tensor, s.Experts)
		L.expDown = make([]tensor.Tensor, s.Experts)
		for e := 0; e < s.Experts; e++ {
			mat(&L.expGate[e], r.ExpGate[e], s.Hidden, s.ExpertFFN)
			mat(&L.expUp[e], r.ExpUp[e], s.Hidden, s.ExpertFFN)
			mat(&L.expDown[e], r.ExpDown[e], s.ExpertFFN, s.Hidden)
		}
		if s.SharedFFN > 0 {
			L.hasShared = true
			mat(&L.shGate, r.ShGate, s.Hidden, s.SharedFFN)
			mat(&L.shUp, r.ShUp, s.Hidden, s.SharedFFN)
			mat(&L.shDown, r.ShDown, s.SharedFFN, s.Hidden)
			if s.SharedGate {
				mat(&L.shGateInp, r.ShGateInp, s.Hidden, 1)
			}
		}
	}
	if err != nil {
		return err
	}
	inv := s.Layers[i].Rope.InvFreqs()
	L.rope = slices.IndexFunc(m.ropes, func(t []float64) bool { return slices.Equal(t, inv) })
	if L.rope < 0 {
		L.rope = len(m.ropes)
		m.ropes = append(m.ropes, inv)
	}
	return nil
}

// loader resolves weight references to typed views.
type loader struct {
	w        *weights.Model
	arch     string
	vecBytes int64
}

func (ld *loader) tensor(r arch.Ref) (tensor.Tensor, error) {
	t, err := ld.w.Tensor(r.Name)
	if errors.Is(err, weights.ErrNoTensor) {
		return t, fmt.Errorf("model %s: tensor %s is missing (the %s architecture needs it)", ld.w.Path, r.Name, ld.arch)
	}
	return t, err
}

// shape checks that t is an in × rows matrix.
func (ld *loader) shape(t *tensor.Tensor, r arch.Ref, in, rows int) error {
	if !t.Shape.Equal(tensor.Shape{int64(in), int64(rows)}) {
		return fmt.Errorf("model %s: tensor %s has shape %v, want %v", ld.w.Path, r.Name, t.Shape, tensor.Shape{int64(in), int64(rows)})
	}
	return nil
}

// matrix resolves r to an in × rows matrix view: an expert's slice of a
// stacked tensor and a row range of a fused one, checked against the file.
func (ld *loader) matrix(r arch.Ref, in, rows int) (tensor.Tensor, error) {
	t, err := ld.tensor(r)
	if err != nil {
		return t, err
	}
	name := r.Name
	if r.Expert >= 0 {
		if len(t.Shape) != 3 || r.Expert >= int(t.Shape[2]) {
			return t, fmt.Errorf("model %s: tensor %s has shape %v, want 3 dimensions with at least %d experts", ld.w.Path, name, t.Shape, r.Expert+1)
		}
		per := int64(t.RowBytes()) * t.Shape[1]
		t.Data = t.Data[int64(r.Expert)*per : int64(r.Expert+1)*per]
		t.Shape = tensor.Shape{t.Shape[0], t.Shape[1]}
		t.Name = fmt.Sprintf("%s[expert %d]", name, r.Expert)
	}
	if len(t.Shape) != 2 {
		return t, fmt.Errorf("model %s: tensor %s has shape %v, want a matrix", ld.w.Path, name, t.Shape)
	}
	if r.Rows > 0 {
		if int64(r.Row0+r.Rows) > t.Shape[1] {
			return t, fmt.Errorf("model %s: tensor %s has %d rows, want at least %d", ld.w.Path, name, t.Shape[1], r.Row0+r.Rows)
		}
		rb := t.RowBytes()
		t.Data = t.Data[r.Row0*rb : (r.Row0+r.Rows)*rb]
		t.Shape = tensor.Shape{t.Shape[0], int64(r.Rows)}
		t.Name = fmt.Sprintf("%s[rows %d:%d]", name, r.Row0, r.Row0+r.Rows)
	}
	if !t.Shape.Equal(tensor.Shape{int64(in), int64(rows)}) {
		return t, fmt.Errorf("model %s: tensor %s has shape %v, want %v", ld.w.Path, t.Name, t.Shape, tensor.Shape{int64(in), int64(rows)})
	}
	if !kernels.Supports(t.Type) {
		return t, fmt.Errorf("model %s: tensor %s has type %v, which memfit cannot multiply yet", ld.w.Path, t.Name, t.Type)
	}
	return t, nil
}

// vector reads a 1-D weight of n values as float32 (plus one when r.AddOne).
func (ld *loader) vector(r arch.Ref, n int) ([]float32, error) {
	t, err := ld.tensor(r)
	if err != nil {
		return nil, err
	}
	if t.Shape.Elems() != int64(n) || t.Shape[0] != int64(n) {
		return nil, fmt.Errorf("model %s: tensor %s has shape %v, want [%d]", ld.w.Path, r.Name, t.Shape, n)
	}
	if !kernels.Supports(t.Type) {
		return nil, fmt.Errorf("model %s: tensor %s has type %v, want F32, F16 or BF16", ld.w.Path, r.Name, t.Type)
	}
	t.Shape = tensor.Shape{int64(n), 1}
	out := make([]float32, n)
	copy(out, kernels.RowF32(&t, 0, out))
	if r.AddOne {
		for i := range out {
			out[i]++
		}
	}
	ld.vecBytes += int64(4 * n)
	return out, nil
}
