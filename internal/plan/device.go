package plan

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/memfit/memfit/internal/tensor"
	"github.com/memfit/memfit/internal/weights"
)

// Device is what the planner knows about this machine.
type Device struct {
	Cores         int     `json:"cores"`
	MemBandwidth  float64 `json:"mem_bandwidth_bytes_s"`  // RAM read, all cores
	DiskBandwidth float64 `json:"disk_bandwidth_bytes_s"` // O_DIRECT reads of the model's disk as the streamer makes them
	DiskDirect    bool    `json:"disk_direct"`            // O_DIRECT worked there
	DiskID        string  `json:"disk_id"`                // the device the figure is for
	FLOPS         float64 `json:"flops"`                  // prefill rate of the matrix kernels, all cores (when not measured per type)
	// Kernels names the matrix kernels the rates were measured with (the
	// memfit build and kernel variant) and Threads the workers they ran on.
	Kernels string `json:"kernels,omitempty"`
	Threads int    `json:"threads,omitempty"`
	// DecodeRates are the measured bytes of weights per second a one-token
	// matrix product consumes, PrefillRates the weight bytes × tokens per
	// second of a 32-token one, by matrix kind (MatrixKind.String, e.g.
	// "Q4_K/4096": the weight type and row length).
	DecodeRates  map[string]float64 `json:"decode_rates,omitempty"`
	PrefillRates map[string]float64 `json:"prefill_rates,omitempty"`
	// PassTimes are the measured seconds one run of a decode pass takes
	// (a layer's matrix products as the forward pass makes them, or the
	// output projection; see Pass), by CountedPass.key.
	PassTimes map[string]float64 `json:"pass_times,omitempty"`
	// ComputeFactor calibrates the probe against whole forward passes: a
	// resident decode step's measured time over the time the pass times
	// (or, for a model without them, the kernel rates) alone predict
	// (attention, norms and the embedding are not in them; a probe taken
	// while the machine was busy or idle is). It is the median of ComputeSamples, the last runs' ratios that
	// memfit bench observed (Observe); 0 until one was.
	ComputeFactor  float64   `json:"compute_factor,omitempty"`
	ComputeSamples []float64 `json:"compute_samples,omitempty"`
	// ModelSamples are the same ratios per model file (modelKey): a model
	// whose own runs were observed is predicted from them, since how far
	// a forward pass falls short of its matrices' roofline depends on the
	// model's shape. ComputeFactorFrom says where ComputeFactor came from:
	// "model" (its runs), "kernels" (every model's runs with these
	// kernels) or "previous kernels" (a new build starts from the
	// calibration of the last one measured with as many threads).
	ModelSamples      map[string][]float64 `json:"model_compute_samples,omitempty"`
	ComputeFactorFrom string               `json:"compute_factor_from,omitempty"`
	// DiskProbed is the probe's read bandwidth while the kernels ran the
	// passes (beside compute, as a streamed decode reads while its
	// forward pass computes), DiskIdle with nothing else running; where
	// there were no passes to time both are idle. DiskSamples are the
	// layer streamer's rates in the last runs (Observe). DiskBandwidth is
	// their median once there are any, DiskProbed before: a host-cached
	// or shared disk reads at a rate that moves from minute to minute,
	// and what the streamer saw is the rate the next run will most likely
	// see. On this VM a read is a copy into memory, slower while the
	// kernels use the memory too (in four probes 3.0–4.0 GB/s beside the
	// 8B's passes and 4.2–5.6 idle, and 3.7–4.6 for its streamer, which
	// waits for reads part of the time; diskTime combines the two probed
	// rates).
	DiskProbed  float64   `json:"disk_probed_bytes_s,omitempty"`
	DiskIdle    float64   `json:"disk_idle_bytes_s,omitempty"`
	DiskSamples []float64 `json:"disk_samples,omitempty"`
	MeasuredAt  string    `json:"measured_at"`
	// ExpertReuse is the median of ExpertReuseSamples, the routing reuse
	// (Plan.ExpertReuse) implied by the expert cache reads of the model's
	// last runs (Observe); 0 before any.
	ExpertReuse        float64   `json:"expert_reuse,omitempty"`
	ExpertReuseSamples []float64 `json:"expert_reuse_samples,omitempty"`
}

