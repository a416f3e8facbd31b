package server

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/memfit/memfit/internal/chat"
	"github.com/memfit/memfit/internal/engine"
	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/model"
	"github.com/memfit/memfit/internal/prompt"
	"github.com/memfit/memfit/internal/sample"
	"github.com/memfit/memfit/internal/tokenizer"
	"github.com/memfit/memfit/internal/toolcall"
	"github.com/memfit/memfit/internal/weights"
)

const testModel = "gocoder"

// newTestServer serves the gocoder model (two sequences of 256 tokens)
// with the Qwen 3 chat template, on an httptest server.
func newTestServer(t testing.TB, apiKey string) (*Server, *httptest.Server) {
	return newTestServerCtx(t, apiKey, 256)
}

// newTestServerCtx is newTestServer with sequences of ctx tokens.
func newTestServerCtx(t testing.TB, apiKey string, ctx int) (*Server, *httptest.Server) {
	t.Helper()
	path := fixtures.Path(t, "models", "gocoder", "hf")
	m, err := model.Load(path, model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := engine.New(m, tok, engine.Options{Parallel: 2, Ctx: ctx})
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := prompt.ForModel(path, fixtures.Path(t, "chat", "templates", "Qwen-Qwen3-0.6B.jinja"))
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Engine: eng, Template: tmpl, Model: testModel, APIKey: apiKey, MaxBody: 64 << 10,
		Defaults: sample.Params{Temperature: 0, TopP: 1, RepeatPenalty: 1}, Ledger: m.Ledger()})
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		hs.Close()
		eng.Close()
		m.Close()
	})
	return s, hs
}

