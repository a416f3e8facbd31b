//go:build !amd64 || purego

package kernels

// spinWait pauses a spinning worker briefly; without the PAUSE instruction
// it returns at once.
func spinWait() {}
