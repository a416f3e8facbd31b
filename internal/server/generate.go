package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/memfit/memfit/internal/engine"
)

// sse writes server-sent events.
type sse struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func startSSE(w http.ResponseWriter) *sse {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Connection", "keep-alive")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	return &sse{w: w, rc: http.NewResponseController(w)}
}

// send writes v as one "data:" event and flushes it.
func (e *sse) send(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(e.w, "data: %s\n\n", b); err != nil {
		return err
	}
	return e.rc.Flush()
}

// done ends the stream as OpenAI does.
func (e *sse) done() error {
	if _, err := e.w.Write([]byte("data: [DONE]\n\n")); err != nil {
		return err
	}
	return e.rc.Flush()
}

// sendError reports an error inside a stream whose headers are out.
func (e *sse) sendError(re *requestError) {
	body := errorBody{Error: apiError{Message: re.msg, Type: re.typ}}
	if re.code != "" {
		body.Error.Code = &re.code
	}
	e.send(body)
}

// run generates req, counting it in the metrics.
func (s *Server) run(r *http.Request, req engine.Request, onText func(string) error) (*engine.Result, *requestError) {
	if s.draining.Load() {
		return nil, &requestError{status: http.StatusServiceUnavailable, typ: "server_error", code: "shutting_down", msg: "the server is shutting down"}
	}
	s.metrics.active.Inc()
	defer s.metrics.active.Dec()
	wrote := true // the error came from writing to the client
	var cb func(string) error
	if onText != nil {
		cb = func(t string) error {
			if err := onText(t); err != nil {
				wrote = true
				return err
			}
			return nil
		}
		wrote = false
	}
	res, err := s.cfg.Engine.Generate(r.Context(), req, cb)
	if err != nil {
		if r.Context().Err() != nil || (onText != nil && wrote) {
			s.metrics.cancelled.Inc()
			s.logf("%s %s: client went away; generation stopped", r.Method, r.URL.Path)
			return nil, &requestError{status: 499, typ: "invalid_request_error", code: "cancelled", msg: "the client went away"}
		}
		return nil, engineError(err)
	}
	s.metrics.generation(res)
	return res, nil
}

// completionPrompt reads the prompt field: a string, a list of one
// string, a list of token ids, or a list of one such list.
func (s *Server) completionPrompt(raw json.RawMessage) ([]int32, *requestError) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, badRequest("prompt", "prompt is required")
	}
	var text string
	if json.Unmarshal(raw, &text) == nil {
		return s.cfg.Engine.Tokenizer().Encode(text, true), nil
	}
	var texts []string
	if json.Unmarshal(raw, &texts) == nil {
		if len(texts) != 1 {
			return nil, badRequest("prompt", "a list of %d prompts: only one prompt per request is supported", len(texts))
		}
		return s.cfg.Engine.Tokenizer().Encode(texts[0], true), nil
	}
	var ids []int32
	if json.Unmarshal(raw, &ids) == nil {
		return ids, nil
	}
	var lists [][]int32
	if json.Unmarshal(raw, &lists) == nil {
		if len(lists) != 1 {
			return nil, badRequest("prompt", "a list of %d token lists: only one prompt per request is supported", len(lists))
		}
		return lists[0], nil
	}
	return nil, badRequest("prompt", "prompt: want a string, a list of one string, or a list of token ids")
}

// prepareCompletion reads and checks a completion request and builds the
// engine request, without generating.
func (s *Server) prepareCompletion(w http.ResponseWriter, r *http.Request) (*completionRequest, engine.Request, *requestError) {
	var req completionRequest
	if e := s.decode(w, r, &req); e != nil {
		return nil, engine.Request{}, e
	}
	params, maxTokens, stop, e := s.params(&req.samplingFields, req.MaxTokens, "max_tokens")
	if e != nil {
		return nil, engine.Request{}, e
	}
	if req.Echo || req.Suffix != nil {
		return nil, engine.Request{}, badRequest("echo", "echo and suffix are not supported")
	}
	ids, e := s.completionPrompt(req.Prompt)
	if e != nil {
		return nil, engine.Request{}, e
	}
	if len(ids) == 0 {
		return nil, engine.Request{}, badRequest("prompt", "empty prompt: want at least one token")
	}
	if e := s.checkFits(len(ids), maxTokens, "max_tokens"); e != nil {
		if e.param == "messages" {
			e.param = "prompt"
		}
		return nil, engine.Request{}, e
	}
	ereq := engine.Request{Prompt: ids, MaxTokens: maxTokens, Sampling: params, Stop: stop}
	if err := s.cfg.Engine.Check(ereq); err != nil {
		return nil, engine.Request{}, engineErrorOrBad(err)
	}
	return &req, ereq, nil
}

func (s *Server) completions(w http.ResponseWriter, r *http.Request) {
	req, ereq, e := s.prepareCompletion(w, r)
	if e != nil {
		s.fail(w, r, e)
		return
	}
	id, created := newID("cmpl-"), time.Now().Unix()
	if !req.Stream {
		res, e := s.run(r, ereq, nil)
		if e != nil {
			s.fail(w, r, e)
			return
		}
		finish := res.Finish
		writeJSON(w, http.StatusOK, completionResponse{
			ID: id, Object: "text_completion", Created: created, Model: s.cfg.Model,
			Choices: []completionChoice{{Text: res.Text, FinishReason: &finish}},
			Usage:   usageOf(res),
		})
		return
	}
	ev := startSSE(w)
	res, e := s.run(r, ereq, func(text string) error {
		return ev.send(completionResponse{ID: id, Object: "text_completion", Created: created, Model: s.cfg.Model,
			Choices: []completionChoice{{Text: text}}})
	})
	if e != nil {
		if r.Context().Err() == nil {
			ev.sendError(e)
		}
		return
	}
	finish := res.Finish
	ev.send(completionResponse{ID: id, Object: "text_completion", Created: created, Model: s.cfg.Model,
		Choices: []completionChoice{{Text: "", FinishReason: &finish}}})
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		ev.send(completionResponse{ID: id, Object: "text_completion", Created: created, Model: s.cfg.Model,
			Choices: []completionChoice{}, Usage: usageOf(res)})
	}
	ev.done()
}

// engineErrorOrBad maps an Engine.Check error: context errors keep their
// code, everything else is a bad request.
func engineErrorOrBad(err error) *requestError {
	if e := engineError(err); e.code == "context_length_exceeded" {
		return e
	}
	return badRequest("", "%v", err)
}

func usageOf(res *engine.Result) *usage {
	n := len(res.Tokens)
	return &usage{PromptTokens: res.PromptTokens, CompletionTokens: n, TotalTokens: res.PromptTokens + n,
		Details: &promptDetail{CachedTokens: res.CachedTokens}}
}

// holdBack is how many bytes at the end of text could be the start of
// marker, and so must wait for more text before they are streamed.
func holdBack(text, marker string) int {
	for n := min(len(marker)-1, len(text)); n > 0; n-- {
		if strings.HasSuffix(text, marker[:n]) {
			return n
		}
	}
	return 0
}
