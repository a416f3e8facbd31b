package weights

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

// Linux native asynchronous I/O (io_setup, io_submit, io_getevents), for
// O_DIRECT reads: the goroutine that wants a read submits it and later
// reaps its completion itself, so no reader thread has to be woken to start
// a read or to report one. On two cores busy with matrix products a woken
// reader waits for the OS scheduler to preempt a compute thread, which
// delays every read by a sizeable share of its own duration.

// aioCmdPread is IOCB_CMD_PREAD.
const aioCmdPread = 0

// iocb is the kernel's struct iocb (64 bytes, little-endian layout).
type iocb struct {
	data      uint64 // returned in the event: our request's index
	key       uint32
	rwFlags   int32
	opcode    uint16
	reqPrio   int16
	fd        uint32
	buf       uint64
	nbytes    uint64
	offset    int64
	reserved2 uint64
	flags     uint32
	resFD     uint32
}

// ioEvent is the kernel's struct io_event.
type ioEvent struct {
	data uint64
	obj  uint64
	res  int64
	res2 int64
}

// aioRing is one AIO context with a fixed number of request slots.
type aioRing struct {
	ctx      uintptr
	iocbs    []iocb
	prepared []int32   // request slots filled and not submitted, in order
	ptrs     []uintptr // io_submit's argument: their iocbs' addresses
	free     []int32   // free request slots
	events   []ioEvent
}

// newAIORing sets up a context for depth requests in flight.
func newAIORing(depth int) (*aioRing, error) {
	r := &aioRing{iocbs: make([]iocb, depth), prepared: make([]int32, 0, depth), ptrs: make([]uintptr, 0, depth), events: make([]ioEvent, depth)}
	if _, _, e := unix.Syscall(unix.SYS_IO_SETUP, uintptr(depth), uintptr(unsafe.Pointer(&r.ctx)), 0); e != 0 {
		return nil, e
	}
	for i := depth - 1; i >= 0; i-- {
		r.free = append(r.free, int32(i))
	}
	return r, nil
}

// prepare fills a free request slot with a read of dst from fd at off and
// returns its index, or -1 when every slot is in flight. The read starts
// at the next submit.
func (r *aioRing) prepare(fd int, dst []byte, off int64) int32 {
	if len(r.free) == 0 {
		return -1
	}
	i := r.free[len(r.free)-1]
	r.free = r.free[:len(r.free)-1]
	r.iocbs[i] = iocb{data: uint64(i), opcode: aioCmdPread, fd: uint32(fd),
		buf: uint64(uintptr(unsafe.Pointer(unsafe.SliceData(dst)))), nbytes: uint64(len(dst)), offset: off}
	r.prepared = append(r.prepared, i)
	return i
}

// submit starts the prepared reads. It returns the request slots of those
// the kernel did not take (after an error, in order), which are then the
// caller's to release or read otherwise.
func (r *aioRing) submit() ([]int32, error) {
	r.ptrs = r.ptrs[:0]
	for _, i := range r.prepared {
		r.ptrs = append(r.ptrs, uintptr(unsafe.Pointer(&r.iocbs[i])))
	}
	n := 0
	var err error
	for n < len(r.ptrs) {
		got, _, e := unix.Syscall(unix.SYS_IO_SUBMIT, r.ctx, uintptr(len(r.ptrs)-n), uintptr(unsafe.Pointer(&r.ptrs[n])))
		if e == unix.EINTR {
			continue
		}
		if e == 0 && got == 0 {
			e = unix.EAGAIN
		}
		if e != 0 {
			err = e
			break
		}
		n += int(got)
	}
	left := r.prepared[n:]
	r.prepared = r.prepared[:0]
	return left, err
}

// release returns a request slot (its read completed or never started).
func (r *aioRing) release(i int32) { r.free = append(r.free, i) }

// busy is the number of request slots prepared or in flight.
func (r *aioRing) busy() int { return len(r.iocbs) - len(r.free) }

// reap returns completed reads: at least min of them (waiting if need be;
// min 0 never waits). Each event's data is its request slot and res the
// bytes read or −errno.
func (r *aioRing) reap(min int) ([]ioEvent, error) {
	for {
		n, _, e := unix.Syscall6(unix.SYS_IO_GETEVENTS, r.ctx, uintptr(min), uintptr(len(r.events)),
			uintptr(unsafe.Pointer(&r.events[0])), 0, 0)
		if e == unix.EINTR {
			if min == 0 {
				return nil, nil
			}
			continue
		}
		if e != 0 {
			return nil, e
		}
		return r.events[:n], nil
	}
}

// close waits for the reads in flight and frees the context.
func (r *aioRing) close() {
	if r.ctx != 0 {
		unix.Syscall(unix.SYS_IO_DESTROY, r.ctx, 0, 0)
		r.ctx = 0
	}
}
