package kernels

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand/v2"
	"sync/atomic"
	"testing"

	"github.com/memfit/memfit/internal/tensor"
)

// randMatrix returns an in × rows weight of type t with N(0,1) values,
// placed at byte offset off of its buffer (to exercise unaligned data).
func randMatrix(r *rand.Rand, t tensor.DType, in, rows, off int) tensor.Tensor {
	size, _ := tensor.Bytes(t, tensor.Shape{int64(in), int64(rows)})
	buf := make([]byte, int(size)+off)
	data := buf[off:]
	for i := 0; i < in*rows; i++ {
		v := float32(r.NormFloat64())
		switch t {
		case tensor.F32:
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
		case tensor.F16:
			binary.LittleEndian.PutUint16(data[2*i:], tensor.F32ToF16(v))
		case tensor.BF16:
			binary.LittleEndian.PutUint16(data[2*i:], tensor.F32ToBF16(v))
		}
	}
	return tensor.Tensor{Name: "w", Type: t, Shape: tensor.Shape{int64(in), int64(rows)}, Data: data}
}

func randVec(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

// checkMatMul compares Ops.MatMul with MatMulRef; float32 sums in another
// order agree to a few ulps of the sum of |products|.
func checkMatMul(t *testing.T, ops *Ops, w tensor.Tensor, T, ldy int, r *rand.Rand) {
	t.Helper()
	in, rows := w.RowLen(), w.NumRows()
	x := randVec(r, T*in)
	got := make([]float32, (T-1)*ldy+rows)
	want := make([]float32, len(got))
	ops.MatMul(&w, x, T, got, ldy)
	MatMulRef(&w, x, T, want, ldy)
	buf := make([]float32, in)
	for tk := 0; tk < T; tk++ {
		for row := 0; row < rows; row++ {
			var l1 float64
			for i, v := range RowF32(&w, row, buf) {
				l1 += math.Abs(float64(v) * float64(x[tk*in+i]))
			}
			g, e := got[tk*ldy+row], want[tk*ldy+row]
			if d := math.Abs(float64(g - e)); d > 4e-7*l1*math.Sqrt(float64(in))+1e-30 {
				t.Fatalf("%v in=%d rows=%d T=%d: y[%d][%d] = %v, reference %v (L1 %v)", w.Type, in, rows, T, tk, row, g, e, l1)
			}
		}
	}
}

// eachVariant runs f under every kernel variant this CPU has.
func eachVariant(t *testing.T, f func(t *testing.T)) {
	if len(Variants()) < 1 || Variants()[0] != "go" {
		t.Fatalf("variants %v: the plain Go one must come first", Variants())
	}
	for _, v := range Variants() {
		restore, err := Use(v)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(v, f)
		restore()
	}
}

func TestMatMulMatchesReference(t *testing.T) {
	eachVariant(t, testMatMulMatchesReference)
}

func testMatMulMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, threads := range []int{1, 2, 3} {
		ops := NewOps(NewPool(threads))
		for _, typ := range []tensor.DType{tensor.F32, tensor.F16, tensor.BF16} {
			for _, sz := range [][3]int{{1, 1, 1}, {7, 5, 3}, {16, 4, 1}, {17, 6, 2}, {64, 33, 1}, {72, 301, 24}, {256, 768, 5}, {300, 9, 2}} {
				for _, off := range []int{0, 2} {
					w := randMatrix(r, typ, sz[0], sz[1], off)
					checkMatMul(t, ops, w, sz[2], sz[1]+off, r)
				}
			}
		}
		ops.Pool.Close()
	}
}

func FuzzMatMul(f *testing.F) {
	f.Add(uint8(3), uint16(17), uint8(2), uint8(0), uint64(1))
	f.Add(uint8(64), uint16(5), uint8(7), uint8(2), uint64(9))
	ops := NewOps(NewPool(2))
	types := []tensor.DType{tensor.F32, tensor.F16, tensor.BF16}
	f.Fuzz(func(t *testing.T, in uint8, rows uint16, T uint8, typ uint8, seed uint64) {
		if in == 0 || rows == 0 || T == 0 || rows > 2048 {
			return
		}
		for _, v := range Variants() {
			restore, _ := Use(v)
			r := rand.New(rand.NewPCG(seed, 7))
			w := randMatrix(r, types[int(typ)%3], int(in), int(rows), int(seed%3))
			checkMatMul(t, ops, w, int(T%16)+1, int(rows), r)
			restore()
		}
	})
}

