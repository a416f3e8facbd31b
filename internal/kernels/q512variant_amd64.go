//go:build amd64 && !purego

package kernels

import "github.com/memfit/memfit/internal/tensor"

// avx512Quant returns the AVX-512 variant's quantized kernels: the AVX2
// ones, with the 512-bit tiles where they exist (they give the same bits,
// so tails and types without 512-bit tiles run the AVX2 kernels).
func avx512Quant() map[tensor.DType]*quantKernels {
	base, _ := avx2Quant()
	q := make(map[tensor.DType]*quantKernels, len(base))
	for t, k := range base {
		c := *k
		q[t] = &c
	}
	q[tensor.Q4_0].tiles16 = [8]tileFunc{tileQ4_0_16x1AVX512, tileQ4_0_16x2AVX512, tileQ4_0_16x3AVX512, tileQ4_0_16x4tAVX512, nil, nil, nil, tileQ4_0_16x8tAVX512}
	q[tensor.Q5_0].tiles16 = [8]tileFunc{tileQ5_0_16x1AVX512, tileQ5_0_16x2AVX512, tileQ5_0_16x3AVX512, tileQ5_0_16x4tAVX512, nil, nil, nil, tileQ5_0_16x8tAVX512}
	q[tensor.Q8_0].tiles16 = [8]tileFunc{tileQ8_0_16x1AVX512, tileQ8_0_16x2AVX512, tileQ8_0_16x3AVX512, tileQ8_0_16x4tAVX512, nil, nil, nil, tileQ8_0_16x8tAVX512}
	q[tensor.IQ4_NL].tiles16 = [8]tileFunc{tileIQ4_NL_16x1AVX512, tileIQ4_NL_16x2AVX512, tileIQ4_NL_16x3AVX512, tileIQ4_NL_16x4tAVX512, nil, nil, nil, tileIQ4_NL_16x8tAVX512}
	q[tensor.Q4_K].tiles8 = [8]tileFunc{tileQ4_K_8x1AVX512, tileQ4_K_8x2AVX512, tileQ4_K_8x3AVX512, tileQ4_K_8x4AVX512, nil, nil, nil, tileQ4_K_8x8AVX512}
	q[tensor.Q4_K].tiles4[0] = tileQ4_K_4x1AVX512
	q[tensor.Q5_K].tiles8 = [8]tileFunc{tileQ5_K_8x1AVX512, tileQ5_K_8x2AVX512, tileQ5_K_8x3AVX512, tileQ5_K_8x4AVX512, nil, nil, nil, tileQ5_K_8x8AVX512}
	q[tensor.Q5_K].tiles4[0] = tileQ5_K_4x1AVX512
	q[tensor.Q6_K].tiles8 = [8]tileFunc{tileQ6_K_8x1AVX512, tileQ6_K_8x2AVX512, tileQ6_K_8x3AVX512, tileQ6_K_8x4AVX512, nil, nil, nil, tileQ6_K_8x8AVX512}
	q[tensor.Q6_K].tiles4[0] = tileQ6_K_4x1AVX512
	return q
}