// keepSamples is how many run observations a calibration keeps.
const keepSamples = 5

// addSample appends v to samples, keeping the last keepSamples, and
// returns them with their median.
func addSample(samples []float64, v float64) ([]float64, float64) {
	samples = append(samples, v)
	if len(samples) > keepSamples {
		samples = samples[len(samples)-keepSamples:]
	}
	return samples, median(samples)
}

// median returns the median of v (the mean of the middle two for an even
// count), or 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	if n := len(s); n%2 == 0 {
		return (s[n/2-1] + s[n/2]) / 2
	}
	return s[len(s)/2]
}

// kernelRates are the bytes of weights per second one core's decode
// kernels consume, by weight type, assumed when no measurement is at hand.
// The planner scales them by the core count and caps them at the memory
// bandwidth.
var kernelRates = map[tensor.DType]float64{
	tensor.F32:  10e9,
	tensor.F16:  8e9,
	tensor.BF16: 8e9,
	tensor.Q8_0: 7e9,
	tensor.Q4_0: 5e9,
	tensor.Q4_K: 5e9,
	tensor.Q5_K: 4e9,
	tensor.Q6_K: 4e9,
}

// MatrixKind is what a matrix product's speed depends on: the weight type
// and the row length.
type MatrixKind struct {
	Type tensor.DType
	Cols int
}

func (k MatrixKind) String() string { return fmt.Sprintf("%v/%d", k.Type, k.Cols) }

// KernelRate is the decode kernels' rate for weights of kind k on all
// cores, in bytes per second: measured when the probe measured k (on a
// matrix larger than the caches, so memory bandwidth is in the figure),
// else assumed for its type and capped at the memory bandwidth.
func (d *Device) KernelRate(k MatrixKind) float64 {
	if r := d.DecodeRates[k.String()]; r > 0 {
		return r
	}
	t := k.Type
	r, ok := kernelRates[t]
	if !ok {
		r = 3e9
	}
	r *= float64(max(d.Cores, 1))
	if d.MemBandwidth > 0 {
		r = min(r, d.MemBandwidth)
	}
	return r
}

// PrefillRate is the prefill kernels' rate for weights of kind k, in
// weight bytes × tokens per second: measured, else from FLOPS.
func (d *Device) PrefillRate(k MatrixKind, bytesPerParam float64) float64 {
	if r := d.PrefillRates[k.String()]; r > 0 {
		return r
	}
	return d.FLOPS / 2 * bytesPerParam
}

// KernelProbe measures the matrix kernels for the planner: for weights of
// kind k on threads workers, the decode rate (weight bytes per second of a
// one-token product) and the prefill rate (weight bytes × tokens per second
// of a 32-token product). internal/plan cannot run kernels itself (they
// are downstream of it); the command line passes one in.
type KernelProbe struct {
	Name    string // identifies the kernels (build and variant); rates are cached under it
	Threads int
	// Measure returns the decode rate (when decode is set; else 0) and
	// the prefill rate of the kernels for weights of kind k.
	Measure func(k MatrixKind, threads int, decode bool) (decodeRate, prefillRate float64, err error)
	// MeasurePass, if set, times one decoded token's run through pass p
	// on threads workers, in seconds: the median over runs through copies
	// distinct copies of the pass's matrices in turn, divided by copies.
	// If during is not nil it then calls it, running the pass meanwhile
	// (the disk is sampled so, as the layer streamer reads beside the
	// forward pass).
	MeasurePass func(p Pass, copies, threads int, during func()) (float64, error)
}

// ProbeOptions say what Probe measures.
type ProbeOptions struct {
	Kinds       []MatrixKind  // matrix kinds to have prefill rates for
	DecodeKinds []MatrixKind  // matrix kinds to have decode rates for
	Passes      []CountedPass // decode passes to have times for (Index.DecodePasses)
	Kernels     *KernelProbe  // nil: assumed kernel rates
	Fresh       bool          // measure again even when cached
	// DiskBuffer is the memory the disk probe reads into (DiskBufferFor
	// the budget); 0 is DiskBuffer.
	DiskBuffer int64
}

