package quant

import "github.com/memfit/memfit/internal/tensor"

// The reference kernels of every supported type, with ggml's vec_dot_type.
func init() {
	registerRef(tensor.F32, tensor.F32, Kernels{Dequantize: dequantF32, Quantize: quantF32, QuantizeActivation: quantF32, VecDot: vecDotF32})
	registerRef(tensor.F16, tensor.F16, Kernels{Dequantize: dequantF16, Quantize: quantF16, QuantizeActivation: quantF16, VecDot: vecDotF16})
	registerRef(tensor.BF16, tensor.BF16, Kernels{Dequantize: dequantBF16, Quantize: quantBF16, QuantizeActivation: quantBF16, VecDot: vecDotBF16})

	registerRef(tensor.Q4_0, tensor.Q8_0, Kernels{Dequantize: dequantQ4_0, Quantize: quantQ4_0, VecDot: vecDotQ4_0})
	registerRef(tensor.Q4_1, tensor.Q8_1, Kernels{Dequantize: dequantQ4_1, Quantize: quantQ4_1, VecDot: vecDotQ4_1})
	registerRef(tensor.Q5_0, tensor.Q8_0, Kernels{Dequantize: dequantQ5_0, Quantize: quantQ5_0, VecDot: vecDotQ5_0})
	registerRef(tensor.Q5_1, tensor.Q8_1, Kernels{Dequantize: dequantQ5_1, Quantize: quantQ5_1, VecDot: vecDotQ5_1})
	registerRef(tensor.Q8_0, tensor.Q8_0, Kernels{Dequantize: dequantQ8_0, Quantize: quantQ8_0, QuantizeActivation: actQ8_0, VecDot: vecDotQ8_0})
	registerRef(tensor.Q8_1, tensor.Q8_1, Kernels{Dequantize: dequantQ8_1, Quantize: quantQ8_1, QuantizeActivation: actQ8_1})

	registerRef(tensor.Q2_K, tensor.Q8_K, Kernels{Dequantize: dequantQ2K, Quantize: quantQ2K, VecDot: vecDotQ2K})
	registerRef(tensor.Q3_K, tensor.Q8_K, Kernels{Dequantize: dequantQ3K, Quantize: quantQ3K, VecDot: vecDotQ3K})
	registerRef(tensor.Q4_K, tensor.Q8_K, Kernels{Dequantize: dequantQ4K, Quantize: quantQ4K, VecDot: vecDotQ4K})
	registerRef(tensor.Q5_K, tensor.Q8_K, Kernels{Dequantize: dequantQ5K, Quantize: quantQ5K, VecDot: vecDotQ5K})
	registerRef(tensor.Q6_K, tensor.Q8_K, Kernels{Dequantize: dequantQ6K, Quantize: quantQ6K, VecDot: vecDotQ6K})
	registerRef(tensor.Q8_K, tensor.Q8_K, Kernels{Dequantize: dequantQ8K, Quantize: quantQ8K, QuantizeActivation: quantQ8K})

	registerRef(tensor.IQ4_NL, tensor.Q8_0, Kernels{Dequantize: dequantIQ4NL, Quantize: quantIQ4NL, VecDot: vecDotIQ4NL})
	registerRef(tensor.IQ4_XS, tensor.Q8_K, Kernels{Dequantize: dequantIQ4XS, Quantize: quantIQ4XS, VecDot: vecDotIQ4XS})
	registerRef(tensor.TQ1_0, tensor.Q8_K, Kernels{Dequantize: dequantTQ1, Quantize: quantTQ1, VecDot: vecDotTQ1})
	registerRef(tensor.TQ2_0, tensor.Q8_K, Kernels{Dequantize: dequantTQ2, Quantize: quantTQ2, VecDot: vecDotTQ2})
	registerRef(tensor.MXFP4, tensor.Q8_0, Kernels{Dequantize: dequantMXFP4, Quantize: quantMXFP4, VecDot: vecDotMXFP4})
}
