package quantize

import (
	"fmt"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/tensor"
)

// model describes a model's tensors for the policy tests (source type F32
// for matrices, or BF16 when bf16 is set).
type model struct {
	hp                Hparams
	hidden, ffn, kvd  int64
	vocab             int64
	tied              bool
	expertFFN, router bool
}

func (m model) tensors() []TensorDesc {
	f := tensor.F32
	var out []TensorDesc
	add := func(name string, shape ...int64) {
		out = append(out, TensorDesc{Name: name, Type: f, Shape: tensor.Shape(shape)})
	}
	add("token_embd.weight", m.hidden, m.vocab)
	if !m.tied {
		add("output.weight", m.hidden, m.vocab)
	}
	add("output_norm.weight", m.hidden)
	for i := 0; i < m.hp.Layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		add(p+"attn_norm.weight", m.hidden)
		add(p+"attn_q.weight", m.hidden, m.hidden)
		add(p+"attn_k.weight", m.hidden, m.kvd)
		add(p+"attn_v.weight", m.hidden, m.kvd)
		add(p+"attn_output.weight", m.hidden, m.hidden)
		add(p+"ffn_norm.weight", m.hidden)
		if m.hp.Experts > 0 {
			e := int64(m.hp.Experts)
			add(p+"ffn_gate_inp.weight", m.hidden, e)
			add(p+"ffn_gate_exps.weight", m.hidden, m.ffn, e)
			add(p+"ffn_up_exps.weight", m.hidden, m.ffn, e)
			add(p+"ffn_down_exps.weight", m.ffn, m.hidden, e)
			continue
		}
		add(p+"ffn_gate.weight", m.hidden, m.ffn)
		add(p+"ffn_up.weight", m.hidden, m.ffn)
		add(p+"ffn_down.weight", m.ffn, m.hidden)
	}
	return out
}

// choose returns the chosen type by tensor name.
func choose(t *testing.T, typ string, m model) map[string]tensor.DType {
	t.Helper()
	ft, err := LookupFileType(typ)
	if err != nil {
		t.Fatal(err)
	}
	ts := m.tensors()
	types, _, err := ChooseAll(ft, m.hp, ts)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]tensor.DType{}
	for i, x := range ts {
		out[x.Name] = types[i]
	}
	return out
}

// layerSet lists the layers whose tensor got type want.
func layerSet(got map[string]tensor.DType, layers int, suffix string, want tensor.DType) string {
	var l []string
	for i := 0; i < layers; i++ {
		if got[fmt.Sprintf("blk.%d.%s", i, suffix)] == want {
			l = append(l, fmt.Sprint(i))
		}
	}
	return strings.Join(l, ",")
}

var (
	llama8B = model{hp: Hparams{Arch: "llama", Layers: 32, Heads: 32, KVHeads: 8}, hidden: 4096, ffn: 14336, kvd: 1024, vocab: 128256}
	llama7B = model{hp: Hparams{Arch: "llama", Layers: 32, Heads: 32, KVHeads: 32}, hidden: 4096, ffn: 11008, kvd: 4096, vocab: 32000}
	llama1B = model{hp: Hparams{Arch: "llama", Layers: 16, Heads: 32, KVHeads: 8}, hidden: 2048, ffn: 8192, kvd: 512, vocab: 128256, tied: true}
	mixtral = model{hp: Hparams{Arch: "llama", Layers: 32, Heads: 32, KVHeads: 8, Experts: 8}, hidden: 4096, ffn: 14336, kvd: 1024, vocab: 32000}
	qwen3   = model{hp: Hparams{Arch: "qwen3moe", Layers: 48, Heads: 32, KVHeads: 4, Experts: 128}, hidden: 2048, ffn: 768, kvd: 512, vocab: 151936}
	llama70 = model{hp: Hparams{Arch: "llama", Layers: 80, Heads: 64, KVHeads: 8}, hidden: 8192, ffn: 28672, kvd: 1024, vocab: 128256}
)