// deviceCache is the probe's cache file.
type deviceCache struct {
	Memory  *Device            `json:"memory"`  // cores, memory bandwidth
	Disks   map[string]*Device `json:"disks"`   // by disk id: disk figures
	Kernels map[string]*Device `json:"kernels"` // by kernels name and threads: rates
	// Routing holds each model file's (modelKey) routing reuse samples.
	Routing map[string][]float64 `json:"routing,omitempty"`
}

// keepKernels is how many builds' kernel rates the cache keeps.
const keepKernels = 8

// pruneKernels drops the oldest entries beyond keepKernels (every build
// of memfit measures its own), never keep nor the newest calibrated entry
// for each thread count (the one a new build inherits).
func pruneKernels(m map[string]*Device, keep string) {
	newest := map[int]string{} // threads → newest calibrated entry
	for k, d := range m {
		if n, ok := newest[d.Threads]; d.ComputeFactor > 0 && (!ok || d.MeasuredAt > m[n].MeasuredAt) {
			newest[d.Threads] = k
		}
	}
	for len(m) > keepKernels {
		oldest := ""
		for k, d := range m {
			if k != keep && k != newest[d.Threads] && (oldest == "" || d.MeasuredAt < m[oldest].MeasuredAt) {
				oldest = k
			}
		}
		if oldest == "" {
			return
		}
		delete(m, oldest)
	}
}

// cachePath is where the probe's results are kept. The file's version
// changes when the meaning of its figures does (v3: compute factors are
// relative to pass times where a model has them, not to kernel rates; v4:
// the disk is read into memory larger than the caches, DiskBuffer).
func cachePath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "memfit", "device-v4.json"), nil
}

// diskID names the block device holding path.
func diskID(path string) string {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "unknown"
	}
	return fmt.Sprintf("dev-%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
}

