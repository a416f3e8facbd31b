package synth

import (
	"fmt"
	"strings"

	"github.com/memfit/memfit/internal/tensor"
)

// FileType is a GGUF file type: the weight types llama-quantize would write.
type FileType struct {
	Name string
	ID   uint32 // general.file_type (llama_ftype)
	Base tensor.DType
	// More is the type of attn_v / ffn_down in the layers llama-quantize's
	// use_more_bits picks (K-quant "_M" mixes); 0 when none.
	More tensor.DType
	// Output is the output projection's (and a tied embedding's) type.
	Output tensor.DType
}

// FileTypes are the file types synth writes, by name.
var FileTypes = map[string]FileType{
	"F32":    {"F32", 0, tensor.F32, 0, tensor.F32},
	"F16":    {"F16", 1, tensor.F16, 0, tensor.F16},
	"BF16":   {"BF16", 32, tensor.BF16, 0, tensor.BF16},
	"Q8_0":   {"Q8_0", 7, tensor.Q8_0, 0, tensor.Q8_0},
	"Q4_0":   {"Q4_0", 2, tensor.Q4_0, 0, tensor.Q6_K},
	"Q4_K_M": {"Q4_K_M", 15, tensor.Q4_K, tensor.Q6_K, tensor.Q6_K},
	"Q5_K_M": {"Q5_K_M", 17, tensor.Q5_K, tensor.Q6_K, tensor.Q6_K},
	"Q6_K":   {"Q6_K", 18, tensor.Q6_K, 0, tensor.Q6_K},
}

// LookupType returns the file type called name (case-insensitive).
func LookupType(name string) (FileType, error) {
	ft, ok := FileTypes[strings.ToUpper(name)]
	if !ok {
		var names []string
		for n := range FileTypes {
			names = append(names, n)
		}
		return FileType{}, fmt.Errorf("synth: unknown type %q (have %s)", name, strings.Join(sortStrings(names), ", "))
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

// useMoreBits is llama-quantize's choice of layers that get more bits.
func useMoreBits(i, n int) bool {
	return i < n/8 || i >= 7*n/8 || (i-n/8)%3 == 2
}

// Tensors lists the shape's tensors in the order llama.cpp's converter
// writes them, with the types ft gives them.
func (s Shape) Tensors(ft FileType) []Tensor {
	H, V := int64(s.Hidden), int64(s.Vocab)
	q, kv := int64(s.Heads*s.HeadDim), int64(s.KVHeads*s.HeadDim)
	vec := func(name string, n int64) Tensor {
		return Tensor{Name: name, Type: tensor.F32, Shape: tensor.Shape{n}, Kind: "norm"}
	}
	mat := func(name string, t tensor.DType, dims ...int64) Tensor {
		return Tensor{Name: name, Type: t, Shape: tensor.Shape(dims), Kind: "matrix"}
	}
	var out []Tensor
	embedType := ft.Base
	if s.Tied {
		embedType = ft.Output
	}
	out = append(out, mat("token_embd.weight", embedType, H, V))
	if !s.Tied {
		out = append(out, mat("output.weight", ft.Output, H, V))
	}
	out = append(out, vec("output_norm.weight", H))
	if f := s.ropeFactors(); f != nil {
		out = append(out, Tensor{Name: "rope_freqs.weight", Type: tensor.F32, Shape: tensor.Shape{int64(len(f))}, Kind: "rope"})
	}
	for i := 0; i < s.Layers; i++ {
		p := fmt.Sprintf("blk.%d.", i)
		more := ft.Base
		if ft.More != 0 && useMoreBits(i, s.Layers) {
			more = ft.More
		}
		out = append(out,
			vec(p+"attn_norm.weight", H),
			mat(p+"attn_q.weight", ft.Base, H, q),
			mat(p+"attn_k.weight", ft.Base, H, kv),
			mat(p+"attn_v.weight", more, H, kv),
			mat(p+"attn_output.weight", ft.Base, q, H),
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
				mat(p+"ffn_gate.weight", ft.Base, H, F),
				mat(p+"ffn_up.weight", ft.Base, H, F),
				mat(p+"ffn_down.weight", more, F, H),
			)
			continue
		}
		E, F := int64(s.Experts), int64(s.ExpertFFN)
		out = append(out,
			// llama-quantize keeps routers in F32.
			mat(p+"ffn_gate_inp.weight", tensor.F32, H, E),
			mat(p+"ffn_gate_exps.weight", ft.Base, H, F, E),
			mat(p+"ffn_up_exps.weight", ft.Base, H, F, E),
			mat(p+"ffn_down_exps.weight", more, F, H, E),
		)
	}
	return out
}

// Params is the shape's parameter count.
func (s Shape) Params() int64 {
	var n int64
	for _, t := range s.Tensors(FileTypes["F32"]) {
		n += t.Shape.Elems()
	}
	return n
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}
