package quant

import (
	"fmt"
	"slices"

	"github.com/memfit/memfit/internal/tensor"
)

// DequantizeFunc decodes len(dst) values (a whole number of blocks) from
// src, which holds exactly those blocks.
type DequantizeFunc func(dst []float32, src []byte)

// QuantizeFunc encodes len(src) values (a whole number of blocks) into dst,
// which must hold exactly those blocks. Every byte of dst is written.
type QuantizeFunc func(dst []byte, src []float32)

// VecDotFunc returns the dot product of n values: w is one weight row of
// the kernel's type and xq the activation row quantized to its VecDotType.
type VecDotFunc func(n int, w, xq []byte) float32

// Kernels is one implementation (variant) of a type's kernels. A nil field
// means the variant does not provide that kernel and the reference is used.
// The kernels do not allocate and do not check lengths (see the package
// documentation); they are safe for concurrent use.
type Kernels struct {
	// Name identifies the variant in tests and benchmarks: "ref" for the
	// plain-Go reference, e.g. "avx2" for assembly.
	Name string

	// Dequantize decodes blocks to float32, bit-exact with ggml's to_float.
	Dequantize DequantizeFunc

	// Quantize is ggml's reference quantizer of the type, byte-exact with
	// ggml_quantize_chunk without an importance matrix. For the vec_dot
	// types it is also their scalar reference (quantize_row_q8_0_ref, ...).
	Quantize QuantizeFunc

	// QuantizeActivation quantizes a float32 activation row to this type as
	// ggml-cpu's x86 AVX/AVX2 path does before a dot product. Only vec_dot
	// types (F32, F16, BF16, Q8_0, Q8_1, Q8_K) provide it; a weight type
	// gets its VecDotType's in TypeTraits.
	QuantizeActivation QuantizeFunc

	// VecDot is the dot product of a weight row with an activation row
	// quantized to the VecDotType. Variants may sum in another order, so
	// they agree with the reference within a tolerance relative to Σ|w·x|.
	VecDot VecDotFunc
}

// TypeTraits describes a type and the kernels selected for it.
type TypeTraits struct {
	Type       tensor.DType
	BlockElems int // values per block
	BlockBytes int // bytes per block

	// VecDotType is the type an activation row is quantized to before a dot
	// product with a row of Type (ggml's vec_dot_type). It is Type itself
	// for the activation-only types Q8_1 and Q8_K, which have no VecDot.
	VecDotType tensor.DType

	// Kernels are the selected kernels: the most recently registered
	// variant's, the reference's where the variant has none. Name is the
	// name of the most recently registered variant. QuantizeActivation is
	// VecDotType's.
	Kernels
}

// typeEntry is the registry entry of one type: its vec_dot type and its
// variants, the reference first.
type typeEntry struct {
	vecDotType tensor.DType
	variants   []Kernels
}

// registry maps each supported type to its variants. It is written only
// during package initialisation (the reference table and Register calls
// from init functions) and read-only afterwards.
var registry = make(map[tensor.DType]*typeEntry)

// registerRef installs the reference kernels of t.
func registerRef(t, vecDotType tensor.DType, k Kernels) {
	if _, dup := registry[t]; dup {
		panic(fmt.Sprintf("quant: reference kernels for %v registered twice", t))
	}
	if k.Dequantize == nil || k.Quantize == nil {
		panic(fmt.Sprintf("quant: reference kernels for %v lack Dequantize or Quantize", t))
	}
	k.Name = RefName
	registry[t] = &typeEntry{vecDotType: vecDotType, variants: []Kernels{k}}
}

// RefName is the variant name of the plain-Go reference kernels.
const RefName = "ref"

// Register adds an optimised variant of t's kernels; Traits selects the
// most recently registered one. Call it only from an init function (the
// registry is not synchronised), after checking the CPU supports the
// variant. It panics on a programming error: an unsupported type, an empty
// or duplicate name, no kernel at all, or a QuantizeActivation for a type
// that is not its own vec_dot type.
func Register(t tensor.DType, k Kernels) {
	e, ok := registry[t]
	if !ok {
		panic(fmt.Sprintf("quant: Register(%v): type has no reference kernels", t))
	}
	if k.Name == "" {
		panic(fmt.Sprintf("quant: Register(%v): empty variant name", t))
	}
	for _, v := range e.variants {
		if v.Name == k.Name {
			panic(fmt.Sprintf("quant: Register(%v): variant %q already registered", t, k.Name))
		}
	}
	if k.Dequantize == nil && k.Quantize == nil && k.QuantizeActivation == nil && k.VecDot == nil {
		panic(fmt.Sprintf("quant: Register(%v, %q): no kernels", t, k.Name))
	}
	if k.QuantizeActivation != nil && e.vecDotType != t {
		panic(fmt.Sprintf("quant: Register(%v, %q): QuantizeActivation belongs to the vec_dot type %v", t, k.Name, e.vecDotType))
	}
	if k.VecDot != nil && e.variants[0].VecDot == nil {
		panic(fmt.Sprintf("quant: Register(%v, %q): the type has no dot product", t, k.Name))
	}
	e.variants = append(e.variants, k)
}