func post(t testing.TB, hs *httptest.Server, path, body string, header ...string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest("POST", hs.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// errorOf parses OpenAI's error JSON, failing the test on any other shape.
func errorOf(t testing.TB, b []byte) apiError {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var body errorBody
	if err := dec.Decode(&body); err != nil || body.Error.Message == "" || body.Error.Type == "" {
		t.Fatalf("not an OpenAI error body (%v): %s", err, b)
	}
	return body.Error
}

func TestBadRequests(t *testing.T) {
	_, hs := newTestServer(t, "")
	chat := func(extra string) string {
		return `{"model": "gocoder", "messages": [{"role": "user", "content": "hi"}]` + extra + `}`
	}
	for _, tc := range []struct {
		name, path, body string
		status           int
		param, code      string
	}{
		{"malformed", "/v1/chat/completions", `{"model": `, 400, "", ""},
		{"trailing garbage", "/v1/completions", `{"model": "gocoder", "prompt": "x"} x`, 400, "", ""},
		{"unknown model", "/v1/completions", `{"model": "nope", "prompt": "x"}`, 404, "model", "model_not_found"},
		{"negative max_tokens", "/v1/completions", `{"model": "gocoder", "prompt": "x", "max_tokens": -1}`, 400, "max_tokens", ""},
		{"huge max_tokens", "/v1/completions", `{"model": "gocoder", "prompt": "x", "max_tokens": 9223372036854775807}`, 400, "max_tokens", "context_length_exceeded"},
		{"max_tokens overflows int", "/v1/completions", `{"model": "gocoder", "prompt": "x", "max_tokens": 1e30}`, 400, "max_tokens", ""},
		{"max_completion_tokens wins", "/v1/chat/completions", chat(`, "max_tokens": 5, "max_completion_tokens": 100000`), 400, "max_completion_tokens", "context_length_exceeded"},
		{"prompt too long", "/v1/completions", `{"model": "gocoder", "prompt": ` + fmt.Sprint(make([]int, 300)) + `}`, 400, "", ""},
		{"prompt ids too long", "/v1/completions", `{"model": "gocoder", "prompt": [` + strings.Repeat("5,", 299) + `5]}`, 400, "prompt", "context_length_exceeded"},
		{"prompt id negative", "/v1/completions", `{"model": "gocoder", "prompt": [5, -1]}`, 400, "", ""},
		{"two prompts", "/v1/completions", `{"model": "gocoder", "prompt": ["a", "b"]}`, 400, "prompt", ""},
		{"prompt object", "/v1/completions", `{"model": "gocoder", "prompt": {"a": 1}}`, 400, "prompt", ""},
		{"no prompt", "/v1/completions", `{"model": "gocoder"}`, 400, "prompt", ""},
		{"echo", "/v1/completions", `{"model": "gocoder", "prompt": "x", "echo": true}`, 400, "echo", ""},
		{"unknown role", "/v1/chat/completions", `{"model": "gocoder", "messages": [{"role": "robot", "content": "x"}]}`, 400, "messages[0].role", ""},
		{"role missing", "/v1/chat/completions", `{"model": "gocoder", "messages": [{"content": "x"}]}`, 400, "messages[0].role", ""},
		{"message not an object", "/v1/chat/completions", `{"model": "gocoder", "messages": ["hi"]}`, 400, "messages[0]", ""},
		{"user content null", "/v1/chat/completions", `{"model": "gocoder", "messages": [{"role": "user", "content": null}]}`, 400, "messages[0].content", ""},
		{"bad tool_calls", "/v1/chat/completions", `{"model": "gocoder", "messages": [{"role": "assistant", "tool_calls": [{"type": "function"}]}]}`, 400, "messages[0].tool_calls[0]", ""},
		{"top_p", "/v1/chat/completions", chat(`, "top_p": 1.5`), 400, "top_p", ""},
		{"presence_penalty", "/v1/chat/completions", chat(`, "presence_penalty": -3`), 400, "presence_penalty", ""},
		{"logit_bias", "/v1/chat/completions", chat(`, "logit_bias": {"5": 10}`), 400, "logit_bias", ""},
		{"top_logprobs", "/v1/chat/completions", chat(`, "top_logprobs": 3`), 400, "top_logprobs", ""},
		{"empty stop", "/v1/chat/completions", chat(`, "stop": [""]`), 400, "stop", ""},
		{"stop list of numbers", "/v1/chat/completions", chat(`, "stop": [1]`), 400, "stop", ""},
		{"tool without name", "/v1/chat/completions", chat(`, "tools": [{"type": "function", "function": {}}]`), 400, "tools[0]", ""},
		{"kwargs not an object", "/v1/chat/completions", chat(`, "chat_template_kwargs": [1]`), 400, "chat_template_kwargs", ""},
		{"json and required call", "/v1/chat/completions", chat(`, "response_format": {"type": "json_object"}, "tools": [{"type": "function", "function": {"name": "f"}}], "tool_choice": "required"`), 400, "response_format", ""},
		{"too large", "/v1/completions", `{"model": "gocoder", "prompt": "` + strings.Repeat("a", 70<<10) + `"}`, 413, "", "request_too_large"},
		{"no route", "/v2/chat", `{}`, 404, "", "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, b := post(t, hs, tc.path, tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, b)
			}
			e := errorOf(t, b)
			if tc.param != "" && (e.Param == nil || *e.Param != tc.param) {
				t.Errorf("param %v, want %q: %s", e.Param, tc.param, b)
			}
			if tc.code != "" && (e.Code == nil || *e.Code != tc.code) {
				t.Errorf("code %v, want %q: %s", e.Code, tc.code, b)
			}
		})
	}
	if status, b := post(t, hs, "/v1/completions", `{"model": "gocoder", "prompt": "func", "max_tokens": 3}`); status != 200 {
		t.Fatalf("after the bad requests: %d %s", status, b)
	}
}

