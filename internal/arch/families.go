package arch

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/memfit/memfit/internal/gguf"
	"github.com/memfit/memfit/internal/hfconfig"
)

// windowRule says which layers use the sliding window when a file does not
// list layer types.
type windowRule int

const (
	windowNone    windowRule = iota // no sliding window
	windowAll                       // every layer (mistral, phi3)
	windowPattern                   // every layer but each n-th (gemma2: n=2, gemma3: n=6)
)

// MaxLayers bounds the layer count read from a file, so a corrupt count
// cannot make a huge allocation.
const MaxLayers = 4096

// family is one architecture as data: what distinguishes it from a plain
// Llama, in both file formats.
type family struct {
	name     string
	hfTypes  []string // transformers model_type values
	ggufArch string   // general.architecture written by llama.cpp's converter

	act      Activation
	qkNorm   QKNorm
	sandwich bool
	gemma    bool // embeddings × sqrt(hidden), (1+w) norms in HF checkpoints
	granite  bool // embedding/attention/residual/logit multipliers

	window        windowRule // HF default when layer_types is absent
	windowPeriod  int        // for windowPattern: the period (HF may override with sliding_window_pattern)
	ggufWindow    windowRule // how llama.cpp applies *.attention.sliding_window
	ggufInterleav bool       // llama.cpp stores Q/K rows permuted for interleaved RoPE

	moe          bool
	hfExperts    hfExperts
	gating       Gating
	normTopK     *bool // fixed by the architecture (nil: read norm_topk_prob)
	ggufNormTopK bool  // what llama.cpp does (the GGUF does not say)
	sharedExpert bool

	fused bool // phi3: fused qkv and gate|up
}

var yes, no = true, false

// families lists the supported architectures.
var families = []family{
	{name: "llama", hfTypes: []string{"llama"}, ggufArch: "llama", ggufInterleav: true},
	{name: "mistral", hfTypes: []string{"mistral"}, ggufArch: "llama", ggufInterleav: true, window: windowAll},
	{name: "mixtral", hfTypes: []string{"mixtral"}, ggufArch: "llama", ggufInterleav: true, window: windowAll,
		moe: true, hfExperts: hfExpertsMixtral, normTopK: &yes, ggufNormTopK: true},
	{name: "qwen2", hfTypes: []string{"qwen2"}, ggufArch: "qwen2"},
	{name: "qwen2moe", hfTypes: []string{"qwen2_moe"}, ggufArch: "qwen2moe", moe: true, sharedExpert: true},
	{name: "qwen3", hfTypes: []string{"qwen3"}, ggufArch: "qwen3", qkNorm: HeadQKNorm},
	{name: "qwen3moe", hfTypes: []string{"qwen3_moe"}, ggufArch: "qwen3moe", qkNorm: HeadQKNorm, moe: true, ggufNormTopK: true},
	{name: "gemma2", hfTypes: []string{"gemma2"}, ggufArch: "gemma2", act: GELUTanh, sandwich: true, gemma: true,
		window: windowPattern, windowPeriod: 2, ggufWindow: windowPattern},
	{name: "gemma3", hfTypes: []string{"gemma3_text"}, ggufArch: "gemma3", act: GELUTanh, sandwich: true, gemma: true, qkNorm: HeadQKNorm,
		window: windowPattern, windowPeriod: 6, ggufWindow: windowPattern},
	{name: "phi3", hfTypes: []string{"phi3"}, ggufArch: "phi3", window: windowAll, ggufWindow: windowAll, fused: true},
	{name: "granite", hfTypes: []string{"granite"}, ggufArch: "granite", granite: true, ggufInterleav: true},
	{name: "granitemoe", hfTypes: []string{"granitemoe"}, ggufArch: "granitemoe", granite: true, ggufInterleav: true,
		moe: true, hfExperts: hfExpertsGranite, gating: TopKSoftmax, normTopK: &no},
	{name: "olmoe", hfTypes: []string{"olmoe"}, ggufArch: "olmoe", qkNorm: FullQKNorm, moe: true},
}

// Names lists the supported families.
func Names() []string {
	out := make([]string, len(families))
	for i, f := range families {
		out[i] = f.name
	}
	return out
}

