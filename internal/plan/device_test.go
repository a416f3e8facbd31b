package plan

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"testing"

	"github.com/memfit/memfit/internal/tensor"
)

func TestMedianAndSamples(t *testing.T) {
	for _, c := range []struct {
		in   []float64
		want float64
	}{
		{nil, 0},
		{[]float64{3}, 3},
		{[]float64{3, 1}, 2},
		{[]float64{5, 1, 3}, 3},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(c.in); got != c.want {
			t.Errorf("median(%v) = %v, want %v", c.in, got, c.want)
		}
	}
	var s []float64
	var m float64
	for _, v := range []float64{10, 1, 2, 3, 4, 5, 6} {
		s, m = addSample(s, v)
	}
	if len(s) != keepSamples || s[0] != 2 || s[len(s)-1] != 6 || m != 4 {
		t.Errorf("after seven samples: %v, median %v; want the last %d, median 4", s, m, keepSamples)
	}
}

// TestObserve: what runs measured reaches the figures later probes
// return, as the median of the probe's and the runs' figures, per model
// file where its runs were observed; a new build starts from the last
// one's calibration for as many threads; a fresh probe starts over.
func TestObserve(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	dir := t.TempDir()
	var paths [3]string
	for i := range paths {
		paths[i] = filepath.Join(dir, fmt.Sprintf("model%d.bin", i))
		if err := os.WriteFile(paths[i], make([]byte, 32<<20), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	path := paths[0]
	measured := 0
	k := &KernelProbe{Name: "test-kernels", Threads: 2, Measure: func(MatrixKind, int) (float64, float64, error) {
		measured++
		return 10e9, 20e9, nil
	}}
	opt := ProbeOptions{Kinds: []MatrixKind{{tensor.Q4_0, 2048}}, Kernels: k}
	d, err := Probe(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	probed := d.DiskBandwidth
	if probed <= 0 || len(d.DiskSamples) != 1 || d.ComputeFactor != 0 || measured != 1 {
		t.Fatalf("probe: disk %v B/s (samples %v), compute factor %v, %d kernel measurements", probed, d.DiskSamples, d.ComputeFactor, measured)
	}
	// Two runs of model 0: the disk median is the middle of the probe's
	// and the two streamers' figures; the factor the middle of the two
	// ratios. One run of model 1.
	for _, obs := range []Observation{{ComputeFactor: 1.5, DiskBandwidth: probed * 4}, {ComputeFactor: 1.1, DiskBandwidth: probed * 2}} {
		if err := Observe(path, k, obs); err != nil {
			t.Fatal(err)
		}
	}
	if err := Observe(paths[1], k, Observation{ComputeFactor: 2}); err != nil {
		t.Fatal(err)
	}
	d, err = Probe(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(d.DiskBandwidth/(2*probed)-1) > 1e-9 || len(d.DiskSamples) != 3 || measured != 1 {
		t.Errorf("after two runs: disk %v B/s (samples %v), want %v; %d kernel measurements, want 1", d.DiskBandwidth, d.DiskSamples, 2*probed, measured)
	}
	factors := func(k *KernelProbe, want [3]float64, from [3]string) {
		t.Helper()
		for i, p := range paths {
			d, err := Probe(p, ProbeOptions{Kinds: opt.Kinds, Kernels: k})
			if err != nil || math.Abs(d.ComputeFactor-want[i]) > 1e-9 || d.ComputeFactorFrom != from[i] {
				t.Errorf("%s, model %d: compute factor %v from %q (%v); want %v from %q", k.key(), i, d.ComputeFactor, d.ComputeFactorFrom, err, want[i], from[i])
			}
		}
	}
	// Each model observed has its own factor; the third, never run, the
	// median of every run with these kernels.
	factors(k, [3]float64{1.3, 2, 1.5}, [3]string{"model", "model", "kernels"})
	// Another build, as many threads: the same, inherited.
	other := *k
	other.Name = "other-kernels"
	factors(&other, [3]float64{1.3, 2, 1.5}, [3]string{"model", "model", "previous kernels"})
	// Other threads: nothing to start from.
	other.Name, other.Threads = "third-kernels", 1
	factors(&other, [3]float64{}, [3]string{})
	// A fresh probe measures again and forgets the runs.
	opt.Fresh = true
	if d, err = Probe(path, opt); err != nil || len(d.DiskSamples) != 1 || d.ComputeFactor != 0 {
		t.Errorf("fresh probe: samples %v, compute factor %v (%v); want one sample, no factor", d.DiskSamples, d.ComputeFactor, err)
	}
}