func TestAPIKey(t *testing.T) {
	_, hs := newTestServer(t, "k3y")
	body := `{"model": "gocoder", "prompt": "func", "max_tokens": 2}`
	for _, h := range [][]string{nil, {"Authorization", "Bearer nope"}, {"Authorization", "k3y"}} {
		status, b := post(t, hs, "/v1/completions", body, h...)
		if status != 401 {
			t.Errorf("header %q: status %d, want 401", h, status)
			continue
		}
		if e := errorOf(t, b); e.Code == nil || *e.Code != "invalid_api_key" {
			t.Errorf("header %q: %s", h, b)
		}
	}
	if status, b := post(t, hs, "/v1/completions", body, "Authorization", "Bearer k3y"); status != 200 {
		t.Fatalf("right key: %d %s", status, b)
	}
	// Health, readiness and metrics need no key (probes and scrapers).
	for _, p := range []string{"/health", "/ready", "/metrics"} {
		resp, err := hs.Client().Get(hs.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
}

// readEvents reads a server-sent-event body strictly and returns the JSON
// payloads before data: [DONE].
func readEvents(t testing.TB, r io.Reader) []map[string]any {
	t.Helper()
	br := bufio.NewReader(r)
	var out []map[string]any
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended without [DONE] (%v) after %d events", err, len(out))
		}
		payload, ok := strings.CutPrefix(strings.TrimSuffix(line, "\n"), "data: ")
		if blank, _ := br.ReadString('\n'); !ok || blank != "\n" {
			t.Fatalf("bad framing at %q", line)
		}
		if payload == "[DONE]" {
			if rest, _ := io.ReadAll(br); len(rest) > 0 {
				t.Fatalf("data after [DONE]: %q", rest)
			}
			return out
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(payload), &m); err != nil {
			t.Fatalf("event %q: %v", payload, err)
		}
		out = append(out, m)
	}
}

func TestChatStreamMatchesWhole(t *testing.T) {
	_, hs := newTestServer(t, "")
	body := `{"model": "gocoder", "messages": [{"role": "developer", "content": "Go."}, {"role": "user", "content": [{"type": "text", "text": "write"}, {"type": "text", "text": "code"}]}], "max_tokens": 24, "temperature": 0`
	status, b := post(t, hs, "/v1/chat/completions", body+`}`)
	if status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	var whole chatResponse
	if err := json.Unmarshal(b, &whole); err != nil {
		t.Fatal(err)
	}
	if whole.Object != "chat.completion" || whole.Choices[0].Message.Content == nil || whole.Usage.CompletionTokens != 24 || whole.Choices[0].FinishReason != "length" {
		t.Fatalf("whole: %s", b)
	}
	resp, err := hs.Client().Post(hs.URL+"/v1/chat/completions", "application/json", strings.NewReader(body+`, "stream": true, "stream_options": {"include_usage": true}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("Content-Type %q", ct)
	}
	events := readEvents(t, resp.Body)
	var text strings.Builder
	finish := ""
	for i, ev := range events {
		if ev["object"] != "chat.completion.chunk" {
			t.Fatalf("event %d: %v", i, ev)
		}
		choices := ev["choices"].([]any)
		if i == len(events)-1 {
			u := ev["usage"].(map[string]any)
			if len(choices) != 0 || u["completion_tokens"] != float64(24) || u["prompt_tokens"] != float64(whole.Usage.PromptTokens) {
				t.Fatalf("usage event: %v", ev)
			}
			continue
		}
		if _, ok := ev["usage"]; ok {
			t.Fatalf("usage before the last event: %v", ev)
		}
		c := choices[0].(map[string]any)
		d := c["delta"].(map[string]any)
		if i == 0 && d["role"] != "assistant" {
			t.Fatalf("first delta %v has no role", d)
		}
		if s, ok := d["content"].(string); ok {
			text.WriteString(s)
		}
		if f, ok := c["finish_reason"].(string); ok {
			finish = f
		}
	}
	if text.String() != *whole.Choices[0].Message.Content || finish != "length" {
		t.Fatalf("streamed %q (%s), whole %q", text.String(), finish, *whole.Choices[0].Message.Content)
	}
}

// TestForcedCallParses checks that each format's forced opening, a JSON
// object of arguments and the closing the constraint requires parse back
// as the call.
func TestForcedCallParses(t *testing.T) {
	for _, f := range []toolcall.Format{toolcall.Hermes, toolcall.Llama3, toolcall.MistralV1} {
		for _, choice := range []toolChoice{{mode: "function", name: `we"ird`}, {mode: "required"}} {
			names := []string{`we"ird`, "other"}
			prefix, parts := forcedCall(f, choice, names)
			text := prefix
			if choice.mode == "required" {
				if len(parts) != 3 || len(parts[0].Choice) != 2 {
					t.Fatalf("%v required: parts %+v", f, parts)
				}
				text += parts[0].Choice[1] // the model picks "other"
				parts = parts[1:]
			}
			if len(parts) != 2 || !parts[0].JSONObject || len(parts[1].Choice) != 1 {
				t.Fatalf("%v %s: parts %+v", f, choice.mode, parts)
			}
			text += `{"city": "Paris", "n": [1, 2]}` + parts[1].Choice[0]
			content, calls := toolcall.Parse(f, text)
			want := `we"ird`
			if choice.mode == "required" {
				want = "other"
			}
			if len(calls) != 1 || calls[0].Name != want || calls[0].Arguments != `{"city":"Paris","n":[1,2]}` || strings.TrimSpace(content) != "" {
				t.Errorf("%v %s: %q parsed as %q, %+v", f, choice.mode, text, content, calls)
			}
		}
	}
	if p, parts := forcedCall(toolcall.Hermes, toolChoice{mode: "auto"}, []string{"f"}); p != "" || parts != nil {
		t.Errorf("auto forces %q %v", p, parts)
	}
}