func supported() string {
	var hf, gg []string
	seen := map[string]bool{}
	for _, f := range families {
		hf = append(hf, f.hfTypes...)
		if !seen[f.ggufArch] {
			gg = append(gg, f.ggufArch)
			seen[f.ggufArch] = true
		}
	}
	sort.Strings(hf)
	sort.Strings(gg)
	return fmt.Sprintf("model_type one of %s; GGUF architecture one of %s", strings.Join(hf, ", "), strings.Join(gg, ", "))
}

// FromHF builds the Spec of a Hugging Face model from its config.json.
func FromHF(c *hfconfig.Config) (*Spec, error) {
	var fam *family
	for i := range families {
		for _, t := range families[i].hfTypes {
			if t == c.ModelType {
				fam = &families[i]
			}
		}
	}
	if fam == nil {
		return nil, fmt.Errorf("%s: model_type %q is not supported (%s)", c.Path, c.ModelType, supported())
	}
	s := &Spec{
		Arch: fam.name, Format: "hf",
		Vocab: c.VocabSize, Hidden: c.HiddenSize, Heads: c.NumHeads, KVHeads: c.NumKVHeads, HeadDim: c.HeadDim,
		FFN: c.IntermediateSize, ContextLength: c.MaxPositions, Eps: float32(c.RMSNormEps), Act: fam.act,
		EmbedScale: 1, AttnScale: float32(1 / math.Sqrt(float64(c.HeadDim))), ResidualScale: 1, LogitScale: 1,
		QKNorm: fam.qkNorm, Sandwich: fam.sandwich, Tied: c.TieEmbeddings,
		names: hfNames{fusedQKV: fam.fused, fusedGateUp: fam.fused, experts: fam.hfExperts, normAddOne: fam.gemma},
	}
	if fam.act == SiLU && c.HiddenAct != "" && c.HiddenAct != "silu" && c.HiddenAct != "swish" {
		return nil, fmt.Errorf("%s: field hidden_act: %q is not supported for %s (want silu)", c.Path, c.HiddenAct, c.ModelType)
	}
	if fam.act == GELUTanh && c.HiddenAct != "" && c.HiddenAct != "gelu_pytorch_tanh" {
		return nil, fmt.Errorf("%s: field hidden_activation: %q is not supported for %s (want gelu_pytorch_tanh)", c.Path, c.HiddenAct, c.ModelType)
	}
	if fam.gemma {
		s.EmbedScale = float32(math.Sqrt(float64(c.HiddenSize)))
		if c.QueryPreAttnScalar > 0 {
			s.AttnScale = float32(1 / math.Sqrt(c.QueryPreAttnScalar))
		}
		s.AttnSoftcap, s.FinalSoftcap = float32(c.AttnSoftcap), float32(c.FinalSoftcap)
	}
	if fam.granite {
		s.EmbedScale = nonzero(c.EmbeddingMultiplier, 1)
		s.AttnScale = nonzero(c.AttentionMultiplier, float64(s.AttnScale))
		s.ResidualScale = nonzero(c.ResidualMultiplier, 1)
		s.LogitScale = nonzero(c.LogitsScaling, 1)
	}
	if fam.moe {
		if c.NumExperts == 0 {
			return nil, fmt.Errorf("%s: field num_experts: missing for mixture-of-experts model_type %s", c.Path, c.ModelType)
		}
		s.Experts, s.ExpertsUsed, s.Gating = c.NumExperts, c.ExpertsPerToken, fam.gating
		s.ExpertFFN = c.MoEIntermediateSize
		if s.ExpertFFN == 0 {
			s.ExpertFFN = c.IntermediateSize
		}
		s.NormTopK = c.NormTopKProb
		if fam.normTopK != nil {
			s.NormTopK = *fam.normTopK
		}
		s.FFN = 0
		if fam.sharedExpert {
			s.SharedFFN, s.SharedGate = c.SharedExpertIntermediateSize, true
		}
	}
	rope := func(r hfconfig.RoPE) Rope {
		out := Rope{Style: NeoX, Dims: int(float64(c.HeadDim) * c.PartialRotaryFactor), Theta: r.Theta, Scale: 1}
		switch r.Type {
		case "linear":
			out.Scale = r.Factor
		case "llama3":
			out.Llama3 = &Llama3Rope{Factor: r.Factor, LowFreqFactor: r.LowFreqFactor, HighFreqFactor: r.HighFreqFactor, OriginalMaxPositions: r.OriginalMaxPositions}
		}
		return out
	}
	global := rope(c.RoPE)
	local := global
	if c.RoPELocal != nil {
		local = rope(*c.RoPELocal)
	}
	if c.NumLayers > MaxLayers {
		return nil, fmt.Errorf("%s: field num_hidden_layers: %d exceeds %d layers", c.Path, c.NumLayers, MaxLayers)
	}
	sliding, err := hfSlidingLayers(c, fam)
	if err != nil {
		return nil, err
	}
	s.Layers = make([]Layer, c.NumLayers)
	for i := range s.Layers {
		if sliding[i] {
			s.Layers[i] = Layer{Window: c.SlidingWindow, Rope: local}
		} else {
			s.Layers[i] = Layer{Rope: global}
		}
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", c.Path, err)
	}
	return s, nil
}

