package arch

import "fmt"

// Ref says where one weight lives in the model file.
type Ref struct {
	Name     string // tensor name in the file; "" when the architecture has no such weight
	Expert   int    // ≥ 0: the slice of expert Expert of a stacked 3-D tensor; -1: the whole tensor
	Row0     int    // first row used (fused tensors hold several weights)
	Rows     int    // rows used; 0: all
	AddOne   bool   // a norm stored as w and applied as 1+w (gemma on HF)
	Optional bool   // may be absent (biases; the output of a tied model)
}

func ref(name string) Ref { return Ref{Name: name, Expert: -1} }

func (r Ref) optional() Ref { r.Optional = true; return r }

func (r Ref) rows(row0, n int) Ref { r.Row0, r.Rows = row0, n; return r }

func (r Ref) expert(e int) Ref { r.Expert = e; return r }

func (r Ref) addOne(on bool) Ref { r.AddOne = on; return r }

// GlobalRefs are the weights outside the blocks.
type GlobalRefs struct {
	Embed      Ref
	OutputNorm Ref
	Output     Ref // optional: absent means tied to Embed
	RopeFreqs  Ref // optional per-frequency divisors (GGUF rope_freqs)
}

// LayerRefs are the weights of one block. Refs with an empty Name do not
// exist in this architecture.
type LayerRefs struct {
	AttnNorm, Q, K, V, QBias, KBias, VBias, QNorm, KNorm, O Ref
	PostAttnNorm, FFNNorm, PostFFNNorm                      Ref
	Gate, Up, Down                                          Ref
	Router                                                  Ref
	ExpGate, ExpUp, ExpDown                                 []Ref // one per expert
	ShGate, ShUp, ShDown, ShGateInp                         Ref
}

// naming maps weight roles to tensor names for one family in one format.
type naming interface {
	global(s *Spec) GlobalRefs
	layer(s *Spec, i int) LayerRefs
}

// Globals returns where the non-block weights live.
func (s *Spec) Globals() GlobalRefs { return s.names.global(s) }

// LayerRefs returns where the weights of block i live.
func (s *Spec) LayerRefs(i int) LayerRefs { return s.names.layer(s, i) }

// ggufNames is llama.cpp's tensor naming, shared by every architecture.
type ggufNames struct {
	fusedQKV    bool // phi3: attn_qkv rows q|k|v
	fusedGateUp bool // phi3: ffn_up rows gate|up
}

func (g ggufNames) global(s *Spec) GlobalRefs {
	return GlobalRefs{
		Embed:      ref("token_embd.weight"),
		OutputNorm: ref("output_norm.weight"),
		Output:     ref("output.weight").optional(),
		RopeFreqs:  ref("rope_freqs.weight").optional(),
	}
}

func (g ggufNames) layer(s *Spec, i int) LayerRefs {
	p := fmt.Sprintf("blk.%d.", i)
	r := LayerRefs{
		AttnNorm: ref(p + "attn_norm.weight"),
		QBias:    ref(p + "attn_q.bias").optional(),
		KBias:    ref(p + "attn_k.bias").optional(),
		VBias:    ref(p + "attn_v.bias").optional(),
		O:        ref(p + "attn_output.weight"),
		FFNNorm:  ref(p + "ffn_norm.weight"),
	}
	if g.fusedQKV {
		qkv := ref(p + "attn_qkv.weight")
		r.Q = qkv.rows(0, s.QDim())
		r.K = qkv.rows(s.QDim(), s.KVDim())
		r.V = qkv.rows(s.QDim()+s.KVDim(), s.KVDim())
	} else {
		r.Q, r.K, r.V = ref(p+"attn_q.weight"), ref(p+"attn_k.weight"), ref(p+"attn_v.weight")
	}
	if s.QKNorm != NoQKNorm {
		r.QNorm, r.KNorm = ref(p+"attn_q_norm.weight"), ref(p+"attn_k_norm.weight")
	}
	if s.Sandwich {
		r.PostAttnNorm, r.PostFFNNorm = ref(p+"post_attention_norm.weight"), ref(p+"post_ffw_norm.weight")
	}
	if s.Experts == 0 {
		if g.fusedGateUp {
			up := ref(p + "ffn_up.weight")
			r.Gate, r.Up = up.rows(0, s.FFN), up.rows(s.FFN, s.FFN)
		} else {
			r.Gate, r.Up = ref(p+"ffn_gate.weight"), ref(p+"ffn_up.weight")
		}
		r.Down = ref(p + "ffn_down.weight")
		return r
	}
	r.Router = ref(p + "ffn_gate_inp.weight")
	for e := 0; e < s.Experts; e++ {
		r.ExpGate = append(r.ExpGate, ref(p+"ffn_gate_exps.weight").expert(e))
		r.ExpUp = append(r.ExpUp, ref(p+"ffn_up_exps.weight").expert(e))
		r.ExpDown = append(r.ExpDown, ref(p+"ffn_down_exps.weight").expert(e))
	}
	if s.SharedFFN > 0 {
		r.ShGate, r.ShUp, r.ShDown = ref(p+"ffn_gate_shexp.weight"), ref(p+"ffn_up_shexp.weight"), ref(p+"ffn_down_shexp.weight")
		if s.SharedGate {
			r.ShGateInp = ref(p + "ffn_gate_inp_shexp.weight")
		}
	}
	return r
}

// hfExperts says how a Hugging Face checkpoint stores routed experts.
type hfExperts int

const (
	hfExpertsMLP     hfExperts = iota // mlp.gate + mlp.experts.E.{gate,up,down}_proj (qwen2_moe, qwen3_moe, olmoe)
	hfExpertsMixtral                  // block_sparse_moe.gate + block_sparse_moe.experts.E.w1/w3/w2
	hfExpertsGranite                  // block_sparse_moe.router.layer + stacked input_linear (gate|up) / output_linear
)

