package quant

import (
	"bytes"
	"encoding/binary"
	"math"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/tensor"
)

func TestNearestInt(t *testing.T) {
	tests := []float32{0, 0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 3.7, -3.7, 126.5, -127.5, 4194303, -4194303, 1e-30}
	for _, f := range tests {
		want := int32(math.RoundToEven(float64(f)))
		if got := nearestInt(f); got != want {
			t.Errorf("nearestInt(%g) = %d, want %d (half to even)", f, got, want)
		}
	}
	rng := splitmix64(1)
	for i := 0; i < 100000; i++ {
		f := float32((rng.uniform()*2 - 1) * 4194303)
		if got, want := nearestInt(f), int32(math.RoundToEven(float64(f))); got != want {
			t.Fatalf("nearestInt(%g) = %d, want %d", f, got, want)
		}
	}
}

func TestCvtt(t *testing.T) {
	tests := []struct {
		in   float32
		want int32
	}{
		{0, 0}, {1.9, 1}, {-1.9, -1}, {8.5, 8}, {2147483520, 2147483520}, {-2147483648, math.MinInt32},
		{2147483648, math.MinInt32}, {-2147483904, math.MinInt32},
		{float32(math.Inf(1)), math.MinInt32}, {float32(math.Inf(-1)), math.MinInt32}, {float32(math.NaN()), math.MinInt32},
	}
	for _, tt := range tests {
		if got := cvtt(tt.in); got != tt.want {
			t.Errorf("cvtt(%g) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestE8M0Half(t *testing.T) {
	for e := 0; e < 256; e++ {
		want := math.Ldexp(1, e-128)
		if got := float64(e8m0Half(uint8(e))); got != want {
			t.Errorf("e8m0Half(%d) = %g, want 2^%d = %g", e, got, e-128, want)
		}
	}
}

func TestBestIndexInt8(t *testing.T) {
	for i, v := range kvaluesIQ4NL {
		if got := bestIndexInt8(float32(v)); got != i {
			t.Errorf("bestIndexInt8(%d) = %d, want %d", v, got, i)
		}
	}
	// Midpoints go to the upper neighbour (strict < for the lower one).
	for i := 0; i < 15; i++ {
		mid := (float32(kvaluesIQ4NL[i]) + float32(kvaluesIQ4NL[i+1])) / 2
		if got := bestIndexInt8(mid); got != i+1 {
			t.Errorf("bestIndexInt8(%g) = %d, want %d (tie goes up)", mid, got, i+1)
		}
	}
	if got := bestIndexInt8(-1000); got != 0 {
		t.Errorf("bestIndexInt8(-1000) = %d, want 0", got)
	}
	if got := bestIndexInt8(1000); got != 15 {
		t.Errorf("bestIndexInt8(1000) = %d, want 15", got)
	}
}

func TestTraits(t *testing.T) {
	want := []tensor.DType{tensor.F32, tensor.F16, tensor.BF16, tensor.Q4_0, tensor.Q4_1, tensor.Q5_0, tensor.Q5_1,
		tensor.Q8_0, tensor.Q8_1, tensor.Q2_K, tensor.Q3_K, tensor.Q4_K, tensor.Q5_K, tensor.Q6_K, tensor.Q8_K,
		tensor.IQ4_NL, tensor.IQ4_XS, tensor.TQ1_0, tensor.TQ2_0, tensor.MXFP4}
	if got := Types(); len(got) != len(want) {
		t.Fatalf("Types() = %v, want %v", got, want)
	}
	for _, typ := range want {
		tr, err := Traits(typ)
		if err != nil {
			t.Fatalf("Traits(%v): %v", typ, err)
		}
		if tr.Type != typ || tr.BlockElems != typ.BlockElems() || tr.BlockBytes != typ.BlockBytes() || tr.BlockElems == 0 {
			t.Errorf("Traits(%v) = %v, %d values in %d bytes; tensor says %d in %d", typ, tr.Type, tr.BlockElems, tr.BlockBytes, typ.BlockElems(), typ.BlockBytes())
		}
		if tr.Dequantize == nil || tr.Quantize == nil || tr.QuantizeActivation == nil {
			t.Errorf("Traits(%v): missing kernels", typ)
		}
		activationOnly := typ == tensor.Q8_1 || typ == tensor.Q8_K
		if (tr.VecDot == nil) != activationOnly {
			t.Errorf("Traits(%v): VecDot present = %v", typ, tr.VecDot != nil)
		}
		vt, err := Traits(tr.VecDotType)
		if err != nil {
			t.Fatalf("Traits(%v).VecDotType %v: %v", typ, tr.VecDotType, err)
		}
		if vt.VecDotType != tr.VecDotType {
			t.Errorf("%v: vec_dot type %v is not its own vec_dot type (%v)", typ, tr.VecDotType, vt.VecDotType)
		}
		if tr.BlockElems%vt.BlockElems != 0 && vt.BlockElems%tr.BlockElems != 0 {
			t.Errorf("%v: blocks of %d values and vec_dot blocks of %d do not nest", typ, tr.BlockElems, vt.BlockElems)
		}
		if vs := Variants(typ); len(vs) == 0 || vs[0].Name != RefName {
			t.Errorf("Variants(%v) does not start with the reference", typ)
		}
	}
	for _, typ := range []tensor.DType{tensor.IQ2_XXS, tensor.I8, tensor.DType(999)} {
		if _, err := Traits(typ); err == nil || !strings.Contains(err.Error(), typ.String()) {
			t.Errorf("Traits(%v) error = %v, want one naming the type", typ, err)
		}
		if Variants(typ) != nil {
			t.Errorf("Variants(%v) != nil", typ)
		}
	}
}

func TestRegisterMisuse(t *testing.T) {
	deq := func([]float32, []byte) {}
	act := func([]byte, []float32) {}
	tests := []struct {
		name string
		t    tensor.DType
		k    Kernels
		want string
	}{
		{"unsupported type", tensor.IQ2_XXS, Kernels{Name: "x", Dequantize: deq}, "no reference"},
		{"empty name", tensor.Q4_0, Kernels{Dequantize: deq}, "empty variant name"},
		{"duplicate name", tensor.Q4_0, Kernels{Name: RefName, Dequantize: deq}, "already registered"},
		{"no kernels", tensor.Q4_0, Kernels{Name: "x"}, "no kernels"},
		{"activation on a weight type", tensor.Q4_0, Kernels{Name: "x", QuantizeActivation: act}, "belongs to the vec_dot type Q8_0"},
		{"dot on an activation type", tensor.Q8_K, Kernels{Name: "x", VecDot: func(int, []byte, []byte) float32 { return 0 }}, "no dot product"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(Variants(tt.t))
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, tt.want) {
					t.Errorf("panic %v, want one containing %q", r, tt.want)
				}
				if after := len(Variants(tt.t)); after != before {
					t.Errorf("a failed Register changed the variants: %d → %d", before, after)
				}
			}()
			Register(tt.t, tt.k)
		})
	}
}

