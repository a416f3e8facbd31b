// Package arch describes model architectures as data. A Spec holds an
// architecture's hyper-parameters and per-layer plan (attention window, RoPE,
// norms, MLP or mixture of experts, multipliers, soft-caps) and the names of
// its tensors in the file it was read from; the one generic forward pass in
// internal/model runs every Spec. Adding an architecture means adding a
// family here, not a forward function.
package arch

import (
	"fmt"
	"math"
)

// Activation is the MLP's gate activation.
type Activation int

// Activations.
const (
	SiLU     Activation = iota // x·sigmoid(x)
	GELUTanh                   // GELU, tanh approximation (gelu_pytorch_tanh)
)

// MarshalText names the activation in JSON.
func (a Activation) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

func (a Activation) String() string {
	if a == GELUTanh {
		return "gelu_tanh"
	}
	return "silu"
}

// RopeStyle is how rotary embedding pairs dimensions.
type RopeStyle int

// RoPE pairings.
const (
	NeoX        RopeStyle = iota // pairs (i, i+d/2): transformers' rotate_half
	Interleaved                  // pairs (2i, 2i+1): llama.cpp's "normal" RoPE on its permuted Q/K rows
)

// MarshalText names the style in JSON.
func (s RopeStyle) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

func (s RopeStyle) String() string {
	if s == Interleaved {
		return "interleaved"
	}
	return "neox"
}

// QKNorm is where queries and keys are RMS-normalised before RoPE.
type QKNorm int

// Q/K normalisations.
const (
	NoQKNorm   QKNorm = iota
	HeadQKNorm        // per head, over head_dim (qwen3, gemma3)
	FullQKNorm        // over the whole projection, before the head split (olmoe)
)

func (q QKNorm) String() string {
	return [...]string{"none", "per_head", "full"}[q]
}

// MarshalText names the Q/K norm in JSON.
func (q QKNorm) MarshalText() ([]byte, error) { return []byte(q.String()), nil }

// Gating is how a router's logits become expert weights.
type Gating int

// Gatings.
const (
	SoftmaxTopK Gating = iota // softmax over all experts, then the top k (optionally renormalised)
	TopKSoftmax               // the top k logits, then softmax over those (granitemoe)
)

func (g Gating) String() string {
	if g == TopKSoftmax {
		return "topk_softmax"
	}
	return "softmax_topk"
}

// MarshalText names the gating in JSON.
func (g Gating) MarshalText() ([]byte, error) { return []byte(g.String()), nil }

// Rope is the rotary embedding of one layer.
type Rope struct {
	Style RopeStyle `json:"style"`
	Dims  int       `json:"dims"`  // rotated dimensions of each head (≤ HeadDim, even)
	Theta float64   `json:"theta"` // base
	Scale float64   `json:"scale"` // linear scaling: frequencies divided by Scale (1: none)
	// Llama3 smoothing of the frequencies (HF rope_type llama3), nil if none.
	Llama3 *Llama3Rope `json:"llama3,omitempty"`
	// Factors divide the frequencies one by one (GGUF rope_freqs tensor),
	// nil if none. Set by the loader.
	Factors []float32 `json:"factors,omitempty"`
}

// Llama3Rope holds the parameters of rope_type "llama3".
type Llama3Rope struct {
	Factor               float64 `json:"factor"`
	LowFreqFactor        float64 `json:"low_freq_factor"`
	HighFreqFactor       float64 `json:"high_freq_factor"`
	OriginalMaxPositions int     `json:"original_max_positions"`
}

// InvFreqs returns the Dims/2 inverse frequencies, in float64.
func (r *Rope) InvFreqs() []float64 {
	n := r.Dims / 2
	out := make([]float64, n)
	for i := range out {
		f := 1 / math.Pow(r.Theta, float64(2*i)/float64(r.Dims))
		if l := r.Llama3; l != nil {
			lowWavelen := float64(l.OriginalMaxPositions) / l.LowFreqFactor
			highWavelen := float64(l.OriginalMaxPositions) / l.HighFreqFactor
			wavelen := 2 * math.Pi / f
			switch {
			case wavelen > lowWavelen:
				f /= l.Factor
			case wavelen >= highWavelen:
				smooth := (float64(l.OriginalMaxPositions)/wavelen - l.LowFreqFactor) / (l.HighFreqFactor - l.LowFreqFactor)
				f = (1-smooth)*f/l.Factor + smooth*f
			}
		}
		if r.Factors != nil {
			f /= float64(r.Factors[i])
		}
		out[i] = f / r.Scale
	}
	return out
}

// Layer is the plan of one transformer block.
type Layer struct {
	Window int  `json:"window"` // sliding attention window: key k is seen by query q when q-k < Window; 0 = full causal
	Rope   Rope `json:"rope"`
}

