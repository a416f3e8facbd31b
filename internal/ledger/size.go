package ledger

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// sizeUnits are the suffixes ParseSize accepts, lower-cased. K, M, G and T
// alone are binary (as free, top and Docker's --memory read them); kB, MB,
// GB and TB are decimal; KiB, MiB, GiB and TiB are binary.
var sizeUnits = map[string]float64{
	"": 1, "b": 1,
	"k": 1 << 10, "kib": 1 << 10, "kb": 1e3,
	"m": 1 << 20, "mib": 1 << 20, "mb": 1e6,
	"g": 1 << 30, "gib": 1 << 30, "gb": 1e9,
	"t": 1 << 40, "tib": 1 << 40, "tb": 1e12,
}

// ParseSize reads a memory size such as "350MiB", "3GiB", "8G", "1.5GB" or
// "1048576" (bytes).
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	i := len(t)
	for i > 0 && (t[i-1] < '0' || t[i-1] > '9') && t[i-1] != '.' {
		i--
	}
	num, unit := strings.TrimSpace(t[:i]), strings.ToLower(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if !ok {
		return 0, fmt.Errorf("size %q: unknown unit %q (use B, KiB, MiB, GiB, TiB, K, M, G, T, kB, MB, GB or TB)", s, t[i:])
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || num == "" || strings.ContainsAny(num, "eE+-") {
		return 0, fmt.Errorf("size %q: want a number and a unit, such as 350MiB or 8G", s)
	}
	b := v * mult
	if b < 1 || b >= math.MaxInt64/2 {
		return 0, fmt.Errorf("size %q: want at least 1 byte and less than 4 EiB", s)
	}
	return int64(b), nil
}