// hfSlidingLayers says which layers use the sliding window, as transformers
// decides: layer_types when the config lists them, else the family's rule.
func hfSlidingLayers(c *hfconfig.Config, fam *family) ([]bool, error) {
	out := make([]bool, c.NumLayers)
	if c.UseSlidingWindow != nil && !*c.UseSlidingWindow {
		return out, nil
	}
	any := false
	switch {
	case c.LayerTypes != nil:
		for i, t := range c.LayerTypes {
			out[i] = t == "sliding_attention"
			any = any || out[i]
		}
	case fam.window == windowAll:
		for i := range out {
			out[i] = c.SlidingWindow > 0
		}
		return out, nil
	case fam.window == windowPattern:
		period := fam.windowPeriod
		if c.SlidingWindowPattern > 0 {
			period = c.SlidingWindowPattern
		}
		for i := range out {
			out[i] = (i+1)%period != 0
			any = any || out[i]
		}
	}
	if any && c.SlidingWindow <= 0 {
		return nil, fmt.Errorf("%s: field sliding_window: missing, but layers use sliding attention", c.Path)
	}
	return out, nil
}

func nonzero(v, def float64) float32 {
	if v == 0 {
		return float32(def)
	}
	return float32(v)
}

// FromGGUF builds the Spec of a GGUF model from its metadata, reading it as
// llama.cpp does (its keys, defaults and conventions).
func FromGGUF(f *gguf.File) (*Spec, error) {
	archName, err := f.String("general.architecture")
	if err != nil {
		return nil, err
	}
	m := meta{f: f, prefix: archName + "."}
	var fam *family
	for i := range families {
		if families[i].ggufArch == archName {
			fam = &families[i]
			break // the first family of an arch name is its canonical one (llama)
		}
	}
	if fam == nil {
		return nil, fmt.Errorf("gguf: %s: general.architecture %q is not supported (%s)", f.Name, archName, supported())
	}
	nLayers := m.int("block_count", -1)
	hidden := m.int("embedding_length", -1)
	heads := m.int("attention.head_count", -1)
	kvHeads := m.int("attention.head_count_kv", heads)
	ffn := m.int("feed_forward_length", 0)
	if m.err != nil {
		return nil, m.err
	}
	if nLayers > MaxLayers {
		return nil, fmt.Errorf("gguf: %s: %sblock_count %d exceeds %d layers", f.Name, m.prefix, nLayers, MaxLayers)
	}
	headDim := m.int("attention.key_length", 0)
	if headDim == 0 {
		if heads <= 0 || hidden%heads != 0 {
			return nil, fmt.Errorf("gguf: %s: %sattention.key_length missing and embedding_length %d is not a multiple of head_count %d", f.Name, m.prefix, hidden, heads)
		}
		headDim = hidden / heads
	}
	if v := m.int("attention.value_length", headDim); v != headDim {
		return nil, fmt.Errorf("gguf: %s: %sattention.value_length %d differs from key_length %d, which memfit does not support", f.Name, m.prefix, v, headDim)
	}
	s := &Spec{
		Arch: fam.name, Format: "gguf",
		Vocab: m.int("vocab_size", 0), Hidden: hidden, Heads: heads, KVHeads: kvHeads, HeadDim: headDim, FFN: ffn,
		ContextLength: m.int("context_length", 0), Eps: float32(m.float("attention.layer_norm_rms_epsilon", -1)), Act: fam.act,
		EmbedScale: 1, AttnScale: float32(1 / math.Sqrt(float64(headDim))), ResidualScale: 1, LogitScale: 1,
		QKNorm: fam.qkNorm, Sandwich: fam.sandwich,
		names: ggufNames{fusedQKV: fam.fused, fusedGateUp: fam.fused},
	}
	if fam.gemma {
		s.EmbedScale = float32(math.Sqrt(float64(hidden)))
		s.AttnSoftcap = float32(m.float("attn_logit_softcapping", 0))
		s.FinalSoftcap = float32(m.float("final_logit_softcapping", 0))
	}
	if f.Has(m.prefix + "attention.scale") {
		s.AttnScale = float32(m.float("attention.scale", 0))
	}
	if fam.granite {
		s.EmbedScale = float32(m.float("embedding_scale", 1))
		s.ResidualScale = float32(m.float("residual_scale", 1))
		s.LogitScale = float32(m.float("logit_scale", 1))
	}
	if experts := m.int("expert_count", 0); experts > 0 {
		s.Experts, s.ExpertsUsed = experts, m.int("expert_used_count", -1)
		s.ExpertFFN = m.int("expert_feed_forward_length", ffn)
		s.FFN = 0
		s.NormTopK, s.Gating = fam.ggufNormTopK, fam.gating
		if fam.ggufArch == "llama" {
			s.Arch = "mixtral"
			s.NormTopK = true
		}
		if fam.sharedExpert {
			s.SharedFFN = m.int("expert_shared_feed_forward_length", 0)
			s.SharedGate = true
		}
	}
	style := NeoX
	if fam.ggufInterleav {
		style = Interleaved
	}
	global := Rope{Style: style, Dims: m.int("rope.dimension_count", headDim), Theta: m.float("rope.freq_base", 10000), Scale: 1}
	if t := m.str("rope.scaling.type", "none"); t == "linear" {
		global.Scale = m.float("rope.scaling.factor", 1)
	} else if t != "none" && t != "" {
		return nil, fmt.Errorf("gguf: %s: %srope.scaling.type %q is not supported (want none or linear)", f.Name, m.prefix, t)
	}
	local := global
	if f.Has(m.prefix + "rope.freq_base_swa") {
		local.Theta, local.Scale = m.float("rope.freq_base_swa", 10000), 1
	}
	window := m.int("attention.sliding_window", 0)
	if m.err != nil {
		return nil, m.err
	}
	s.Layers = make([]Layer, nLayers)
	for i := range s.Layers {
		sliding := false
		switch fam.ggufWindow {
		case windowAll:
			sliding = window > 0
		case windowPattern:
			sliding = window > 0 && (i+1)%fam.windowPeriod != 0
		}
		if sliding {
			s.Layers[i] = Layer{Window: window, Rope: local}
		} else {
			s.Layers[i] = Layer{Rope: global}
		}
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("gguf: %s: %w", f.Name, err)
	}
	return s, nil
}

