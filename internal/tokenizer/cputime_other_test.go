//go:build !unix

package tokenizer

import (
	"testing"
	"time"
)

// cpuTime is not measured on this system: the benchmarks report a CPU
// time of zero.
func cpuTime(b *testing.B) time.Duration { return 0 }