// TestPolicyRules checks llama-quantize's rules (llama_tensor_get_type in
// llama.cpp's src/llama-quant.cpp) on real model shapes: which layers get
// more bits, which types attn_v, ffn_down, attn_output, the output and the
// embedding get in each mix.
func TestPolicyRules(t *testing.T) {
	// use_more_bits(i, 32): i < 4, i >= 28, or (i-4) % 3 == 2.
	const more32 = "0,1,2,3,6,9,12,15,18,21,24,27,28,29,30,31"
	tests := []struct {
		typ, name string
		m         model
		check     func(g map[string]tensor.DType) string
	}{
		{"Q4_K_M", "8B", llama8B, func(g map[string]tensor.DType) string {
			return fmt.Sprint(layerSet(g, 32, "attn_v.weight", tensor.Q6_K) == more32, layerSet(g, 32, "ffn_down.weight", tensor.Q6_K) == more32,
				g["output.weight"], g["token_embd.weight"], g["blk.5.attn_v.weight"], g["blk.5.attn_q.weight"], g["blk.0.attn_norm.weight"])
		}},
		{"Q5_K_M", "8B", llama8B, func(g map[string]tensor.DType) string {
			return fmt.Sprint(layerSet(g, 32, "attn_v.weight", tensor.Q6_K) == more32, layerSet(g, 32, "ffn_down.weight", tensor.Q6_K) == more32,
				g["output.weight"], g["blk.5.ffn_down.weight"])
		}},
		{"Q4_K_S", "8B", llama8B, func(g map[string]tensor.DType) string {
			return fmt.Sprint(layerSet(g, 32, "attn_v.weight", tensor.Q5_K), " ", layerSet(g, 32, "ffn_down.weight", tensor.Q5_K), " ", g["blk.9.attn_v.weight"], g["output.weight"])
		}},
		{"Q5_K_S", "8B", llama8B, func(g map[string]tensor.DType) string {
			return fmt.Sprint(g["blk.0.attn_v.weight"], g["blk.0.ffn_down.weight"], g["output.weight"], g["token_embd.weight"])
		}},
		{"Q3_K_M", "8B", llama8B, func(g map[string]tensor.DType) string {
			return fmt.Sprint(layerSet(g, 32, "attn_v.weight", tensor.Q5_K), " ", layerSet(g, 32, "ffn_down.weight", tensor.Q5_K), " ",
				g["blk.2.attn_v.weight"], g["blk.2.ffn_down.weight"], g["blk.2.attn_output.weight"], g["blk.2.attn_q.weight"])
		}},
		{"Q3_K_L", "8B", llama8B, func(g map[string]tensor.DType) string {
			return fmt.Sprint(g["blk.7.attn_v.weight"], g["blk.7.ffn_down.weight"], g["blk.7.attn_output.weight"], g["blk.7.ffn_up.weight"])
		}},
		{"Q2_K", "8B (GQA 4)", llama8B, func(g map[string]tensor.DType) string {
			return fmt.Sprint(g["blk.7.attn_v.weight"], g["blk.7.ffn_down.weight"], g["blk.7.attn_output.weight"], g["blk.7.attn_q.weight"], g["output.weight"])
		}},
		{"Q2_K", "7B (MHA)", llama7B, func(g map[string]tensor.DType) string {
			return fmt.Sprint(g["blk.7.attn_v.weight"], g["blk.7.ffn_down.weight"])
		}},
		{"IQ4_XS", "8B (GQA 4)", llama8B, func(g map[string]tensor.DType) string {
			return fmt.Sprint(g["blk.7.attn_v.weight"], layerSet(g, 32, "ffn_down.weight", tensor.Q5_K), g["blk.7.ffn_down.weight"], g["output.weight"], g["token_embd.weight"])
		}},
		{"IQ4_NL", "7B (MHA)", llama7B, func(g map[string]tensor.DType) string {
			return fmt.Sprint(g["blk.7.attn_v.weight"], g["blk.0.ffn_down.weight"], g["output.weight"])
		}},
		{"Q4_0", "1B tied", llama1B, func(g map[string]tensor.DType) string {
			return fmt.Sprint(g["token_embd.weight"], g["blk.0.attn_v.weight"], g["blk.0.ffn_down.weight"])
		}},
		{"Q8_0", "1B tied", llama1B, func(g map[string]tensor.DType) string {
			return fmt.Sprint(g["token_embd.weight"], g["blk.0.attn_v.weight"])
		}},
		{"Q4_K_M", "Mixtral (8 experts)", mixtral, func(g map[string]tensor.DType) string {
			return fmt.Sprint(g["blk.3.attn_v.weight"], g["blk.3.attn_k.weight"], g["blk.3.attn_output.weight"], g["blk.3.ffn_gate_inp.weight"],
				layerSet(g, 32, "ffn_down_exps.weight", tensor.Q6_K) == more32, g["blk.3.ffn_up_exps.weight"])
		}},
		{"Q4_K_M", "Qwen3 30B-A3B", qwen3, func(g map[string]tensor.DType) string {
			// use_more_bits(i, 48): i < 6, i >= 42, or (i-6) % 3 == 2.
			return fmt.Sprint(layerSet(g, 48, "ffn_down_exps.weight", tensor.Q6_K), " ", g["blk.9.attn_v.weight"], g["blk.9.ffn_gate_inp.weight"])
		}},
		{"Q4_K_M", "70B", llama70, func(g map[string]tensor.DType) string {
			return fmt.Sprint(g["blk.0.attn_v.weight"], g["blk.11.attn_v.weight"], g["blk.11.ffn_down.weight"])
		}},
		{"Q3_K_M", "70B", llama70, func(g map[string]tensor.DType) string {
			return fmt.Sprint(g["blk.0.attn_v.weight"], g["blk.11.attn_v.weight"])
		}},
		{"MXFP4_MOE", "Qwen3 30B-A3B", qwen3, func(g map[string]tensor.DType) string {
			return fmt.Sprint(g["blk.0.ffn_up_exps.weight"], g["blk.0.attn_q.weight"], g["output.weight"], g["token_embd.weight"], g["blk.0.ffn_gate_inp.weight"])
		}},
		{"F16", "Mixtral", mixtral, func(g map[string]tensor.DType) string {
			return fmt.Sprint(g["output.weight"], g["blk.0.attn_v.weight"], g["blk.0.ffn_down_exps.weight"], g["blk.0.ffn_gate_inp.weight"], g["blk.0.ffn_norm.weight"])
		}},
		{"TQ2_0", "8B", llama8B, func(g map[string]tensor.DType) string {
			return fmt.Sprint(g["token_embd.weight"], g["output.weight"], g["blk.0.attn_q.weight"])
		}},
	}
	want := []string{
		"true true Q6_K Q4_K Q4_K Q4_K F32",
		"true true Q6_K Q5_K",
		"0,1,2,3 0,1,2,3 Q4_K Q6_K",
		"Q5_K Q5_K Q6_K Q5_K",
		"0,1 0,1 Q4_K Q4_K Q4_K Q3_K",
		"Q5_K Q5_K Q5_K Q3_K",
		"Q4_K Q3_K Q3_K Q2_K Q6_K",
		"Q3_K Q3_K",
		"Q5_K0,1,2,3IQ4_XS Q6_K IQ4_XS",
		"IQ4_NL Q5_K Q6_K",
		"Q6_K Q4_0 Q4_0",
		"Q8_0 Q8_0",
		"Q8_0 Q8_0 Q5_K F32 true Q4_K",
		"0,1,2,3,4,5,8,11,14,17,20,23,26,29,32,35,38,41,42,43,44,45,46,47 Q4_K F32",
		"Q6_K Q5_K Q4_K",
		"Q5_K Q5_K",
		"MXFP4 Q8_0 Q8_0 Q8_0 F32",
		"F16 F16 F16 F32 F32",
		"Q4_K Q6_K TQ2_0",
	}
	for i, tt := range tests {
		if got := tt.check(choose(t, tt.typ, tt.m)); got != want[i] {
			t.Errorf("%s %s: %q, want %q", tt.typ, tt.name, got, want[i])
		}
	}
}