func TestAttentionMatchesReference(t *testing.T) {
	eachVariant(t, testAttentionMatchesReference)
}

func testAttentionMatchesReference(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	ops := NewOps(NewPool(2))
	defer ops.Pool.Close()
	for _, tc := range []struct {
		heads, kvHeads, headDim, ctx, T, window int
		softcap                                 float32
	}{
		{4, 2, 16, 24, 24, 0, 0},
		{4, 4, 8, 10, 1, 0, 0},
		{6, 3, 12, 40, 7, 5, 0},
		{4, 1, 16, 30, 30, 6, 2.5},
		{2, 2, 4, 1, 1, 0, 0},
		{4, 2, 64, 37, 3, 0, 0},
		{2, 1, 20, 9, 9, 0, 0},
		{8, 2, 128, 70, 2, 33, 0},
	} {
		for _, f16 := range []bool{false, true} {
			kvd := tc.kvHeads * tc.headDim
			layer := &KVLayer{K: randVec(r, tc.ctx*kvd), V: randVec(r, tc.ctx*kvd)}
			if f16 {
				layer = &KVLayer{K16: toF16(layer.K), V16: toF16(layer.V)}
			}
			a := Attention{
				Q:     randVec(r, tc.T*tc.heads*tc.headDim),
				Heads: tc.heads, KVHeads: tc.kvHeads, HeadDim: tc.headDim, Window: tc.window,
				Scale: 0.25, Softcap: tc.softcap, MaxPos: tc.ctx, KVStride: kvd,
			}
			for i := 0; i < tc.T; i++ {
				a.Pos = append(a.Pos, tc.ctx-tc.T+i)
				a.KV = append(a.KV, layer)
			}
			want := make([]float32, tc.T*tc.heads*tc.headDim)
			a.Out = want
			AttentionRef(&a)
			got := make([]float32, len(want))
			a.Out = got
			ops.Attention(&a)
			for i := range got {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-5 {
					t.Fatalf("%+v f16=%v: out[%d] = %v, reference %v", tc, f16, i, got[i], want[i])
				}
			}
		}
	}
}

// TestMatMulBatchInvariant checks that a token's matrix product is bit for
// bit the same whatever batch it is computed in, under every variant: the
// output of a sequence must not depend on which others share its step.
func TestMatMulBatchInvariant(t *testing.T) {
	eachVariant(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(5, 6))
		ops := NewOps(NewPool(2))
		defer ops.Pool.Close()
		types := append([]tensor.DType{tensor.F32, tensor.F16, tensor.BF16}, quantTypes...)
		for _, typ := range types {
			for _, sz := range [][2]int{{256, 67}, {36, 9}, {8, 4}, {512, 16}} {
				in, rows := sz[0], sz[1]
				var w tensor.Tensor
				if isFloat(typ) {
					w = randMatrix(r, typ, in, rows, 0)
				} else {
					if in%typ.BlockElems() != 0 {
						continue
					}
					w = quantMatrix(r, typ, in, rows, 0, false)
				}
				const T = 7
				x := randVec(r, T*in)
				all := make([]float32, T*rows)
				ops.MatMul(&w, x, T, all, rows)
				for tk := range T {
					one := make([]float32, rows)
					ops.MatMul(&w, x[tk*in:(tk+1)*in], 1, one, rows)
					for i := range one {
						if math.Float32bits(one[i]) != math.Float32bits(all[tk*rows+i]) {
							t.Fatalf("%v %dx%d token %d row %d: alone %v, in a batch of %d %v", typ, rows, in, tk, i, one[i], T, all[tk*rows+i])
						}
					}
				}
			}
		}
	})
}

// toF16 rounds v to IEEE binary16.
func toF16(v []float32) []uint16 {
	out := make([]uint16, len(v))
	for i, x := range v {
		out[i] = tensor.F32ToF16(x)
	}
	return out
}

