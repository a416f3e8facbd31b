package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/gguf"
	"github.com/memfit/memfit/internal/quant"
	"github.com/memfit/memfit/internal/tensor"
)

// quantTypes are the block types with a dot product, in the order the
// tests run them.
var quantTypes = func() []tensor.DType {
	var ts []tensor.DType
	for _, t := range quant.Types() {
		if Supports(t) && !isFloat(t) {
			ts = append(ts, t)
		}
	}
	return ts
}()

// refKernels returns the reference (plain Go) kernels of t.
func refKernels(t tensor.DType) quant.Kernels { return quant.Variants(t)[0] }

// vecDotType returns the activation type of weight type t.
func vecDotType(t tensor.DType) tensor.DType {
	tr, err := quant.Traits(t)
	if err != nil {
		panic(err)
	}
	return tr.VecDotType
}

// scaledVec returns n values: blocks of 32 drawn from N(0, σ²) with σ
// spanning the scales whose quantized blocks stay finite (fp16 scales from
// subnormal to large, activations from 1e-38 to 100, so that even
// Q8_1's fp16 d·Σq stays finite), plus
// blocks of zeros, identical values, Q8_0 rounding ties, a single non-zero
// and subnormals.
func scaledVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	scales := []float64{1, 1, 1, 1e-3, 30, 100, 1e-6, 1e-9, 1e-20, 1e-38, 0.02}
	for b := 0; b < n; b += 32 {
		blk := v[b:min(b+32, n)]
		switch kind := r.IntN(12); kind {
		case 0: // zeros
		case 1:
			for i := range blk {
				blk[i] = 0.75
			}
		case 2: // ties of x·127/amax
			for i := range blk {
				blk[i] = (float32(r.IntN(254)-127) + 0.5) / 64
			}
			blk[0] = 127.0 / 64
		case 3:
			blk[r.IntN(len(blk))] = float32(r.NormFloat64())
		case 4: // subnormals
			for i := range blk {
				blk[i] = math.Float32frombits(uint32(r.IntN(1 << 23)))
				if r.IntN(2) == 0 {
					blk[i] = -blk[i]
				}
			}
		default:
			s := scales[r.IntN(len(scales))]
			for i := range blk {
				blk[i] = float32(r.NormFloat64() * s)
			}
		}
	}
	return v
}

// quantMatrix returns rows × in weights of type t at byte offset off of
// their buffer: either the reference quantization of scaledVec values, or
// (raw) random bytes, which include every fp16 scale (subnormal, Inf, NaN)
// and every quant pattern.
func quantMatrix(r *rand.Rand, t tensor.DType, in, rows, off int, raw bool) tensor.Tensor {
	size, err := tensor.Bytes(t, tensor.Shape{int64(in), int64(rows)})
	if err != nil {
		panic(err)
	}
	buf := make([]byte, int(size)+off)
	data := buf[off:]
	if raw {
		for i := range data {
			data[i] = byte(r.Uint32())
		}
	} else {
		refKernels(t).Quantize(data, scaledVec(r, in*rows))
	}
	name := "w"
	if raw {
		name = "raw"
	}
	return tensor.Tensor{Name: name, Type: t, Shape: tensor.Shape{int64(in), int64(rows)}, Data: data}
}

// quantMatMulRef is the reference of a quantized product: the reference
// activation quantizer and dot product per token and row.
func quantMatMulRef(w *tensor.Tensor, x []float32, T int, y []float32, ldy int) {
	in, rows := w.RowLen(), w.NumRows()
	vt := vecDotType(w.Type)
	xqRow, _ := vt.RowBytes(int64(in))
	xq := make([]byte, xqRow)
	act := refKernels(vt).QuantizeActivation
	dot := refKernels(w.Type).VecDot
	for t := 0; t < T; t++ {
		act(xq, x[t*in:(t+1)*in])
		for r := 0; r < rows; r++ {
			y[t*ldy+r] = dot(in, w.Row(r), xq)
		}
	}
}

// sameFloat reports whether a and b have the same bits or are both NaN.
func sameFloat(a, b float32) bool {
	return math.Float32bits(a) == math.Float32bits(b) || (a != a && b != b)
}

