package quant

import (
	"bytes"
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/gguf"
	"github.com/memfit/memfit/internal/tensor"
)

// vecDotRTol is the tolerance of a dot product relative to Σ|w·x| per
// weight type, from ../shared/fixtures/quant/README.md. Q4_1 and Q5_1 use
// ggml's formula with the fp16 s of Q8_1, so they get the tight tolerance.
var vecDotRTol = map[tensor.DType]float64{
	tensor.F32: 1e-5, tensor.F16: 1e-5, tensor.BF16: 1e-5,
	tensor.Q4_0: 1e-5, tensor.Q4_1: 1e-5, tensor.Q5_0: 1e-5, tensor.Q5_1: 1e-5, tensor.Q8_0: 1e-5,
	tensor.Q2_K: 1e-5, tensor.Q3_K: 1e-5, tensor.Q4_K: 1e-5, tensor.Q5_K: 1e-5, tensor.Q6_K: 1e-5,
	tensor.IQ4_NL: 1e-5, tensor.IQ4_XS: 1e-5, tensor.MXFP4: 1e-5,
	tensor.TQ2_0: 5e-5, tensor.TQ1_0: 5e-4,
}

// quantCase is one type's data from quant_cases.gguf.
type quantCase struct {
	typ, vecDotType tensor.DType
	rows, n         int
	input           []float32 // rows×n
	quant           []byte    // rows×n of typ
	dequant         []float32 // rows×n
	x               []float32 // n
	xq, xqRef       []byte    // n of vecDotType
	y               []float32 // rows
}

// openQuantCases opens the shared fixture; the file is closed when the test
// ends.
func openQuantCases(t *testing.T) *gguf.File {
	t.Helper()
	f, err := gguf.Open(fixtures.Path(t, "quant", "quant_cases.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// readTensor reads the named tensor, checking its type and shape.
func readTensor(t *testing.T, f *gguf.File, name string, typ tensor.DType, shape tensor.Shape) []byte {
	t.Helper()
	ti, ok := f.Tensor(name)
	if !ok {
		t.Fatalf("%s: no tensor %s", f.Name, name)
	}
	if ti.Type != typ || !ti.Shape.Equal(shape) {
		t.Fatalf("%s: tensor %s is %v %v, want %v %v", f.Name, name, ti.Type, ti.Shape, typ, shape)
	}
	buf := make([]byte, ti.Size)
	if err := f.ReadTensor(ti, buf); err != nil {
		t.Fatal(err)
	}
	return buf
}

func bytesToF32(b []byte) []float32 {
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

// loadCase reads the seven tensors of type name.
func loadCase(t *testing.T, f *gguf.File, name string) *quantCase {
	t.Helper()
	typ, err := tensor.ParseDType(name)
	if err != nil {
		t.Fatalf("%s: quant_cases.types: %v", f.Name, err)
	}
	rows := mustUint(t, f, "quant_cases.rows")
	n := mustUint(t, f, "quant_cases.n_per_row")
	vdtName, err := f.String("quant_cases." + name + ".vec_dot_type")
	if err != nil {
		t.Fatal(err)
	}
	vdt, err := tensor.ParseDType(vdtName)
	if err != nil {
		t.Fatalf("%s: vec_dot_type of %s: %v", f.Name, name, err)
	}
	c := &quantCase{typ: typ, vecDotType: vdt, rows: rows, n: n}
	mat := tensor.Shape{int64(n), int64(rows)}
	c.input = bytesToF32(readTensor(t, f, name+".input", tensor.F32, mat))
	c.quant = readTensor(t, f, name+".quant", typ, mat)
	c.dequant = bytesToF32(readTensor(t, f, name+".dequant", tensor.F32, mat))
	c.x = bytesToF32(readTensor(t, f, name+".x", tensor.F32, tensor.Shape{int64(n)}))
	xqType, xqShape := vdt, tensor.Shape{int64(n)}
	if raw, err := f.Bool("quant_cases." + name + ".xq_raw"); err == nil && raw {
		// Q8_1 is stored as raw bytes (gguf-py's Q8_1 size is stale).
		xqType, xqShape = tensor.I8, tensor.Shape{int64(n / qk * q8_1Bytes)}
	}
	c.xq = readTensor(t, f, name+".xq", xqType, xqShape)
	c.xqRef = readTensor(t, f, name+".xq_ref", xqType, xqShape)
	c.y = bytesToF32(readTensor(t, f, name+".y", tensor.F32, tensor.Shape{int64(rows)}))
	return c
}

func mustUint(t *testing.T, f *gguf.File, key string) int {
	t.Helper()
	v, err := f.Uint(key)
	if err != nil {
		t.Fatal(err)
	}
	if v == 0 || v > 1<<20 {
		t.Fatalf("%s: %s = %d out of range", f.Name, key, v)
	}
	return int(v)
}

// firstF32Diff returns the index of the first value whose bits differ, or -1.
func firstF32Diff(a, b []float32) int {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return i
		}
	}
	return -1
}

// firstByteDiff returns the index of the first differing byte, or -1.
func firstByteDiff(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}

// dotL1 returns Σ|w·x| over the dequantized rows, the quantity the dot
// product tolerance is relative to.
func dotL1(w, x []float32) float64 {
	var l1 float64
	for j := range w {
		l1 += math.Abs(float64(w[j]) * float64(x[j]))
	}
	return l1
}

// TestQuantCases checks every type in quant_cases.gguf under every
// registered variant: dequantization bit for bit, quantization byte for
// byte, both activation quantizers byte for byte, and the dot products
// within the README's tolerance.
func TestQuantCases(t *testing.T) {
	f := openQuantCases(t)
	names, err := f.Strings("quant_cases.types")
	if err != nil {
		t.Fatal(err)
	}
	// Every weight type we support must be in the file, so that a shrunken
	// fixture cannot silently drop coverage.
	for _, typ := range Types() {
		switch typ {
		case tensor.F32, tensor.Q8_1, tensor.Q8_K:
			continue
		}
		if !slices.Contains(names, typ.String()) {
			t.Errorf("%s: type %v missing from quant_cases.types %v", f.Name, typ, names)
		}
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			c := loadCase(t, f, name)
			tr, err := Traits(c.typ)
			if err != nil {
				t.Fatal(err)
			}
			if tr.VecDotType != c.vecDotType {
				t.Fatalf("VecDotType = %v, fixture says %v", tr.VecDotType, c.vecDotType)
			}
			rowBytes := c.n / tr.BlockElems * tr.BlockBytes
			if same, err := f.Bool("quant_cases." + name + ".xq_equals_ref"); err != nil {
				t.Fatal(err)
			} else if same != bytes.Equal(c.xq, c.xqRef) {
				t.Fatalf("%s: xq_equals_ref = %v, but the tensors say %v", f.Name, same, !same)
			}
			for _, v := range Variants(c.typ) {
				t.Run(v.Name, func(t *testing.T) {
					if v.Dequantize != nil {
						t.Run("dequant", func(t *testing.T) { checkDequant(t, c, v.Dequantize) })
					}
					if v.Quantize != nil {
						t.Run("quant", func(t *testing.T) { checkQuant(t, c, v.Quantize, rowBytes) })
					}
					if v.VecDot != nil {
						t.Run("vec_dot", func(t *testing.T) { checkVecDot(t, c, v.VecDot, rowBytes) })
					}
				})
			}
			// The activation quantizers belong to the vec_dot type.
			for _, v := range Variants(c.vecDotType) {
				t.Run(c.vecDotType.String()+"-"+v.Name, func(t *testing.T) {
					if v.QuantizeActivation != nil {
						t.Run("xq", func(t *testing.T) { checkAct(t, c.x, c.xq, v.QuantizeActivation) })
					}
					if v.Quantize != nil {
						t.Run("xq_ref", func(t *testing.T) { checkAct(t, c.x, c.xqRef, v.Quantize) })
					}
				})
			}
		})
	}
}