// Probe returns the device figures for a model file at path: the memory
// bandwidth, the disk's read bandwidth and the kernel rates of opt.Types,
// each from the cache when it was measured before on this machine (for the
// same disk, kernels and threads) and opt.Fresh is not set, else measured
// now (in well under 10 s) and cached.
func Probe(path string, opt ProbeOptions) (*Device, error) {
	cp, cerr := cachePath()
	cache := loadCache(cp, cerr)
	changed := false
	now := time.Now().UTC().Format(time.RFC3339)
	defer func() {
		if changed && cerr == nil {
			saveCache(cp, &cache)
		}
	}()
	if m := cache.Memory; opt.Fresh || m == nil || m.Cores != runtime.NumCPU() || m.MemBandwidth <= 0 {
		cache.Memory = &Device{Cores: runtime.NumCPU(), MemBandwidth: memBandwidth(runtime.NumCPU()), MeasuredAt: now}
		changed = true
	}
	// The disk, when it needs probing, is sampled in windows while the
	// passes below run (a streamed decode reads while the forward pass
	// computes: here an idle disk probe read 5–7 GB/s where the streamer
	// then read 4–5), or after them when there are none to time.
	id := diskID(path)
	disk := cache.Disks[id]
	var ds *diskSampler
	windows := 0
	if opt.Fresh || disk == nil || disk.DiskBandwidth <= 0 {
		ds = newDiskSampler(path, cmp.Or(opt.DiskBuffer, DiskBuffer))
		defer ds.close()
	}
	sampleDisk := func() {
		if ds != nil && windows < diskWindows {
			ds.read(diskWindow, diskWindowStretches)
			windows++
		}
	}
	d := &Device{Cores: cache.Memory.Cores, MemBandwidth: cache.Memory.MemBandwidth, FLOPS: 12e9 * float64(cache.Memory.Cores), DiskID: id}
	if k := opt.Kernels; k != nil && k.Measure != nil {
		key := k.key()
		kd := cache.Kernels[key]
		if opt.Fresh || kd == nil {
			kd = &Device{Kernels: k.Name, Threads: k.Threads, DecodeRates: map[string]float64{}, PrefillRates: map[string]float64{}}
			if !opt.Fresh {
				inherit(kd, cache.Kernels)
			}
		}
		if kd.DecodeRates == nil { // none measured yet: none in the file
			kd.DecodeRates = map[string]float64{}
		}
		if kd.PrefillRates == nil {
			kd.PrefillRates = map[string]float64{}
		}
		for _, mk := range slices.Concat(opt.Kinds, opt.DecodeKinds) {
			name := mk.String()
			decode := slices.Contains(opt.DecodeKinds, mk) && kd.DecodeRates[name] <= 0
			if _, ok := kd.PrefillRates[name]; ok && !decode {
				continue
			}
			dec, pre, err := k.Measure(mk, k.Threads, decode)
			if err != nil {
				return nil, fmt.Errorf("measuring the %v kernels: %w", mk, err)
			}
			kd.PrefillRates[name] = pre
			if decode {
				kd.DecodeRates[name] = dec
			}
			kd.MeasuredAt = now
			changed = true
		}
		// Passes not timed yet are timed in two sweeps, the faster of the
		// two kept: a probe caught by a burst of the machine's other work
		// (a pass at half its speed for a second, seen once in eight
		// probes) would otherwise mislead every plan until a run
		// calibrates it.
		var todo []CountedPass
		for _, cp := range opt.Passes {
			if _, ok := kd.PassTimes[cp.key()]; !ok && k.MeasurePass != nil {
				todo = append(todo, cp)
			}
		}
		for sweep := 0; sweep < 2; sweep++ {
			for _, cp := range todo {
				var during func()
				if ds != nil && windows < diskWindows {
					during = sampleDisk
				}
				sec, err := k.MeasurePass(cp.Pass, cp.Copies, k.Threads, during)
				if err != nil {
					return nil, fmt.Errorf("timing the decode pass %v: %w", cp.Pass, err)
				}
				if kd.PassTimes == nil {
					kd.PassTimes = map[string]float64{}
				}
				if old, ok := kd.PassTimes[cp.key()]; !ok || sec < old {
					kd.PassTimes[cp.key()] = sec
				}
				kd.MeasuredAt = now
				changed = true
			}
		}
		cache.Kernels[key] = kd
		pruneKernels(cache.Kernels, key)
		d.Kernels, d.Threads, d.DecodeRates, d.PrefillRates, d.PassTimes = kd.Kernels, kd.Threads, kd.DecodeRates, kd.PrefillRates, kd.PassTimes
		d.ComputeFactor, d.ComputeSamples, d.ComputeFactorFrom = kd.ComputeFactor, kd.ComputeSamples, kd.ComputeFactorFrom
		if ms := kd.ModelSamples[modelKey(path)]; len(ms) > 0 {
			d.ComputeFactor, d.ComputeSamples, d.ComputeFactorFrom = median(ms), ms, "model"
		}
	}
	// Then the disk alone, for diskIdleWindows windows (all diskWindows
	// when no pass ran beside the reads).
	beside := 0.0
	if windows > 0 {
		beside, windows = ds.restart(), diskWindows-diskIdleWindows
	}
	for ds != nil && windows < diskWindows {
		sampleDisk()
	}
	if idle := ds.rate(); idle > 0 {
		beside = cmp.Or(beside, idle)
		disk = &Device{DiskID: id, DiskBandwidth: beside, DiskProbed: beside, DiskIdle: idle, DiskDirect: ds.direct, MeasuredAt: now}
		cache.Disks[id] = disk
		changed = true
	}
	if opt.Fresh && cache.Routing[modelKey(path)] != nil { // a fresh probe forgets the runs
		delete(cache.Routing, modelKey(path))
		changed = true
	}
	if rs := cache.Routing[modelKey(path)]; len(rs) > 0 {
		d.ExpertReuse, d.ExpertReuseSamples = median(rs), rs
	}
	if disk != nil {
		d.DiskBandwidth, d.DiskDirect, d.DiskProbed, d.DiskIdle, d.DiskSamples, d.MeasuredAt = disk.DiskBandwidth, disk.DiskDirect, disk.DiskProbed, disk.DiskIdle, disk.DiskSamples, disk.MeasuredAt
	}
	return d, nil
}

