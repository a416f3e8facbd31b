package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// checkErrorBody checks that b is OpenAI's error JSON: one "error" object
// with a message, a type, and param and code as strings or null.
func checkErrorBody(t *testing.T, what string, b []byte) map[string]any {
	t.Helper()
	var body map[string]map[string]any
	if err := json.Unmarshal(b, &body); err != nil || len(body) != 1 || body["error"] == nil {
		t.Errorf("%s: body %s is not {\"error\": {...}}", what, b)
		return nil
	}
	e := body["error"]
	msg, _ := e["message"].(string)
	typ, _ := e["type"].(string)
	if msg == "" || typ == "" {
		t.Errorf("%s: error %s lacks a message or type", what, b)
	}
	for _, k := range []string{"param", "code"} {
		v, ok := e[k]
		if _, isStr := v.(string); !ok || (v != nil && !isStr) {
			t.Errorf("%s: error %s: %q must be a string or null", what, b, k)
		}
	}
	return e
}

// TestBadInput sends malformed and out-of-range requests to a server with
// an API key and a small body limit: each gets a 4xx with OpenAI's error
// JSON, and the server goes on serving.
func TestBadInput(t *testing.T) {
	s := startServer(t, "--api-key", "sekrit", "--max-body", "64KiB", "--ctx", "256", "--chat-template", qwen3Template(t))
	auth := map[string]string{"Authorization": "Bearer sekrit"}
	chat := func(fields string) string {
		return `{"model": "` + demoModel + `", "messages": [{"role": "user", "content": "hi"}]` + fields + `}`
	}
	long := strings.Repeat("func main() { fmt.Println(1) }\n", 60) // about 600 tokens, 2 KB
	for _, tc := range []struct {
		name, path, body string
		header           map[string]string
		status           int
		code, param      string
	}{
		{"no API key", "/v1/chat/completions", chat(""), nil, 401, "invalid_api_key", ""},
		{"wrong API key", "/v1/chat/completions", chat(""), map[string]string{"Authorization": "Bearer nope"}, 401, "invalid_api_key", ""},
		{"wrong API key on models", "/v1/models", "", map[string]string{"Authorization": "Bearer nope"}, 401, "invalid_api_key", ""},
		{"malformed JSON", "/v1/chat/completions", `{"model": "` + demoModel + `", "messages": [`, auth, 400, "", ""},
		{"not an object", "/v1/completions", `[1, 2]`, auth, 400, "", ""},
		{"empty body", "/v1/completions", ``, auth, 400, "", ""},
		{"unknown model", "/v1/chat/completions", `{"model": "gpt-4o", "messages": [{"role": "user", "content": "hi"}]}`, auth, 404, "model_not_found", "model"},
		{"no model", "/v1/completions", `{"prompt": "x"}`, auth, 400, "", "model"},
		{"negative max_tokens", "/v1/completions", `{"model": "` + demoModel + `", "prompt": "x", "max_tokens": -5}`, auth, 400, "", "max_tokens"},
		{"zero max_completion_tokens", "/v1/chat/completions", chat(`, "max_completion_tokens": 0`), auth, 400, "", "max_completion_tokens"},
		{"huge max_tokens", "/v1/completions", `{"model": "` + demoModel + `", "prompt": "x", "max_tokens": 1000000000000}`, auth, 400, "context_length_exceeded", "max_tokens"},
		{"max_tokens not a number", "/v1/completions", `{"model": "` + demoModel + `", "prompt": "x", "max_tokens": "ten"}`, auth, 400, "", "max_tokens"},
		{"max_tokens fractional", "/v1/completions", `{"model": "` + demoModel + `", "prompt": "x", "max_tokens": 1.5}`, auth, 400, "", "max_tokens"},
		{"prompt longer than the context", "/v1/completions", `{"model": "` + demoModel + `", "prompt": ` + jsonString(long) + `}`, auth, 400, "context_length_exceeded", "prompt"},
		{"chat longer than the context", "/v1/chat/completions", `{"model": "` + demoModel + `", "messages": [{"role": "user", "content": ` + jsonString(long) + `}]}`, auth, 400, "context_length_exceeded", "messages"},
		{"messages a string", "/v1/chat/completions", `{"model": "` + demoModel + `", "messages": "hi"}`, auth, 400, "", "messages"},
		{"no messages", "/v1/chat/completions", `{"model": "` + demoModel + `", "messages": []}`, auth, 400, "", "messages"},
		{"unknown role", "/v1/chat/completions", `{"model": "` + demoModel + `", "messages": [{"role": "wizard", "content": "hi"}]}`, auth, 400, "", "messages[0].role"},
		{"content a number", "/v1/chat/completions", `{"model": "` + demoModel + `", "messages": [{"role": "user", "content": 7}]}`, auth, 400, "", "messages[0].content"},
		{"image part", "/v1/chat/completions", `{"model": "` + demoModel + `", "messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x"}}]}]}`, auth, 400, "", "messages[0].content[0]"},
		{"temperature out of range", "/v1/chat/completions", chat(`, "temperature": 5`), auth, 400, "", "temperature"},
		{"temperature a string", "/v1/chat/completions", chat(`, "temperature": "hot"`), auth, 400, "", "temperature"},
		{"stream a string", "/v1/chat/completions", chat(`, "stream": "yes"`), auth, 400, "", "stream"},
		{"five stop strings", "/v1/chat/completions", chat(`, "stop": ["a", "b", "c", "d", "e"]`), auth, 400, "", "stop"},
		{"stop a number", "/v1/chat/completions", chat(`, "stop": 3`), auth, 400, "", "stop"},
		{"n = 3", "/v1/chat/completions", chat(`, "n": 3`), auth, 400, "", "n"},
		{"logprobs", "/v1/chat/completions", chat(`, "logprobs": true, "top_logprobs": 2`), auth, 400, "", "logprobs"},
		{"tool_choice unknown", "/v1/chat/completions", chat(`, "tool_choice": "sometimes"`), auth, 400, "", "tool_choice"},
		{"tool_choice names a missing tool", "/v1/chat/completions", chat(`, "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": {"type": "function", "function": {"name": "g"}}`), auth, 400, "", "tool_choice"},
		{"required without tools", "/v1/chat/completions", chat(`, "tool_choice": "required"`), auth, 400, "", "tool_choice"},
		{"tools not a list", "/v1/chat/completions", chat(`, "tools": {"type": "function"}`), auth, 400, "", "tools"},
		{"prompt token out of the vocabulary", "/v1/completions", `{"model": "` + demoModel + `", "prompt": [1, 2, 99999]}`, auth, 400, "", ""},
		{"response_format json_schema", "/v1/chat/completions", chat(`, "response_format": {"type": "json_schema", "json_schema": {"name": "x"}}`), auth, 400, "", "response_format"},
		{"oversized body", "/v1/chat/completions", chat(`, "user": "` + strings.Repeat("x", 70<<10) + `"`), auth, 413, "request_too_large", ""},
		{"unknown route", "/v1/embeddings", `{}`, auth, 404, "not_found", ""},
	} {
		var status int
		var b []byte
		if tc.body == "" && tc.path == "/v1/models" {
			status, b = s.get(tc.path, tc.header)
		} else {
			status, b = s.post(tc.path, tc.body, tc.header)
		}
		if status != tc.status {
			t.Errorf("%s: status %d, want %d (body %s)", tc.name, status, tc.status, b)
			continue
		}
		e := checkErrorBody(t, tc.name, b)
		if e == nil {
			continue
		}
		if tc.code != "" && e["code"] != tc.code {
			t.Errorf("%s: code %v, want %q (body %s)", tc.name, e["code"], tc.code, b)
		}
		if tc.param != "" && e["param"] != tc.param {
			t.Errorf("%s: param %v, want %q (body %s)", tc.name, e["param"], tc.param, b)
		}
	}
	// Still serving, and counted.
	status, b := s.post("/v1/completions", `{"model": "`+demoModel+`", "prompt": "func main() {", "max_tokens": 8}`, auth)
	if status != 200 {
		t.Fatalf("after the bad requests: %d %s", status, b)
	}
	m := s.metrics()
	if n := s.metric(m, `memfit_requests_total{code="413",route="/v1/chat/completions"}`); n != 1 {
		t.Errorf("%v 413s counted, want 1", n)
	}
	if n := s.metric(m, `memfit_requests_total{code="200",route="/v1/completions"}`); n != 1 {
		t.Errorf("%v completions counted, want 1", n)
	}
	if status, _ := s.get("/health", nil); status != 200 {
		t.Errorf("/health: %d", status)
	}
}

