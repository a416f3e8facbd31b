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
	"github.com/memfit/memfit/internal/weights"
)

// kernelProbe is the planner's measurement of this build's matrix kernels
// on threads workers.
func kernelProbe(threads int) *plan.KernelProbe {
	return &plan.KernelProbe{Name: kernelsName(), Threads: threads, Measure: measureKernels, MeasurePass: measurePass}
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
// time) for the decode rate (when decodeToo is set: the planner times a
// model's layers as whole passes, measurePass, and needs decode rates only
// for what those leave out), 32 tokens over 2 MiB for the prefill rate.
// Each is the median of at least five runs and a quarter second.
func measureKernels(k plan.MatrixKind, threads int, decodeToo bool) (decode, prefill float64, err error) {
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
	// The weights live outside the Go heap, in huge pages as a model's
	// do: a heap allocation of this size starts a collection that spins
	// trying to stop the goroutine filling it (1.5 s of a probe here).
	run := func(bytes, part int64, T int) (float64, error) {
		rows := max(int(bytes/rb)&^7, 8)
		per := min(rows, max(int(part/rb)&^7, 8))
		data, err := weights.HugeBuffer(rows * int(rb))
		if err != nil {
			return 0, err
		}
		defer weights.FreeHugeBuffer(data)
		for n := copy(data, rowsData); n < len(data); n *= 2 {
			copy(data[n:], data[:n])
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
		return float64(len(data)) * float64(T) / medianRun(pass), nil
	}
	if decodeToo {
		if decode, err = run(256<<20, 8<<20, 1); err != nil {
			return 0, 0, err
		}
	}
	prefill, err = run(2<<20, 2<<20, 32)
	return decode, prefill, err
}

// passBytesLimit caps the weights measurePass allocates (the planner asks
// for at most plan.PassFootprint): a larger pass is timed on a share of
// each matrix's rows and its time scaled up by the bytes left out.
const passBytesLimit = 1 << 30

// measurePass times one decoded token through pass p as the forward pass
// runs it: each group's matrices in one MatMuls run of a shared input, the
// groups in order, through copies distinct copies of the pass in turn (so
// that the weights come from as much memory as a model's do). It returns
// the median seconds per copy over at least five runs and a quarter
// second. If during is not nil it is then called while the pass keeps
// running.
func measurePass(p plan.Pass, copies, threads int, during func()) (float64, error) {
	if len(p) == 0 || copies < 1 || copies > 1<<16 {
		return 0, fmt.Errorf("a pass of %d groups in %d copies", len(p), copies)
	}
	total := p.Bytes()
	if total <= 0 {
		return 0, fmt.Errorf("a pass of no bytes")
	}
	share := min(1, float64(passBytesLimit)/float64(total*int64(copies)))
	maxCols := 0
	for _, g := range p {
		for _, m := range g {
			if !kernels.Supports(m.Type) || m.Cols <= 0 || m.Cols > 1<<20 || m.Rows <= 0 || m.Rows > 1<<24 {
				return 0, fmt.Errorf("a %v matrix of %d×%d values, which the probe cannot time", m.Type, m.Rows, m.Cols)
			}
			if g[0].Cols != m.Cols {
				return 0, fmt.Errorf("a group of matrices of different row lengths (%d, %d)", g[0].Cols, m.Cols)
			}
			maxCols = max(maxCols, m.Cols)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, maxCols)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	// Each matrix is made of 16 distinct quantized rows of its kind, tiled.
	const distinct = 16
	rowsOf := map[plan.MatrixKind][]byte{}
	kindRows := func(t tensor.DType, cols int) ([]byte, int, error) {
		rb, err := t.RowBytes(int64(cols))
		if err != nil {
			return nil, 0, err
		}
		k := plan.MatrixKind{Type: t, Cols: cols}
		if b, ok := rowsOf[k]; ok {
			return b, int(rb), nil
		}
		v := make([]float32, cols)
		b := make([]byte, distinct*int(rb))
		for i := range distinct {
			for j := range v {
				v[j] = float32(r.NormFloat64())
			}
			if err := quant.Quantize(t, b[i*int(rb):(i+1)*int(rb)], v); err != nil {
				return nil, 0, err
			}
		}
		rowsOf[k] = b
		return b, int(rb), nil
	}
	// The matrices live in one buffer outside the Go heap, unmapped on
	// return: the probe's memory is gone before a model is loaded.
	rowsTimed := func(m plan.PassMatrix) int { return min(m.Rows, max(8, int(float64(m.Rows)*share+0.5))) }
	var bytes int64
	for _, g := range p {
		for _, m := range g {
			rb, err := m.Type.RowBytes(int64(m.Cols))
			if err != nil {
				return 0, err
			}
			bytes += int64(rowsTimed(m)) * rb
		}
	}
	buf, err := weights.HugeBuffer(int(bytes) * copies)
	if err != nil {
		return 0, err
	}
	defer weights.FreeHugeBuffer(buf)
	var jobs [][]kernels.MatJob // per copy and group
	for range copies {
		for _, g := range p {
			var js []kernels.MatJob
			for _, m := range g {
				src, rb, err := kindRows(m.Type, m.Cols)
				if err != nil {
					return 0, err
				}
				rows := rowsTimed(m)
				data := buf[: rows*rb : rows*rb]
				buf = buf[rows*rb:]
				for n := copy(data, src); n < len(data); n *= 2 {
					copy(data[n:], data[:n])
				}
				w := &tensor.Tensor{Name: "probe", Type: m.Type, Shape: tensor.Shape{int64(m.Cols), int64(rows)}, Data: data}
				js = append(js, kernels.MatJob{W: w, Y: make([]float32, rows), LDY: rows})
			}
			jobs = append(jobs, js)
		}
	}
	ops := kernels.NewOps(kernels.NewPool(threads))
	defer ops.Pool.Close()
	run := func() {
		for _, js := range jobs {
			ops.MatMuls(x[:js[0].W.RowLen()], 1, js)
		}
	}
	sec := medianRun(run)
	if during != nil {
		done := make(chan struct{})
		go func() {
			defer close(done)
			during()
		}()
		for running := true; running; {
			run()
			select {
			case <-done:
				running = false
			default:
			}
		}
	}
	// Scaled from the bytes timed to the pass's.
	return sec * float64(total) / float64(bytes) / float64(copies), nil
}

// medianRun calls run once to warm up, then times it at least five times
// and for at least a quarter second, and returns the median in seconds.
func medianRun(run func()) float64 {
	run()
	var times []float64
	for start := time.Now(); len(times) < 5 || time.Since(start) < 250*time.Millisecond; {
		s := time.Now()
		run()
		times = append(times, time.Since(s).Seconds())
	}
	slices.Sort(times)
	return times[len(times)/2]
}
