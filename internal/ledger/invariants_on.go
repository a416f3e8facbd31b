//go:build invariants

package ledger

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// invariantSlack is what the process may hold beyond the ledger's
// reservations: the binary's text, the Go runtime, goroutine stacks and the
// heap's small objects.
const invariantSlack = 96 << 20

// verify re-checks, under the invariants build tag, that the growth of the
// process's resident memory (anonymous plus mapped file pages) since the
// ledger was made is within the ledger's reservations plus a fixed slack:
// memory that grew without a reservation is a bug. It panics with the
// figures.
func (l *Ledger) verify() {
	if l.budget == Unlimited {
		return
	}
	rss := residentBytes()
	if grown := rss - l.baseline; grown > l.used+invariantSlack {
		panic(fmt.Sprintf("ledger invariant: the process grew by %d bytes resident (%d now, %d when the ledger was made) but the ledger has %d reserved (+%d slack): %v",
			grown, rss, l.baseline, l.used, int64(invariantSlack), l.byKind))
	}
}

// residentBaseline is the process's resident memory now.
func residentBaseline() int64 { return residentBytes() }

// residentBytes reads RssAnon + RssFile from /proc/self/status.
func residentBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	var total int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		for _, key := range []string{"RssAnon:", "RssFile:"} {
			if v, ok := strings.CutPrefix(line, key); ok {
				kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				total += kb << 10
			}
		}
	}
	return total
}
