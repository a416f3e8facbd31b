package weights

import (
	"fmt"
	"os"
	"testing"

	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/tensor"
)

// BenchmarkStreamer measures the streamer's read bandwidth on its own: the
// file named by MEMFIT_BENCH_FILE (a model; required) cut into units of
// 112 MiB (one llama-3.1-8b layer's MLP in Q4_K_M), up to 18 of them (2 GiB,
// what a 3 GiB budget streams per token), acquired and released in a cycle
// with no compute in between. One iteration is one cycle. Reported: bytes
// per second of the whole cycle (the forward pass's view) and while reads
// were in flight, for several read sizes and reads in flight.
//
//	MEMFIT_BENCH_FILE=/work/models/l8b-Q4_K_M.gguf go test ./internal/weights -run XXX -bench Streamer -benchtime 3x
func BenchmarkStreamer(b *testing.B) {
	path := os.Getenv("MEMFIT_BENCH_FILE")
	if path == "" {
		b.Fatal("set MEMFIT_BENCH_FILE to a large file (a model) to stream")
	}
	b.Cleanup(func() { streamChunk, streamReaders = StreamChunk, StreamReaders })
	for _, cfg := range []struct{ chunk, readers int }{{16 << 20, 4}, {8 << 20, 4}, {32 << 20, 4}, {16 << 20, 8}, {8 << 20, 1}, {16 << 20, 2}, {4 << 20, 4}} {
		b.Run(fmt.Sprintf("chunk=%dMiB/readers=%d", cfg.chunk>>20, cfg.readers), func(b *testing.B) {
			streamChunk, streamReaders = int64(cfg.chunk), cfg.readers
			m, err := Open(path, nil, 0)
			if err != nil {
				b.Fatal(err)
			}
			defer m.Close()
			data := m.maps[m.Path]
			const unitBytes = 112 << 20
			units := min(18, len(data)/unitBytes)
			if units < 2 {
				b.Fatalf("%s: %d bytes, want at least two units of %d", path, len(data), unitBytes)
			}
			ts := make([]tensor.Tensor, units)
			var us []StreamUnit
			for i := range ts {
				ts[i] = tensor.Tensor{Name: "unit", Data: data[i*unitBytes : (i+1)*unitBytes]}
				bd, err := m.Bind(&ts[i])
				if err != nil {
					b.Fatal(err)
				}
				us = append(us, StreamUnit{Layer: i, Part: PartLayer, Bindings: []Binding{bd}})
			}
			s, err := m.NewStreamer(ledger.New(ledger.Unlimited), us)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			b.SetBytes(int64(units) * unitBytes)
			b.ResetTimer()
			before := s.Stats()
			for range b.N {
				for l := range units {
					if err := s.Acquire(l, PartLayer); err != nil {
						b.Fatal(err)
					}
					s.Release(l, PartLayer)
				}
			}
			st := s.Stats()
			b.ReportMetric(float64(st.BytesRead-before.BytesRead)/(st.ReadBusy-before.ReadBusy).Seconds()/1e9, "GB/s-reading")
		})
	}
}
