package server

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// fuzzBodies seed both fuzz targets.
var fuzzBodies = []string{
	`{"model": "gocoder", "prompt": "func", "max_tokens": 4, "stop": ["}"], "stream": true}`,
	`{"model": "gocoder", "prompt": [[0, 351, 312]], "temperature": 0.5, "seed": -3}`,
	`{"model": "gocoder", "messages": [{"role": "system", "content": "s"}, {"role": "user", "content": [{"type": "text", "text": "t"}]}], "max_completion_tokens": 9}`,
	`{"model": "gocoder", "messages": [{"role": "user", "content": "w"}], "tools": [{"type": "function", "function": {"name": "f", "parameters": {}}}], "tool_choice": "required"}`,
	`{"model": "gocoder", "messages": [{"role": "user", "content": "w"}], "tools": [{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "g"}}], "tool_choice": {"type": "function", "function": {"name": "g"}}}`,
	`{"model": "gocoder", "messages": [{"role": "assistant", "tool_calls": [{"type": "function", "function": {"name": "f", "arguments": "{\"a\": [1]}"}}]}, {"role": "tool", "content": "1"}]}`,
	`{"model": "gocoder", "messages": [{"role": "user", "content": "x"}], "response_format": {"type": "json_object"}, "chat_template_kwargs": {"enable_thinking": false}}`,
	`{"model": "gocoder", "max_tokens": 99999999999999999999}`,
	`{"model": 5}`, `[]`, `null`, `{"messages": [{}]}`, ``,
}

// fuzzPrepare runs one request body through prepare and checks that it
// either is refused with a 4xx or yields an engine request the engine
// accepts and that fits the context.
func fuzzPrepare(f *testing.F, path string) {
	s, _ := newTestServer(f, "")
	for _, b := range fuzzBodies {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body string) {
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", path, strings.NewReader(body))
		var e *requestError
		var prompt, maxTokens int
		if path == "/v1/chat/completions" {
			job, err := s.prepareChat(w, r)
			if e = err; e == nil {
				if cerr := s.cfg.Engine.Check(job.ereq); cerr != nil {
					t.Fatalf("%q: prepared a request the engine refuses: %v", body, cerr)
				}
				prompt, maxTokens = len(job.ereq.Prompt), job.ereq.MaxTokens
			}
		} else {
			_, ereq, err := s.prepareCompletion(w, r)
			if e = err; e == nil {
				if cerr := s.cfg.Engine.Check(ereq); cerr != nil {
					t.Fatalf("%q: prepared a request the engine refuses: %v", body, cerr)
				}
				prompt, maxTokens = len(ereq.Prompt), ereq.MaxTokens
			}
		}
		if e != nil {
			if e.status < 400 || e.status > 499 || e.msg == "" || e.typ == "" {
				t.Fatalf("%q: refused with %d %q %q", body, e.status, e.typ, e.msg)
			}
			return
		}
		if ctx := s.cfg.Engine.Options().Ctx; prompt >= ctx || prompt+maxTokens > ctx {
			t.Fatalf("%q: prompt %d + max tokens %d do not fit the context of %d", body, prompt, maxTokens, ctx)
		}
	})
}

func FuzzChatRequest(f *testing.F)       { fuzzPrepare(f, "/v1/chat/completions") }
func FuzzCompletionRequest(f *testing.F) { fuzzPrepare(f, "/v1/completions") }