// TestFallbacks checks tensor_type_fallback: a type whose block does not
// divide the row length falls back to a 32-value type, then to F16.
func TestFallbacks(t *testing.T) {
	hp := Hparams{Arch: "llama", Layers: 1, Heads: 4, KVHeads: 4}
	tests := []struct {
		typ  string
		cols int64
		want tensor.DType
	}{
		{"Q4_K_M", 256, tensor.Q4_K},
		{"Q4_K_M", 96, tensor.Q5_0},
		{"Q5_K_S", 96, tensor.Q5_1},
		{"Q6_K", 96, tensor.Q8_0},
		{"Q2_K", 96, tensor.Q4_0},
		{"Q3_K_S", 160, tensor.Q4_0},
		{"IQ4_XS", 96, tensor.IQ4_NL},
		{"TQ1_0", 96, tensor.Q4_0},
		{"Q4_K_M", 72, tensor.F16},
		{"IQ4_XS", 72, tensor.F16},
		{"Q8_0", 96, tensor.Q8_0},
	}
	for _, tt := range tests {
		ft, _ := LookupFileType(tt.typ)
		p := NewPolicy(ft, hp, []string{"output.weight", "blk.0.attn_q.weight"})
		got, err := p.Choose("blk.0.attn_q.weight", tensor.F32, tensor.Shape{tt.cols, 64})
		if err != nil || got != tt.want {
			t.Errorf("%s with rows of %d: %v, %v; want %v", tt.typ, tt.cols, got, err, tt.want)
		}
		if fb := got != ft.Base; fb != (p.Fallbacks == 1) {
			t.Errorf("%s with rows of %d: %d fallbacks counted", tt.typ, tt.cols, p.Fallbacks)
		}
	}
	ft, _ := LookupFileType("Q8_0")
	p := NewPolicy(ft, hp, []string{"blk.0.attn_q.weight"})
	if _, err := p.Choose("blk.0.attn_q.weight", tensor.F32, tensor.Shape{72, 8}); err == nil || !strings.Contains(err.Error(), "no fallback") {
		t.Errorf("Q8_0 with rows of 72: %v, want an error (llama-quantize defines no fallback)", err)
	}
	mp := NewPolicy(ft, Hparams{Arch: "qwen3moe", Layers: 2, Experts: 4}, nil)
	for _, name := range []string{"blk.x.ffn_down_exps.weight", "blk.7.ffn_down_exps.weight", "ffn_down_exps.weight"} {
		if _, err := mp.Choose(name, tensor.F32, tensor.Shape{64, 64, 4}); err == nil {
			t.Errorf("%s in a 2-layer MoE model: no error", name)
		}
	}
}