// get sends a GET and returns the status and body.
func (s *server) get(path string, header map[string]string) (int, []byte) {
	s.t.Helper()
	req, err := http.NewRequest("GET", s.base+path, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp.StatusCode, b
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// longPrompt makes the demo model loop ("internal/internal/...") without
// an end-of-text token, so a generation runs to max_tokens.
const longPrompt = "package main\n\nimport ("

// TestClientDisconnectCancels starts a long streamed generation on a
// one-sequence server, drops the connection after a few chunks, and checks
// that the generation stops (counted as cancelled, the sequence freed, no
// more forward passes) and that the next request is served at once.
func TestClientDisconnectCancels(t *testing.T) {
	s := startServer(t, "--parallel", "1", "--ctx", "1024")
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, "POST", s.base+"/v1/completions",
		strings.NewReader(`{"model": "`+demoModel+`", "prompt": `+jsonString(longPrompt)+`, "max_tokens": 1000, "temperature": 0, "stream": true}`))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	if _, err := io.ReadAtLeast(resp.Body, buf, 200); err != nil {
		t.Fatal(err)
	}
	cancel()
	resp.Body.Close()

	s.waitMetric("memfit_requests_cancelled_total", 10*time.Second, func(v float64) bool { return v == 1 })
	s.waitMetric("memfit_sequences_running", 10*time.Second, func(v float64) bool { return v == 0 })
	m := s.metrics()
	steps := s.metric(m, "memfit_forward_passes_total")
	if got := s.metric(m, "memfit_generated_tokens_total"); got != 0 {
		t.Errorf("%v tokens counted as generated by finished requests, want 0", got)
	}
	if steps >= 1000 {
		t.Fatalf("%v forward passes: the generation ran to the end", steps)
	}
	time.Sleep(300 * time.Millisecond)
	if now := s.metric(s.metrics(), "memfit_forward_passes_total"); now != steps {
		t.Fatalf("forward passes went on after the cancellation: %v, then %v", steps, now)
	}
	if !strings.Contains(s.stderr.String(), "client went away") {
		t.Errorf("the log does not report the cancellation:\n%s", s.stderr.String())
	}
	// The only sequence is free: a short request is served now.
	start := time.Now()
	status, b := s.post("/v1/completions", `{"model": "`+demoModel+`", "prompt": "func main() {", "max_tokens": 4}`, nil)
	if status != 200 {
		t.Fatalf("next request: %d %s", status, b)
	}
	t.Logf("cancelled after %v forward passes; next request served in %v", steps, time.Since(start))
}

// TestDrainOnSIGTERM sends SIGTERM while a long streamed generation runs:
// the generation finishes whole, new connections are refused, and the
// process exits 0.
func TestDrainOnSIGTERM(t *testing.T) {
	s := startServer(t, "--parallel", "2", "--ctx", "1024")
	const maxTokens = 900
	type result struct {
		st  *sseStream
		err error
	}
	started := make(chan struct{})
	done := make(chan result, 1)
	go func() {
		req, err := http.NewRequest("POST", s.base+"/v1/completions",
			strings.NewReader(fmt.Sprintf(`{"model": %q, "prompt": %s, "max_tokens": %d, "temperature": 0, "stream": true, "stream_options": {"include_usage": true}}`, demoModel, jsonString(longPrompt), maxTokens)))
		if err != nil {
			done <- result{err: err}
			return
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		close(started)
		st, err := readSSE(resp.Body)
		done <- result{st, err}
	}()
	select {
	case <-started:
	case r := <-done:
		t.Fatalf("request failed: %v", r.err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused (or told the server is not ready) while
	// the generation drains.
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := http.Get(s.base + "/ready")
		if err != nil {
			break
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusServiceUnavailable {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready still %d after SIGTERM", resp.StatusCode)
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := <-done
	if r.err != nil {
		t.Fatalf("the stream in flight at SIGTERM: %v", r.err)
	}
	last := r.st.Chunks[len(r.st.Chunks)-1]
	u, _ := last["usage"].(map[string]any)
	if u == nil || u["completion_tokens"] != float64(maxTokens) {
		t.Fatalf("the stream in flight at SIGTERM ended with %v, want usage of %d tokens", last, maxTokens)
	}
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		t.Fatal("memfit serve did not exit after draining")
	}
	if s.err != nil {
		t.Fatalf("memfit serve exited with %v after SIGTERM, want 0; log:\n%s", s.err, s.stderr.String())
	}
	log := s.stderr.String()
	if !strings.Contains(log, "draining") || !strings.Contains(log, "stopped") {
		t.Errorf("log does not show the drain:\n%s", log)
	}
}