func TestMessages(t *testing.T) {
	raw := []json.RawMessage{
		json.RawMessage(`{"role": "developer", "content": "sys"}`),
		json.RawMessage(`{"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}`),
		json.RawMessage(`{"role": "assistant", "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"x\": 1}"}}]}`),
		json.RawMessage(`{"role": "assistant", "content": null}`),
		json.RawMessage(`{"role": "tool", "tool_call_id": "c1", "content": "42"}`),
	}
	msgs, e := messages(raw)
	if e != nil {
		t.Fatal(e.msg)
	}
	want := []struct{ role, content string }{{"system", "sys"}, {"user", "a\nb"}, {"assistant", ""}, {"assistant", ""}, {"tool", "42"}}
	for i, m := range msgs {
		d := m.(*chat.Dict)
		role, _ := dictStr(d, "role")
		content, ok := dictStr(d, "content")
		if role != want[i].role || !ok || content != want[i].content {
			t.Errorf("message %d: role %q content %q (%v), want %q %q", i, role, content, ok, want[i].role, want[i].content)
		}
	}
	// Tool-call arguments reach the template as an object, not JSON text.
	calls, _ := msgs[2].(*chat.Dict).GetStr("tool_calls")
	fn, _ := calls.(chat.List)[0].(*chat.Dict).GetStr("function")
	args, _ := fn.(*chat.Dict).GetStr("arguments")
	if d, ok := args.(*chat.Dict); !ok {
		t.Errorf("arguments are %T, want an object", args)
	} else if x, _ := d.GetStr("x"); x == nil {
		t.Errorf("arguments lack x")
	}
}

func TestHoldBack(t *testing.T) {
	for _, tc := range []struct {
		text, marker string
		want         int
	}{
		{"abc", "<tool_call>", 0},
		{"abc<", "<tool_call>", 1},
		{"abc<tool_", "<tool_call>", 6},
		{"<tool_call", "<tool_call>", 10},
		{"", "<tool_call>", 0},
		{"x[TOOL", "[TOOL_CALLS]", 5},
	} {
		if got := holdBack(tc.text, tc.marker); got != tc.want {
			t.Errorf("holdBack(%q, %q) = %d, want %d", tc.text, tc.marker, got, tc.want)
		}
	}
}