// checkQuantMatMul compares Ops.MatMul with the reference bit for bit.
func checkQuantMatMul(t *testing.T, ops *Ops, w tensor.Tensor, x []float32, T, ldy int) {
	t.Helper()
	rows := w.NumRows()
	got := make([]float32, (T-1)*ldy+rows)
	want := make([]float32, len(got))
	for i := range got {
		got[i] = -7
	}
	ops.MatMul(&w, x, T, got, ldy)
	quantMatMulRef(&w, x, T, want, ldy)
	finite := 0
	for tk := 0; tk < T; tk++ {
		for r := 0; r < rows; r++ {
			if v := float64(want[tk*ldy+r]); !math.IsNaN(v) && !math.IsInf(v, 0) {
				finite++
			}
		}
	}
	if raw := w.Name == "raw"; !raw && finite < T*rows {
		t.Fatalf("%v: %d of %d reference results are not finite: the test data is too extreme", w.Type, T*rows-finite, T*rows)
	}
	for tk := 0; tk < T; tk++ {
		for r := 0; r < rows; r++ {
			g, e := got[tk*ldy+r], want[tk*ldy+r]
			if !sameFloat(g, e) {
				t.Fatalf("%s %v in=%d rows=%d T=%d: y[%d][%d] = %v (%#x), reference %v (%#x)", Active(), w.Type, w.RowLen(), rows, T, tk, r, g, math.Float32bits(g), e, math.Float32bits(e))
			}
		}
	}
}

// TestQuantMatMulExact checks every quantized type's matrix product against
// the reference bit for bit, under every variant, thread count, tile shape
// and row tail.
func TestQuantMatMulExact(t *testing.T) {
	eachVariant(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(11, 12))
		for _, threads := range []int{1, 2, 3} {
			ops := NewOps(NewPool(threads))
			for _, typ := range quantTypes {
				be := typ.BlockElems()
				for _, sz := range [][3]int{{1, 1, 1}, {2, 8, 1}, {1, 13, 1}, {3, 4, 2}, {2, 37, 5}, {4, 64, 1}, {1, 9, 9}, {8, 24, 4}, {3, 300, 1}, {2, 20, 17}} {
					in, rows, T := sz[0]*be, sz[1], sz[2]
					for _, raw := range []bool{false, true} {
						w := quantMatrix(r, typ, in, rows, r.IntN(3), raw)
						checkQuantMatMul(t, ops, w, scaledVec(r, T*in), T, rows+r.IntN(2))
					}
				}
			}
			ops.Pool.Close()
		}
	})
}

// TestQuantActivation checks each variant's activation quantizers byte for
// byte against the reference, and their aux data against the bytes they
// wrote.
func TestQuantActivation(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 22))
	for _, v := range variants {
		for vt, act := range v.act {
			t.Run(v.Name+"/"+vt.String(), func(t *testing.T) {
				for _, n := range []int{256, 512, 2048, 4096} {
					for range 20 {
						x := scaledVec(r, n)
						checkAct(t, vt, act, x)
					}
				}
			})
		}
	}
}

// checkAct compares one activation quantizer with the reference on x.
func checkAct(t *testing.T, vt tensor.DType, act actFunc, x []float32) {
	t.Helper()
	size, _ := vt.RowBytes(int64(len(x)))
	want := make([]byte, size)
	refKernels(vt).QuantizeActivation(want, x)
	got := make([]byte, size)
	for i := range got {
		got[i] = 0x5a
	}
	nb := len(x) / vt.BlockElems()
	aux := make([]byte, nb*auxBytes(vt))
	act(got, aux, x)
	for i := range want {
		if got[i] != want[i] {
			bb := vt.BlockBytes()
			b := i / bb
			t.Fatalf("%v of %d values: byte %d (block %d, offset %d) = %#02x, reference %#02x\nx %v", vt, len(x), i, b, i%bb, got[i], want[i], x[b*vt.BlockElems():(b+1)*vt.BlockElems()])
		}
	}
	if vt != tensor.Q8_0 {
		return
	}
	for b := 0; b < nb; b++ {
		blk := got[b*34 : (b+1)*34]
		d := tensor.F16ToF32(binary.LittleEndian.Uint16(blk))
		var s int32
		for _, q := range blk[2:] {
			s += int32(int8(q))
		}
		gd := math.Float32frombits(binary.LittleEndian.Uint32(aux[8*b:]))
		gs := int32(binary.LittleEndian.Uint32(aux[8*b+4:]))
		if !sameFloat(gd, d) || gs != s {
			t.Fatalf("block %d: aux (%v, %d), want (%v, %d)", b, gd, gs, d, s)
		}
		if plain := aux[8*nb+32*b : 8*nb+32*(b+1)]; string(plain) != string(blk[2:]) {
			t.Fatalf("block %d: plain quants %x, block %x", b, plain, blk[2:])
		}
	}
}

