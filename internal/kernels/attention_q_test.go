package kernels

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/memfit/memfit/internal/quant"
	"github.com/memfit/memfit/internal/tensor"
)

// quantLayer quantizes ctx positions of kvd keys and values with ggml's
// reference quantizer of t.
func quantLayer(t testing.TB, typ tensor.DType, k, v []float32, kvd int) *KVLayer {
	t.Helper()
	rb := kvd / QuantKVBlock * typ.BlockBytes()
	c := &QuantKV{Type: typ, RowBytes: rb, K: make([]byte, len(k)/kvd*rb), V: make([]byte, len(v)/kvd*rb)}
	if err := quant.Quantize(typ, c.K, k); err != nil {
		t.Fatal(err)
	}
	if err := quant.Quantize(typ, c.V, v); err != nil {
		t.Fatal(err)
	}
	return &KVLayer{Q: c}
}

// TestQuantKVElem checks the reference's element reader against
// internal/quant's dequantizer.
func TestQuantKVElem(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, typ := range []tensor.DType{tensor.Q8_0, tensor.Q4_0} {
		const kvd, ctx = 96, 5
		k, v := randVec(r, ctx*kvd), randVec(r, ctx*kvd)
		l := quantLayer(t, typ, k, v, kvd)
		want := make([]float32, ctx*kvd)
		if err := quant.Dequantize(typ, want, l.Q.K); err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if g := l.key(i); g != float64(w) {
				t.Fatalf("%v key %d = %v, dequantized %v", typ, i, g, w)
			}
		}
		if err := quant.Dequantize(typ, want, l.Q.V); err != nil {
			t.Fatal(err)
		}
		for i, w := range want {
			if g := l.value(i); g != float64(w) {
				t.Fatalf("%v value %d = %v, dequantized %v", typ, i, g, w)
			}
		}
	}
}

func TestCheckQuantKV(t *testing.T) {
	for _, tc := range []struct {
		typ     tensor.DType
		headDim int
		ok      bool
	}{
		{tensor.Q8_0, 128, true}, {tensor.Q4_0, 64, true}, {tensor.Q8_0, 48, false},
		{tensor.Q4_0, 0, false}, {tensor.F16, 128, false}, {tensor.Q4_K, 256, false},
	} {
		if err := CheckQuantKV(tc.typ, tc.headDim); (err == nil) != tc.ok {
			t.Errorf("CheckQuantKV(%v, %d) = %v, want ok %v", tc.typ, tc.headDim, err, tc.ok)
		}
	}
}

// TestQuantAttentionMatchesReference compares the quantized-cache kernels
// with AttentionRef over the same blocks. The reference sums in float64
// over dequantized values, the fast path in float32 per block (the scale
// applied once per block), so they differ by float32 rounding only: a few
// ulps of outputs of magnitude about 1 (the values are N(0,1)).
func TestQuantAttentionMatchesReference(t *testing.T) {
	eachVariant(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(3, 5))
		ops := NewOps(NewPool(2))
		defer ops.Pool.Close()
		for _, tc := range []struct {
			heads, kvHeads, headDim, ctx, T, window int
			softcap                                 float32
		}{
			{4, 2, 32, 24, 24, 0, 0},
			{4, 4, 64, 10, 1, 0, 0},
			{6, 3, 32, 40, 7, 5, 0},
			{4, 1, 64, 30, 30, 6, 2.5},
			{2, 2, 32, 1, 1, 0, 0},
			{8, 2, 128, 70, 2, 33, 0},
			{32, 8, 128, 200, 1, 0, 0},
		} {
			for _, typ := range []tensor.DType{tensor.Q8_0, tensor.Q4_0} {
				kvd := tc.kvHeads * tc.headDim
				layer := quantLayer(t, typ, randVec(r, tc.ctx*kvd), randVec(r, tc.ctx*kvd), kvd)
				a := Attention{
					Q:     randVec(r, tc.T*tc.heads*tc.headDim),
					Heads: tc.heads, KVHeads: tc.kvHeads, HeadDim: tc.headDim, Window: tc.window,
					Scale: 0.125, Softcap: tc.softcap, MaxPos: tc.ctx, KVStride: kvd,
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
						t.Fatalf("%+v %v: out[%d] = %v, reference %v", tc, typ, i, got[i], want[i])
					}
				}
			}
		}
	})
}

