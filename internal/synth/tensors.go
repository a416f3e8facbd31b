package synth

import (
	"fmt"

	"github.com/memfit/memfit/internal/quantize"
	"github.com/memfit/memfit/internal/tensor"
)

// FileType is a GGUF file type: what llama-quantize would write.
type FileType = quantize.FileType

// LookupType returns the file type called name (case-insensitive,
// llama-quantize's names).
func LookupType(name string) (FileType, error) {
	ft, err := quantize.LookupFileType(name)
	if err != nil {
		return FileType{}, fmt.Errorf("synth: %w", err)
	}
	return ft, nil
}

// Tensor is one tensor of a synth model.
type Tensor struct {
	Name  string
	Type  tensor.DType
	Shape tensor.Shape // ggml order: Shape[0] is the row length
	// Kind says how its values are made: "norm" (ones), "rope" (the
	// factors), or "matrix" (random, std 1/sqrt(row length)).
	Kind string
}

// Tensors lists the shape's tensors in the order llama.cpp's converter
// writes them, with the types llama-quantize gives them in file type ft
// (internal/quantize's policy, as if quantizing float32 weights).
func (s Shape) Tensors(ft FileType) ([]Tensor, error) {
	out := s.tensors()
	descs := make([]quantize.TensorDesc, len(out))
	for i, t := range out {
		descs[i] = quantize.TensorDesc{Name: t.Name, Type: t.Type, Shape: t.Shape}
	}
	hp := quantize.Hparams{Arch: s.Arch, Layers: s.Layers, Heads: s.Heads, KVHeads: s.KVHeads, Experts: s.Experts}
	types, _, err := quantize.ChooseAll(ft, hp, descs)
	if err != nil {
		return nil, fmt.Errorf("synth: %s in %s: %w", s.Name, ft.Name, err)
	}
	for i := range out {
		out[i].Type = types[i]
	}
	return out, nil
}

// tensors lists the shape's tensors in float32.
func (s Shape) tensors() []Tensor {
	H, V := int64(s.Hidden), int64(s.Vocab)
	q, kv := int64(s.Heads*s.HeadDim), int64(s.KVHeads*s.HeadDim)
	vec := func(name string, n int64) Tensor {
		return Tensor{Name: name, Type: tensor.F32, Shape: tensor.Shape{n}, Kind: "norm"}
	}
	mat := func(name string, dims ...int64) Tensor {
		return Tensor{Name: name, Type: tensor.F32, Shape: tensor.Shape(dims), Kind: "matrix"}
	}
	var out []Tensor
	out = append(out, mat("token_embd.weight", H, V))
	if !s.Tied {
		out = append(out, mat("output.weight", H, V))
	}
	out = append(out, vec("output_norm.weight", H))
	if f := s.ropeFactors(); f != nil {
		out = append(out, Tensor{Name: "rope_freqs.weight", Type: tensor.F32, Shape: tensor.Shape{int64(len(f))}, Kind: "rope"})
	}
	for i := 0; i < s.Layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		out = append(out,
			vec(p+"attn_norm.weight", H),
			mat(p+"attn_q.weight", H, q),
			mat(p+"attn_k.weight", H, kv),
			mat(p+"attn_v.weight", H, kv),
			mat(p+"attn_output.weight", q, H),
		)
		switch s.QKNorm {
		case "head":
			out = append(out, vec(p+"attn_q_norm.weight", int64(s.HeadDim)), vec(p+"attn_k_norm.weight", int64(s.HeadDim)))
		case "full":
			out = append(out, vec(p+"attn_q_norm.weight", q), vec(p+"attn_k_norm.weight", kv))
		}
		out = append(out, vec(p+"ffn_norm.weight", H))
		if s.Experts == 0 {
			F := int64(s.FFN)
			out = append(out,
				mat(p+"ffn_gate.weight", H, F),
				mat(p+"ffn_up.weight", H, F),
				mat(p+"ffn_down.weight", F, H),
			)
			continue
		}
		E, F := int64(s.Experts), int64(s.ExpertFFN)
		out = append(out,
			mat(p+"ffn_gate_inp.weight", H, E), // llama-quantize keeps routers in F32
			mat(p+"ffn_gate_exps.weight", H, F, E),
			mat(p+"ffn_up_exps.weight", H, F, E),
			mat(p+"ffn_down_exps.weight", F, H, E),
		)
	}
	return out
}

// Params is the shape's parameter count.
func (s Shape) Params() int64 {
	var n int64
	for _, t := range s.tensors() {
		n += t.Shape.Elems()
	}
	return n
}