// FuzzQuantActivation compares the activation quantizers with the
// reference on fuzzed float bits.
func FuzzQuantActivation(f *testing.F) {
	f.Add([]byte{0, 0, 128, 63, 0, 0, 0, 191}, uint8(1))
	f.Add([]byte{1, 0, 0, 0, 255, 255, 127, 127}, uint8(0))
	f.Fuzz(func(t *testing.T, b []byte, blocks uint8) {
		n := 256 * (1 + int(blocks%8))
		x := make([]float32, n)
		for i := range x {
			if len(b) >= 4 {
				k := (4 * i) % (len(b) - 3)
				x[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[k:]) + uint32(i/len(b)))
			}
			// Activations are finite: NaN or Inf in a block gives a
			// non-finite scale whatever the quants are.
			if math.IsNaN(float64(x[i])) || math.IsInf(float64(x[i]), 0) {
				x[i] = 1
			}
		}
		for _, v := range variants {
			for vt, act := range v.act {
				checkAct(t, vt, act, x)
			}
		}
	})
}

// FuzzQuantMatMul compares every variant's quantized product with the
// reference bit for bit on fuzzed shapes, weights and activations.
func FuzzQuantMatMul(f *testing.F) {
	f.Add(uint64(1), uint8(0), uint8(2), uint16(9), uint8(3), false)
	f.Add(uint64(2), uint8(3), uint8(1), uint16(16), uint8(1), true)
	f.Add(uint64(3), uint8(5), uint8(3), uint16(33), uint8(6), false)
	ops := NewOps(NewPool(2))
	f.Fuzz(func(t *testing.T, seed uint64, typ, blocks uint8, rows uint16, T uint8, raw bool) {
		if rows == 0 || rows > 512 {
			return
		}
		wt := quantTypes[int(typ)%len(quantTypes)]
		in := wt.BlockElems() * (1 + int(blocks%8))
		nT := 1 + int(T%12)
		for _, v := range Variants() {
			restore, _ := Use(v)
			r := rand.New(rand.NewPCG(seed, 99))
			w := quantMatrix(r, wt, in, int(rows), int(seed%3), raw)
			checkQuantMatMul(t, ops, w, scaledVec(r, nT*in), nT, int(rows))
			restore()
		}
	})
}

