//go:build amd64 && !purego

package kernels

import "github.com/memfit/memfit/internal/tensor"

// avx2Quant returns the AVX2 quantized matrix kernels and activation
// quantizers.
func avx2Quant() (map[tensor.DType]*quantKernels, map[tensor.DType]actFunc) {
	k := map[tensor.DType]*quantKernels{
		tensor.Q4_0:   {tiles: [5]tileFunc{tileQ4_0_4x1AVX2, tileQ4_0_4x2AVX2, tileQ4_0_4x3AVX2, tileQ4_0_4x4AVX2, tileQ4_0_8x1AVX2}},
		tensor.Q5_0:   {tiles: [5]tileFunc{tileQ5_0_4x1AVX2, tileQ5_0_4x2AVX2, tileQ5_0_4x3AVX2, tileQ5_0_4x4AVX2, tileQ5_0_8x1AVX2}},
		tensor.Q8_0:   {tiles: [5]tileFunc{tileQ8_0_4x1AVX2, tileQ8_0_4x2AVX2, tileQ8_0_4x3AVX2, tileQ8_0_4x4AVX2, tileQ8_0_8x1AVX2}},
		tensor.IQ4_NL: {tiles: [5]tileFunc{tileIQ4_NL_4x1AVX2, tileIQ4_NL_4x2AVX2, tileIQ4_NL_4x3AVX2, tileIQ4_NL_4x4AVX2, tileIQ4_NL_8x1AVX2}},
		tensor.Q4_K:   {tiles: [5]tileFunc{tileQ4_K_4x1AVX2, tileQ4_K_4x2AVX2, tileQ4_K_4x3AVX2, tileQ4_K_4x4AVX2, tileQ4_K_8x1AVX2}},
		tensor.Q5_K:   {tiles: [5]tileFunc{tileQ5_K_4x1AVX2, tileQ5_K_4x2AVX2, tileQ5_K_4x3AVX2, tileQ5_K_4x4AVX2, tileQ5_K_8x1AVX2}},
		tensor.Q6_K:   {tiles: [5]tileFunc{tileQ6_K_4x1AVX2, tileQ6_K_4x2AVX2, tileQ6_K_4x3AVX2, tileQ6_K_4x4AVX2, tileQ6_K_8x1AVX2}},
		tensor.IQ4_XS: {tiles: [5]tileFunc{tileIQ4_XS_4x1AVX2, tileIQ4_XS_4x2AVX2, tileIQ4_XS_4x3AVX2, tileIQ4_XS_4x4AVX2, tileIQ4_XS_8x1AVX2}},
	}
	a := map[tensor.DType]actFunc{tensor.Q8_0: actQ8_0AVX2, tensor.Q8_K: actQ8_KAVX2}
	return k, a
}

// actQ8_0AVX2 quantizes x to Q8_0 blocks in dst with per-block aux.
func actQ8_0AVX2(dst, aux []byte, x []float32) {
	nb := len(x) / 32
	if nb == 0 {
		return
	}
	_, _ = dst[nb*34-1], aux[nb*8-1]
	quantActQ8_0AVX2(&x[0], nb, &dst[0], &aux[0])
}

// actQ8_KAVX2 quantizes x to Q8_K super-blocks in dst (no aux).
func actQ8_KAVX2(dst, _ []byte, x []float32) {
	nb := len(x) / 256
	if nb == 0 {
		return
	}
	_ = dst[nb*292-1]
	quantActQ8_KAVX2(&x[0], nb, &dst[0])
}
