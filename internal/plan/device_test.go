package plan

import (
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
// return, as the median of the probe's and the runs' figures; a fresh
// probe starts over.
func TestObserve(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	path := filepath.Join(t.TempDir(), "model.bin")
	if err := os.WriteFile(path, make([]byte, 32<<20), 0o644); err != nil {
		t.Fatal(err)
	}
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
	// Two runs: the disk median is the middle of the probe's and the two
	// streamers' figures; the factor the middle of the two ratios.
	for _, obs := range []Observation{{ComputeFactor: 1.5, DiskBandwidth: probed * 4}, {ComputeFactor: 1.1, DiskBandwidth: probed * 2}} {
		if err := Observe(path, k, obs); err != nil {
			t.Fatal(err)
		}
	}
	d, err = Probe(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(d.DiskBandwidth/(2*probed)-1) > 1e-9 || len(d.DiskSamples) != 3 || math.Abs(d.ComputeFactor-1.3) > 1e-9 || measured != 1 {
		t.Errorf("after two runs: disk %v B/s (samples %v), want %v; compute factor %v, want 1.3; %d kernel measurements, want 1", d.DiskBandwidth, d.DiskSamples, 2*probed, d.ComputeFactor, measured)
	}
	// Other kernels (another build) are not calibrated by these runs.
	other := *k
	other.Name = "other-kernels"
	if d, err = Probe(path, ProbeOptions{Kinds: opt.Kinds, Kernels: &other}); err != nil || d.ComputeFactor != 0 {
		t.Errorf("other kernels: compute factor %v (%v), want 0", d.ComputeFactor, err)
	}
	// A fresh probe measures again and forgets the runs.
	opt.Fresh = true
	if d, err = Probe(path, opt); err != nil || len(d.DiskSamples) != 1 || d.ComputeFactor != 0 {
		t.Errorf("fresh probe: samples %v, compute factor %v (%v); want one sample, no factor", d.DiskSamples, d.ComputeFactor, err)
	}
}