func checkDequant(t *testing.T, c *quantCase, deq DequantizeFunc) {
	got := make([]float32, len(c.dequant))
	deq(got, c.quant)
	if i := firstF32Diff(got, c.dequant); i >= 0 {
		t.Fatalf("value %d (row %d, col %d) = %g (%#08x), ggml %g (%#08x)", i, i/c.n, i%c.n,
			got[i], math.Float32bits(got[i]), c.dequant[i], math.Float32bits(c.dequant[i]))
	}
}

func checkQuant(t *testing.T, c *quantCase, q QuantizeFunc, rowBytes int) {
	got := make([]byte, len(c.quant))
	for i := range got {
		got[i] = 0xa5 // every byte must be written
	}
	// Row by row, as ggml_quantize_chunk does.
	for r := 0; r < c.rows; r++ {
		q(got[r*rowBytes:(r+1)*rowBytes], c.input[r*c.n:(r+1)*c.n])
	}
	if i := firstByteDiff(got, c.quant); i >= 0 {
		bb := c.typ.BlockBytes()
		t.Fatalf("byte %d (block %d, offset %d) = %#02x, ggml %#02x\nblock ours %x\nblock ggml %x", i, i/bb, i%bb,
			got[i], c.quant[i], got[i/bb*bb:(i/bb+1)*bb], c.quant[i/bb*bb:(i/bb+1)*bb])
	}
}

func checkAct(t *testing.T, x []float32, want []byte, q QuantizeFunc) {
	got := make([]byte, len(want))
	for i := range got {
		got[i] = 0x5a
	}
	q(got, x)
	if i := firstByteDiff(got, want); i >= 0 {
		t.Fatalf("byte %d = %#02x, ggml %#02x", i, got[i], want[i])
	}
}

func checkVecDot(t *testing.T, c *quantCase, dot VecDotFunc, rowBytes int) {
	rtol, ok := vecDotRTol[c.typ]
	if !ok {
		t.Fatalf("no tolerance for %v", c.typ)
	}
	// The exact products are taken of the dequantized values ggml used.
	xd := make([]float32, c.n)
	vt, err := Traits(c.vecDotType)
	if err != nil {
		t.Fatal(err)
	}
	vt.Dequantize(xd, c.xq)
	var worst float64
	for r := 0; r < c.rows; r++ {
		got := dot(c.n, c.quant[r*rowBytes:(r+1)*rowBytes], c.xq)
		l1 := dotL1(c.dequant[r*c.n:(r+1)*c.n], xd)
		diff := math.Abs(float64(got) - float64(c.y[r]))
		if diff > rtol*l1+1e-30 {
			t.Errorf("row %d: %g, ggml %g: |diff| %.3g > %.1g·L1 (L1 %.4g)", r, got, c.y[r], diff, rtol, l1)
		}
		worst = max(worst, diff/l1)
	}
	t.Logf("max |y − ggml|/L1 = %.3g (rtol %.1g)", worst, rtol)
}
