package quantize

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/memfit/memfit/internal/gguf"
	"github.com/memfit/memfit/internal/tensor"
)

// Hparams are the facts about a model that llama-quantize's choice of tensor
// types depends on.
type Hparams struct {
	Arch    string // general.architecture
	Layers  int    // block_count
	Heads   int    // attention.head_count
	KVHeads int    // attention.head_count_kv
	Experts int    // expert_count (0: dense)
}

// HparamsFromKVs reads the hyper-parameters from GGUF metadata as
// llama.cpp's loader does (head_count_kv defaults to head_count; per-layer
// arrays use layer 0's value). name is used in errors.
func HparamsFromKVs(kvs []gguf.KV, name string) (Hparams, error) {
	find := func(key string) (gguf.Value, bool) {
		for _, kv := range kvs {
			if kv.Key == key {
				return kv.Value, true
			}
		}
		return gguf.Value{}, false
	}
	v, ok := find("general.architecture")
	arch, isStr := v.Str()
	if !ok || !isStr {
		return Hparams{}, fmt.Errorf("quantize: %s: metadata key general.architecture is missing or not a string", name)
	}
	hp := Hparams{Arch: arch}
	get := func(key string, def int) (int, error) {
		v, ok := find(arch + "." + key)
		if !ok {
			return def, nil
		}
		if a, ok := v.Array(); ok {
			ints, ok := a.Ints()
			if !ok || len(ints) == 0 || ints[0] < 0 || ints[0] > 1<<31 {
				return 0, fmt.Errorf("quantize: %s: metadata key %s.%s is not an array of counts", name, arch, key)
			}
			return int(ints[0]), nil
		}
		n, ok := v.Uint()
		if !ok || n > 1<<31 {
			return 0, fmt.Errorf("quantize: %s: metadata key %s.%s is not a plausible count", name, arch, key)
		}
		return int(n), nil
	}
	var err error
	if hp.Layers, err = get("block_count", -1); err != nil {
		return hp, err
	}
	if hp.Layers < 0 {
		return hp, fmt.Errorf("quantize: %s: metadata key %s.block_count is missing", name, arch)
	}
	if hp.Heads, err = get("attention.head_count", 0); err != nil {
		return hp, err
	}
	if hp.KVHeads, err = get("attention.head_count_kv", hp.Heads); err != nil {
		return hp, err
	}
	if hp.Experts, err = get("expert_count", 0); err != nil {
		return hp, err
	}
	return hp, nil
}

// gqa is hparams.n_gqa(): query heads per KV head, 0 without KV heads.
func (h Hparams) gqa() int {
	if h.KVHeads == 0 {
		return 0
	}
	return h.Heads / h.KVHeads
}

// is70B is llama.cpp's LLM_TYPE_70B: an 80-layer Llama with grouped-query
// attention.
func (h Hparams) is70B() bool {
	return h.Arch == "llama" && h.Layers == 80 && h.Heads != h.KVHeads
}

// category is llama-quantize's tensor category.
type category int

const (
	catOther category = iota
	catTokenEmbd
	catAttnQ
	catAttnV
	catAttnK
	catAttnQKV
	catAttnKVB
	catAttnOutput
	catFFNUp
	catFFNGate
	catFFNDown
	catOutput
)

// categoryOf is tensor_get_category: the first matching rule wins.
func categoryOf(name string) category {
	switch {
	case name == "output.weight":
		return catOutput
	case name == "token_embd.weight" || name == "per_layer_token_embd.weight":
		return catTokenEmbd
	case strings.Contains(name, "attn_qkv.weight"):
		return catAttnQKV
	case strings.Contains(name, "attn_kv_b.weight"):
		return catAttnKVB
	case strings.Contains(name, "attn_v.weight"):
		return catAttnV
	case strings.Contains(name, "attn_k.weight"):
		return catAttnK
	case strings.Contains(name, "attn_q.weight"):
		return catAttnQ
	case strings.Contains(name, "attn_output.weight"):
		return catAttnOutput
	case strings.Contains(name, "ffn_up"):
		return catFFNUp
	case strings.Contains(name, "ffn_gate"):
		return catFFNGate
	case strings.Contains(name, "ffn_down"):
		return catFFNDown
	}
	return catOther
}

