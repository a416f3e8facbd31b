package kv

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/quant"
	"github.com/memfit/memfit/internal/tensor"
)

func TestBytesAndLedger(t *testing.T) {
	const layers, ctx, kvd = 3, 10, 64
	for _, tc := range []struct {
		typ  tensor.DType
		want int64 // per position per layer, keys or values
	}{
		{tensor.F32, 4 * kvd}, {tensor.F16, 2 * kvd}, {tensor.Q8_0, 2 * 34}, {tensor.Q4_0, 2 * 18},
	} {
		if got := Bytes(tc.typ, layers, ctx, kvd); got != 2*layers*ctx*tc.want {
			t.Errorf("Bytes(%v) = %d, want %d", tc.typ, got, 2*layers*ctx*tc.want)
		}
		l := ledger.New(ledger.Unlimited)
		c, err := New(l, tc.typ, layers, ctx, kvd)
		if err != nil {
			t.Fatal(err)
		}
		if l.Used() != Bytes(tc.typ, layers, ctx, kvd) {
			t.Errorf("%v: ledger holds %d, Bytes says %d", tc.typ, l.Used(), Bytes(tc.typ, layers, ctx, kvd))
		}
		// The allocation is what was reserved.
		var held int64
		for _, L := range c.Layers {
			held += int64(4*(len(L.K)+len(L.V)) + 2*(len(L.K16)+len(L.V16)))
			if L.Q != nil {
				held += int64(len(L.Q.K) + len(L.Q.V))
			}
		}
		if held != l.Used() {
			t.Errorf("%v: %d bytes allocated, %d reserved", tc.typ, held, l.Used())
		}
		c.Release()
		if l.Used() != 0 {
			t.Errorf("%v: %d bytes left on the ledger after Release", tc.typ, l.Used())
		}
	}
}

func TestNewErrors(t *testing.T) {
	for _, tc := range []struct {
		name             string
		typ              tensor.DType
		layers, ctx, kvd int
		budget           int64
	}{
		{"empty", tensor.F16, 0, 4, 64, ledger.Unlimited},
		{"unsupported type", tensor.Q4_K, 1, 4, 256, ledger.Unlimited},
		{"row not whole blocks", tensor.Q8_0, 1, 4, 48, ledger.Unlimited},
		{"over budget", tensor.Q8_0, 2, 100, 64, 1000},
	} {
		if _, err := New(ledger.New(tc.budget), tc.typ, tc.layers, tc.ctx, tc.kvd); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestParseType(t *testing.T) {
	for s, want := range map[string]tensor.DType{"f16": tensor.F16, "F32": tensor.F32, "q8_0": tensor.Q8_0, "Q4_0": tensor.Q4_0} {
		if got, err := ParseType(s); err != nil || got != want {
			t.Errorf("ParseType(%q) = %v, %v; want %v", s, got, err, want)
		}
		if TypeName(want) != map[tensor.DType]string{tensor.F16: "f16", tensor.F32: "f32", tensor.Q8_0: "q8_0", tensor.Q4_0: "q4_0"}[want] {
			t.Errorf("TypeName(%v) = %q", want, TypeName(want))
		}
	}
	for _, bad := range []string{"", "q4_k", "bf16", "q8"} {
		if _, err := ParseType(bad); err == nil {
			t.Errorf("ParseType(%q): no error", bad)
		}
	}
}

// TestStore checks each type's rows: float types hold the values (f16
// rounded), quantized types the reference quantizer's blocks.
func TestStore(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	const layers, ctx, kvd = 2, 5, 96
	for _, typ := range Types {
		c, err := New(ledger.New(ledger.Unlimited), typ, layers, ctx, kvd)
		if err != nil {
			t.Fatal(err)
		}
		k, v := make([]float32, kvd), make([]float32, kvd)
		for i := range k {
			k[i], v[i] = float32(r.NormFloat64()), float32(r.NormFloat64())
		}
		c.Store(1, 3, k, v)
		L := c.Layers[1]
		got := make([]float32, kvd)
		for _, side := range []struct {
			src []float32
			f32 []float32
			f16 []uint16
			q   func() []byte
		}{
			{k, L.K, L.K16, func() []byte { return L.Q.K }},
			{v, L.V, L.V16, func() []byte { return L.Q.V }},
		} {
			want := make([]float32, kvd)
			switch typ {
			case tensor.F32:
				copy(got, side.f32[3*kvd:4*kvd])
				copy(want, side.src)
			case tensor.F16:
				for i := range got {
					got[i] = tensor.F16ToF32(side.f16[3*kvd+i])
					want[i] = tensor.F16ToF32(tensor.F32ToF16(side.src[i]))
				}
			default:
				rb := int(Bytes(typ, 1, 1, kvd) / 2)
				blocks := make([]byte, rb)
				if err := quant.Quantize(typ, blocks, side.src); err != nil {
					t.Fatal(err)
				}
				if err := quant.Dequantize(typ, want, blocks); err != nil {
					t.Fatal(err)
				}
				if err := quant.Dequantize(typ, got, side.q()[3*rb:4*rb]); err != nil {
					t.Fatal(err)
				}
			}
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%v: value %d = %v, want %v", typ, i, got[i], want[i])
				}
			}
		}
	}
}

// TestStoreAllocs: storing a position allocates nothing (it runs per token
// per layer).
func TestStoreAllocs(t *testing.T) {
	for _, typ := range Types {
		c, err := New(ledger.New(ledger.Unlimited), typ, 1, 4, 64)
		if err != nil {
			t.Fatal(err)
		}
		k, v := make([]float32, 64), make([]float32, 64)
		if n := testing.AllocsPerRun(10, func() { c.Store(0, 2, k, v) }); n != 0 {
			t.Errorf("%v: Store allocates %v times", typ, n)
		}
	}
}