// TestDisconnectCancels drops a streaming request and checks that the
// generation is cancelled and counted, under the race detector.
func TestDisconnectCancels(t *testing.T) {
	s, hs := newTestServerCtx(t, "", 1024)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", hs.URL+"/v1/completions",
		strings.NewReader(`{"model": "gocoder", "prompt": "package main\n\nimport (", "max_tokens": 1000, "stream": true}`))
	resp, err := hs.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	cancel() // as soon as the stream starts
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for testutil.ToFloat64(s.metrics.cancelled) != 1 || s.cfg.Engine.Stats().Running != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("cancelled %v, running %d", testutil.ToFloat64(s.metrics.cancelled), s.cfg.Engine.Stats().Running)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := s.cfg.Engine.Stats().GeneratedTokens; n >= 1000 {
		t.Fatalf("%d tokens generated: not cancelled", n)
	}
}

// TestConcurrentRequests runs streaming and whole requests of both kinds
// at once (more than the sequences), with metrics scraped meanwhile; under
// -race this checks the handlers' and metrics' synchronisation.
func TestConcurrentRequests(t *testing.T) {
	_, hs := newTestServer(t, "")
	var wg sync.WaitGroup
	errs := make(chan string, 64)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			stream := i%2 == 0
			var body string
			if i%3 == 0 {
				body = fmt.Sprintf(`{"model": "gocoder", "prompt": "func f%d(", "max_tokens": 12, "temperature": 0.7, "seed": %d, "stream": %v}`, i, i, stream)
				body = strings.Replace(body, `"model"`, `"stop": ["}"], "model"`, 1)
			} else {
				body = fmt.Sprintf(`{"model": "gocoder", "messages": [{"role": "user", "content": "f%d"}], "max_tokens": 12, "stream": %v}`, i, stream)
			}
			path := "/v1/completions"
			if i%3 != 0 {
				path = "/v1/chat/completions"
			}
			status, b := post(t, hs, path, body)
			if status != 200 {
				errs <- fmt.Sprintf("request %d: %d %s", i, status, b)
			}
		}()
	}
	for range 5 {
		resp, err := hs.Client().Get(hs.URL + "/metrics")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

func TestMetrics(t *testing.T) {
	_, hs := newTestServer(t, "")
	if status, b := post(t, hs, "/v1/completions", `{"model": "gocoder", "prompt": "func", "max_tokens": 5}`); status != 200 {
		t.Fatalf("%d %s", status, b)
	}
	resp, err := hs.Client().Get(hs.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	text := string(b)
	for _, want := range []string{
		`memfit_requests_total{code="200",route="/v1/completions"} 1`,
		"memfit_generated_tokens_total 5",
		"memfit_time_to_first_token_seconds_count 1",
		"memfit_time_per_output_token_seconds_count 1",
		"memfit_request_duration_seconds_bucket{route=\"/v1/completions\",le=\"+Inf\"} 1",
		"memfit_queue_depth 0",
		"memfit_sequences_running 0",
		"memfit_sequences_parallel 2",
		`memfit_memory_reserved_bytes{kind="kv"}`,
		"memfit_memory_reserved_peak_bytes ",
		"memfit_memory_budget_bytes ",
		"memfit_process_resident_bytes ",
		"process_resident_memory_bytes ",
		"go_goroutines ",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(text)
	}
}

// TestToolStream feeds replies in pieces and checks what streams before the
// end and what is held back to be parsed.
func TestToolStream(t *testing.T) {
	for _, tc := range []struct {
		name     string
		marker   string
		pieces   []string
		streamed string // concatenation of what add returned
		rest     string
	}{
		{"no call", "<tool_call>", []string{"Hello", " world"}, "Hello world", ""},
		{"call after text", "<tool_call>", []string{"Let me check. ", "<tool", "_call>", "\n{\"name\"", ": \"f\"}"}, "Let me check. ", "<tool_call>\n{\"name\": \"f\"}"},
		{"marker in one piece with text", "<tool_call>", []string{"ok <tool_call>{", "}"}, "ok ", "<tool_call>{}"},
		{"false start released", "<tool_call>", []string{"a <", "b"}, "a <b", ""},
		{"prefix at the end held", "<tool_call>", []string{"x <tool_c"}, "x ", "<tool_c"},
		{"mistral", "[TOOL_CALLS]", []string{"[", "TOOL_CALLS][{}]"}, "", "[TOOL_CALLS][{}]"},
		{"llama3 call", "", []string{"  ", "{\"name\": ", "\"f\"}"}, "", "  {\"name\": \"f\"}"},
		{"llama3 text", "", []string{" ", "Sure", ", {x}"}, " Sure, {x}", ""},
	} {
		ts := &toolStream{marker: tc.marker}
		var streamed strings.Builder
		for _, p := range tc.pieces {
			streamed.WriteString(ts.add(p))
		}
		if streamed.String() != tc.streamed || ts.rest() != tc.rest {
			t.Errorf("%s: streamed %q, held %q; want %q, %q", tc.name, streamed.String(), ts.rest(), tc.streamed, tc.rest)
		}
	}
	held := &toolStream{marker: "<tool_call>", holding: true}
	if got := held.add("anything"); got != "" || held.rest() != "anything" {
		t.Errorf("a forced call streamed %q", got)
	}
}

// TestExpertMetrics: an expert cache's counters come out under their
// names, loads split by where they came from.
func TestExpertMetrics(t *testing.T) {
	st := weights.ExpertStats{Hits: 90, PrefetchHits: 6, Misses: 4, Prefetched: 8, PrefetchWasted: 1,
		BytesRead: 12 << 20, DemandBytes: 4 << 20, Predicted: 16, Correct: 12, Waits: 3, WaitNanos: 1500e6, Slots: 48}
	c := newExpertMetrics(func() weights.ExpertStats { return st })
	want := `
# HELP memfit_expert_cache_slots Experts the MoE expert cache holds.
# TYPE memfit_expert_cache_slots gauge
memfit_expert_cache_slots 48
# HELP memfit_expert_demand_read_bytes_total Bytes of experts read on demand (the forward pass waiting).
# TYPE memfit_expert_demand_read_bytes_total counter
memfit_expert_demand_read_bytes_total 4.194304e+06
# HELP memfit_expert_guesses_correct_total Guessed experts the next layer's router then picked.
# TYPE memfit_expert_guesses_correct_total counter
memfit_expert_guesses_correct_total 12
# HELP memfit_expert_guesses_total Experts guessed for the next layer.
# TYPE memfit_expert_guesses_total counter
memfit_expert_guesses_total 16
# HELP memfit_expert_loads_total Experts a layer's batch used, by where they came from: hit (in the cache), prefetch_hit (read ahead by a guess), miss (read on demand).
# TYPE memfit_expert_loads_total counter
memfit_expert_loads_total{result="hit"} 90
memfit_expert_loads_total{result="miss"} 4
memfit_expert_loads_total{result="prefetch_hit"} 6
# HELP memfit_expert_prefetch_wasted_total Prefetched experts evicted before any use.
# TYPE memfit_expert_prefetch_wasted_total counter
memfit_expert_prefetch_wasted_total 1
# HELP memfit_expert_prefetched_total Experts read ahead of their layer on the next layer's router's guess.
# TYPE memfit_expert_prefetched_total counter
memfit_expert_prefetched_total 8
# HELP memfit_expert_read_bytes_total Bytes of experts read from disk, demand and prefetch.
# TYPE memfit_expert_read_bytes_total counter
memfit_expert_read_bytes_total 1.2582912e+07
# HELP memfit_expert_read_wait_seconds_total Time the forward pass spent waiting for experts' reads.
# TYPE memfit_expert_read_wait_seconds_total counter
memfit_expert_read_wait_seconds_total 1.5
# HELP memfit_expert_read_waits_total Times the forward pass waited for an expert's read.
# TYPE memfit_expert_read_waits_total counter
memfit_expert_read_waits_total 3
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
}