// hfNames is transformers' checkpoint naming.
type hfNames struct {
	fusedQKV    bool // phi3: self_attn.qkv_proj rows q|k|v
	fusedGateUp bool // phi3: mlp.gate_up_proj rows gate|up
	experts     hfExperts
	normAddOne  bool // gemma: norms applied as 1+w
}

func (h hfNames) global(s *Spec) GlobalRefs {
	return GlobalRefs{
		Embed:      ref("model.embed_tokens.weight"),
		OutputNorm: ref("model.norm.weight").addOne(h.normAddOne),
		Output:     ref("lm_head.weight").optional(),
	}
}

func (h hfNames) layer(s *Spec, i int) LayerRefs {
	p := fmt.Sprintf("model.layers.%d.", i)
	norm := func(name string) Ref { return ref(p + name).addOne(h.normAddOne) }
	r := LayerRefs{
		AttnNorm: norm("input_layernorm.weight"),
		QBias:    ref(p + "self_attn.q_proj.bias").optional(),
		KBias:    ref(p + "self_attn.k_proj.bias").optional(),
		VBias:    ref(p + "self_attn.v_proj.bias").optional(),
		O:        ref(p + "self_attn.o_proj.weight"),
	}
	if h.fusedQKV {
		qkv := ref(p + "self_attn.qkv_proj.weight")
		r.Q = qkv.rows(0, s.QDim())
		r.K = qkv.rows(s.QDim(), s.KVDim())
		r.V = qkv.rows(s.QDim()+s.KVDim(), s.KVDim())
	} else {
		r.Q, r.K, r.V = ref(p+"self_attn.q_proj.weight"), ref(p+"self_attn.k_proj.weight"), ref(p+"self_attn.v_proj.weight")
	}
	if s.QKNorm != NoQKNorm {
		r.QNorm, r.KNorm = norm("self_attn.q_norm.weight"), norm("self_attn.k_norm.weight")
	}
	if s.Sandwich {
		r.PostAttnNorm = norm("post_attention_layernorm.weight")
		r.FFNNorm = norm("pre_feedforward_layernorm.weight")
		r.PostFFNNorm = norm("post_feedforward_layernorm.weight")
	} else {
		r.FFNNorm = norm("post_attention_layernorm.weight")
	}
	if s.Experts == 0 {
		if h.fusedGateUp {
			gu := ref(p + "mlp.gate_up_proj.weight")
			r.Gate, r.Up = gu.rows(0, s.FFN), gu.rows(s.FFN, s.FFN)
		} else {
			r.Gate, r.Up = ref(p+"mlp.gate_proj.weight"), ref(p+"mlp.up_proj.weight")
		}
		r.Down = ref(p + "mlp.down_proj.weight")
		return r
	}
	for e := 0; e < s.Experts; e++ {
		switch h.experts {
		case hfExpertsMixtral:
			ep := fmt.Sprintf("%sblock_sparse_moe.experts.%d.", p, e)
			r.ExpGate = append(r.ExpGate, ref(ep+"w1.weight"))
			r.ExpUp = append(r.ExpUp, ref(ep+"w3.weight"))
			r.ExpDown = append(r.ExpDown, ref(ep+"w2.weight"))
		case hfExpertsGranite:
			in := ref(p + "block_sparse_moe.input_linear.weight").expert(e)
			r.ExpGate = append(r.ExpGate, in.rows(0, s.ExpertFFN))
			r.ExpUp = append(r.ExpUp, in.rows(s.ExpertFFN, s.ExpertFFN))
			r.ExpDown = append(r.ExpDown, ref(p+"block_sparse_moe.output_linear.weight").expert(e))
		default:
			ep := fmt.Sprintf("%smlp.experts.%d.", p, e)
			r.ExpGate = append(r.ExpGate, ref(ep+"gate_proj.weight"))
			r.ExpUp = append(r.ExpUp, ref(ep+"up_proj.weight"))
			r.ExpDown = append(r.ExpDown, ref(ep+"down_proj.weight"))
		}
	}
	switch h.experts {
	case hfExpertsMixtral:
		r.Router = ref(p + "block_sparse_moe.gate.weight")
	case hfExpertsGranite:
		r.Router = ref(p + "block_sparse_moe.router.layer.weight")
	default:
		r.Router = ref(p + "mlp.gate.weight")
	}
	if s.SharedFFN > 0 {
		sp := p + "mlp.shared_expert."
		r.ShGate, r.ShUp, r.ShDown = ref(sp+"gate_proj.weight"), ref(sp+"up_proj.weight"), ref(sp+"down_proj.weight")
		if s.SharedGate {
			r.ShGateInp = ref(p + "mlp.shared_expert_gate.weight")
		}
	}
	return r
}

// GGUFForm returns the architecture name llama.cpp's converter writes for
// s's family (general.architecture), whether it permutes the rows of the
// query and key projections for interleaved RoPE, and a copy of s whose
// tensor names are the converter's, so that a converter can pair each
// weight's place in a Hugging Face checkpoint with its place in the GGUF
// file.
func (s *Spec) GGUFForm() (ggufArch string, permutesQK bool, gg *Spec, err error) {
	for i := range families {
		f := &families[i]
		if f.name == s.Arch {
			c := *s
			c.Format = "gguf"
			c.names = ggufNames{fusedQKV: f.fused, fusedGateUp: f.fused}
			return f.ggufArch, f.ggufInterleav, &c, nil
		}
	}
	return "", false, nil, fmt.Errorf("arch: no GGUF form for architecture %q", s.Arch)
}