// TestQuantCasesFixture runs quant_cases.gguf through the matrix product
// under every variant: the activations MatMul quantizes equal ggml's T.xq
// byte for byte, and every row's product is within the README's tolerance
// of ggml's T.y (and equal to the reference dot product bit for bit).
func TestQuantCasesFixture(t *testing.T) {
	f, err := gguf.Open(fixtures.Path(t, "quant", "quant_cases.gguf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names, err := f.Strings("quant_cases.types")
	if err != nil {
		t.Fatal(err)
	}
	read := func(name string) ([]byte, *gguf.TensorInfo) {
		ti, ok := f.Tensor(name)
		if !ok {
			t.Fatalf("no tensor %s", name)
		}
		b := make([]byte, ti.Size)
		if err := f.ReadTensor(ti, b); err != nil {
			t.Fatal(err)
		}
		return b, ti
	}
	f32 := func(b []byte) []float32 {
		v := make([]float32, len(b)/4)
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
		return v
	}
	ran := 0
	for _, name := range names {
		typ, err := tensor.ParseDType(name)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Contains(quantTypes, typ) {
			continue
		}
		ran++
		qb, qi := read(name + ".quant")
		w := tensor.Tensor{Name: name, Type: typ, Shape: qi.Shape, Data: qb}
		x := f32(first(read(name + ".x")))
		xq, _ := read(name + ".xq")
		yg := f32(first(read(name + ".y")))
		deq := f32(first(read(name + ".dequant")))
		in, rows := w.RowLen(), w.NumRows()
		vt := vecDotType(typ)
		xd := make([]float32, in)
		refKernels(vt).Dequantize(xd, xq)
		// The README's tolerances (Q4_1 and Q5_1 use ggml's formula with
		// the fp16 s of Q8_1, so they get the tight one).
		rtol := 1e-5
		switch typ {
		case tensor.TQ2_0:
			rtol = 5e-5
		case tensor.TQ1_0:
			rtol = 5e-4
		}
		eachVariant(t, func(t *testing.T) {
			if act := active.act[vt]; act != nil {
				got := make([]byte, len(xq))
				aux := make([]byte, in/vt.BlockElems()*auxBytes(vt))
				act(got, aux, x)
				for i := range got {
					if got[i] != xq[i] {
						t.Fatalf("%s: %s activation byte %d = %#02x, ggml's T.xq %#02x", name, Active(), i, got[i], xq[i])
					}
				}
			}
			ops := NewOps(NewPool(2))
			defer ops.Pool.Close()
			// Several tokens (copies of T.x) so that the tiles of every
			// width run.
			for _, T := range []int{1, 2, 3, 4, 5} {
				xs := make([]float32, T*in)
				for tk := 0; tk < T; tk++ {
					copy(xs[tk*in:], x)
				}
				y := make([]float32, T*rows)
				ops.MatMul(&w, xs, T, y, rows)
				checkQuantMatMul(t, ops, w, xs, T, rows)
				for tk := 0; tk < T; tk++ {
					for r := 0; r < rows; r++ {
						l1 := 0.0
						for j := 0; j < in; j++ {
							l1 += math.Abs(float64(deq[r*in+j]) * float64(xd[j]))
						}
						if d := math.Abs(float64(y[tk*rows+r]) - float64(yg[r])); d > rtol*l1+1e-30 {
							t.Fatalf("%s %s T=%d: row %d = %v, ggml %v (|diff| %.3g > %.1g·L1 %.4g)", name, Active(), T, r, y[tk*rows+r], yg[r], d, rtol, l1)
						}
					}
				}
			}
		})
	}
	if ran < 10 {
		t.Fatalf("%s: only %d quantized types ran", f.Name, ran)
	}
}

// TestGroupedMatMulsMatchesMatMul checks that products each of its own
// input (of different lengths, block types sharing an activation type, and
// a float type) give exactly what one MatMul per matrix gives, and that a
// warm call does not allocate.
func TestGroupedMatMulsMatchesMatMul(t *testing.T) {
	eachVariant(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(41, 42))
		ops := NewOps(NewPool(2))
		defer ops.Pool.Close()
		mats := []struct {
			typ     tensor.DType
			in, out int
		}{
			{tensor.Q4_K, 512, 48}, {tensor.Q4_K, 512, 48}, {tensor.Q6_K, 256, 40}, {tensor.Q4_K, 768, 16},
			{tensor.Q8_0, 512, 20}, {tensor.F16, 256, 8}, {tensor.Q4_0, 256, 36}, {tensor.Q6_K, 512, 64},
			{tensor.Q4_K, 256, 33}, {tensor.IQ4_NL, 512, 24},
		}
		for _, T := range []int{1, 2, 5} {
			jobs := make([]MatJob, len(mats))
			for i, mt := range mats {
				var w tensor.Tensor
				if isFloat(mt.typ) {
					w = randMatrix(r, mt.typ, mt.in, mt.out, 0)
				} else {
					w = quantMatrix(r, mt.typ, mt.in, mt.out, 0, false)
				}
				jobs[i] = MatJob{W: &w, X: scaledVec(r, T*mt.in), Y: make([]float32, T*mt.out), LDY: mt.out}
			}
			ops.GroupedMatMuls(T, jobs)
			for i, j := range jobs {
				want := make([]float32, T*mats[i].out)
				ops.MatMul(j.W, j.X, T, want, mats[i].out)
				for k := range want {
					if !sameFloat(j.Y[k], want[k]) {
						t.Fatalf("T=%d job %d (%v): y[%d] = %v grouped, %v alone", T, i, mats[i].typ, k, j.Y[k], want[k])
					}
				}
			}
			if a := testing.AllocsPerRun(10, func() { ops.GroupedMatMuls(T, jobs) }); a != 0 {
				t.Errorf("T=%d: GroupedMatMuls allocates %v times per call", T, a)
			}
		}
	})
}

func first[A, B any](a A, _ B) A { return a }

