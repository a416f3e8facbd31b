package plan

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/memfit/memfit/internal/tensor"
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
	// ComputeFactor calibrates the kernel rates against whole forward
	// passes: a resident decode step's measured time over the time the
	// rates alone predict (attention, norms, sampling and the workers'
	// waits are not in the rates; a probe taken while the machine was busy
	// is). It is the median of ComputeSamples, the last runs' ratios that
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
	// DiskSamples are the disk's measured read bandwidths: the probe's,
	// then the layer streamer's in the last runs (Observe). DiskBandwidth
	// is their median: a host-cached or shared disk reads at a rate that
	// moves from minute to minute, and what streaming runs saw is the
	// rate the next one will most likely see.
	DiskSamples []float64 `json:"disk_samples,omitempty"`
	MeasuredAt  string    `json:"measured_at"`
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
	Measure func(k MatrixKind, threads int) (decode, prefill float64, err error)
}

// ProbeOptions say what Probe measures.
type ProbeOptions struct {
	Kinds   []MatrixKind // matrix kinds to have kernel rates for
	Kernels *KernelProbe // nil: assumed kernel rates
	Fresh   bool         // measure again even when cached
}

// deviceCache is the probe's cache file.
type deviceCache struct {
	Memory  *Device            `json:"memory"`  // cores, memory bandwidth
	Disks   map[string]*Device `json:"disks"`   // by disk id: disk figures
	Kernels map[string]*Device `json:"kernels"` // by kernels name and threads: rates
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

// cachePath is where the probe's results are kept.
func cachePath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "memfit", "device-v2.json"), nil
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
	id := diskID(path)
	disk := cache.Disks[id]
	if opt.Fresh || disk == nil || disk.DiskBandwidth <= 0 {
		bw, direct := diskBandwidth(path)
		disk = &Device{DiskID: id, DiskBandwidth: bw, DiskDirect: direct, DiskSamples: []float64{bw}, MeasuredAt: now}
		if bw > 0 {
			cache.Disks[id] = disk
			changed = true
		}
	}
	d := &Device{
		Cores: cache.Memory.Cores, MemBandwidth: cache.Memory.MemBandwidth, FLOPS: 12e9 * float64(cache.Memory.Cores),
		DiskID: id, DiskBandwidth: disk.DiskBandwidth, DiskDirect: disk.DiskDirect, DiskSamples: disk.DiskSamples, MeasuredAt: disk.MeasuredAt,
	}
	if k := opt.Kernels; k != nil && k.Measure != nil {
		key := k.key()
		kd := cache.Kernels[key]
		if opt.Fresh || kd == nil {
			kd = &Device{Kernels: k.Name, Threads: k.Threads, DecodeRates: map[string]float64{}, PrefillRates: map[string]float64{}}
			if !opt.Fresh {
				inherit(kd, cache.Kernels)
			}
		}
		for _, mk := range opt.Kinds {
			if _, ok := kd.DecodeRates[mk.String()]; ok {
				continue
			}
			dec, pre, err := k.Measure(mk, k.Threads)
			if err != nil {
				return nil, fmt.Errorf("measuring the %v kernels: %w", mk, err)
			}
			kd.DecodeRates[mk.String()], kd.PrefillRates[mk.String()] = dec, pre
			kd.MeasuredAt = now
			changed = true
		}
		cache.Kernels[key] = kd
		pruneKernels(cache.Kernels, key)
		d.Kernels, d.Threads, d.DecodeRates, d.PrefillRates = kd.Kernels, kd.Threads, kd.DecodeRates, kd.PrefillRates
		d.ComputeFactor, d.ComputeSamples, d.ComputeFactorFrom = kd.ComputeFactor, kd.ComputeSamples, kd.ComputeFactorFrom
		if ms := kd.ModelSamples[modelKey(path)]; len(ms) > 0 {
			d.ComputeFactor, d.ComputeSamples, d.ComputeFactorFrom = median(ms), ms, "model"
		}
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
		if len(disk.DiskSamples) == 0 {
			disk.DiskSamples = []float64{disk.DiskBandwidth}
		}
		disk.DiskSamples, disk.DiskBandwidth = addSample(disk.DiskSamples, obs.DiskBandwidth)
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

// diskProbeBytes is how much the disk probe reads: 8 stretches of 64 MiB
// spread over the file (less for a smaller file).
const diskProbeBytes = 512 << 20

// diskBandwidth reads up to 512 MiB of path the way the streamer does, in
// 8 stretches spread over the file, and returns the median of the
// stretches' bytes per second (a shared disk's figure swings with its
// other users; the median is what a long run of reads sees) or 0 if the
// file is too small to tell, and whether O_DIRECT worked.
func diskBandwidth(path string) (float64, bool) {
	st, err := os.Stat(path)
	if err != nil || st.IsDir() || st.Size() < 32<<20 {
		return 0, false
	}
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_DIRECT, 0)
	direct := err == nil
	if !direct {
		if fd, err = unix.Open(path, unix.O_RDONLY, 0); err != nil {
			return 0, false
		}
	}
	defer unix.Close(fd)
	var bufs [][]byte
	for range DiskReaders {
		buf, err := AlignedBuffer(DiskChunk)
		if err != nil {
			return 0, false
		}
		defer FreeAligned(buf)
		bufs = append(bufs, buf)
	}
	size := st.Size() &^ (StreamAlign - 1)
	per := max(min(int64(diskProbeBytes/8), size/8)&^(DiskChunk-1), DiskChunk)
	var rates []float64
	for i := int64(0); i < 8; i++ {
		start := (size - per) * i / 7 &^ (StreamAlign - 1)
		var offs []int64
		for o := start; o < start+per && o+DiskChunk <= size; o += DiskChunk {
			offs = append(offs, o)
		}
		if n, d := readStretch(fd, direct, offs, bufs); n > 0 && d > 0 {
			rates = append(rates, float64(n)/d.Seconds())
		} else if n < 0 {
			return 0, direct
		}
	}
	if len(rates) == 0 {
		return 0, direct
	}
	slices.Sort(rates)
	return rates[len(rates)/2], direct
}