// Types returns the types this package supports, in ggml's numbering order.
func Types() []tensor.DType {
	ts := make([]tensor.DType, 0, len(registry))
	for t := range registry {
		ts = append(ts, t)
	}
	slices.Sort(ts)
	return ts
}

// Variants returns every registered variant of t's kernels, the reference
// (Name RefName, all of its kernels present) first, or nil if t is not
// supported. Tests run the same checks under each of them.
func Variants(t tensor.DType) []Kernels {
	e, ok := registry[t]
	if !ok {
		return nil
	}
	return slices.Clone(e.variants)
}

// merged overlays t's variants in registration order.
func merged(e *typeEntry) Kernels {
	k := e.variants[0]
	for _, v := range e.variants[1:] {
		k.Name = v.Name
		if v.Dequantize != nil {
			k.Dequantize = v.Dequantize
		}
		if v.Quantize != nil {
			k.Quantize = v.Quantize
		}
		if v.QuantizeActivation != nil {
			k.QuantizeActivation = v.QuantizeActivation
		}
		if v.VecDot != nil {
			k.VecDot = v.VecDot
		}
	}
	return k
}

// Traits returns the description and selected kernels of t, or an error
// if this package does not support t.
func Traits(t tensor.DType) (TypeTraits, error) {
	e, ok := registry[t]
	if !ok {
		return TypeTraits{}, fmt.Errorf("quant: no kernels for tensor type %v", t)
	}
	k := merged(e)
	k.QuantizeActivation = merged(registry[e.vecDotType]).QuantizeActivation
	return TypeTraits{
		Type:       t,
		BlockElems: t.BlockElems(),
		BlockBytes: t.BlockBytes(),
		VecDotType: e.vecDotType,
		Kernels:    k,
	}, nil
}

// rowBytes checks that n values of t are whole blocks and returns their
// size in bytes.
func rowBytes(op string, t tensor.DType, n int) (int, error) {
	be, bb := t.BlockElems(), t.BlockBytes()
	if n%be != 0 {
		return 0, fmt.Errorf("quant: %s %v: %d values is not a multiple of the block size %d", op, t, n, be)
	}
	return n / be * bb, nil
}

// Dequantize decodes the blocks in src into dst with the selected kernels.
// len(dst) must be a whole number of blocks of t and src exactly their
// bytes.
func Dequantize(t tensor.DType, dst []float32, src []byte) error {
	tr, err := Traits(t)
	if err != nil {
		return err
	}
	want, err := rowBytes("dequantize", t, len(dst))
	if err != nil {
		return err
	}
	if len(src) != want {
		return fmt.Errorf("quant: dequantize %v: source of %d bytes, want %d for %d values", t, len(src), want, len(dst))
	}
	tr.Dequantize(dst, src)
	return nil
}

// Quantize encodes src into dst with t's reference quantizer. len(src) must
// be a whole number of blocks of t and dst exactly their bytes.
func Quantize(t tensor.DType, dst []byte, src []float32) error {
	tr, err := Traits(t)
	if err != nil {
		return err
	}
	want, err := rowBytes("quantize", t, len(src))
	if err != nil {
		return err
	}
	if len(dst) != want {
		return fmt.Errorf("quant: quantize %v: destination of %d bytes, want %d for %d values", t, len(dst), want, len(src))
	}
	tr.Quantize(dst, src)
	return nil
}

// QuantizeActivation quantizes the activation row x for a dot product with
// rows of weight type t: dst receives len(x) values in t's VecDotType.
func QuantizeActivation(t tensor.DType, dst []byte, x []float32) error {
	tr, err := Traits(t)
	if err != nil {
		return err
	}
	want, err := rowBytes("quantize activation for", tr.VecDotType, len(x))
	if err != nil {
		return err
	}
	if len(dst) != want {
		return fmt.Errorf("quant: quantize activation for %v: destination of %d bytes, want %d for %d values of %v", t, len(dst), want, len(x), tr.VecDotType)
	}
	tr.QuantizeActivation(dst, x)
	return nil
}

// VecDot returns the dot product of the n-value weight row w of type t with
// the activation row xq, quantized to t's VecDotType.
func VecDot(t tensor.DType, n int, w, xq []byte) (float32, error) {
	tr, err := Traits(t)
	if err != nil {
		return 0, err
	}
	if tr.VecDot == nil {
		return 0, fmt.Errorf("quant: %v has no dot product (it is an activation type)", t)
	}
	if n < 0 {
		return 0, fmt.Errorf("quant: dot product %v: negative length %d", t, n)
	}
	wantW, err := rowBytes("dot product", t, n)
	if err != nil {
		return 0, err
	}
	wantX, err := rowBytes("dot product", tr.VecDotType, n)
	if err != nil {
		return 0, err
	}
	if len(w) != wantW {
		return 0, fmt.Errorf("quant: dot product %v: weight row of %d bytes, want %d for %d values", t, len(w), wantW, n)
	}
	if len(xq) != wantX {
		return 0, fmt.Errorf("quant: dot product %v: activation row of %d bytes, want %d for %d values of %v", t, len(xq), wantX, n, tr.VecDotType)
	}
	return tr.VecDot(n, w, xq), nil
}
