// Package tensor holds memfit's element types, shapes and typed views over
// byte slices. It never allocates model-sized memory: the bytes a Tensor views
// are owned by the weights layer (mmap, anonymous memory on the ledger, or a
// streaming buffer).
package tensor

import "fmt"

// DType is an element or block type. The numbering is ggml's (enum ggml_type),
// so a DType read from a GGUF tensor index is used as is.
type DType uint32

// The ggml types memfit knows by name. Gaps in the numbering are types ggml has
// removed.
const (
	F32     DType = 0
	F16     DType = 1
	Q4_0    DType = 2
	Q4_1    DType = 3
	Q5_0    DType = 6
	Q5_1    DType = 7
	Q8_0    DType = 8
	Q8_1    DType = 9
	Q2_K    DType = 10
	Q3_K    DType = 11
	Q4_K    DType = 12
	Q5_K    DType = 13
	Q6_K    DType = 14
	Q8_K    DType = 15
	IQ2_XXS DType = 16
	IQ2_XS  DType = 17
	IQ3_XXS DType = 18
	IQ1_S   DType = 19
	IQ4_NL  DType = 20
	IQ3_S   DType = 21
	IQ2_S   DType = 22
	IQ4_XS  DType = 23
	I8      DType = 24
	I16     DType = 25
	I32     DType = 26
	I64     DType = 27
	F64     DType = 28
	IQ1_M   DType = 29
	BF16    DType = 30
	TQ1_0   DType = 34
	TQ2_0   DType = 35
	MXFP4   DType = 39
)

// typeInfo describes the storage of one DType: BlockElems values are stored
// in BlockBytes bytes.
type typeInfo struct {
	name       string
	blockElems int
	blockBytes int
}

var typeInfos = map[DType]typeInfo{
	F32:     {"F32", 1, 4},
	F16:     {"F16", 1, 2},
	Q4_0:    {"Q4_0", 32, 18},
	Q4_1:    {"Q4_1", 32, 20},
	Q5_0:    {"Q5_0", 32, 22},
	Q5_1:    {"Q5_1", 32, 24},
	Q8_0:    {"Q8_0", 32, 34},
	Q8_1:    {"Q8_1", 32, 36},
	Q2_K:    {"Q2_K", 256, 84},
	Q3_K:    {"Q3_K", 256, 110},
	Q4_K:    {"Q4_K", 256, 144},
	Q5_K:    {"Q5_K", 256, 176},
	Q6_K:    {"Q6_K", 256, 210},
	Q8_K:    {"Q8_K", 256, 292},
	IQ2_XXS: {"IQ2_XXS", 256, 66},
	IQ2_XS:  {"IQ2_XS", 256, 74},
	IQ3_XXS: {"IQ3_XXS", 256, 98},
	IQ1_S:   {"IQ1_S", 256, 50},
	IQ4_NL:  {"IQ4_NL", 32, 18},
	IQ3_S:   {"IQ3_S", 256, 110},
	IQ2_S:   {"IQ2_S", 256, 82},
	IQ4_XS:  {"IQ4_XS", 256, 136},
	I8:      {"I8", 1, 1},
	I16:     {"I16", 1, 2},
	I32:     {"I32", 1, 4},
	I64:     {"I64", 1, 8},
	F64:     {"F64", 1, 8},
	IQ1_M:   {"IQ1_M", 256, 56},
	BF16:    {"BF16", 1, 2},
	TQ1_0:   {"TQ1_0", 256, 54},
	TQ2_0:   {"TQ2_0", 256, 66},
	MXFP4:   {"MXFP4", 32, 17},
}

// Known reports whether memfit knows the storage layout of t.
func (t DType) Known() bool {
	_, ok := typeInfos[t]
	return ok
}

// String returns ggml's name of the type (F32, Q4_K, ...), or DType(n) for an
// unknown type.
func (t DType) String() string {
	if ti, ok := typeInfos[t]; ok {
		return ti.name
	}
	return fmt.Sprintf("DType(%d)", uint32(t))
}

// BlockElems is the number of values in one storage block (1 for plain types).
// It is 0 for an unknown type.
func (t DType) BlockElems() int { return typeInfos[t].blockElems }

// BlockBytes is the size in bytes of one storage block. It is 0 for an
// unknown type.
func (t DType) BlockBytes() int { return typeInfos[t].blockBytes }

// ParseDType returns the DType named s (case-insensitive ggml spelling).
func ParseDType(s string) (DType, error) {
	for t, ti := range typeInfos {
		if equalFold(ti.name, s) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown tensor type %q", s)
}

func equalFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		ca, cb := a[i], b[i]
		if 'a' <= ca && ca <= 'z' {
			ca -= 'a' - 'A'
		}
		if 'a' <= cb && cb <= 'z' {
			cb -= 'a' - 'A'
		}
		if ca != cb {
			return false
		}
	}
	return true
}

// RowBytes returns the storage size of a row of n values, or an error when n
// is not a whole number of blocks or the type is unknown.
func (t DType) RowBytes(n int64) (int64, error) {
	ti, ok := typeInfos[t]
	if !ok {
		return 0, fmt.Errorf("unknown tensor type %d", uint32(t))
	}
	if n < 0 || n%int64(ti.blockElems) != 0 {
		return 0, fmt.Errorf("row of %d values is not a multiple of the %s block size %d", n, ti.name, ti.blockElems)
	}
	return n / int64(ti.blockElems) * int64(ti.blockBytes), nil
}
