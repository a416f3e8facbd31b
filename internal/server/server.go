// Package server is memfit's OpenAI-compatible HTTP API: GET /v1/models,
// POST /v1/completions and POST /v1/chat/completions (streamed as
// server-sent events or whole), GET /health, GET /ready and GET /metrics,
// on one engine.
package server

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memfit/memfit/internal/constrain"
	"github.com/memfit/memfit/internal/engine"
	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/prompt"
	"github.com/memfit/memfit/internal/sample"
	"github.com/memfit/memfit/internal/toolcall"
)

// DefaultMaxBody is the largest request body accepted unless Config says
// otherwise.
const DefaultMaxBody = 16 << 20

// bodyTimeout bounds the time to receive a request body.
const bodyTimeout = 60 * time.Second

// Config is what a Server serves.
type Config struct {
	// Engine runs the generations.
	Engine *engine.Engine
	// Template renders chat requests; nil refuses /v1/chat/completions
	// with an error saying the model has no chat template.
	Template *prompt.Template
	// Model is the id the model is served under.
	Model string
	// APIKey, when set, is required as "Authorization: Bearer KEY" on /v1.
	APIKey string
	// MaxBody bounds request bodies (0: DefaultMaxBody); larger ones get
	// 413.
	MaxBody int64
	// Defaults are the sampling settings of fields a request leaves out.
	Defaults sample.Params
	// RandomSeed, when true, draws a seed for requests that give none
	// (Defaults.Seed otherwise).
	RandomSeed bool
	// MaxTokens is the generation limit of requests that set none (0: until
	// the context is full).
	MaxTokens int
	// Ledger, if set, is reported in /metrics.
	Ledger *ledger.Ledger
	// Log receives one line per failed request; nil discards.
	Log *log.Logger
}

// Server is the HTTP API. Its Handler is safe for concurrent use.
type Server struct {
	cfg      Config
	mux      *http.ServeMux
	created  int64
	tools    toolcall.Format
	draining atomic.Bool
	metrics  *metrics

	vocabOnce sync.Once
	vocabs    *constrain.Vocab
}

// vocab returns the token bytes constrained decoding reads, built on first
// use.
func (s *Server) vocab() *constrain.Vocab {
	s.vocabOnce.Do(func() { s.vocabs = constrain.NewVocab(s.cfg.Engine.Tokenizer()) })
	return s.vocabs
}

// New returns a server for cfg.
func New(cfg Config) *Server {
	if cfg.MaxBody <= 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	s := &Server{cfg: cfg, mux: http.NewServeMux(), created: time.Now().Unix(), metrics: newMetrics(cfg.Engine, cfg.Ledger)}
	if cfg.Template != nil {
		s.tools = toolcall.Detect(cfg.Template.Source.Template)
	}
	s.mux.HandleFunc("GET /health", s.health)
	s.mux.HandleFunc("GET /ready", s.ready)
	s.mux.HandleFunc("GET /metrics", s.serveMetrics)
	s.mux.HandleFunc("GET /v1/models", s.auth(s.models))
	s.mux.HandleFunc("GET /v1/models/{id...}", s.auth(s.model))
	s.mux.HandleFunc("POST /v1/completions", s.auth(s.completions))
	s.mux.HandleFunc("POST /v1/chat/completions", s.auth(s.chatCompletions))
	s.mux.HandleFunc("/", s.auth(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "invalid_request_error", "", "not_found", fmt.Sprintf("no route %s %s", r.Method, r.URL.Path))
	}))
	return s
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s }

// ServeHTTP serves one request, counting it in the metrics.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	start := time.Now()
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				panic(p)
			}
			s.logf("panic serving %s %s: %v", r.Method, r.URL.Path, p)
			if !rec.wrote {
				writeError(rec, http.StatusInternalServerError, "server_error", "", "internal_error", fmt.Sprintf("internal error: %v", p))
			}
		}
		s.metrics.request(routeOf(r), rec.status, time.Since(start))
	}()
	s.mux.ServeHTTP(rec, r)
}

// Drain marks the server as shutting down: /ready answers 503 and new
// generation requests are refused, while running ones finish.
func (s *Server) Drain() { s.draining.Store(true) }

func (s *Server) logf(format string, args ...any) {
	if s.cfg.Log != nil {
		s.cfg.Log.Printf(format, args...)
	}
}

// routeOf is the metrics label of a request.
func routeOf(r *http.Request) string {
	switch p := r.URL.Path; {
	case p == "/v1/completions", p == "/v1/chat/completions", p == "/v1/models", p == "/health", p == "/ready", p == "/metrics":
		return p
	case strings.HasPrefix(p, "/v1/models/"):
		return "/v1/models/{id}"
	}
	return "other"
}