// meta reads arch-prefixed GGUF metadata, keeping the first error.
type meta struct {
	f      *gguf.File
	prefix string
	err    error
}

// int reads an integer key; def < 0 means the key is required.
func (m *meta) int(key string, def int) int {
	if !m.f.Has(m.prefix + key) {
		if def < 0 && m.err == nil {
			m.err = fmt.Errorf("gguf: %s: metadata key %s%s is missing", m.f.Name, m.prefix, key)
		}
		return max(def, 0)
	}
	v, err := m.f.Uint(m.prefix + key)
	if err == nil && v > 1<<31 {
		err = fmt.Errorf("gguf: %s: metadata key %s%s is %d, implausibly large", m.f.Name, m.prefix, key, v)
	}
	if err != nil {
		if m.err == nil {
			m.err = err
		}
		return 0
	}
	return int(v)
}

// float reads a numeric key; def < 0 means the key is required.
func (m *meta) float(key string, def float64) float64 {
	if !m.f.Has(m.prefix + key) {
		if def < 0 && m.err == nil {
			m.err = fmt.Errorf("gguf: %s: metadata key %s%s is missing", m.f.Name, m.prefix, key)
		}
		return def
	}
	v, err := m.f.Float(m.prefix + key)
	if err == nil && (math.IsNaN(v) || math.IsInf(v, 0)) {
		err = fmt.Errorf("gguf: %s: metadata key %s%s is %v, want a finite number", m.f.Name, m.prefix, key, v)
	}
	if err != nil {
		if m.err == nil {
			m.err = err
		}
		return 0
	}
	return v
}

func (m *meta) str(key, def string) string {
	if !m.f.Has(m.prefix + key) {
		return def
	}
	v, err := m.f.String(m.prefix + key)
	if err != nil && m.err == nil {
		m.err = err
	}
	return v
}
