// Package e2e drives a real `memfit serve` process with the official
// OpenAI Go client (github.com/openai/openai-go/v3). It is a module of its
// own so the memfit binary never links the client. TestMain builds memfit
// from the repository this folder is in; every test starts its own server
// on a free loopback port (--port 0) and stops it at the end.
package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
)

// memfitBin is the memfit binary TestMain builds.
var memfitBin string

// demoModel is the id the built-in demo model is served under.
const demoModel = "gocoder-demo"

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "memfit-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	memfitBin = filepath.Join(dir, "memfit")
	build := exec.Command("go", "build", "-o", memfitBin, "./cmd/memfit")
	build.Dir = ".."
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building memfit:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// fixture returns the path of a shared fixture; a missing one fails the
// test (it never skips).
func fixture(t testing.TB, parts ...string) string {
	t.Helper()
	p := filepath.Join(append([]string{"..", "..", "shared", "fixtures"}, parts...)...)
	abs, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(abs); err != nil {
		t.Fatalf("fixture missing: %v", err)
	}
	return abs
}

// qwen3Template is the Qwen 3 chat template (Hermes <tool_call> format).
func qwen3Template(t testing.TB) string {
	return fixture(t, "chat", "templates", "Qwen-Qwen3-0.6B.jinja")
}

// syncBuffer is a bytes.Buffer safe for the process's writer and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// server is a running memfit serve process.
type server struct {
	t      testing.TB
	cmd    *exec.Cmd
	base   string // http://127.0.0.1:PORT
	stderr *syncBuffer
	exited chan struct{}
	err    error // the process's exit, after exited closes
}

var servingRE = regexp.MustCompile(`serving \S+ on (http://\S+) `)

// startServer starts `memfit serve --port 0` with args, waits until /ready
// answers 200, and stops the process when the test ends.
func startServer(t testing.TB, args ...string) *server {
	t.Helper()
	s := &server{t: t, stderr: &syncBuffer{}, exited: make(chan struct{})}
	s.cmd = exec.Command(memfitBin, append([]string{"serve", "--port", "0", "--host", "127.0.0.1"}, args...)...)
	s.cmd.Stderr = s.stderr
	s.cmd.Stdout = s.stderr
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-s.exited:
			return
		default:
		}
		s.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.exited:
		case <-time.After(30 * time.Second):
			s.cmd.Process.Kill()
			<-s.exited
			t.Errorf("memfit serve did not exit within 30 s of SIGTERM; log:\n%s", s.stderr.String())
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for s.base == "" {
		if m := servingRE.FindStringSubmatch(s.stderr.String()); m != nil {
			s.base = m[1]
			break
		}
		select {
		case <-s.exited:
			t.Fatalf("memfit serve exited (%v) before serving; log:\n%s", s.err, s.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("memfit serve printed no address within 60 s; log:\n%s", s.stderr.String())
		}
	}
	for {
		resp, err := http.Get(s.base + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("/ready did not answer 200 within 60 s (last: %v); log:\n%s", err, s.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// client returns an official OpenAI client for the server, with retries
// off so every error is seen as the server sent it.
func (s *server) client(opts ...option.RequestOption) openai.Client {
	return openai.NewClient(append([]option.RequestOption{
		option.WithBaseURL(s.base + "/v1/"), option.WithAPIKey("unused"), option.WithMaxRetries(0),
	}, opts...)...)
}

// metrics scrapes /metrics into name{labels} → value.
func (s *server) metrics() map[string]float64 {
	s.t.Helper()
	resp, err := http.Get(s.base + "/metrics")
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		s.t.Fatalf("/metrics: %s", resp.Status)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<16), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			s.t.Fatalf("/metrics: malformed line %q", line)
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			s.t.Fatalf("/metrics: malformed value in %q", line)
		}
		out[line[:i]] = v
	}
	if err := sc.Err(); err != nil {
		s.t.Fatal(err)
	}
	return out
}

// metric returns one metric, failing the test when it is missing.
func (s *server) metric(m map[string]float64, name string) float64 {
	s.t.Helper()
	v, ok := m[name]
	if !ok {
		s.t.Fatalf("/metrics has no %s", name)
	}
	return v
}

// waitMetric polls /metrics until cond holds for the metric, or fails
// after timeout.
func (s *server) waitMetric(name string, timeout time.Duration, cond func(float64) bool) float64 {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		v := s.metric(s.metrics(), name)
		if cond(v) {
			return v
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%s = %v after %v; log:\n%s", name, v, timeout, s.stderr.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// post sends a raw JSON body and returns the status and body.
func (s *server) post(path, body string, header map[string]string) (int, []byte) {
	s.t.Helper()
	req, err := http.NewRequest("POST", s.base+path, strings.NewReader(body))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
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

// reference is the gocoder reference outputs.
type reference struct {
	Prompts []struct {
		Prompt     string  `json:"prompt"`
		IDs        []int32 `json:"ids"`
		GreedyIDs  []int32 `json:"greedy_ids"`
		GreedyText string  `json:"greedy_text"`
	} `json:"prompts"`
}

func readReference(t testing.TB) *reference {
	t.Helper()
	b, err := os.ReadFile(fixture(t, "models", "gocoder", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Prompts) < 4 {
		t.Fatalf("reference.json has %d prompts, want 4", len(r.Prompts))
	}
	return &r
}

// sseStream is one server-sent-event response read strictly: every event
// is one "data: " line and a blank line, every payload before [DONE] is a
// JSON object, [DONE] is the last event and nothing follows it.
type sseStream struct {
	Chunks []map[string]any
	Done   bool
}

// readSSE reads an event stream and checks its framing.
func readSSE(r io.Reader) (*sseStream, error) {
	br := bufio.NewReader(r)
	st := &sseStream{}
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF && line == "" {
			if !st.Done {
				return st, fmt.Errorf("stream ended after %d events without data: [DONE]", len(st.Chunks))
			}
			return st, nil
		}
		if err != nil {
			return st, fmt.Errorf("reading the stream: %w (partial line %q)", err, line)
		}
		if st.Done {
			return st, fmt.Errorf("data after [DONE]: %q", line)
		}
		payload, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			return st, fmt.Errorf("line %q is not a data event", line)
		}
		payload = strings.TrimSuffix(payload, "\n")
		blank, err := br.ReadString('\n')
		if err != nil || blank != "\n" {
			return st, fmt.Errorf("event %q not followed by a blank line (got %q, %v)", payload, blank, err)
		}
		if payload == "[DONE]" {
			st.Done = true
			continue
		}
		var chunk map[string]any
		if err := json.Unmarshal([]byte(payload), &chunk); err != nil {
			return st, fmt.Errorf("event %q is not a JSON object: %w", payload, err)
		}
		if e, ok := chunk["error"]; ok {
			return st, fmt.Errorf("error event in the stream: %v", e)
		}
		st.Chunks = append(st.Chunks, chunk)
	}
}

// streamRaw posts body (which must ask for a stream) and reads the reply
// with readSSE.
func streamRaw(ctx context.Context, base, path, body string) (*sseStream, error) {
	req, err := http.NewRequestWithContext(ctx, "POST", base+path, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(resp.Body)
		return nil, fmt.Errorf("%s: %s", resp.Status, b)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		return nil, fmt.Errorf("Content-Type %q, want text/event-stream", ct)
	}
	return readSSE(resp.Body)
}
