package quantize

import (
	"fmt"
	"strings"

	"github.com/memfit/memfit/internal/tensor"
)

// FileType is one of llama-quantize's output types (llama.cpp's
// llama_ftype): the number written as general.file_type and the tensor type
// most weights get (llama_ftype_get_default_type); the rules of Policy pick
// other types for some tensors.
type FileType struct {
	Name string       // as llama-quantize spells it: Q4_K_M, Q8_0, F16, ...
	ID   uint32       // general.file_type
	Base tensor.DType // the default tensor type
}

// llama_ftype values of the file types memfit writes.
const (
	ftypeAllF32     = 0
	ftypeF16        = 1
	ftypeQ4_0       = 2
	ftypeQ4_1       = 3
	ftypeQ8_0       = 7
	ftypeQ5_0       = 8
	ftypeQ5_1       = 9
	ftypeQ2_K       = 10
	ftypeQ3_K_S     = 11
	ftypeQ3_K_M     = 12
	ftypeQ3_K_L     = 13
	ftypeQ4_K_S     = 14
	ftypeQ4_K_M     = 15
	ftypeQ5_K_S     = 16
	ftypeQ5_K_M     = 17
	ftypeQ6_K       = 18
	ftypeIQ4_NL     = 25
	ftypeIQ4_XS     = 30
	ftypeBF16       = 32
	ftypeTQ1_0      = 36
	ftypeTQ2_0      = 37
	ftypeMXFP4_MOE  = 38
	ftypeGuessedBit = 1024 // LLAMA_FTYPE_GUESSED, never written by llama-quantize
)

// fileTypes are the file types memfit can write: every llama-quantize type
// whose tensor types internal/quant can produce without an importance
// matrix.
var fileTypes = []FileType{
	{"F32", ftypeAllF32, tensor.F32},
	{"F16", ftypeF16, tensor.F16},
	{"BF16", ftypeBF16, tensor.BF16},
	{"Q8_0", ftypeQ8_0, tensor.Q8_0},
	{"Q4_0", ftypeQ4_0, tensor.Q4_0},
	{"Q4_1", ftypeQ4_1, tensor.Q4_1},
	{"Q5_0", ftypeQ5_0, tensor.Q5_0},
	{"Q5_1", ftypeQ5_1, tensor.Q5_1},
	{"Q2_K", ftypeQ2_K, tensor.Q2_K},
	{"Q3_K_S", ftypeQ3_K_S, tensor.Q3_K},
	{"Q3_K_M", ftypeQ3_K_M, tensor.Q3_K},
	{"Q3_K_L", ftypeQ3_K_L, tensor.Q3_K},
	{"Q4_K_S", ftypeQ4_K_S, tensor.Q4_K},
	{"Q4_K_M", ftypeQ4_K_M, tensor.Q4_K},
	{"Q5_K_S", ftypeQ5_K_S, tensor.Q5_K},
	{"Q5_K_M", ftypeQ5_K_M, tensor.Q5_K},
	{"Q6_K", ftypeQ6_K, tensor.Q6_K},
	{"IQ4_NL", ftypeIQ4_NL, tensor.IQ4_NL},
	{"IQ4_XS", ftypeIQ4_XS, tensor.IQ4_XS},
	{"TQ1_0", ftypeTQ1_0, tensor.TQ1_0},
	{"TQ2_0", ftypeTQ2_0, tensor.TQ2_0},
	{"MXFP4_MOE", ftypeMXFP4_MOE, tensor.MXFP4},
}

// aliases are llama-quantize's other spellings of some types.
var aliases = map[string]string{"Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M", "Q3_K": "Q3_K_M"}

// LookupFileType returns the file type called name (case-insensitive, as
// llama-quantize's names: Q4_K_M, q8_0, ...).
func LookupFileType(name string) (FileType, error) {
	n := strings.ToUpper(strings.TrimSpace(name))
	if a, ok := aliases[n]; ok {
		n = a
	}
	for _, ft := range fileTypes {
		if ft.Name == n {
			return ft, nil
		}
	}
	return FileType{}, fmt.Errorf("quantize: unknown type %q (want one of %s)", name, strings.Join(FileTypeNames(), ", "))
}

// FileTypeNames lists the file types memfit writes, in a stable order.
func FileTypeNames() []string {
	out := make([]string, len(fileTypes))
	for i, ft := range fileTypes {
		out[i] = ft.Name
	}
	return out
}

// FileTypeName returns the name of a general.file_type value, or "" when
// memfit does not write that type.
func FileTypeName(id uint32) string {
	for _, ft := range fileTypes {
		if ft.ID == id&^ftypeGuessedBit {
			return ft.Name
		}
	}
	return ""
}

// quantized reports whether t is a block type (ggml_is_quantized).
func quantized(t tensor.DType) bool {
	switch t {
	case tensor.F32, tensor.F16, tensor.BF16, tensor.F64, tensor.I8, tensor.I16, tensor.I32, tensor.I64:
		return false
	}
	return t.Known()
}