func (c category) attnVLike() bool { return c == catAttnV || c == catAttnQKV || c == catAttnKVB }

// nDims is ggml_n_dims: the dimensions up to the last one larger than 1.
func nDims(s tensor.Shape) int {
	for i := len(s) - 1; i >= 1; i-- {
		if s[i] > 1 {
			return i + 1
		}
	}
	return 1
}

// noQuantize lists name fragments llama-quantize never quantizes
// (tensor_allows_quantization), besides 1-D tensors and norms.
var noQuantize = []string{
	"ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
	"ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
	"time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight",
	"time_mix_v0.weight", "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight",
	"time_mix_a1.weight", "time_mix_a2.weight", "time_mix_g1.weight", "time_mix_g2.weight",
	"time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
	"attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos",
	".patch_embd", ".patch_merger", "a.rvq.codebook", "mm.a.code_embd",
}

// allowsQuantization is tensor_allows_quantization.
func allowsQuantization(name string, shape tensor.Shape) bool {
	if nDims(shape) < 2 || !strings.HasSuffix(name, "weight") || strings.Contains(name, "_norm.weight") {
		return false
	}
	if name == "position_embd.weight" || name == "token_types.weight" {
		return false
	}
	for _, s := range noQuantize {
		if strings.Contains(name, s) {
			return false
		}
	}
	return true
}

// useMoreBits is llama-quantize's choice of the layers that get more bits
// in the _M mixes.
func useMoreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}

// Policy chooses each tensor's type as llama-quantize does for one model and
// file type (llama_tensor_get_type, without an importance matrix or
// overrides). Its counters make the choice depend on the order of the calls:
// call Choose for every tensor in llama-quantize's order (Order).
type Policy struct {
	ft       FileType
	hp       Hparams
	tied     bool // no output.weight: the embedding is the output projection
	nAttnV   int
	nLayers  int
	iAttnV   int
	iFFNDown int
	iFFNGate int
	iFFNUp   int
	// Fallbacks counts tensors whose row length did not fit the chosen
	// type, so another one was used.
	Fallbacks int
}

// NewPolicy returns the policy for a model with hyper-parameters hp whose
// tensors are called names.
func NewPolicy(ft FileType, hp Hparams, names []string) *Policy {
	p := &Policy{ft: ft, hp: hp, tied: true, nLayers: hp.Layers}
	for _, n := range names {
		c := categoryOf(n)
		if c.attnVLike() {
			p.nAttnV++
		}
		if c == catOutput {
			p.tied = false
		}
	}
	return p
}

// Choose returns the type of the tensor called name, of shape shape, stored
// now as cur.
func (p *Policy) Choose(name string, cur tensor.DType, shape tensor.Shape) (tensor.DType, error) {
	if !allowsQuantization(name, shape) {
		return cur, nil
	}
	t := p.ft.Base
	if !quantized(t) {
		return t, nil
	}
	t, err := p.mix(t, name, shape, categoryOf(name))
	if err != nil {
		return 0, err
	}
	return p.fallback(name, shape, t)
}

// layer returns the layer index and count used by the ffn rules: the counter
// for dense models, the number in the name for mixtures of experts (whose
// expert tensors may come in any order).
func (p *Policy) layer(counter int, name string) (int, int, error) {
	if max(1, p.hp.Experts) > 1 {
		rest, ok := strings.CutPrefix(name, "blk.")
		i := strings.IndexByte(rest, '.')
		if !ok || i <= 0 {
			return 0, 0, fmt.Errorf("quantize: failed to determine the layer of tensor %s", name)
		}
		n, err := strconv.Atoi(rest[:i])
		if err != nil {
			return 0, 0, fmt.Errorf("quantize: failed to determine the layer of tensor %s", name)
		}
		if n < 0 || n >= p.nLayers {
			return 0, 0, fmt.Errorf("quantize: bad layer %d for tensor %s: want [0, %d)", n, name, p.nLayers)
		}
		counter = n
	}
	return counter, p.nLayers, nil
}

