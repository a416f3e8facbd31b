package quant

import (
	"testing"

	"github.com/memfit/memfit/internal/tensor"
)

// benchN is the row length of the benchmarks (a typical hidden size).
const benchN = 4096

// benchVariants returns the variants worth timing: all but the test-only
// one.
func benchVariants(t tensor.DType) []Kernels {
	var out []Kernels
	for _, v := range Variants(t) {
		if v.Name != blockwiseName {
			out = append(out, v)
		}
	}
	return out
}

// reportGBs reports the weight bytes processed per second.
func reportGBs(b *testing.B, bytesPerOp int) {
	b.SetBytes(int64(bytesPerOp))
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(bytesPerOp)*float64(b.N)/s/1e9, "GB/s")
	}
}

// BenchmarkDequantize decodes one row of benchN values per op; GB/s counts
// the quantized (weight) bytes read.
func BenchmarkDequantize(b *testing.B) {
	for _, typ := range Types() {
		for _, v := range benchVariants(typ) {
			if v.Dequantize == nil {
				continue
			}
			b.Run(typ.String()+"/"+v.Name, func(b *testing.B) {
				x := make([]float32, benchN)
				rng := splitmix64(1)
				randomValues(&rng, x, 1)
				q := make([]byte, benchN/typ.BlockElems()*typ.BlockBytes())
				Variants(typ)[0].Quantize(q, x)
				y := make([]float32, benchN)
				for b.Loop() {
					v.Dequantize(y, q)
				}
				reportGBs(b, len(q))
			})
		}
	}
}

// BenchmarkVecDot multiplies one weight row of benchN values with a
// quantized activation per op; GB/s counts the weight bytes read.
func BenchmarkVecDot(b *testing.B) {
	for _, typ := range Types() {
		for _, v := range benchVariants(typ) {
			if v.VecDot == nil {
				continue
			}
			b.Run(typ.String()+"/"+v.Name, func(b *testing.B) {
				tr, _ := Traits(typ)
				x := make([]float32, benchN)
				rng := splitmix64(2)
				randomValues(&rng, x, 1)
				w := make([]byte, benchN/tr.BlockElems*tr.BlockBytes)
				Variants(typ)[0].Quantize(w, x)
				randomValues(&rng, x, 1)
				xq := make([]byte, benchN/tr.VecDotType.BlockElems()*tr.VecDotType.BlockBytes())
				tr.QuantizeActivation(xq, x)
				for b.Loop() {
					v.VecDot(benchN, w, xq)
				}
				reportGBs(b, len(w))
			})
		}
	}
}

// BenchmarkQuantize quantizes one row of benchN values per op (the model
// quantizer's speed); GB/s counts the float32 bytes read.
func BenchmarkQuantize(b *testing.B) {
	for _, typ := range Types() {
		b.Run(typ.String(), func(b *testing.B) {
			x := make([]float32, benchN)
			rng := splitmix64(3)
			randomValues(&rng, x, 1)
			q := make([]byte, benchN/typ.BlockElems()*typ.BlockBytes())
			quant := Variants(typ)[0].Quantize
			for b.Loop() {
				quant(q, x)
			}
			reportGBs(b, 4*benchN)
		})
	}
}
