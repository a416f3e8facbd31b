package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Load test bounds: clients, how long they send, and the sequences the
// server decodes together.
const (
	loadClients  = 16
	loadDuration = 20 * time.Second
	loadParallel = 4
)

// TestLoad runs 16 streaming clients for 20 seconds against --parallel 4:
// every request must succeed with a well-formed stream (data: events of
// JSON chunks, one finish_reason, usage, [DONE] last), and memory must be
// flat: the ledger's reservations and peak unchanged, resident memory
// within a small allowance of what it was after warm-up.
func TestLoad(t *testing.T) {
	ref := readReference(t)
	s := startServer(t, "--parallel", fmt.Sprint(loadParallel), "--ctx", "512", "--chat-template", qwen3Template(t))

	// run sends streaming requests from n clients until the deadline.
	run := func(n int, d time.Duration) (ok, failed, tokens int64, errs []string) {
		var mu sync.Mutex
		var okN, failN, tokN atomic.Int64
		deadline := time.Now().Add(d)
		var wg sync.WaitGroup
		for c := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				rng := rand.New(rand.NewPCG(uint64(c), 99))
				for i := 0; time.Now().Before(deadline); i++ {
					p := ref.Prompts[rng.IntN(len(ref.Prompts))].Prompt
					maxTokens := 8 + rng.IntN(57)
					var body, path string
					chat := (c+i)%2 == 0
					if chat {
						path = "/v1/chat/completions"
						body = fmt.Sprintf(`{"model": %q, "messages": [{"role": "user", "content": %s}], "max_tokens": %d, "temperature": 0.8, "seed": %d, "stream": true, "stream_options": {"include_usage": true}}`,
							demoModel, jsonString(p), maxTokens, rng.Int64())
					} else {
						path = "/v1/completions"
						body = fmt.Sprintf(`{"model": %q, "prompt": %s, "max_tokens": %d, "temperature": 0.8, "seed": %d, "stream": true, "stream_options": {"include_usage": true}}`,
							demoModel, jsonString(p), maxTokens, rng.Int64())
					}
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					st, err := streamRaw(ctx, s.base, path, body)
					cancel()
					if err == nil {
						var n int
						n, err = checkStream(st, chat, maxTokens)
						tokN.Add(int64(n))
					}
					if err != nil {
						failN.Add(1)
						mu.Lock()
						if len(errs) < 10 {
							errs = append(errs, fmt.Sprintf("client %d request %d (%s): %v", c, i, path, err))
						}
						mu.Unlock()
						continue
					}
					okN.Add(1)
				}
			}()
		}
		wg.Wait()
		return okN.Load(), failN.Load(), tokN.Load(), errs
	}

	// Warm up, then take the memory figures the run is compared with.
	if ok, failed, _, errs := run(loadClients, 2*time.Second); failed > 0 || ok == 0 {
		t.Fatalf("warm-up: %d ok, %d failed: %s", ok, failed, strings.Join(errs, "\n"))
	}
	s.waitMetric("memfit_sequences_running", 10*time.Second, func(v float64) bool { return v == 0 })
	before := s.metrics()

	start := time.Now()
	ok, failed, tokens, errs := run(loadClients, loadDuration)
	elapsed := time.Since(start)
	if failed > 0 {
		t.Errorf("%d of %d requests failed:\n%s", failed, ok+failed, strings.Join(errs, "\n"))
	}
	s.waitMetric("memfit_sequences_running", 10*time.Second, func(v float64) bool { return v == 0 })
	after := s.metrics()

	const mib = 1 << 20
	for _, name := range []string{"memfit_memory_reserved_total_bytes", "memfit_memory_reserved_peak_bytes"} {
		if b, a := s.metric(before, name), s.metric(after, name); a != b {
			t.Errorf("%s: %.0f before the load, %.0f after", name, b, a)
		}
	}
	rssBefore, rssAfter := s.metric(before, "memfit_process_resident_bytes"), s.metric(after, "memfit_process_resident_bytes")
	// Resident memory may move by what the Go heap and page cache do
	// between two scrapes; a leak per request (thousands of requests) would
	// exceed this.
	if rssAfter > rssBefore+32*mib {
		t.Errorf("resident memory grew from %.1f MiB to %.1f MiB over the load", rssBefore/mib, rssAfter/mib)
	}
	served := s.metric(after, `memfit_requests_total{code="200",route="/v1/chat/completions"}`) + s.metric(after, `memfit_requests_total{code="200",route="/v1/completions"}`) -
		s.metric(before, `memfit_requests_total{code="200",route="/v1/chat/completions"}`) - s.metric(before, `memfit_requests_total{code="200",route="/v1/completions"}`)
	if served != float64(ok) {
		t.Errorf("/metrics counts %v requests served during the load, the clients %d", served, ok)
	}
	if gen := s.metric(after, "memfit_generated_tokens_total") - s.metric(before, "memfit_generated_tokens_total"); gen != float64(tokens) {
		t.Errorf("/metrics counts %v tokens generated during the load, the streams' usage %d", gen, tokens)
	}
	if q := s.metric(after, "memfit_queue_depth"); q != 0 {
		t.Errorf("queue depth %v after the load", q)
	}
	t.Logf("%d clients, %v: %d requests, %d failed, %d tokens (%.0f tok/s aggregate); RSS %.1f → %.1f MiB; ledger %.1f MiB reserved, peak %.1f MiB",
		loadClients, elapsed.Round(time.Millisecond), ok+failed, failed, tokens, float64(tokens)/elapsed.Seconds(),
		rssBefore/mib, rssAfter/mib, s.metric(after, "memfit_memory_reserved_total_bytes")/mib, s.metric(after, "memfit_memory_reserved_peak_bytes")/mib)
	if ok < loadClients {
		t.Errorf("only %d requests in %v", ok, loadDuration)
	}
}

