// Package quant implements ggml's block formats: dequantization to float32,
// the reference quantizers that create model files, the quantizers ggml-cpu
// applies to activations before a dot product, and the block dot products
// themselves — all bit-exact with ggml.
//
// # Exactness
//
// The quantizers reproduce ggml's scalar C code (quantize_row_*_ref, and
// quantize_row_iq4_nl_impl without an importance matrix) operation by
// operation in float32: divisions stay divisions, and every product that
// feeds a sum is wrapped in an explicit float32 conversion so that the Go
// compiler never fuses it into an FMA (it may on arm64, ppc64le, s390x and
// amd64 v3). Conversions from float to integer follow what the C code
// compiles to on x86-64 (cvttss2si: truncation, and 0x80000000 for NaN or
// out-of-range values), so that even nonsensical inputs give a defined
// result instead of a panic.
//
// The activation quantizers (Kernels.QuantizeActivation) reproduce
// ggml-cpu's x86 AVX/AVX2 path: for Q8_0 and Q8_1 that is id = 127/amax and
// rounding half to even, which differs from the scalar reference
// (quantize_row_q8_0_ref: id = 1/d, rounding half away from zero) on exact
// ties. The scalar reference of every vec_dot type is that type's
// Kernels.Quantize.
//
// Dot products (Kernels.VecDot) take one weight row and an activation row
// already quantized to the weight type's VecDotType, compute an integer dot
// product per block and scale it in float32, as ggml-cpu's generic kernels
// do. Another summation order (SIMD lanes) agrees only within a tolerance
// relative to Σ|w·x|; see the package tests.
//
// # Variants
//
// Every type has a plain-Go reference implementation, registered as the
// variant named "ref". Optimised implementations (assembly, later) register
// themselves with Register from an init function; Traits returns the most
// recently registered variant, with the reference filling any kernel a
// variant does not provide, and Variants lists them all so that a test can
// run the same checks under each one. The reference kernels are the ground
// truth every variant is tested against. Assembly variants must build only
// without the purego tag, so that -tags purego runs the references
// everywhere.
//
// Kernels do not allocate and do not check lengths: they write into
// caller-provided slices and panic (index out of range) on slices that are
// too short. The package-level functions Dequantize, Quantize,
// QuantizeActivation and VecDot check every length first and return an
// error that names the type and the sizes.
package quant