// inherit starts a new kernels entry kd from the compute calibration of
// the most recently measured entry for as many threads: the ratio of a
// forward pass to its matrices' roofline is mostly the machine's and the
// model's, and is a better first guess for a new build than none. The
// new build's own runs replace the inherited samples as they come.
func inherit(kd *Device, all map[string]*Device) {
	var last *Device
	for _, d := range all {
		if d.Threads == kd.Threads && d.ComputeFactor > 0 && (last == nil || d.MeasuredAt > last.MeasuredAt) {
			last = d
		}
	}
	if last == nil {
		return
	}
	kd.ComputeSamples, kd.ComputeFactor, kd.ComputeFactorFrom = slices.Clone(last.ComputeSamples), last.ComputeFactor, "previous kernels"
	kd.ModelSamples = map[string][]float64{}
	for m, s := range last.ModelSamples {
		kd.ModelSamples[m] = slices.Clone(s)
	}
}

// modelKey names a model file in the calibration: its name and size.
func modelKey(path string) string {
	size := int64(-1)
	if st, err := os.Stat(path); err == nil {
		size = st.Size()
	}
	return fmt.Sprintf("%s/%d", filepath.Base(path), size)
}

// key is the cache key of the kernel rates k measures.
func (k *KernelProbe) key() string { return fmt.Sprintf("%s/threads=%d", k.Name, k.Threads) }

// loadCache reads the cache file at cp (an empty cache when cerr is set
// or the file is missing or unreadable).
func loadCache(cp string, cerr error) deviceCache {
	cache := deviceCache{}
	if cerr == nil {
		if b, err := os.ReadFile(cp); err == nil {
			_ = json.Unmarshal(b, &cache)
		}
	}
	if cache.Disks == nil {
		cache.Disks = map[string]*Device{}
	}
	if cache.Kernels == nil {
		cache.Kernels = map[string]*Device{}
	}
	return cache
}

// saveCache writes the cache to cp through a temporary file and a rename,
// so a concurrent reader sees the old file or the new one. The cache is
// an optimisation: failing to write it is not an error.
func saveCache(cp string, cache *deviceCache) {
	b, err := json.MarshalIndent(cache, "", "  ")
	if err != nil || os.MkdirAll(filepath.Dir(cp), 0o755) != nil {
		return
	}
	tmp := fmt.Sprintf("%s.%d.tmp", cp, os.Getpid())
	if os.WriteFile(tmp, b, 0o644) == nil {
		_ = os.Rename(tmp, cp)
	}
}

// Observation is what a run measured that the planner's device figures
// can learn from.
type Observation struct {
	// ComputeFactor: a resident decode step's measured time over the
	// time the plan's kernel rates alone predicted for it
	// (Plan.RooflineComputeTPS / measured tokens/s); 0 if not measured.
	ComputeFactor float64
	// DiskBandwidth: the layer streamer's read bandwidth while it had
	// reads in flight; 0 if nothing streamed.
	DiskBandwidth float64
	// ExpertReuse: the routing reuse the expert cache's reads per token
	// imply (ImpliedReuse); 0 if the model cached no experts.
	ExpertReuse float64
}

// Observe adds a run's measurements to the cached figures Probe returns
// for a model file at path and the kernels k (the disk's samples and the
// kernels' compute samples; see Device), so that later plans predict what
// runs on this machine see. Probe must have cached the disk and kernels
// before; an observation with nothing to add to them is ignored.
func Observe(path string, k *KernelProbe, obs Observation) error {
	cp, err := cachePath()
	if err != nil {
		return fmt.Errorf("device cache: %w", err)
	}
	cache := loadCache(cp, nil)
	changed := false
	if disk := cache.Disks[diskID(path)]; disk != nil && obs.DiskBandwidth > 0 {
		disk.DiskSamples, disk.DiskBandwidth = addSample(disk.DiskSamples, obs.DiskBandwidth)
		changed = true
	}
	if obs.ExpertReuse > 0 {
		if cache.Routing == nil {
			cache.Routing = map[string][]float64{}
		}
		mk := modelKey(path)
		cache.Routing[mk], _ = addSample(cache.Routing[mk], obs.ExpertReuse)
		changed = true
	}
	if k != nil && obs.ComputeFactor > 0 {
		if kd := cache.Kernels[k.key()]; kd != nil {
			kd.ComputeSamples, kd.ComputeFactor = addSample(kd.ComputeSamples, obs.ComputeFactor)
			kd.ComputeFactorFrom = "kernels"
			if kd.ModelSamples == nil {
				kd.ModelSamples = map[string][]float64{}
			}
			mk := modelKey(path)
			kd.ModelSamples[mk], _ = addSample(kd.ModelSamples[mk], obs.ComputeFactor)
			changed = true
		}
	}
	if changed {
		saveCache(cp, &cache)
	}
	return nil
}