func TestOrder(t *testing.T) {
	names := []string{"blk.10.attn_q.weight", "token_embd.weight", "blk.2.ffn_up.weight", "output_norm.weight", "blk.2.attn_k.weight", "output.weight", "rope_freqs.weight", "blk.1.x"}
	var got []string
	for _, i := range Order(names) {
		got = append(got, names[i])
	}
	want := "output.weight output_norm.weight rope_freqs.weight token_embd.weight blk.1.x blk.2.attn_k.weight blk.2.ffn_up.weight blk.10.attn_q.weight"
	if strings.Join(got, " ") != want {
		t.Errorf("order %v, want %s", got, want)
	}
}

func TestLookupFileType(t *testing.T) {
	for _, tc := range []struct {
		name string
		id   uint32
	}{{"q4_k_m", 15}, {"Q4_K", 15}, {"Q8_0", 7}, {"bf16", 32}, {"IQ4_XS", 30}, {" Q5_K_S ", 16}, {"MXFP4_MOE", 38}} {
		ft, err := LookupFileType(tc.name)
		if err != nil || ft.ID != tc.id || FileTypeName(ft.ID) != ft.Name {
			t.Errorf("%q: %+v, %v; want id %d", tc.name, ft, err, tc.id)
		}
	}
	for _, bad := range []string{"", "Q3_XS", "IQ2_XXS", "Q4_K_X"} {
		if _, err := LookupFileType(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