type countTask struct{ hits []atomic.Int32 }

func (c *countTask) Do(w, lo, hi int) {
	for i := lo; i < hi; i++ {
		c.hits[i].Add(1)
	}
}

func TestPoolCoversEveryItemOnce(t *testing.T) {
	p := NewPool(3)
	defer p.Close()
	for _, n := range []int{1, 2, 7, 100, 1001} {
		for _, grain := range []int{1, 3, 64, 5000} {
			c := &countTask{hits: make([]atomic.Int32, n)}
			p.Run(n, grain, c)
			for i := range c.hits {
				if got := c.hits[i].Load(); got != 1 {
					t.Fatalf("n=%d grain=%d: item %d ran %d times", n, grain, i, got)
				}
			}
		}
	}
}

func TestElementwise(t *testing.T) {
	x := []float32{1, -2, 3, 0.5}
	out := make([]float32, 4)
	RMSNorm(out, x, []float32{1, 2, 1, 1}, 1e-6)
	rms := math.Sqrt((1 + 4 + 9 + 0.25) / 4)
	for i, want := range []float64{1 / rms, -4 / rms, 3 / rms, 0.5 / rms} {
		if math.Abs(float64(out[i])-want) > 1e-6 {
			t.Errorf("RMSNorm[%d] = %v, want %v", i, out[i], want)
		}
	}
	v := []float32{1, 2, 3}
	Softmax(v)
	if s := v[0] + v[1] + v[2]; math.Abs(float64(s)-1) > 1e-6 || !(v[2] > v[1] && v[1] > v[0]) {
		t.Errorf("Softmax = %v", v)
	}
	g, u := []float32{0, 1, -1}, []float32{2, 2, 2}
	SiLUMul(out[:3], g, u)
	if out[0] != 0 || math.Abs(float64(out[1])-2*0.7310585786) > 1e-6 {
		t.Errorf("SiLUMul = %v", out[:3])
	}
	GELUTanhMul(out[:3], g, u)
	if out[0] != 0 || math.Abs(float64(out[1])-2*0.8411919906) > 1e-6 {
		t.Errorf("GELUTanhMul = %v", out[:3])
	}
	c := []float32{100, -0.1}
	Softcap(c, 2)
	if math.Abs(float64(c[0])-2) > 1e-6 || math.Abs(float64(c[1])+0.09983) > 1e-4 {
		t.Errorf("Softcap = %v", c)
	}
	// RoPE: NeoX and interleaved agree once pairs are laid out accordingly.
	cos, sin := make([]float32, 2), make([]float32, 2)
	RopeAngles(cos, sin, []float64{1, 0.01}, 3)
	neox := []float32{1, 2, 3, 4}  // pairs (1,3), (2,4)
	inter := []float32{1, 3, 2, 4} // the same pairs, adjacent
	RopeNeoX(neox, 4, cos, sin)
	RopeInterleaved(inter, 4, cos, sin)
	if neox[0] != inter[0] || neox[2] != inter[1] || neox[1] != inter[2] || neox[3] != inter[3] {
		t.Errorf("rope: neox %v, interleaved %v", neox, inter)
	}
}

func BenchmarkMatMul(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, v := range Variants() {
		for _, typ := range []tensor.DType{tensor.F32, tensor.F16, tensor.BF16} {
			for _, T := range []int{1, 64} {
				w := randMatrix(r, typ, 2048, 2048, 0)
				x := randVec(r, T*2048)
				y := make([]float32, T*2048)
				ops := NewOps(NewPool(1))
				b.Run(fmt.Sprintf("%s/%v/T=%d", v, typ, T), func(b *testing.B) {
					restore, err := Use(v)
					if err != nil {
						b.Fatal(err)
					}
					defer restore()
					b.Logf("variant %s", Active())
					b.SetBytes(int64(len(w.Data)))
					for b.Loop() {
						ops.MatMul(&w, x, T, y, 2048)
					}
					b.ReportMetric(float64(2*2048*2048*T)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				})
				ops.Pool.Close()
			}
		}
	}
}