// memBandwidth reads a 64 MiB buffer with every core and returns the best
// of three rounds in bytes per second.
func memBandwidth(cores int) float64 {
	const size = 64 << 20
	buf := make([]uint64, size/8)
	for i := range buf {
		buf[i] = uint64(i)
	}
	best := 0.0
	var sink uint64
	var mu sync.Mutex
	for range 3 {
		start := time.Now()
		var wg sync.WaitGroup
		per := len(buf) / cores
		for c := range cores {
			wg.Add(1)
			go func(part []uint64) {
				defer wg.Done()
				var s0, s1, s2, s3 uint64
				for i := 0; i+4 <= len(part); i += 4 {
					s0 += part[i]
					s1 += part[i+1]
					s2 += part[i+2]
					s3 += part[i+3]
				}
				mu.Lock()
				sink += s0 + s1 + s2 + s3
				mu.Unlock()
			}(buf[c*per : (c+1)*per])
		}
		wg.Wait()
		best = max(best, size/time.Since(start).Seconds())
	}
	_ = sink
	return best
}

// Disk reads are made as the layer streamer makes them: DiskReaders reads
// of DiskChunk bytes in flight at once, O_DIRECT.
const (
	DiskChunk   = 4 << 20
	DiskReaders = 4
)

// DiskBuffer is the most memory the disk probe reads into. The reads land
// in it one after another, wrapping around, as the streamer's land in its
// buffers (two of a streamed unit's size, 36–224 MiB for the models
// measured): memory far larger than the processor's caches, every byte of
// which is cold when a read reaches it again. Where the disk is a host's
// cache (as here) the read is a copy into this memory, and its rate
// depends on where it lands: O_DIRECT reads into four reused 4 MiB
// buffers ran at 7.8–8.5 GB/s, into 32 MiB at 5.4–6.9, into 128 MiB to
// 1 GiB at 4.4–5.0, the rate the layer streamer reaches (4.4–4.7 GB/s on
// its own, BenchmarkStreamer; docs/benchmarks.md).
const DiskBuffer = 256 << 20

// DiskBufferFor is the memory the disk probe reads into under budget
// (0: none): DiskBuffer, and at most a quarter of the budget (the passes'
// footprint takes another quarter at the same time), not less than one
// read per reader.
func DiskBufferFor(budget int64) int64 {
	b := int64(DiskBuffer)
	if budget > 0 {
		b = min(b, budget/4&^(DiskChunk-1))
	}
	return max(b, DiskChunk*DiskReaders)
}

// The disk probe reads stretches of diskStretch bytes spread over the
// file (smaller for a small file) in diskWindows windows spread over the
// probe while the kernels run the passes, then diskIdleWindows more with
// nothing else running (diskWindows when there were no passes), each at least
// diskWindowStretches stretches and diskWindow long, up to
// diskMaxStretches in all: a shared or host-cached disk's rate swings from
// one stretch to the next and from one second to the next (1.5 to 7.9
// GB/s here between probes a second apart), and the median of stretches
// from several seconds is closer to what a run of streaming sees than any
// one second.
const (
	diskStretch         = 64 << 20
	diskWindows         = 3
	diskIdleWindows     = 2
	diskWindowStretches = 3
	diskWindow          = 350 * time.Millisecond
	diskMaxStretches    = 96
)

