package tensor

import (
	"math"
	"testing"
)

// f16Exact converts binary16 to float64 from its definition.
func f16Exact(h uint16) float64 {
	s := 1.0
	if h&0x8000 != 0 {
		s = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0:
		return s * m * math.Pow(2, -24)
	case 0x1f:
		if m != 0 {
			return math.NaN()
		}
		return s * math.Inf(1)
	}
	return s * (1 + m/1024) * math.Pow(2, float64(e-15))
}

func TestF16AllValues(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		got := float64(F16ToF32(h))
		want := f16Exact(h)
		if math.IsNaN(want) {
			if !math.IsNaN(got) {
				t.Fatalf("%#04x: got %v, want NaN", h, got)
			}
			continue
		}
		if got != want || math.Signbit(got) != math.Signbit(want) {
			t.Fatalf("%#04x: got %v, want %v", h, got, want)
		}
		// Every binary16 value converts back to itself.
		if back := F32ToF16(float32(got)); back != h {
			t.Fatalf("F32ToF16(%v) = %#04x, want %#04x", got, back, h)
		}
	}
}

// TestF32ToF16Rounding checks round-to-nearest-even against a brute-force
// search over neighbouring binary16 values.
func TestF32ToF16Rounding(t *testing.T) {
	cases := []float32{1 + 1.0/2048, 1 + 3.0/2048, 1.5 * (1.0 / (1 << 24)), 2.5 * (1.0 / (1 << 24)),
		1.0 / (1 << 25), 1e-8, 6e-8, 0.1, 1.0 / 3, 65504, 65519.99, 65520, 1e10, -2.0 / (1 << 25)}
	for i := 0; i < 3000; i++ {
		cases = append(cases, math.Float32frombits(uint32(i)*1431655+uint32(i*i*7)))
	}
	for _, f := range cases {
		if math.IsNaN(float64(f)) {
			continue
		}
		got := F32ToF16(f)
		// Brute force: the nearest binary16 (ties to even mantissa).
		best, bestErr := uint16(0), math.Inf(1)
		sign := uint16(0)
		if math.Signbit(float64(f)) {
			sign = 0x8000
		}
		for m := uint16(0); m <= 0x7c00; m++ {
			h := sign | m
			d := math.Abs(f16Exact(h) - float64(f))
			if m == 0x7c00 {
				// Overflow threshold: values ≥ 65520 round to inf.
				if math.Abs(float64(f)) >= 65520 {
					d = 0
				} else {
					d = math.Inf(1)
				}
			}
			if d < bestErr || (d == bestErr && h&1 == 0) {
				best, bestErr = h, d
			}
		}
		if got != best {
			t.Fatalf("F32ToF16(%g) = %#04x, want %#04x", f, got, best)
		}
	}
}

func TestBF16(t *testing.T) {
	tests := []struct {
		in   float32
		want uint16
	}{
		{1, 0x3f80},
		{math.Float32frombits(0x3f808000), 0x3f80}, // tie, even stays
		{math.Float32frombits(0x3f818000), 0x3f82}, // tie, odd rounds up
		{math.Float32frombits(0x3f808001), 0x3f81},
		{float32(math.Inf(-1)), 0xff80},
		{math.Float32frombits(0x00000001), 0x0000}, // subnormal kept (rounds to 0 here)
		{math.Float32frombits(0x00018000), 0x0002},
	}
	for _, tc := range tests {
		if got := F32ToBF16(tc.in); got != tc.want {
			t.Errorf("F32ToBF16(%v) = %#04x, want %#04x", tc.in, got, tc.want)
		}
		if tc.in == float32(int(tc.in)) && BF16ToF32(tc.want) != tc.in {
			t.Errorf("BF16ToF32(%#04x) = %v", tc.want, BF16ToF32(tc.want))
		}
	}
	if nan := F32ToBF16(float32(math.NaN())); nan&0x7f80 != 0x7f80 || nan&0x7f == 0 {
		t.Errorf("NaN -> %#04x", nan)
	}
}
