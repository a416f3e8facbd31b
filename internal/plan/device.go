package plan

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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
	DiskBandwidth float64 `json:"disk_bandwidth_bytes_s"` // sequential O_DIRECT read of the model's disk
	DiskDirect    bool    `json:"disk_direct"`            // O_DIRECT worked there
	DiskID        string  `json:"disk_id"`                // the device the figure is for
	FLOPS         float64 `json:"flops"`                  // prefill rate of the matrix kernels, all cores
	MeasuredAt    string  `json:"measured_at"`
}

// kernelRates are the bytes of weights per second one core's decode
// kernels consume, by weight type, measured with `go test -bench` in
// internal/kernels on the reference machine (see docs/benchmarks.md).
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

// KernelRate is the decode kernels' rate for weights of type t on all
// cores, in bytes per second.
func (d *Device) KernelRate(t tensor.DType) float64 {
	r, ok := kernelRates[t]
	if !ok {
		r = 3e9
	}
	return r * float64(max(d.Cores, 1))
}

// cachePath is where the probe's results are kept.
func cachePath() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(dir, "memfit", "device.json"), nil
}

// diskID names the block device holding path.
func diskID(path string) string {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return "unknown"
	}
	return fmt.Sprintf("dev-%d:%d", unix.Major(st.Dev), unix.Minor(st.Dev))
}

// Probe returns the device figures for a model file at path, from the
// cache when they were measured for the same disk, else measured now (in
// well under 10 s) and cached.
func Probe(path string) (*Device, error) {
	id := diskID(path)
	cp, cerr := cachePath()
	if cerr == nil {
		if b, err := os.ReadFile(cp); err == nil {
			var cached map[string]*Device
			if json.Unmarshal(b, &cached) == nil {
				if d := cached[id]; d != nil && d.Cores == runtime.NumCPU() && d.MemBandwidth > 0 {
					return d, nil
				}
			}
		}
	}
	d := &Device{Cores: runtime.NumCPU(), DiskID: id, MeasuredAt: time.Now().UTC().Format(time.RFC3339)}
	d.MemBandwidth = memBandwidth(d.Cores)
	d.DiskBandwidth, d.DiskDirect = diskBandwidth(path)
	d.FLOPS = 12e9 * float64(d.Cores)
	if cerr == nil {
		cached := map[string]*Device{}
		if b, err := os.ReadFile(cp); err == nil {
			_ = json.Unmarshal(b, &cached)
		}
		cached[id] = d
		if b, err := json.MarshalIndent(cached, "", "  "); err == nil {
			if os.MkdirAll(filepath.Dir(cp), 0o755) == nil {
				tmp := cp + ".tmp"
				if os.WriteFile(tmp, b, 0o644) == nil {
					_ = os.Rename(tmp, cp)
				}
			}
		}
	}
	return d, nil
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

// diskBandwidth reads up to 256 MiB of path with O_DIRECT in 8 MiB reads
// and returns bytes per second (0 if the file is too small to tell) and
// whether O_DIRECT worked.
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
		_ = unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED)
	}
	defer unix.Close(fd)
	buf, err := AlignedBuffer(8 << 20)
	if err != nil {
		return 0, false
	}
	defer FreeAligned(buf)
	total := min(st.Size(), 256<<20) &^ (StreamAlign - 1)
	start := time.Now()
	var read int64
	for read < total {
		n, err := unix.Pread(fd, buf, read)
		if err != nil && direct && errors.Is(err, unix.EINVAL) {
			return 0, false
		}
		if n <= 0 || err != nil {
			break
		}
		read += int64(n)
	}
	if !direct {
		_ = unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED)
	}
	if read == 0 {
		return 0, direct
	}
	return float64(read) / time.Since(start).Seconds(), direct
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