// diskSampler reads stretches of a model file the way the layer streamer
// reads (DiskReaders reads of DiskChunk bytes in flight, O_DIRECT where
// the file system allows it, into a buffer of DiskBufferFor bytes) and
// keeps each stretch's bytes per second.
type diskSampler struct {
	fd     int
	direct bool
	buf    []byte // where the reads land, one after the other
	pos    int64  // where the next read lands
	size   int64  // bytes of the file that can be read in whole chunks
	per    int64  // bytes per stretch
	rates  []float64
	failed bool
}

// newDiskSampler opens path for sampling into a buffer of bufBytes
// (DiskBufferFor); nil if the file is too small to tell (under 32 MiB) or
// cannot be opened.
func newDiskSampler(path string, bufBytes int64) *diskSampler {
	st, err := os.Stat(path)
	if err != nil || st.IsDir() || st.Size() < 32<<20 {
		return nil
	}
	s := &diskSampler{size: st.Size() &^ (StreamAlign - 1)}
	s.fd, err = unix.Open(path, unix.O_RDONLY|unix.O_DIRECT, 0)
	s.direct = err == nil
	if !s.direct {
		if s.fd, err = unix.Open(path, unix.O_RDONLY, 0); err != nil {
			return nil
		}
	}
	if s.buf, err = weights.HugeBuffer(int(max(bufBytes&^(DiskChunk-1), DiskChunk))); err != nil {
		unix.Close(s.fd)
		return nil
	}
	s.per = max(min(int64(diskStretch), s.size/8)&^(DiskChunk-1), DiskChunk)
	return s
}

// read reads stretches for at least d and at least n stretches (fewer
// when diskMaxStretches have been read). Stretch i starts at the golden-
// ratio sequence's i-th point of the file, which visits it evenly however
// many are read.
func (s *diskSampler) read(d time.Duration, n int) {
	if s == nil {
		return
	}
	start := time.Now()
	for done := 0; !s.failed && len(s.rates) < diskMaxStretches && (done < n || time.Since(start) < d); done++ {
		frac := math.Mod(float64(len(s.rates))*0.6180339887498949, 1)
		off := int64(frac*float64(s.size-s.per)) &^ (StreamAlign - 1)
		var rds []diskRead
		for o := off; o < off+s.per && o+DiskChunk <= s.size; o += DiskChunk {
			rds = append(rds, diskRead{off: o, dst: s.buf[s.pos : s.pos+DiskChunk]})
			s.pos = (s.pos + DiskChunk) % int64(len(s.buf))
		}
		got, took := readStretch(s.fd, s.direct, rds)
		if got < 0 || took <= 0 {
			s.failed = got < 0
			return
		}
		s.rates = append(s.rates, float64(got)/took.Seconds())
	}
}

// rate is the median of the stretches' rates, 0 if none was read or a
// read failed.
func (s *diskSampler) rate() float64 {
	if s == nil || s.failed {
		return 0
	}
	return median(s.rates)
}

// restart returns the rate of the stretches read so far and starts a new
// set of them.
func (s *diskSampler) restart() float64 {
	r := s.rate()
	s.rates = s.rates[:0]
	return r
}

// close releases the file and buffer.
func (s *diskSampler) close() {
	if s == nil {
		return
	}
	weights.FreeHugeBuffer(s.buf)
	unix.Close(s.fd)
}

// diskRead is one read of a stretch: DiskChunk bytes at off into dst.
type diskRead struct {
	off int64
	dst []byte
}

// readStretch makes the reads with DiskReaders readers and returns the
// bytes read (-1 on an error) and the time taken.
func readStretch(fd int, direct bool, rds []diskRead) (int64, time.Duration) {
	var (
		mu   sync.Mutex
		next int
		read int64
		wg   sync.WaitGroup
	)
	start := time.Now()
	for range DiskReaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= len(rds) || read < 0 {
					mu.Unlock()
					return
				}
				rd := rds[next]
				next++
				mu.Unlock()
				n, err := unix.Pread(fd, rd.dst, rd.off)
				if !direct {
					_ = unix.Fadvise(fd, rd.off, DiskChunk, unix.FADV_DONTNEED)
				}
				mu.Lock()
				if err != nil || n <= 0 {
					read = -1
				} else if read >= 0 {
					read += int64(n)
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return read, time.Since(start)
}
