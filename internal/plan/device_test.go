package plan

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"golang.org/x/sys/unix"

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
// return, as the median of the runs' figures (the probe's until there
// are any), per model file where its runs were observed; a new build
// starts from the last one's calibration for as many threads; a fresh
// probe starts over.
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
	k := &KernelProbe{Name: "test-kernels", Threads: 2, Measure: func(MatrixKind, int, bool) (float64, float64, error) {
		measured++
		return 10e9, 20e9, nil
	}}
	opt := ProbeOptions{Kinds: []MatrixKind{{tensor.Q4_0, 2048}}, DecodeKinds: []MatrixKind{{tensor.Q4_0, 2048}}, Kernels: k}
	d, err := Probe(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	// No passes to time: every disk window is idle, and the figure beside
	// compute is the idle one.
	probed := d.DiskBandwidth
	if probed <= 0 || d.DiskProbed != probed || d.DiskIdle != probed || len(d.DiskSamples) != 0 || d.ComputeFactor != 0 || measured != 1 {
		t.Fatalf("probe: disk %v B/s (beside compute %v, idle %v, samples %v), compute factor %v, %d kernel measurements", probed, d.DiskProbed, d.DiskIdle, d.DiskSamples, d.ComputeFactor, measured)
	}
	// Two runs of model 0: the disk bandwidth is the median of the two
	// streamers' figures (the probe's set aside); the factor the middle
	// of the two ratios. One run of model 1.
	for _, obs := range []Observation{{ComputeFactor: 1.5, DiskBandwidth: probed * 4}, {ComputeFactor: 1.1, DiskBandwidth: probed * 2}} {
		if err := Observe(path, k, obs); err != nil {
			t.Fatal(err)
		}
	}
	if err := Observe(paths[1], k, Observation{ComputeFactor: 2}); err != nil {
		t.Fatal(err)
	}
	// Two runs of model 0 with an expert cache: its routing reuse is
	// their median; model 1 has none.
	for _, r := range []float64{0.6, 0.9} {
		if err := Observe(path, nil, Observation{ExpertReuse: r}); err != nil {
			t.Fatal(err)
		}
	}
	d, err = Probe(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(d.DiskBandwidth/(3*probed)-1) > 1e-9 || len(d.DiskSamples) != 2 || d.DiskProbed != probed || measured != 1 {
		t.Errorf("after two runs: disk %v B/s (samples %v, probed %v), want %v; %d kernel measurements, want 1", d.DiskBandwidth, d.DiskSamples, d.DiskProbed, 3*probed, measured)
	}
	if math.Abs(d.ExpertReuse-0.75) > 1e-12 || len(d.ExpertReuseSamples) != 2 {
		t.Errorf("after two runs with an expert cache: reuse %v (samples %v), want 0.75", d.ExpertReuse, d.ExpertReuseSamples)
	}
	if d1, err := Probe(paths[1], opt); err != nil || d1.ExpertReuse != 0 {
		t.Errorf("model 1, never run with an expert cache: reuse %v (%v)", d1.ExpertReuse, err)
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
	if d, err = Probe(path, opt); err != nil || len(d.DiskSamples) != 0 || d.DiskBandwidth != d.DiskProbed || d.ComputeFactor != 0 || d.ExpertReuse != 0 {
		t.Errorf("fresh probe: samples %v, disk %v (probed %v), compute factor %v, reuse %v (%v); want no samples, the probe's figure, no factor, no reuse", d.DiskSamples, d.DiskBandwidth, d.DiskProbed, d.ComputeFactor, d.ExpertReuse, err)
	}
}

// TestProbePasses: the probe times each new pass in two sweeps and keeps
// the faster, measures decode rates only for the kinds asked for (prefill
// rates for all), and measures nothing again that its cache holds.
func TestProbePasses(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	path := filepath.Join(t.TempDir(), "model.bin")
	if err := os.WriteFile(path, make([]byte, 32<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	q4, q6 := MatrixKind{tensor.Q4_0, 2048}, MatrixKind{tensor.Q6_K, 2048}
	var decodes, prefills []MatrixKind
	var timed []string
	windows := 0                    // disk windows sampled during passes
	times := map[string][]float64{} // per pass: the sweeps' results in turn
	k := &KernelProbe{Name: "test-kernels", Threads: 2,
		Measure: func(mk MatrixKind, _ int, decode bool) (float64, float64, error) {
			prefills = append(prefills, mk)
			if decode {
				decodes = append(decodes, mk)
				return 10e9, 20e9, nil
			}
			return 0, 20e9, nil
		},
		MeasurePass: func(p Pass, copies, _ int, during func()) (float64, error) {
			if during != nil {
				during()
				windows++
			}
			timed = append(timed, fmt.Sprintf("%dx%v", copies, p))
			v := times[p.String()][0]
			times[p.String()] = times[p.String()][1:]
			return v, nil
		}}
	layer := CountedPass{Pass: Pass{{{tensor.Q4_0, 2048, 2048}, {tensor.Q4_0, 2048, 512}}, {{tensor.Q4_0, 8192, 2048}}}, Count: 16, Copies: 3}
	output := CountedPass{Pass: Pass{{{tensor.Q6_K, 2048, 128256}}}, Count: 1, Copies: 1}
	times[layer.Pass.String()] = []float64{2e-3, 1e-3} // the first sweep caught a burst
	times[output.Pass.String()] = []float64{4e-3, 5e-3}
	// A dense model's plan needs no decode rates at all; the cache file
	// then holds none, and a later probe that needs some measures them.
	opt := ProbeOptions{Kinds: []MatrixKind{q4, q6}, Passes: []CountedPass{layer, output}, Kernels: k}
	d, err := Probe(path, opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(decodes) != 0 || len(d.DecodeRates) != 0 || len(prefills) != 2 {
		t.Errorf("no decode kinds: decode rates measured for %v (%v), prefill for %v", decodes, d.DecodeRates, prefills)
	}
	opt.DecodeKinds = []MatrixKind{q6}
	if d, err = Probe(path, opt); err != nil {
		t.Fatal(err)
	}
	// The disk's three windows read during the first three timings, two
	// more after them.
	if windows != diskWindows || !(d.DiskProbed > 0) || !(d.DiskIdle > 0) || d.DiskBandwidth != d.DiskProbed {
		t.Errorf("%d disk windows during the passes, disk %v B/s beside them, %v idle, figure %v; want %d and two rates, the first the figure", windows, d.DiskProbed, d.DiskIdle, d.DiskBandwidth, diskWindows)
	}
	if d.PassTimes[layer.key()] != 1e-3 || d.PassTimes[output.key()] != 4e-3 || len(timed) != 4 {
		t.Errorf("pass times %v after %d timings %v; want the faster of two sweeps each", d.PassTimes, len(timed), timed)
	}
	if !slices.Equal(decodes, []MatrixKind{q6}) || len(prefills) != 3 || d.DecodeRates[q6.String()] != 10e9 || d.DecodeRates[q4.String()] != 0 || d.PrefillRates[q4.String()] != 20e9 {
		t.Errorf("decode rates measured for %v, prefill for %v: decode %v, prefill %v", decodes, prefills, d.DecodeRates, d.PrefillRates)
	}
	// Cached: nothing measured again; a kind newly needing its decode
	// rate is measured once more.
	if _, err := Probe(path, opt); err != nil || len(timed) != 4 || len(prefills) != 3 {
		t.Errorf("third probe: %v; %d pass timings and %d kernel measurements, want 4 and 3", err, len(timed), len(prefills))
	}
	opt.DecodeKinds = []MatrixKind{q4, q6}
	if d, err = Probe(path, opt); err != nil || !slices.Equal(decodes, []MatrixKind{q6, q4}) || d.DecodeRates[q4.String()] != 10e9 {
		t.Errorf("probe needing Q4_0's decode rate: %v; decode rates measured for %v: %v", err, decodes, d.DecodeRates)
	}
}

// TestDiskBufferFor: the disk probe's buffer is DiskBuffer, at most a
// quarter of a budget, and at least one read per reader.
func TestDiskBufferFor(t *testing.T) {
	for _, tc := range []struct{ budget, want int64 }{
		{0, DiskBuffer},
		{8 << 30, DiskBuffer},
		{3 << 30, DiskBuffer},
		{350 << 20, 84 << 20}, // 87.5 MiB in whole reads
		{32 << 20, DiskChunk * DiskReaders},
	} {
		if got := DiskBufferFor(tc.budget); got != tc.want {
			t.Errorf("DiskBufferFor(%d) = %d, want %d", tc.budget, got, tc.want)
		}
	}
}

// TestDiskSampler: a window reads at least the stretches asked for, each
// read lands after the last one round the buffer, the total stops at diskMaxStretches, the rate is their median, a failed
// read leaves no rate, and a file too small to tell gets no sampler.
func TestDiskSampler(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.bin")
	// Every 8-byte word of the file holds its offset, so a buffer's bytes
	// say where they were read from.
	data := make([]byte, 40<<20)
	for i := 0; i < len(data); i += 8 {
		binary.LittleEndian.PutUint64(data[i:], uint64(i))
	}
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	// A 40 MiB file has stretches of one read; in a buffer of two reads
	// the third stretch lands where the first did.
	s := newDiskSampler(path, 2*DiskChunk+DiskChunk/2)
	if s == nil {
		t.Fatal("no sampler for a 40 MiB file")
	}
	if len(s.buf) != 2*DiskChunk || s.per != DiskChunk {
		t.Fatalf("buffer %d bytes, stretches %d: want %d and %d", len(s.buf), s.per, 2*DiskChunk, DiskChunk)
	}
	s.read(0, 3)
	if len(s.rates) != 3 || s.rate() != median(s.rates) || !(s.rate() > 0) {
		t.Errorf("one window of 3 stretches: rates %v, rate %v", s.rates, s.rate())
	}
	if s.pos != DiskChunk {
		t.Errorf("after 3 reads into 2 the next lands at %d, want %d", s.pos, DiskChunk)
	}
	var from []uint64
	for half := range 2 {
		b := s.buf[half*DiskChunk : (half+1)*DiskChunk]
		first := binary.LittleEndian.Uint64(b)
		for i := 0; i < len(b); i += 8 {
			if got := binary.LittleEndian.Uint64(b[i:]); got != first+uint64(i) {
				t.Fatalf("read %d: word at %d came from file offset %d, want %d", half, i, got, first+uint64(i))
			}
		}
		from = append(from, first)
	}
	// Stretches 0, 1, 2 start at the golden-ratio points 0, 0.618, 0.236
	// of the file: the buffer holds the third, then the second.
	span := float64(s.size - s.per)
	at := func(i float64) uint64 {
		return uint64(int64(math.Mod(i*0.6180339887498949, 1)*span) &^ (StreamAlign - 1))
	}
	if want := []uint64{at(2), at(1)}; !slices.Equal(from, want) {
		t.Errorf("buffer holds reads from %v, want %v", from, want)
	}
	s.read(time.Hour, 2*diskMaxStretches)
	if len(s.rates) != diskMaxStretches {
		t.Errorf("%d stretches read, want at most %d", len(s.rates), diskMaxStretches)
	}
	s.close()
	s = newDiskSampler(path, DiskBuffer)
	unix.Close(s.fd) // every read now fails
	s.read(0, 1)
	s.close()
	if s.rate() != 0 || !s.failed {
		t.Errorf("failed read: rate %v, failed %v", s.rate(), s.failed)
	}
	small := filepath.Join(dir, "small.bin")
	if err := os.WriteFile(small, make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	if newDiskSampler(small, DiskBuffer) != nil || newDiskSampler(filepath.Join(dir, "missing"), DiskBuffer) != nil {
		t.Error("a sampler for a 1 MiB or a missing file")
	}
}
