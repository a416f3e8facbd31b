package quant

import (
	"encoding/binary"
	"math"

	"github.com/memfit/memfit/internal/tensor"
)

// The plain types F32, F16 and BF16: one value per "block".

func dequantF32(dst []float32, src []byte) {
	src = src[:4*len(dst)]
	for i := range dst {
		dst[i] = math.Float32frombits(binary.LittleEndian.Uint32(src[4*i:]))
	}
}

func quantF32(dst []byte, src []float32) {
	dst = dst[:4*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint32(dst[4*i:], math.Float32bits(v))
	}
}

func dequantF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = tensor.F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

// quantF16 is ggml_fp32_to_fp16_row (and ggml-cpu's F16C path, which rounds
// the same way).
func quantF16(dst []byte, src []float32) {
	dst = dst[:2*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], tensor.F32ToF16(v))
	}
}

func dequantBF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = tensor.BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

// quantBF16 is ggml_fp32_to_bf16_row_ref.
func quantBF16(dst []byte, src []float32) {
	dst = dst[:2*len(src)]
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], tensor.F32ToBF16(v))
	}
}

// vecDotF32 is ggml_vec_dot_f32's scalar path: float32 products summed in
// float64.
func vecDotF32(n int, w, xq []byte) float32 {
	w, xq = w[:4*n], xq[:4*n]
	var sum float64
	for i := 0; i < n; i++ {
		a := math.Float32frombits(binary.LittleEndian.Uint32(w[4*i:]))
		b := math.Float32frombits(binary.LittleEndian.Uint32(xq[4*i:]))
		sum += float64(float32(a * b))
	}
	return float32(sum)
}

// vecDotF16 is ggml_vec_dot_f16's scalar path: products (exact in float32)
// summed in float64.
func vecDotF16(n int, w, xq []byte) float32 {
	w, xq = w[:2*n], xq[:2*n]
	var sum float64
	for i := 0; i < n; i++ {
		a := tensor.F16ToF32(binary.LittleEndian.Uint16(w[2*i:]))
		b := tensor.F16ToF32(binary.LittleEndian.Uint16(xq[2*i:]))
		sum += float64(float32(a * b))
	}
	return float32(sum)
}

// vecDotBF16 is ggml_vec_dot_bf16's scalar path.
func vecDotBF16(n int, w, xq []byte) float32 {
	w, xq = w[:2*n], xq[:2*n]
	var sum float64
	for i := 0; i < n; i++ {
		a := tensor.BF16ToF32(binary.LittleEndian.Uint16(w[2*i:]))
		b := tensor.BF16ToF32(binary.LittleEndian.Uint16(xq[2*i:]))
		sum += float64(float32(a * b))
	}
	return float32(sum)
}