func (s *Server) auth(h http.HandlerFunc) http.HandlerFunc {
	if s.cfg.APIKey == "" {
		return h
	}
	want := []byte("Bearer " + s.cfg.APIKey)
	return func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			writeError(w, http.StatusUnauthorized, "invalid_request_error", "", "invalid_api_key", "incorrect or missing API key: send it as \"Authorization: Bearer KEY\"")
			return
		}
		h(w, r)
	}
}

func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	if s.draining.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "draining"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready", "model": s.cfg.Model})
}

func (s *Server) modelObject() modelObject {
	return modelObject{ID: s.cfg.Model, Object: "model", Created: s.created, OwnedBy: "memfit"}
}

func (s *Server) models(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, modelList{Object: "list", Data: []modelObject{s.modelObject()}})
}

func (s *Server) model(w http.ResponseWriter, r *http.Request) {
	if id := r.PathValue("id"); id != s.cfg.Model {
		writeError(w, http.StatusNotFound, "invalid_request_error", "model", "model_not_found", fmt.Sprintf("the model %q does not exist; this server serves %q", id, s.cfg.Model))
		return
	}
	writeJSON(w, http.StatusOK, s.modelObject())
}

// requestError is a 4xx (or 5xx) the handler answers with.
type requestError struct {
	status int
	typ    string
	param  string
	code   string
	msg    string
}

func (e *requestError) Error() string { return e.msg }

func badRequest(param, format string, args ...any) *requestError {
	return &requestError{status: http.StatusBadRequest, typ: "invalid_request_error", param: param, msg: fmt.Sprintf(format, args...)}
}

// decode reads the JSON body into v, answering 413 for bodies over the
// limit and 400 for malformed JSON.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any) *requestError {
	// A client gets bodyTimeout to send its body, so a slow sender cannot
	// hold a connection forever; the deadline is lifted for the response
	// (a stream may run for minutes, and the connection's reads are how a
	// disconnect is noticed).
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(bodyTimeout))
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBody)
	data, err := io.ReadAll(body)
	rc.SetReadDeadline(time.Time{})
	if err != nil {
		var mb *http.MaxBytesError
		if errors.As(err, &mb) {
			return &requestError{status: http.StatusRequestEntityTooLarge, typ: "invalid_request_error", code: "request_too_large",
				msg: fmt.Sprintf("request body over the limit of %d bytes (--max-body)", mb.Limit)}
		}
		return badRequest("", "reading the request body: %v", err)
	}
	if len(data) == 0 {
		return badRequest("", "empty request body: want a JSON object")
	}
	if err := json.Unmarshal(data, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			field := strings.TrimPrefix(te.Field, "samplingFields.")
			want := te.Type.String()
			if te.Type == reflect.TypeFor[stringOrList]() {
				want = "a string or a list of strings"
			}
			return badRequest(field, "field %q: want %s, got a JSON %s", field, want, te.Value)
		}
		return badRequest("", "malformed JSON body: %v", err)
	}
	return nil
}

// params turns the request's sampling fields into engine settings.
func (s *Server) params(f *samplingFields, maxTokens *int, maxParam string) (sample.Params, int, []string, *requestError) {
	p := s.cfg.Defaults
	if f.Model == "" {
		return p, 0, nil, badRequest("model", "model is required (this server serves %q)", s.cfg.Model)
	}
	if f.Model != s.cfg.Model {
		return p, 0, nil, &requestError{status: http.StatusNotFound, typ: "invalid_request_error", param: "model", code: "model_not_found",
			msg: fmt.Sprintf("the model %q does not exist; this server serves %q", f.Model, s.cfg.Model)}
	}
	if f.N != nil && *f.N != 1 {
		return p, 0, nil, badRequest("n", "n = %d: only one choice per request is supported", *f.N)
	}
	if len(f.Logprobs) > 0 && string(f.Logprobs) != "null" && string(f.Logprobs) != "false" {
		return p, 0, nil, badRequest("logprobs", "logprobs are not supported")
	}
	if f.TopLogprobs != nil && *f.TopLogprobs != 0 {
		return p, 0, nil, badRequest("top_logprobs", "logprobs are not supported")
	}
	if len(f.LogitBias) > 0 {
		return p, 0, nil, badRequest("logit_bias", "logit_bias is not supported")
	}
	if f.Temperature != nil {
		if *f.Temperature < 0 || *f.Temperature > 2 {
			return p, 0, nil, badRequest("temperature", "temperature %v: want 0 to 2", *f.Temperature)
		}
		p.Temperature = *f.Temperature
	}
	if f.TopP != nil {
		if *f.TopP < 0 || *f.TopP > 1 {
			return p, 0, nil, badRequest("top_p", "top_p %v: want 0 to 1", *f.TopP)
		}
		p.TopP = *f.TopP
	}
	if f.TopK != nil {
		p.TopK = *f.TopK
	}
	if f.MinP != nil {
		p.MinP = *f.MinP
	}
	if f.RepeatPenalty != nil {
		p.RepeatPenalty = *f.RepeatPenalty
	}
	if f.PresencePenalty != nil {
		if *f.PresencePenalty < -2 || *f.PresencePenalty > 2 {
			return p, 0, nil, badRequest("presence_penalty", "presence_penalty %v: want -2 to 2", *f.PresencePenalty)
		}
		p.PresencePenalty = *f.PresencePenalty
	}
	if f.FrequencyPenalty != nil {
		if *f.FrequencyPenalty < -2 || *f.FrequencyPenalty > 2 {
			return p, 0, nil, badRequest("frequency_penalty", "frequency_penalty %v: want -2 to 2", *f.FrequencyPenalty)
		}
		p.FrequencyPenalty = *f.FrequencyPenalty
	}
	switch {
	case f.Seed != nil:
		p.Seed = uint64(*f.Seed)
	case s.cfg.RandomSeed:
		var b [8]byte
		rand.Read(b[:])
		p.Seed = uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
	}
	if err := p.Check(); err != nil {
		return p, 0, nil, badRequest("", "%v", err)
	}
	n := s.cfg.MaxTokens
	if maxTokens != nil {
		if *maxTokens < 1 {
			return p, 0, nil, badRequest(maxParam, "%s = %d: want at least 1", maxParam, *maxTokens)
		}
		n = *maxTokens
	}
	if len(f.Stop) > 4 {
		return p, 0, nil, badRequest("stop", "%d stop sequences: at most 4 are allowed", len(f.Stop))
	}
	for _, st := range f.Stop {
		if st == "" {
			return p, 0, nil, badRequest("stop", "stop: empty stop sequence")
		}
	}
	return p, n, f.Stop, nil
}