// mix is llama_tensor_get_type_impl for the file types memfit writes.
func (p *Policy) mix(t tensor.DType, name string, shape tensor.Shape, c category) (tensor.DType, error) {
	ft, hp := p.ft.ID, p.hp
	falcon := hp.Arch == "falcon"
	switch {
	case c == catOutput || (p.tied && c == catTokenEmbd):
		switch {
		case ft == ftypeMXFP4_MOE:
			t = tensor.Q8_0
		case falcon || shape[0]%int64(t.BlockElems()) != 0:
			t = tensor.Q8_0
		case t != tensor.Q8_0:
			t = tensor.Q6_K
		}
	case ft == ftypeMXFP4_MOE:
		if len(shape) > 2 && shape[2] > 1 {
			t = tensor.MXFP4
		} else {
			t = tensor.Q8_0
		}
	case c == catTokenEmbd:
		if ft == ftypeTQ1_0 || ft == ftypeTQ2_0 {
			t = tensor.Q4_K
		}
	case c.attnVLike():
		switch {
		case ft == ftypeQ2_K:
			t = tensor.Q3_K
			if hp.gqa() >= 4 {
				t = tensor.Q4_K
			}
		case ft == ftypeQ3_K_M:
			t = tensor.Q4_K
			if p.iAttnV < 2 {
				t = tensor.Q5_K
			}
		case ft == ftypeQ3_K_L:
			t = tensor.Q5_K
		case (ft == ftypeIQ4_NL || ft == ftypeIQ4_XS) && hp.gqa() >= 4:
			t = tensor.Q5_K
		case (ft == ftypeQ4_K_M || ft == ftypeQ5_K_M) && useMoreBits(p.iAttnV, p.nAttnV):
			t = tensor.Q6_K
		case ft == ftypeQ4_K_S && p.iAttnV < 4:
			t = tensor.Q5_K
		}
		if hp.is70B() && (t == tensor.Q3_K || t == tensor.Q4_K) {
			t = tensor.Q5_K
		}
		if hp.Experts == 8 {
			t = tensor.Q8_0
		}
		p.iAttnV++
	case c == catAttnK:
		if hp.Experts == 8 {
			t = tensor.Q8_0
		}
	case c == catFFNDown:
		i, n, err := p.layer(p.iFFNDown, name)
		if err != nil {
			return 0, err
		}
		switch {
		case ft == ftypeQ2_K:
			t = tensor.Q3_K
		case ft == ftypeQ3_K_M:
			switch {
			case i < n/16:
				t = tensor.Q5_K
			case !falcon || useMoreBits(i, n):
				t = tensor.Q4_K
			default:
				t = tensor.Q3_K
			}
		case ft == ftypeQ3_K_L:
			t = tensor.Q5_K
			if falcon {
				t = tensor.Q4_K
			}
		case ft == ftypeQ4_K_M:
			if falcon {
				switch {
				case i < n/16:
					t = tensor.Q6_K
				case useMoreBits(i, n):
					t = tensor.Q5_K
				default:
					t = tensor.Q4_K
				}
			} else if useMoreBits(i, n) {
				t = tensor.Q6_K
			}
		case i < n/8 && (ft == ftypeIQ4_NL || ft == ftypeIQ4_XS):
			t = tensor.Q5_K
		case ft == ftypeQ5_K_M && useMoreBits(i, n):
			t = tensor.Q6_K
		case ft == ftypeQ4_K_S && !falcon && i < n/8:
			t = tensor.Q5_K
		}
		p.iFFNDown++
	case c == catAttnOutput:
		if !falcon {
			if hp.Experts == 8 {
				switch ft {
				case ftypeQ2_K, ftypeQ3_K_S, ftypeQ3_K_M, ftypeIQ4_NL, ftypeQ4_K_S, ftypeQ4_K_M, ftypeIQ4_XS:
					t = tensor.Q5_K
				}
			} else {
				switch ft {
				case ftypeQ2_K:
					t = tensor.Q3_K
				case ftypeQ3_K_M:
					t = tensor.Q4_K
				case ftypeQ3_K_L:
					t = tensor.Q5_K
				}
			}
		} else if ft == ftypeQ3_K_L {
			t = tensor.Q4_K
		}
	case c == catAttnQKV:
		switch ft {
		case ftypeQ3_K_M, ftypeQ3_K_L:
			t = tensor.Q4_K
		case ftypeQ4_K_M:
			t = tensor.Q5_K
		case ftypeQ5_K_M:
			t = tensor.Q6_K
		}
	case c == catFFNGate:
		if _, _, err := p.layer(p.iFFNGate, name); err != nil {
			return 0, err
		}
		p.iFFNGate++
	case c == catFFNUp:
		if _, _, err := p.layer(p.iFFNUp, name); err != nil {
			return 0, err
		}
		p.iFFNUp++
	}
	return t, nil
}