func TestCheckedErrors(t *testing.T) {
	f := make([]float32, 512)
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"dequantize partial block", Dequantize(tensor.Q4_K, f[:300], make([]byte, 144)), "300 values is not a multiple of the block size 256"},
		{"dequantize short source", Dequantize(tensor.Q4_K, f[:256], make([]byte, 143)), "source of 143 bytes, want 144"},
		{"dequantize unknown type", Dequantize(tensor.IQ2_XS, f[:256], make([]byte, 74)), "IQ2_XS"},
		{"quantize long destination", Quantize(tensor.Q8_0, make([]byte, 35), f[:32]), "destination of 35 bytes, want 34"},
		{"quantize partial block", Quantize(tensor.Q4_0, make([]byte, 18), f[:31]), "not a multiple of the block size 32"},
		{"activation wrong type size", QuantizeActivation(tensor.Q4_K, make([]byte, 144), f[:256]), "want 292 for 256 values of Q8_K"},
		{"activation partial block", QuantizeActivation(tensor.Q4_0, make([]byte, 34), f[:16]), "Q8_0"},
		{"dot on activation type", func() error { _, err := VecDot(tensor.Q8_K, 256, make([]byte, 292), make([]byte, 292)); return err }(), "no dot product"},
		{"dot weight size", func() error { _, err := VecDot(tensor.Q4_0, 64, make([]byte, 18), make([]byte, 68)); return err }(), "weight row of 18 bytes, want 36"},
		{"dot activation size", func() error { _, err := VecDot(tensor.Q4_1, 64, make([]byte, 40), make([]byte, 68)); return err }(), "activation row of 68 bytes, want 72 for 64 values of Q8_1"},
		{"dot negative", func() error { _, err := VecDot(tensor.F16, -2, nil, nil); return err }(), "negative length"},
	}
	for _, tt := range tests {
		if tt.err == nil || !strings.Contains(tt.err.Error(), tt.want) {
			t.Errorf("%s: error %v, want one containing %q", tt.name, tt.err, tt.want)
		}
	}
	// The same calls with correct sizes succeed.
	if err := Dequantize(tensor.Q4_K, f[:256], make([]byte, 144)); err != nil {
		t.Error(err)
	}
	if err := Quantize(tensor.Q8_0, make([]byte, 34), f[:32]); err != nil {
		t.Error(err)
	}
	if err := QuantizeActivation(tensor.Q4_K, make([]byte, 292), f[:256]); err != nil {
		t.Error(err)
	}
	if _, err := VecDot(tensor.Q4_1, 64, make([]byte, 40), make([]byte, 72)); err != nil {
		t.Error(err)
	}
	// Zero-length rows are valid and empty.
	if err := Dequantize(tensor.Q6_K, nil, nil); err != nil {
		t.Error(err)
	}
	if y, err := VecDot(tensor.Q6_K, 0, nil, nil); err != nil || y != 0 {
		t.Errorf("VecDot of no values = %g, %v", y, err)
	}
}