// checkFits refuses a prompt and max_tokens that do not fit the context.
func (s *Server) checkFits(promptTokens, maxTokens int, maxParam string) *requestError {
	ctx := s.cfg.Engine.Options().Ctx
	if promptTokens >= ctx {
		return &requestError{status: http.StatusBadRequest, typ: "invalid_request_error", param: "messages", code: "context_length_exceeded",
			msg: fmt.Sprintf("this model's context holds %d tokens, but the prompt has %d (at least one more is needed to generate)", ctx, promptTokens)}
	}
	if maxTokens > ctx-promptTokens { // not promptTokens+maxTokens: it may overflow
		return &requestError{status: http.StatusBadRequest, typ: "invalid_request_error", param: maxParam, code: "context_length_exceeded",
			msg: fmt.Sprintf("this model's context holds %d tokens: the prompt has %d, so %s can be at most %d, not %d", ctx, promptTokens, maxParam, ctx-promptTokens, maxTokens)}
	}
	return nil
}

// engineError maps a generation error to an HTTP answer.
func engineError(err error) *requestError {
	switch {
	case errors.Is(err, engine.ErrContext):
		return &requestError{status: http.StatusBadRequest, typ: "invalid_request_error", code: "context_length_exceeded", msg: err.Error()}
	case errors.Is(err, engine.ErrBusy):
		return &requestError{status: http.StatusServiceUnavailable, typ: "server_error", code: "server_busy", msg: err.Error() + "; retry later"}
	case errors.Is(err, engine.ErrClosed):
		return &requestError{status: http.StatusServiceUnavailable, typ: "server_error", code: "shutting_down", msg: "the server is shutting down"}
	case errors.Is(err, ledger.ErrOverBudget):
		return &requestError{status: http.StatusServiceUnavailable, typ: "server_error", code: "over_memory_budget", msg: err.Error()}
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return &requestError{status: 499, typ: "invalid_request_error", code: "cancelled", msg: "the client went away"}
	}
	return &requestError{status: http.StatusInternalServerError, typ: "server_error", code: "internal_error", msg: err.Error()}
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, e *requestError) {
	if e.status >= 500 {
		s.logf("%s %s: %d %s", r.Method, r.URL.Path, e.status, e.msg)
	}
	writeError(w, e.status, e.typ, e.param, e.code, e.msg)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"message":"encoding the response failed","type":"server_error","param":null,"code":null}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

func writeError(w http.ResponseWriter, status int, typ, param, code, msg string) {
	e := apiError{Message: msg, Type: typ}
	if param != "" {
		e.Param = &param
	}
	if code != "" {
		e.Code = &code
	}
	writeJSON(w, status, errorBody{Error: e})
}

// statusRecorder remembers the status a handler wrote.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (r *statusRecorder) WriteHeader(code int) {
	if !r.wrote {
		r.status, r.wrote = code, true
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.ResponseWriter.Write(b)
}

// Flush lets streaming handlers flush through the recorder.
func (r *statusRecorder) Flush() {
	r.wrote = true
	if f, ok := r.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap gives http.ResponseController the underlying writer.
func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// newID returns an id with the given prefix, as OpenAI's ("chatcmpl-...").
func newID(prefix string) string {
	const letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
	var b [24]byte
	rand.Read(b[:])
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return prefix + string(b[:])
}
