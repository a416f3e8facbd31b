package weights

import (
	"bytes"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/tensor"
)

// TestExpertCacheReads runs batches and prefetches through a cache of two
// slots per layer for two layers of five experts (three slices each, at
// unaligned offsets of a random file), read three ways — AIO, AIO whose
// submissions fail (every read then a pread where it is queued), reader
// goroutines — and checks that every expert handed out holds the file's
// bytes, that Next and More hand out each expert of a batch once, and the
// counters.
func TestExpertCacheReads(t *testing.T) {
	const layers, experts, slice = 2, 5, 12345
	for _, mode := range []string{"aio", "aio failing", "goroutines"} {
		t.Run(mode, func(t *testing.T) {
			m, data := testModel(t, 1<<20)
			ts := make([][][3]*tensor.Tensor, layers)
			want := map[*tensor.Tensor][]byte{}
			off := 777
			for li := range ts {
				ts[li] = make([][3]*tensor.Tensor, experts)
				for e := range ts[li] {
					for k := range 3 {
						x := &tensor.Tensor{Name: "exp", Data: m.maps[m.Path][off : off+slice]}
						want[x] = data[off : off+slice]
						ts[li][e][k] = x
						off += slice + 1001
					}
				}
			}
			AsyncIO = mode != "goroutines"
			defer func() { AsyncIO = true }()
			c, err := m.NewExpertCache(ledger.New(ledger.Unlimited), []int{2, 2}, ts, 2)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if c.Async() != AsyncIO {
				t.Fatalf("AIO %v, want %v", c.Async(), AsyncIO)
			}
			if mode == "aio failing" {
				c.aioErr = unix.EAGAIN
			}
			check := func(li int, e int32) {
				t.Helper()
				for k, x := range ts[li][e] {
					if !bytes.Equal(x.Data, want[x]) {
						t.Fatalf("layer %d expert %d slice %d: the bytes differ from the file's", li, e, k)
					}
				}
			}
			batches := [][]int32{{0, 1}, {1, 2}, {3}, {0, 4, 2}, {4}, {1, 3}}
			for i, used := range batches {
				li := i % layers
				c.Begin(li, used)
				c.Prefetch(1-li, []int32{int32((i + 2) % experts), int32((i + 3) % experts)})
				var got []int32
				for {
					e, err := c.Next()
					if err != nil {
						t.Fatal(err)
					}
					if e < 0 {
						break
					}
					group := []int32{e}
					for e := c.More(); e >= 0; e = c.More() {
						group = append(group, e)
					}
					for _, e := range group {
						check(li, e)
						got = append(got, e)
						c.Done(e)
					}
				}
				c.End()
				if len(got) != len(used) {
					t.Fatalf("batch %v of layer %d: handed out %v", used, li, got)
				}
				for _, e := range used {
					n := 0
					for _, g := range got {
						if g == e {
							n++
						}
					}
					if n != 1 {
						t.Fatalf("batch %v of layer %d: handed out %v", used, li, got)
					}
				}
			}
			st := c.Stats()
			if st.Loads() != 11 || st.Misses == 0 || st.Prefetched == 0 || st.BytesRead < int64(st.Misses+st.Prefetched)*3*slice {
				t.Errorf("counters %+v", st)
			}
		})
	}
}