// TestQ8ActivationRounding shows the two Q8_0 activation quantizers on
// exact ties: with amax = 127, d = 1 and every x·id lands on .5. The ref
// rounds half away from zero, ggml-cpu's x86 path half to even.
func TestQ8ActivationRounding(t *testing.T) {
	x := make([]float32, 32)
	x[0] = 127
	ties := []float32{0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 126.5}
	copy(x[1:], ties)
	refWant := []int8{127, 1, 2, 3, -1, -2, -3, 127}
	x86Want := []int8{127, 0, 2, 2, 0, -2, -2, 126}
	for _, tt := range []struct {
		name string
		t    tensor.DType
		q    QuantizeFunc
		want []int8
		off  int
	}{
		{"Q8_0 ref", tensor.Q8_0, quantQ8_0, refWant, 2},
		{"Q8_0 x86", tensor.Q8_0, actQ8_0, x86Want, 2},
		{"Q8_1 ref", tensor.Q8_1, quantQ8_1, refWant, 4},
		{"Q8_1 x86", tensor.Q8_1, actQ8_1, x86Want, 4},
	} {
		b := make([]byte, tt.t.BlockBytes())
		tt.q(b, x)
		if d := f16At(b, 0); d != 1 {
			t.Errorf("%s: d = %g, want 1", tt.name, d)
		}
		var sum int32
		for j := 0; j < 32; j++ {
			q := int8(b[tt.off+j])
			sum += int32(q)
			if j < len(tt.want) && q != tt.want[j] {
				t.Errorf("%s: q[%d] = %d for x = %g, want %d", tt.name, j, q, x[j], tt.want[j])
			}
		}
		if tt.t == tensor.Q8_1 {
			if s := f16At(b, 2); s != float32(sum) {
				t.Errorf("%s: s = %g, want d·Σq = %d", tt.name, s, sum)
			}
		}
	}
}

// TestAllBytesWritten quantizes the same input into buffers of different
// prior contents: every type's output must not depend on them.
func TestAllBytesWritten(t *testing.T) {
	rng := splitmix64(7)
	x := make([]float32, 1024)
	for _, typ := range Types() {
		tr, _ := Traits(typ)
		for _, q := range []struct {
			name string
			f    QuantizeFunc
		}{{"Quantize", tr.Quantize}, {"QuantizeActivation", tr.QuantizeActivation}} {
			vt := typ
			if q.name == "QuantizeActivation" {
				vt = tr.VecDotType
			}
			size := len(x) / vt.BlockElems() * vt.BlockBytes()
			for trial := 0; trial < 20; trial++ {
				randomValues(&rng, x, 1)
				a, b := bytes.Repeat([]byte{0x00}, size), bytes.Repeat([]byte{0xff}, size)
				q.f(a, x)
				q.f(b, x)
				if i := firstByteDiff(a, b); i >= 0 {
					t.Fatalf("%v %s: byte %d depends on the destination's prior contents", typ, q.name, i)
				}
			}
		}
	}
}

