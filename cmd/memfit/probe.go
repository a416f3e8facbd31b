package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"runtime/debug"
	"slices"
	"time"

	"github.com/memfit/memfit/internal/kernels"
	"github.com/memfit/memfit/internal/plan"
	"github.com/memfit/memfit/internal/quant"
	"github.com/memfit/memfit/internal/tensor"
)

// kernelProbe is the planner's measurement of this build's matrix kernels
// on threads workers.
func kernelProbe(threads int) *plan.KernelProbe {
	return &plan.KernelProbe{Name: kernelsName(), Threads: threads, Measure: measureKernels}
}

// kernelsName identifies the kernels a measurement is for: the build (its
// VCS revision, or the executable's size and time when there is none) and
// the active kernel variant.
func kernelsName() string {
	build := ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		var rev, dirty string
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				rev = s.Value
			case "vcs.modified":
				if s.Value == "true" {
					dirty = "+dirty"
				}
			}
		}
		if rev != "" && dirty == "" {
			build = rev
		}
	}
	if build == "" {
		if exe, err := os.Executable(); err == nil {
			if st, err := os.Stat(exe); err == nil {
				build = fmt.Sprintf("exe-%d-%d", st.Size(), st.ModTime().UnixNano())
			}
		}
	}
	return build + "/" + kernels.Active()
}

// measureKernels times MatMul on matrices of kind k (its type and row
// length): one token over 256 MiB of weights in 8 MiB matrices (eight
// times a 32 MiB L3 cache: a model's weights come from RAM, a matrix at a
// time) for the decode rate, 32 tokens over 2 MiB for the prefill rate.
// Each is the median of at least five runs and half a second.
func measureKernels(k plan.MatrixKind, threads int) (decode, prefill float64, err error) {
	t, in := k.Type, k.Cols
	if !kernels.Supports(t) {
		return 0, 0, nil // the planner assumes a rate
	}
	if in <= 0 || in > 1<<20 {
		return 0, 0, fmt.Errorf("rows of %d values", in)
	}
	rb, err := t.RowBytes(int64(in))
	if err != nil {
		return 0, 0, err
	}
	r := rand.New(rand.NewPCG(1, 2))
	// 16 distinct quantized rows, tiled.
	const distinct = 16
	rowsData := make([]byte, distinct*int(rb))
	x := make([]float32, in*32)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	for i := range distinct {
		if err := quant.Quantize(t, rowsData[i*int(rb):(i+1)*int(rb)], x[:in]); err != nil {
			return 0, 0, err
		}
		r.Shuffle(in, func(a, b int) { x[a], x[b] = x[b], x[a] })
	}
	ops := kernels.NewOps(kernels.NewPool(threads))
	defer ops.Pool.Close()
	// run times T tokens through bytes of weights cut into matrices of
	// about part bytes each, one MatMul per matrix as a forward pass
	// multiplies a model's matrices in turn (each product starts its
	// workers and its prefetch streams anew).
	run := func(bytes, part int64, T int) float64 {
		rows := max(int(bytes/rb)&^7, 8)
		per := min(rows, max(int(part/rb)&^7, 8))
		data := make([]byte, rows*int(rb))
		for i := 0; i < rows; i++ {
			copy(data[i*int(rb):], rowsData[(i%distinct)*int(rb):(i%distinct+1)*int(rb)])
		}
		var ws []tensor.Tensor
		for lo := 0; lo < rows; lo += per {
			n := min(per, rows-lo)
			ws = append(ws, tensor.Tensor{Name: "probe", Type: t, Shape: tensor.Shape{int64(in), int64(n)}, Data: data[lo*int(rb) : (lo+n)*int(rb)]})
		}
		y := make([]float32, T*per)
		pass := func() {
			for i := range ws {
				n := int(ws[i].Shape[1])
				ops.MatMul(&ws[i], x[:T*in], T, y, n)
			}
		}
		pass() // warm-up
		var times []float64
		for start := time.Now(); len(times) < 5 || time.Since(start) < 500*time.Millisecond; {
			s := time.Now()
			pass()
			times = append(times, time.Since(s).Seconds())
		}
		slices.Sort(times)
		return float64(len(data)) * float64(T) / times[len(times)/2]
	}
	return run(256<<20, 8<<20, 1), run(2<<20, 2<<20, 32), nil
}
