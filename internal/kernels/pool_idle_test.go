package kernels

import (
	"testing"
	"time"
)

// idleCountTask counts how often each item is done.
type idleCountTask struct{ hits []int }

func (c *idleCountTask) Do(_, lo, hi int) {
	for i := lo; i < hi; i++ {
		c.hits[i]++
	}
}

// TestPoolIdleGaps runs jobs with pauses long enough for the workers to
// park between some of them, and checks that every item of every job is
// done exactly once. A worker woken late for a job it had already done
// used to run it again (and -race saw it read the next job's fields).
func TestPoolIdleGaps(t *testing.T) {
	p := NewPool(2)
	defer p.Close()
	const runs, items = 1500, 64
	task := &idleCountTask{hits: make([]int, items)}
	for i := range runs {
		p.Run(items, 4, task)
		if i%5 == 0 {
			time.Sleep(time.Duration(i%400) * time.Microsecond)
		}
	}
	for i, n := range task.hits {
		if n != runs {
			t.Fatalf("item %d done %d times in %d jobs", i, n, runs)
		}
	}
}