// TestZeroRows quantizes all-zero rows: every type decodes them to zero,
// and every dot product with them is zero.
func TestZeroRows(t *testing.T) {
	const n = 512
	zero := make([]float32, n)
	x := make([]float32, n)
	rng := splitmix64(3)
	randomValues(&rng, x, 1)
	for _, typ := range Types() {
		tr, _ := Traits(typ)
		q := make([]byte, n/tr.BlockElems*tr.BlockBytes)
		tr.Quantize(q, zero)
		y := make([]float32, n)
		for i := range y {
			y[i] = 1
		}
		tr.Dequantize(y, q)
		for i, v := range y {
			if v != 0 {
				t.Fatalf("%v: zero row decodes to %g at %d", typ, v, i)
			}
		}
		if tr.VecDot == nil {
			continue
		}
		xq := make([]byte, n/tr.VecDotType.BlockElems()*tr.VecDotType.BlockBytes())
		tr.QuantizeActivation(xq, x)
		if d := tr.VecDot(n, q, xq); d != 0 {
			t.Errorf("%v: dot product with a zero row = %g", typ, d)
		}
		tr.QuantizeActivation(xq, zero)
		wq := make([]byte, len(q))
		tr.Quantize(wq, x)
		if d := tr.VecDot(n, wq, xq); d != 0 {
			t.Errorf("%v: dot product with a zero activation = %g", typ, d)
		}
	}
}

// TestQ8KBsums checks that Q8_K's bsums are the sums of its quants.
func TestQ8KBsums(t *testing.T) {
	rng := splitmix64(11)
	x := make([]float32, 1024)
	q := make([]byte, 4*q8KBytes)
	for trial := 0; trial < 50; trial++ {
		randomValues(&rng, x, 3)
		quantQ8K(q, x)
		for b := 0; b < 4; b++ {
			blk := q[b*q8KBytes : (b+1)*q8KBytes]
			for j := 0; j < 16; j++ {
				var sum int32
				for _, v := range blk[4+16*j : 4+16*j+16] {
					sum += int32(int8(v))
				}
				if got := int16(binary.LittleEndian.Uint16(blk[260+2*j:])); int32(got) != sum {
					t.Fatalf("block %d: bsums[%d] = %d, want %d", b, j, got, sum)
				}
			}
		}
	}
}

// TestVecDotMatchesDequantize checks every dot product against the float64
// dot product of the dequantized rows, on random weight blocks (every bit
// pattern of quants and sub-block scales, with sane super-block scales) and
// on quantized random data. It ties each VecDot's bit layout to the
// Dequantize of both of its operands.
func TestVecDotMatchesDequantize(t *testing.T) {
	const n = 1024
	rng := splitmix64(5)
	x := make([]float32, n)
	for _, typ := range Types() {
		tr, _ := Traits(typ)
		if tr.VecDot == nil {
			continue
		}
		t.Run(typ.String(), func(t *testing.T) {
			vt, _ := Traits(tr.VecDotType)
			w := make([]byte, n/tr.BlockElems*tr.BlockBytes)
			xq := make([]byte, n/vt.BlockElems*vt.BlockBytes)
			wd, xd := make([]float32, n), make([]float32, n)
			for trial := 0; trial < 40; trial++ {
				if trial%2 == 0 {
					randomBlocks(&rng, typ, w)
				} else {
					randomValues(&rng, x, 1)
					tr.Quantize(w, x)
				}
				randomValues(&rng, x, 1)
				tr.QuantizeActivation(xq, x)
				tr.Dequantize(wd, w)
				vt.Dequantize(xd, xq)
				want, l1 := exactDot(typ, wd, xd, w, xq)
				got := tr.VecDot(n, w, xq)
				if diff := math.Abs(float64(got) - want); !(diff <= 2e-6*l1+1e-30) {
					t.Fatalf("trial %d: VecDot = %g, dequantized dot = %g (|diff| %.3g, L1 %.4g)", trial, got, want, diff, l1)
				}
			}
		})
	}
}