// BenchmarkQuantMatMul times every block type's matrix product under every
// variant, for 1, 4 and 64 tokens, on a 2048 × 2048 matrix with one worker:
// MB/s and GB/s are bytes of weights streamed per second, Gweight-tok/s the
// weight × token products per second.
func BenchmarkQuantMatMul(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, typ := range quantTypes {
		w := quantMatrix(r, typ, 2048, 2048, 0, false)
		for _, v := range Variants() {
			for _, T := range []int{1, 4, 64} {
				x := randVec(r, T*2048)
				y := make([]float32, T*2048)
				b.Run(fmt.Sprintf("%v/%s/T=%d", typ, v, T), func(b *testing.B) {
					restore, err := Use(v)
					if err != nil {
						b.Fatal(err)
					}
					defer restore()
					ops := NewOps(NewPool(1))
					defer ops.Pool.Close()
					b.SetBytes(int64(len(w.Data)))
					for b.Loop() {
						ops.MatMul(&w, x, T, y, 2048)
					}
					b.ReportMetric(float64(len(w.Data))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GB/s")
					b.ReportMetric(float64(2048*2048*T)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gweight-tok/s")
				})
			}
		}
	}
}

// TestMatMulsMatchesMatMul checks that products sharing their input (mixed
// block types with two activation types, and a float type) give exactly
// what one MatMul per matrix gives, and that neither allocates once warm.
func TestMatMulsMatchesMatMul(t *testing.T) {
	eachVariant(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(31, 32))
		ops := NewOps(NewPool(2))
		defer ops.Pool.Close()
		const in = 512
		types := []tensor.DType{tensor.Q4_K, tensor.Q6_K, tensor.Q5_0, tensor.F16, tensor.Q8_0}
		rows := []int{64, 24, 40, 8, 33}
		ws := make([]tensor.Tensor, len(types))
		for i, typ := range types {
			if isFloat(typ) {
				ws[i] = randMatrix(r, typ, in, rows[i], 0)
			} else {
				ws[i] = quantMatrix(r, typ, in, rows[i], 0, false)
			}
		}
		for _, T := range []int{1, 3, 9} {
			x := scaledVec(r, T*in)
			jobs := make([]MatJob, len(ws))
			for i := range ws {
				jobs[i] = MatJob{W: &ws[i], Y: make([]float32, T*rows[i]), LDY: rows[i]}
			}
			ops.MatMuls(x, T, jobs)
			for i := range ws {
				want := make([]float32, T*rows[i])
				ops.MatMul(&ws[i], x, T, want, rows[i])
				for j := range want {
					if !sameFloat(jobs[i].Y[j], want[j]) {
						t.Fatalf("T=%d %v: y[%d] = %v shared, %v alone", T, types[i], j, jobs[i].Y[j], want[j])
					}
				}
			}
			if a := testing.AllocsPerRun(10, func() { ops.MatMuls(x, T, jobs) }); a != 0 {
				t.Errorf("T=%d: MatMuls allocates %v times per call", T, a)
			}
		}
	})
}

// BenchmarkGroupedMatMuls times one token through eight MoE experts of
// qwen3-30b-a3b's shape (Q4_K gate and up 768 × 2048, down 2048 × 768),
// drawn in turn from 64 so the weights come from memory, on two workers:
// "each" runs every expert's gate and up as one MatMuls and its down as a
// MatMul (two parallel runs per expert), "grouped" runs all gates and ups
// in one MatMuls and all downs in one GroupedMatMuls.
func BenchmarkGroupedMatMuls(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	const E, K, H, F = 64, 8, 2048, 768
	gate, up, down := make([]tensor.Tensor, E), make([]tensor.Tensor, E), make([]tensor.Tensor, E)
	for e := range E {
		gate[e] = quantMatrix(r, tensor.Q4_K, H, F, 0, false)
		up[e] = quantMatrix(r, tensor.Q4_K, H, F, 0, false)
		down[e] = quantMatrix(r, tensor.Q4_K, F, H, 0, false)
	}
	x := randVec(r, H)
	g, u, a, y := make([]float32, K*F), make([]float32, K*F), make([]float32, K*F), make([]float32, K*H)
	ops := NewOps(NewPool(2))
	defer ops.Pool.Close()
	bytes := int64(K) * int64(len(gate[0].Data)+len(up[0].Data)+len(down[0].Data))
	b.Run("each", func(b *testing.B) {
		b.SetBytes(bytes)
		var jobs [2]MatJob
		for i := 0; b.Loop(); i++ {
			for k := range K {
				e := (i*K + k) % E
				jobs[0] = MatJob{W: &gate[e], Y: g[:F], LDY: F}
				jobs[1] = MatJob{W: &up[e], Y: u[:F], LDY: F}
				ops.MatMuls(x, 1, jobs[:])
				SiLUMul(a[:F], g[:F], u[:F])
				ops.MatMul(&down[e], a[:F], 1, y[k*H:(k+1)*H], H)
			}
		}
	})
	b.Run("grouped", func(b *testing.B) {
		b.SetBytes(bytes)
		var jobs [2 * K]MatJob
		for i := 0; b.Loop(); i++ {
			for k := range K {
				e := (i*K + k) % E
				jobs[2*k] = MatJob{W: &gate[e], Y: g[k*F : (k+1)*F], LDY: F}
				jobs[2*k+1] = MatJob{W: &up[e], Y: u[k*F : (k+1)*F], LDY: F}
			}
			ops.MatMuls(x, 1, jobs[:])
			SiLUMul(a, g, u)
			for k := range K {
				e := (i*K + k) % E
				jobs[k] = MatJob{W: &down[e], X: a[k*F : (k+1)*F], Y: y[k*H : (k+1)*H], LDY: H}
			}
			ops.GroupedMatMuls(1, jobs[:K])
		}
	})
}