// Spec is an architecture with its hyper-parameters: everything the forward
// pass needs besides the weights.
type Spec struct {
	Arch   string `json:"arch"`   // family name (llama, mistral, qwen2, gemma2, ...)
	Format string `json:"format"` // "gguf" or "hf": where the tensor names come from

	Vocab         int        `json:"vocab"`
	Hidden        int        `json:"hidden"`
	Heads         int        `json:"heads"`
	KVHeads       int        `json:"kv_heads"`
	HeadDim       int        `json:"head_dim"`
	FFN           int        `json:"ffn"`            // dense MLP width (0 for MoE-only layers)
	ContextLength int        `json:"context_length"` // trained context, 0 if unknown
	Eps           float32    `json:"eps"`
	Act           Activation `json:"act"`

	EmbedScale    float32 `json:"embed_scale"`    // embeddings are multiplied by this
	AttnScale     float32 `json:"attn_scale"`     // attention scores are q·k·AttnScale
	ResidualScale float32 `json:"residual_scale"` // block outputs are multiplied by this before the residual add
	LogitScale    float32 `json:"logit_scale"`    // final logits are divided by this
	AttnSoftcap   float32 `json:"attn_softcap"`   // scores → tanh(s/c)·c when > 0
	FinalSoftcap  float32 `json:"final_softcap"`  // logits → tanh(l/c)·c when > 0

	QKNorm   QKNorm `json:"qk_norm"`
	Sandwich bool   `json:"sandwich"` // post-attention and post-FFN norms on the block outputs (gemma)

	Experts     int    `json:"experts"` // routed experts (0: dense)
	ExpertsUsed int    `json:"experts_used"`
	ExpertFFN   int    `json:"expert_ffn"`
	NormTopK    bool   `json:"norm_top_k"` // renormalise the top-k weights to sum to 1
	Gating      Gating `json:"gating"`
	SharedFFN   int    `json:"shared_ffn"`  // width of the shared expert (0: none)
	SharedGate  bool   `json:"shared_gate"` // shared expert scaled by sigmoid(h·gate)

	Tied   bool    `json:"tied"` // output projection is the embedding matrix
	Layers []Layer `json:"layers"`

	names naming
}

// QDim is the width of the query projection.
func (s *Spec) QDim() int { return s.Heads * s.HeadDim }

// KVDim is the width of the key and value projections.
func (s *Spec) KVDim() int { return s.KVHeads * s.HeadDim }

// Validate checks the hyper-parameters for consistency.
func (s *Spec) Validate() error {
	switch {
	case s.Hidden <= 0 || s.Heads <= 0 || s.KVHeads <= 0 || s.HeadDim <= 0:
		return fmt.Errorf("%s: hidden %d, heads %d, kv heads %d, head_dim %d must be positive", s.Arch, s.Hidden, s.Heads, s.KVHeads, s.HeadDim)
	case s.Heads%s.KVHeads != 0:
		return fmt.Errorf("%s: %d heads is not a multiple of %d kv heads", s.Arch, s.Heads, s.KVHeads)
	case len(s.Layers) == 0:
		return fmt.Errorf("%s: no layers", s.Arch)
	case len(s.Layers) > MaxLayers:
		return fmt.Errorf("%s: %d layers is implausible", s.Arch, len(s.Layers))
	case s.HeadDim > 1<<12 || s.Hidden > 1<<17 || s.Heads > 1<<12:
		return fmt.Errorf("%s: hidden %d, heads %d, head_dim %d are implausibly large", s.Arch, s.Hidden, s.Heads, s.HeadDim)
	case s.Experts == 0 && s.FFN <= 0:
		return fmt.Errorf("%s: feed-forward width %d must be positive", s.Arch, s.FFN)
	case s.Experts > 0 && (s.ExpertsUsed <= 0 || s.ExpertsUsed > s.Experts || s.ExpertFFN <= 0):
		return fmt.Errorf("%s: %d of %d experts with width %d is inconsistent", s.Arch, s.ExpertsUsed, s.Experts, s.ExpertFFN)
	case s.Experts > 1<<12:
		return fmt.Errorf("%s: %d experts is implausible", s.Arch, s.Experts)
	case !(s.Eps > 0):
		return fmt.Errorf("%s: norm epsilon %v must be positive", s.Arch, s.Eps)
	}
	for i, l := range s.Layers {
		r := l.Rope
		if r.Dims <= 0 || r.Dims > s.HeadDim || r.Dims%2 != 0 {
			return fmt.Errorf("%s: layer %d: rope dimensions %d must be even and within head_dim %d", s.Arch, i, r.Dims, s.HeadDim)
		}
		if !(r.Theta > 0) || !(r.Scale > 0) {
			return fmt.Errorf("%s: layer %d: rope base %v and scale %v must be positive", s.Arch, i, r.Theta, r.Scale)
		}
		if l.Window < 0 {
			return fmt.Errorf("%s: layer %d: negative sliding window", s.Arch, i)
		}
	}
	return nil
}
