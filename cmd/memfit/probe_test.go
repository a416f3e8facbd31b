package main

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/memfit/memfit/internal/plan"
	"github.com/memfit/memfit/internal/tensor"
)

// TestMeasurePass times a small pass (a finite, positive time per copy)
// and refuses passes it cannot time with an error naming the problem.
func TestMeasurePass(t *testing.T) {
	layer := plan.Pass{
		{{Type: tensor.Q4_0, Cols: 256, Rows: 512}, {Type: tensor.Q8_0, Cols: 256, Rows: 128}},
		{{Type: tensor.Q6_K, Cols: 512, Rows: 256}},
		{{Type: tensor.F16, Cols: 256, Rows: 64}},
	}
	for _, copies := range []int{1, 3} {
		sec, err := measurePass(layer, copies, 2, nil)
		if err != nil || !(sec > 0) || math.IsInf(sec, 0) {
			t.Errorf("%d copies: %v s, %v", copies, sec, err)
		}
	}
	// during runs once, beside the pass, and measurePass waits for it.
	calls := 0
	start := time.Now()
	if _, err := measurePass(layer, 1, 2, func() { time.Sleep(100 * time.Millisecond); calls++ }); err != nil || calls != 1 || time.Since(start) < 100*time.Millisecond {
		t.Errorf("with during: %v, %d calls in %v", err, calls, time.Since(start))
	}
	tests := []struct {
		name   string
		pass   plan.Pass
		copies int
		want   string
	}{
		{"empty", plan.Pass{}, 1, "0 groups"},
		{"no copies", layer, 0, "0 copies"},
		{"mixed rows", plan.Pass{{{Type: tensor.Q4_0, Cols: 256, Rows: 8}, {Type: tensor.Q4_0, Cols: 512, Rows: 8}}}, 1, "different row lengths"},
		{"no rows", plan.Pass{{{Type: tensor.Q4_0, Cols: 256, Rows: 8}, {Type: tensor.Q4_0, Cols: 256, Rows: 0}}}, 1, "cannot time"},
		{"huge rows", plan.Pass{{{Type: tensor.F32, Cols: 1 << 21, Rows: 8}}}, 1, "cannot time"},
		{"unknown type", plan.Pass{{{Type: tensor.DType(9999), Cols: 256, Rows: 8}}}, 1, "no bytes"},
	}
	for _, tc := range tests {
		if _, err := measurePass(tc.pass, tc.copies, 2, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}
