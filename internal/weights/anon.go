package weights

import (
	"fmt"
	"io"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

const (
	// hugePage is the size of a transparent huge page on x86-64.
	hugePage = 2 << 20
	// loadChunk is the size of one read when a file is loaded into memory.
	loadChunk = 16 << 20
	// loadReaders is how many reads are in flight while loading.
	loadReaders = 4
)

// loadFile reads the file at path into anonymous memory backed by
// transparent huge pages where the kernel allows them (MADV_HUGEPAGE) and
// returns it. The forward pass streams every resident weight once per
// token: from 4 KiB page-cache pages each page costs a TLB miss, which
// under virtualisation (a two-dimensional page walk) slows decoding by a
// fifth to a third; from 2 MiB pages it costs nothing measurable.
//
// The file is read as LoadResident reads its runs (readRuns): around the
// page cache (O_DIRECT, several reads in flight), so a memory cgroup counts
// the bytes once, as anonymous memory; where the file system refuses
// O_DIRECT, each chunk read through the page cache is dropped from it
// afterwards (FADV_DONTNEED). The memory is the file rounded up to 4 KiB
// pages, as a mapping of it would be: the ledger's "weights" reservation
// counts it either way.
func loadFile(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	size := int(st.Size())
	if size == 0 {
		return []byte{}, nil
	}
	region, err := anonRegion(size)
	if err != nil {
		return nil, fmt.Errorf("%s: %d bytes of memory for the weights: %w", path, size, err)
	}
	// The whole file is one run of LoadResident's reads.
	run := residentRun{file: path, end: int64(len(region)), want: int64(size)}
	if err := readRuns(region, []residentRun{run}); err != nil {
		freeRegion(region)
		return nil, err
	}
	return region[:size], nil
}

// preadFull reads dst from fd at off, retrying interrupted reads, until dst
// is full or the file ends. It returns the bytes read; on an error, those
// read before it. Every reader of weights (loading, streaming, expert and
// embedding-row reads) goes through it.
func preadFull(fd int, dst []byte, off int64) (int, error) {
	done := 0
	for done < len(dst) {
		n, err := unix.Pread(fd, dst[done:], off+int64(done))
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return done, err
		}
		if n == 0 {
			break
		}
		done += n
	}
	return done, nil
}

// readAtLeast reads into b from fd at off and fails unless at least want
// bytes came (b may reach past the end of the file).
func readAtLeast(fd int, b []byte, off int64, want int) error {
	n, err := preadFull(fd, b, off)
	if err != nil {
		return err
	}
	if n < want {
		return io.ErrUnexpectedEOF
	}
	return nil
}

// anonRegion maps n bytes (rounded up to 4 KiB pages) of anonymous memory
// starting at a huge-page boundary, advised MADV_HUGEPAGE: every whole
// 2 MiB of it can be a transparent huge page, and a tail shorter than that
// takes 4 KiB pages, so the memory used is n rounded to 4 KiB. freeRegion
// unmaps it.
func anonRegion(n int) ([]byte, error) {
	size := alignUp(n, streamAlign)
	raw, err := unix.MmapPtr(-1, 0, nil, uintptr(size+hugePage), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS|unix.MAP_NORESERVE)
	if err != nil {
		return nil, err
	}
	// Trim the mapping to a huge-page-aligned start and the size.
	lead := alignUp(int(uintptr(raw)), hugePage) - int(uintptr(raw))
	if lead > 0 {
		_ = unix.MunmapPtr(raw, uintptr(lead))
	}
	if tail := hugePage - lead; tail > 0 {
		_ = unix.MunmapPtr(unsafe.Add(raw, lead+size), uintptr(tail))
	}
	region := unsafe.Slice((*byte)(unsafe.Add(raw, lead)), size)
	_ = unix.Madvise(region, unix.MADV_HUGEPAGE)
	return region, nil
}

// freeRegion unmaps a region from anonRegion (or a prefix of one with its
// capacity intact).
func freeRegion(b []byte) error {
	if cap(b) == 0 {
		return nil
	}
	return unix.MunmapPtr(unsafe.Pointer(unsafe.SliceData(b)), uintptr(cap(b)))
}

// HugeBuffer returns n bytes of anonymous memory outside the Go heap, in
// huge pages from a huge-page boundary (anonRegion) and backed now
// (prefault): for O_DIRECT reads and the device probe's matrices. Huge
// pages matter to a read: on this VM O_DIRECT reads of 4 MiB into 4 KiB
// pages ran at 2.2–2.5 GB/s, into huge pages at 5.6–6.5 GB/s, alternating
// in one minute. Free it with FreeHugeBuffer.
func HugeBuffer(n int) ([]byte, error) {
	if n <= 0 {
		return []byte{}, nil
	}
	b, err := anonRegion(n)
	if err != nil {
		return nil, fmt.Errorf("allocating a %d-byte buffer: %w", n, err)
	}
	prefault(b)
	return b[:n], nil
}

// FreeHugeBuffer releases a buffer from HugeBuffer (or a prefix of one with
// its capacity intact).
func FreeHugeBuffer(b []byte) { _ = freeRegion(b) }

func alignUp(n, a int) int { return (n + a - 1) &^ (a - 1) }
