//go:build amd64 && !purego

package kernels

// spinWait pauses a spinning worker briefly (a few PAUSE instructions), so
// that polling a shared counter neither floods the memory system nor takes
// the core from its SMT sibling.
func spinWait() { cpuPause(4) }