// readStretch reads DiskChunk bytes at each offset with one reader per
// buffer and returns the bytes read (-1 on an error) and the time taken.
func readStretch(fd int, direct bool, offs []int64, bufs [][]byte) (int64, time.Duration) {
	var (
		mu   sync.Mutex
		next int
		read int64
		wg   sync.WaitGroup
	)
	start := time.Now()
	for _, buf := range bufs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				if next >= len(offs) || read < 0 {
					mu.Unlock()
					return
				}
				o := offs[next]
				next++
				mu.Unlock()
				n, err := unix.Pread(fd, buf, o)
				if !direct {
					_ = unix.Fadvise(fd, o, DiskChunk, unix.FADV_DONTNEED)
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

// AlignedBuffer returns n bytes of page-aligned anonymous memory (for
// O_DIRECT reads), outside the Go heap. Free it with FreeAligned.
func AlignedBuffer(n int) ([]byte, error) {
	if n <= 0 {
		return []byte{}, nil
	}
	b, err := unix.Mmap(-1, 0, n, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS)
	if err != nil {
		return nil, fmt.Errorf("allocating a %d-byte buffer: %w", n, err)
	}
	if uintptr(unsafe.Pointer(&b[0]))%StreamAlign != 0 {
		unix.Munmap(b)
		return nil, fmt.Errorf("allocating a %d-byte buffer: not page aligned", n)
	}
	return b, nil
}

// FreeAligned releases a buffer from AlignedBuffer.
func FreeAligned(b []byte) {
	if len(b) > 0 {
		_ = unix.Munmap(b[:cap(b)])
	}
}