// exactDot returns the float64 dot product of the dequantized rows and
// Σ|w·x|. For Q4_1 and Q5_1 it uses ggml's formula for the min term,
// m·s with the fp16 s of each Q8_1 block, instead of m·d·Σq.
func exactDot(typ tensor.DType, wd, xd []float32, w, xq []byte) (dot, l1 float64) {
	for j := range wd {
		dot += float64(wd[j]) * float64(xd[j])
		l1 += math.Abs(float64(wd[j]) * float64(xd[j]))
	}
	if typ == tensor.Q4_1 || typ == tensor.Q5_1 {
		bb := typ.BlockBytes()
		for b := 0; b < len(wd)/qk; b++ {
			m := float64(f16At(w, b*bb+2))
			y := xq[b*q8_1Bytes : (b+1)*q8_1Bytes]
			var sumq float64
			for _, v := range y[4:36] {
				sumq += float64(int8(v))
			}
			dot += m * (float64(f16At(y, 2)) - float64(f16At(y, 0))*sumq)
		}
	}
	return dot, l1
}

// randomBlocks fills w with random bytes, then sets every scale field of
// every block to a random finite fp16 (or float32) scale of moderate size,
// so that any quant bit pattern decodes to finite values.
func randomBlocks(rng *splitmix64, typ tensor.DType, w []byte) {
	for i := range w {
		w[i] = byte(rng.next())
	}
	bb := typ.BlockBytes()
	for b := 0; b+bb <= len(w); b += bb {
		blk := w[b : b+bb]
		if typ == tensor.MXFP4 {
			blk[0] = byte(120 + rng.next()%16)
			continue
		}
		for _, f := range blockScales[typ] {
			s := float32((rng.uniform()*2 - 1) / f.mul)
			if f.f32 {
				putF32(blk, f.off, s)
			} else {
				putF16(blk, f.off, s)
			}
		}
	}
	switch typ {
	case tensor.F16, tensor.BF16, tensor.F32:
		x := make([]float32, len(w)/bb)
		randomValues(rng, x, 1)
		q, _ := Traits(typ)
		q.Quantize(w, x)
	}
}

// TestNoFusedMultiplyAdd compiles the package for targets whose Go
// compiler fuses x*y + z into an FMA and checks that no fused instruction
// appears: the bit-exact arithmetic must wrap every such product in an
// explicit float32 conversion.
func TestNoFusedMultiplyAdd(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the package four times")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go tool on PATH")
	}
	fused := regexp.MustCompile(`\s(V?FN?M(ADD|SUB)\w*|WFMA\w*|FMA\w*)\s`)
	for _, env := range [][]string{
		{"GOARCH=amd64", "GOAMD64=v3"},
		{"GOARCH=arm64"},
		{"GOARCH=ppc64le"},
		{"GOARCH=s390x"},
	} {
		cmd := exec.Command(goTool, "build", "-o", filepath.Join(t.TempDir(), "quant.a"), "-gcflags=-S", ".")
		cmd.Env = append(cmd.Environ(), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%v go build: %v\n%s", env, err, out)
		}
		if !bytes.Contains(out, []byte("dequantQ4_1")) {
			t.Fatalf("%v: no assembly listing in the build output", env)
		}
		if m := fused.Find(out); m != nil {
			t.Errorf("%v: fused multiply-add %q in the compiled package", env, strings.TrimSpace(string(m)))
		}
	}
}

// TestKernelsDoNotAllocate checks that no reference kernel allocates: they
// decode into caller-provided slices and keep their scratch on the stack.
func TestKernelsDoNotAllocate(t *testing.T) {
	const n = 1024
	x := make([]float32, n)
	rng := splitmix64(9)
	randomValues(&rng, x, 1)
	for _, typ := range Types() {
		ref := Variants(typ)[0]
		tr, _ := Traits(typ)
		q := make([]byte, n/tr.BlockElems*tr.BlockBytes)
		xq := make([]byte, n/tr.VecDotType.BlockElems()*tr.VecDotType.BlockBytes())
		y := make([]float32, n)
		checks := map[string]func(){
			"Quantize":           func() { ref.Quantize(q, x) },
			"Dequantize":         func() { ref.Dequantize(y, q) },
			"QuantizeActivation": func() { tr.QuantizeActivation(xq, x) },
		}
		if ref.VecDot != nil {
			checks["VecDot"] = func() { ref.VecDot(n, q, xq) }
		}
		for name, f := range checks {
			if a := testing.AllocsPerRun(5, f); a != 0 {
				t.Errorf("%v %s: %v allocations per call", typ, name, a)
			}
		}
	}
}