// checkStream checks the chunks of one streamed response: one id and
// object throughout, text or deltas, exactly one finish_reason, and a
// final usage chunk that agrees with max_tokens. It returns the completion
// tokens.
func checkStream(st *sseStream, chat bool, maxTokens int) (int, error) {
	wantObject := "text_completion"
	if chat {
		wantObject = "chat.completion.chunk"
	}
	if len(st.Chunks) < 2 {
		return 0, fmt.Errorf("%d chunks", len(st.Chunks))
	}
	id, _ := st.Chunks[0]["id"].(string)
	finishes := 0
	for i, ch := range st.Chunks {
		if ch["object"] != wantObject || ch["id"] != id || id == "" || ch["model"] != demoModel {
			return 0, fmt.Errorf("chunk %d: %v", i, ch)
		}
		choices, ok := ch["choices"].([]any)
		if !ok {
			return 0, fmt.Errorf("chunk %d: no choices list: %v", i, ch)
		}
		for _, c := range choices {
			cm, _ := c.(map[string]any)
			if f, ok := cm["finish_reason"].(string); ok {
				if f != "stop" && f != "length" {
					return 0, fmt.Errorf("chunk %d: finish_reason %q", i, f)
				}
				finishes++
			}
			if chat {
				if _, ok := cm["delta"].(map[string]any); !ok {
					return 0, fmt.Errorf("chunk %d: no delta: %v", i, ch)
				}
			} else if _, ok := cm["text"].(string); !ok {
				return 0, fmt.Errorf("chunk %d: no text: %v", i, ch)
			}
		}
	}
	if finishes != 1 {
		return 0, fmt.Errorf("%d finish reasons", finishes)
	}
	last := st.Chunks[len(st.Chunks)-1]
	u, _ := last["usage"].(map[string]any)
	if u == nil {
		return 0, fmt.Errorf("the last chunk has no usage: %v", last)
	}
	n, _ := u["completion_tokens"].(float64)
	if n < 1 || int(n) > maxTokens {
		return 0, fmt.Errorf("usage %v with max_tokens %d", u, maxTokens)
	}
	return int(n), nil
}