// TestQuantAttentionMixedBatch: tokens of one batch may attend to caches of
// different types (each sequence has its own).
func TestQuantAttentionMixedBatch(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	ops := NewOps(NewPool(2))
	defer ops.Pool.Close()
	const heads, kvHeads, hd, ctx = 4, 2, 32, 9
	kvd := kvHeads * hd
	k, v := randVec(r, ctx*kvd), randVec(r, ctx*kvd)
	layers := []*KVLayer{
		{K: k, V: v},
		quantLayer(t, tensor.Q8_0, k, v, kvd),
		{K16: toF16(k), V16: toF16(v)},
		quantLayer(t, tensor.Q4_0, k, v, kvd),
	}
	a := Attention{
		Q: randVec(r, len(layers)*heads*hd), Heads: heads, KVHeads: kvHeads, HeadDim: hd,
		Scale: 0.2, MaxPos: ctx, KVStride: kvd, KV: layers, Pos: []int{8, 5, 8, 3},
	}
	want := make([]float32, len(layers)*heads*hd)
	a.Out = want
	AttentionRef(&a)
	got := make([]float32, len(want))
	a.Out = got
	ops.Attention(&a)
	for i := range got {
		if d := math.Abs(float64(got[i] - want[i])); d > 1e-5 {
			t.Fatalf("out[%d] = %v, reference %v", i, got[i], want[i])
		}
	}
}

func FuzzQuantAttention(f *testing.F) {
	f.Add(uint8(2), uint8(1), uint8(1), uint8(5), uint8(0), false, uint64(1))
	f.Add(uint8(8), uint8(2), uint8(4), uint8(33), uint8(3), true, uint64(2))
	ops := NewOps(NewPool(2))
	f.Fuzz(func(t *testing.T, heads, kvHeads, blocks, ctx, window uint8, q4 bool, seed uint64) {
		if kvHeads == 0 || heads == 0 || heads%kvHeads != 0 || blocks == 0 || blocks > 8 || ctx == 0 || heads > 16 {
			return
		}
		typ := tensor.Q8_0
		if q4 {
			typ = tensor.Q4_0
		}
		r := rand.New(rand.NewPCG(seed, 3))
		hd := int(blocks) * QuantKVBlock
		kvd := int(kvHeads) * hd
		n := int(ctx)
		k, v := randVec(r, n*kvd), randVec(r, n*kvd)
		if seed%3 == 0 { // large and tiny magnitudes
			for i := range k {
				k[i] *= 1e3
				v[i] *= 1e-3
			}
		}
		layer := quantLayer(t, typ, k, v, kvd)
		a := Attention{
			Q: randVec(r, int(heads)*hd), Heads: int(heads), KVHeads: int(kvHeads), HeadDim: hd,
			Window: int(window), Scale: float32(1 / math.Sqrt(float64(hd))), MaxPos: n, KVStride: kvd,
			KV: []*KVLayer{layer}, Pos: []int{n - 1},
		}
		want := make([]float32, int(heads)*hd)
		a.Out = want
		AttentionRef(&a)
		got := make([]float32, len(want))
		a.Out = got
		ops.Attention(&a)
		var mag float64
		for _, w := range want {
			mag = max(mag, math.Abs(float64(w)))
		}
		for i := range got {
			if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+mag) {
				t.Fatalf("out[%d] = %v, reference %v", i, got[i], want[i])
			}
		}
	})
}

// BenchmarkQuantAttention measures one decode token's attention over a
// context of 1024 positions with llama-3.1-8b's heads, per cache type.
func BenchmarkQuantAttention(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	const heads, kvHeads, hd, ctx = 32, 8, 128, 1024
	kvd := kvHeads * hd
	k, v := randVec(r, ctx*kvd), randVec(r, ctx*kvd)
	for _, tc := range []struct {
		name  string
		layer *KVLayer
	}{
		{"f32", &KVLayer{K: k, V: v}},
		{"f16", &KVLayer{K16: toF16(k), V16: toF16(v)}},
		{"q8_0", quantLayer(b, tensor.Q8_0, k, v, kvd)},
		{"q4_0", quantLayer(b, tensor.Q4_0, k, v, kvd)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			ops := NewOps(NewPool(2))
			defer ops.Pool.Close()
			a := Attention{
				Q: randVec(r, heads*hd), Out: make([]float32, heads*hd), Heads: heads, KVHeads: kvHeads, HeadDim: hd,
				Scale: 0.088, MaxPos: ctx, KVStride: kvd, KV: []*KVLayer{tc.layer}, Pos: []int{ctx - 1},
			}
			for b.Loop() {
				ops.Attention(&a)
			}
		})
	}
}