// fallback is tensor_type_fallback: a type whose block does not divide the
// row length is replaced (K-quants by 32-value types, then F16).
func (p *Policy) fallback(name string, shape tensor.Shape, t tensor.DType) (tensor.DType, error) {
	if shape[0]%int64(t.BlockElems()) == 0 {
		return t, nil
	}
	p.Fallbacks++
	var f tensor.DType
	switch t {
	case tensor.IQ1_S, tensor.IQ1_M, tensor.IQ2_XXS, tensor.IQ2_XS, tensor.IQ2_S, tensor.IQ3_XXS, tensor.IQ3_S, tensor.IQ4_XS:
		f = tensor.IQ4_NL
	case tensor.Q2_K, tensor.Q3_K, tensor.TQ1_0, tensor.TQ2_0:
		f = tensor.Q4_0
	case tensor.Q4_K:
		f = tensor.Q5_0
	case tensor.Q5_K:
		f = tensor.Q5_1
	case tensor.Q6_K:
		f = tensor.Q8_0
	default:
		return 0, fmt.Errorf("quantize: tensor %s: row length %d is not a multiple of the %v block size %d, and llama-quantize defines no fallback for %v",
			name, shape[0], t, t.BlockElems(), t)
	}
	if shape[0]%int64(f.BlockElems()) != 0 {
		f = tensor.F16
	}
	return f, nil
}

// Order sorts tensor names as llama-quantize writes them (llama.cpp's
// weight_name_comparer): tensors outside the blocks first, then by block
// number, and by name within each.
func Order(names []string) []int {
	idx := make([]int, len(names))
	layers := make([]int, len(names))
	for i, n := range names {
		idx[i] = i
		layers[i] = blockOf(n)
	}
	sort.SliceStable(idx, func(a, b int) bool {
		la, lb := layers[idx[a]], layers[idx[b]]
		if la != lb {
			return la < lb
		}
		return names[idx[a]] < names[idx[b]]
	})
	return idx
}

// blockOf is sscanf(name, "blk.%d.", &layer) with -1 when it does not match.
func blockOf(name string) int {
	rest, ok := strings.CutPrefix(name, "blk.")
	if !ok {
		return -1
	}
	j := 0
	if j < len(rest) && (rest[j] == '+' || rest[j] == '-') {
		j++
	}
	k := j
	for k < len(rest) && rest[k] >= '0' && rest[k] <= '9' {
		k++
	}
	if k == j {
		return -1
	}
	n, err := strconv.Atoi(rest[:k])
	if err != nil {
		return -1
	}
	// sscanf stores the number even when the trailing "." does not match.
	return n
}

// TensorDesc describes one tensor for Choose.
type TensorDesc struct {
	Name  string
	Type  tensor.DType // current type
	Shape tensor.Shape
}

// ChooseAll returns the type llama-quantize gives each tensor (in the order
// of ts) and the number of fallbacks, calling the policy in llama-quantize's
// order.
func ChooseAll(ft FileType, hp Hparams, ts []TensorDesc) ([]tensor.DType, int, error) {
	names := make([]string, len(ts))
	for i, t := range ts {
		names[i] = t.Name
	}
	p := NewPolicy(ft, hp, names)
	out := make([]tensor.DType, len(ts))
	for _, i := range Order(names) {
		t, err := p.Choose(ts[i].Name, ts[i].Type, ts[i].Shape)
		if err != nil {
			return nil, 0, err
		}
		out[i] = t
	}
	return out, p.Fallbacks, nil
}
