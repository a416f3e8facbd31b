// Package engine generates text: it holds a model's sequences (each with a
// KV cache on the model's ledger), admits requests into them, processes
// prompts in chunks and decodes all active sequences together in one batch
// per step (continuous batching), samples, stops on end-of-generation
// tokens, stop strings, the token limit or a full context, and streams the
// text as it is produced.
//
// One goroutine, the scheduler, owns the model, the sequences and the
// samplers; requests talk to it through a queue and per-request buffers,
// so a slow reader never stalls the other sequences.
package engine

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/model"
	"github.com/memfit/memfit/internal/sample"
	"github.com/memfit/memfit/internal/tensor"
	"github.com/memfit/memfit/internal/tokenizer"
)

// Options configure an Engine.
type Options struct {
	// Parallel is how many sequences run at once; 0 means 1.
	Parallel int
	// Ctx is each sequence's context in tokens; 0 means the model's trained
	// context, capped at 4096.
	Ctx int
	// Batch is the most tokens one forward pass takes (prompt chunks plus
	// one token per decoding sequence); 0 means 256.
	Batch int
	// KVType is the cache element type, tensor.F32 (the zero value) or
	// tensor.F16.
	KVType tensor.DType
	// MaxQueue is how many requests may wait for a free sequence before
	// Generate refuses new ones with ErrBusy; 0 means 64.
	MaxQueue int
}

// Request is one generation.
type Request struct {
	// Prompt is the token ids to continue (BOS included if wanted).
	Prompt []int32
	// MaxTokens bounds the generated tokens; 0 means until the context is
	// full.
	MaxTokens int
	// Sampling are the sampler settings.
	Sampling sample.Params
	// Stop strings end generation; the text returned stops before them.
	Stop []string
	// IgnoreEOS keeps generating past end-of-generation tokens.
	IgnoreEOS bool
	// KeepSpecial keeps special tokens in the text (they are dropped by
	// default, as llama.cpp and transformers do).
	KeepSpecial bool
	// Constraint, if set, restricts the tokens generated (constrained
	// decoding); generation ends when it is complete. A Constraint serves
	// one request.
	Constraint Constraint
}

// Constraint restricts which tokens a generation may produce. The engine
// calls it from its scheduler goroutine, once per generated token: Mask
// before sampling, Accept after. Neither may allocate or block for long.
type Constraint interface {
	// Mask sets the logits of the tokens that may not come next to -Inf and
	// returns how many tokens remain allowed.
	Mask(logits []float32) int
	// Accept records the token sampled and reports whether the constrained
	// text is complete, which ends the generation.
	Accept(tok int32) bool
}

// ErrConstraint is returned when a constraint allows no token at all (the
// vocabulary cannot write what it requires).
var ErrConstraint = errors.New("no token can continue the required output")

// Finish reasons, as the OpenAI API names them.
const (
	FinishStop   = "stop"   // end-of-generation token or stop string
	FinishLength = "length" // MaxTokens reached or the context is full
)

// Result is a finished generation.
type Result struct {
	Tokens       []int32 // generated ids, an end-of-generation token included
	Text         string  // generated text, cut before a stop string
	Finish       string  // FinishStop or FinishLength
	PromptTokens int     // tokens in the prompt
	CachedTokens int     // prompt tokens reused from a sequence's cache
	// Queued is the wait for a free sequence, FirstToken the time from
	// submission to the first generated token, Total the whole request.
	Queued, FirstToken, Total time.Duration
}

// Errors Generate returns.
var (
	// ErrContext is returned (wrapped, with the figures) when the prompt
	// does not fit a sequence's context.
	ErrContext = errors.New("prompt does not fit the context")
	// ErrBusy means the queue of waiting requests is full.
	ErrBusy = errors.New("too many requests waiting")
	// ErrClosed means the engine is shut down.
	ErrClosed = errors.New("engine closed")
)

// Stats are counters since the engine started.
type Stats struct {
	Requests         int64 // finished requests
	PromptTokens     int64 // prompt tokens processed (not reused)
	CachedTokens     int64 // prompt tokens reused from caches
	GeneratedTokens  int64
	Waiting, Running int   // requests queued and in sequences now
	Steps            int64 // forward passes
}

// Engine runs generation requests on one model.
type Engine struct {
	m    *model.Model
	tok  *tokenizer.Tokenizer
	opt  Options
	eog  []bool // per token id: ends generation
	maxQ int

	sc     *model.Scratch
	slots  []*slot
	logits []float32
	res    *ledger.Reservation

	// batch buffers, reused every step
	bTokens []int32
	bSeqs   []*model.Seq
	bFlags  []bool

	mu      sync.Mutex
	queue   []*job
	closed  bool
	wake    chan struct{}
	stopped chan struct{}

	stats struct {
		requests, prompt, cached, generated, steps atomic.Int64
		running                                    atomic.Int32
	}
}

// slot is one sequence and what it holds.
type slot struct {
	seq     *model.Seq
	tokens  []int32 // the ids in the cache, in order
	sampler *sample.Sampler
	job     *job
	lastUse int64
	row     int // logits row in this step, -1 if none
}

// New starts an engine for m with its tokenizer. It reserves the caches,
// scratch and logits of opt on the model's ledger.
func New(m *model.Model, tok *tokenizer.Tokenizer, opt Options) (*Engine, error) {
	if opt.Parallel < 0 || opt.Ctx < 0 || opt.Batch < 0 || opt.MaxQueue < 0 {
		return nil, fmt.Errorf("engine: negative option in %+v", opt)
	}
	if opt.Parallel == 0 {
		opt.Parallel = 1
	}
	if opt.Ctx == 0 {
		opt.Ctx = m.Spec.ContextLength
		if opt.Ctx <= 0 || opt.Ctx > 4096 {
			opt.Ctx = 4096
		}
	}
	if opt.Batch == 0 {
		opt.Batch = 256
	}
	opt.Batch = max(opt.Batch, opt.Parallel)
	if opt.MaxQueue == 0 {
		opt.MaxQueue = 64
	}
	V := m.Spec.Vocab
	e := &Engine{m: m, tok: tok, opt: opt, maxQ: opt.MaxQueue, wake: make(chan struct{}, 1), stopped: make(chan struct{})}
	var err error
	e.res, err = m.Ledger().Reserve("logits+samplers", int64(opt.Parallel)*(int64(V)*4+sample.Bytes(V)))
	if err != nil {
		return nil, fmt.Errorf("engine: %w", err)
	}
	if e.sc, err = m.NewScratch(opt.Batch, opt.Ctx); err != nil {
		e.res.Release()
		return nil, fmt.Errorf("engine: %w", err)
	}
	for range opt.Parallel {
		seq, err := m.NewSeq(opt.Ctx, opt.KVType)
		if err != nil {
			e.release()
			return nil, fmt.Errorf("engine: %d sequences of %d tokens: %w", opt.Parallel, opt.Ctx, err)
		}
		e.slots = append(e.slots, &slot{seq: seq, sampler: sample.New(sample.Params{}, V), tokens: make([]int32, 0, opt.Ctx)})
	}
	e.logits = make([]float32, opt.Parallel*V)
	e.eog = make([]bool, V)
	for _, id := range tok.EOG() {
		if id >= 0 && int(id) < V {
			e.eog[id] = true
		}
	}
	if m.Gen != nil {
		for _, id := range m.Gen.EOS {
			if id >= 0 && int(id) < V {
				e.eog[id] = true
			}
		}
	}
	e.bTokens = make([]int32, 0, opt.Batch)
	e.bSeqs = make([]*model.Seq, 0, opt.Batch)
	e.bFlags = make([]bool, 0, opt.Batch)
	go e.loop()
	return e, nil
}

func (e *Engine) release() {
	for _, s := range e.slots {
		s.seq.Release()
	}
	if e.sc != nil {
		e.sc.Release()
	}
	e.res.Release()
}

// Options returns the engine's options with defaults filled in.
func (e *Engine) Options() Options { return e.opt }

// Tokenizer returns the engine's tokenizer.
func (e *Engine) Tokenizer() *tokenizer.Tokenizer { return e.tok }

// Model returns the engine's model.
func (e *Engine) Model() *model.Model { return e.m }

// Stats returns the counters.
func (e *Engine) Stats() Stats {
	e.mu.Lock()
	waiting := len(e.queue)
	e.mu.Unlock()
	return Stats{
		Requests:        e.stats.requests.Load(),
		PromptTokens:    e.stats.prompt.Load(),
		CachedTokens:    e.stats.cached.Load(),
		GeneratedTokens: e.stats.generated.Load(),
		Steps:           e.stats.steps.Load(),
		Waiting:         waiting,
		Running:         int(e.stats.running.Load()),
	}
}

// Close stops the engine: requests still queued or running end with
// ErrClosed, and the memory is released. Generate after Close returns
// ErrClosed.
func (e *Engine) Close() {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		<-e.stopped
		return
	}
	e.closed = true
	e.mu.Unlock()
	e.signal()
	<-e.stopped
	e.release()
}

func (e *Engine) signal() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// job is a request in flight, shared by its caller and the scheduler.
type job struct {
	req     Request
	maxStop int // longest stop string

	submitted, started, first time.Time
	cancelled                 atomic.Bool

	// Owned by the scheduler.
	fed       int // prompt tokens in the cache
	generated []int32
	pending   int32 // sampled, not yet fed
	hasNext   bool
	text      []byte // generated text so far, stop strings cut
	decoder   *tokenizer.StreamDecoder
	cached    int

	// Shared, under mu.
	mu        sync.Mutex
	published int // bytes of text the caller may read
	out       []byte
	cuts      []int // ends of the pieces published, one per publish
	done      bool
	err       error
	result    Result
	notify    chan struct{}
}

func (j *job) signal() {
	select {
	case j.notify <- struct{}{}:
	default:
	}
}

// Check validates a request against the engine without running it.
func (e *Engine) Check(req Request) error {
	if len(req.Prompt) == 0 {
		return errors.New("empty prompt: want at least one token")
	}
	if err := e.tok.CheckIDs(req.Prompt); err != nil {
		return fmt.Errorf("prompt: %w", err)
	}
	for i, id := range req.Prompt {
		if int(id) >= e.m.Spec.Vocab {
			return fmt.Errorf("prompt token %d at index %d is outside the model's vocabulary of %d", id, i, e.m.Spec.Vocab)
		}
	}
	if len(req.Prompt) >= e.opt.Ctx {
		return fmt.Errorf("%w: the prompt has %d tokens and the context holds %d (at least one more is needed to generate)", ErrContext, len(req.Prompt), e.opt.Ctx)
	}
	if req.MaxTokens < 0 {
		return fmt.Errorf("max tokens %d: want 0 (until the context is full) or more", req.MaxTokens)
	}
	for _, s := range req.Stop {
		if s == "" {
			return errors.New("stop: empty stop string")
		}
	}
	return req.Sampling.Check()
}

// Generate runs req. onText, if not nil, receives the text as it is
// produced, in order, from the caller's goroutine; an error from it stops
// the generation and is returned. Cancelling ctx stops the generation and
// returns ctx's error; the sequence is freed for the next request.
func (e *Engine) Generate(ctx context.Context, req Request, onText func(string) error) (*Result, error) {
	if err := e.Check(req); err != nil {
		return nil, err
	}
	j := &job{req: req, submitted: time.Now(), notify: make(chan struct{}, 1), decoder: e.tok.NewStreamDecoder(!req.KeepSpecial)}
	for _, s := range req.Stop {
		j.maxStop = max(j.maxStop, len(s))
	}
	e.mu.Lock()
	switch {
	case e.closed:
		e.mu.Unlock()
		return nil, ErrClosed
	case len(e.queue) >= e.maxQ:
		e.mu.Unlock()
		return nil, fmt.Errorf("%w: %d queued", ErrBusy, len(e.queue))
	}
	e.queue = append(e.queue, j)
	e.mu.Unlock()
	e.signal()

	// Text goes to onText piece by piece as it was published (a token's
	// text, or what a stop string held back), even when the caller falls
	// behind and several pieces are waiting: a streaming client sees
	// every token arrive.
	sent, nextCut := 0, 0
	var buf []byte
	var cuts []int
	for {
		var done bool
		var err error
		select {
		case <-j.notify:
		case <-ctx.Done():
			j.cancelled.Store(true)
			e.signal()
			return nil, ctx.Err()
		}
		j.mu.Lock()
		base := sent
		buf = append(buf[:0], j.out[sent:j.published]...)
		cuts = append(cuts[:0], j.cuts[nextCut:]...)
		nextCut = len(j.cuts)
		sent = j.published
		done, err = j.done, j.err
		j.mu.Unlock()
		from := 0
		for _, c := range cuts {
			if onText == nil {
				break
			}
			if werr := onText(string(buf[from : c-base])); werr != nil {
				j.cancelled.Store(true)
				e.signal()
				return nil, werr
			}
			from = c - base
		}
		if done {
			if err != nil {
				return nil, err
			}
			r := j.result
			return &r, nil
		}
	}
}

// loop is the scheduler.
func (e *Engine) loop() {
	defer close(e.stopped)
	var clock int64
	for {
		e.mu.Lock()
		closed := e.closed
		e.mu.Unlock()
		if closed {
			e.failAll(ErrClosed)
			return
		}
		clock++
		// Let the goroutines this step made runnable (callers of Generate
		// submitting requests, reading their tokens) run before the next
		// step: the pool's workers keep every core busy during a step, and
		// a request whose submitter waits for a core misses the steps it
		// could have shared.
		runtime.Gosched()
		e.admit(clock)
		active := e.build()
		if !active {
			<-e.wake
			continue
		}
		err := e.m.Run(e.sc, model.Batch{Tokens: e.bTokens, Seqs: e.bSeqs, Logits: e.bFlags}, e.logits)
		e.stats.steps.Add(1)
		if err != nil {
			// Inputs were validated; an error here is a bug. Fail the
			// running requests rather than loop on it.
			e.failRunning(fmt.Errorf("engine: forward pass: %w", err))
			continue
		}
		e.afterStep()
	}
}

// admit moves queued requests into free slots, dropping cancelled ones. A
// request goes to the free slot whose cache shares the longest prefix with
// its prompt, else the least recently used one.
func (e *Engine) admit(clock int64) {
	for _, s := range e.slots {
		if s.job != nil && s.job.cancelled.Load() {
			e.finish(s, context.Canceled)
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	q := e.queue[:0]
	for _, j := range e.queue {
		if !j.cancelled.Load() {
			q = append(q, j)
		}
	}
	clear(e.queue[len(q):])
	e.queue = q
	for len(e.queue) > 0 {
		j := e.queue[0]
		var best *slot
		bestLCP := -1
		for _, s := range e.slots {
			if s.job != nil {
				continue
			}
			n := commonPrefix(s.tokens, j.req.Prompt)
			if n > bestLCP || (n == bestLCP && s.lastUse < best.lastUse) {
				best, bestLCP = s, n
			}
		}
		if best == nil {
			return
		}
		e.queue = e.queue[1:]
		// Keep at least one prompt token to run, for its logits.
		keep := min(bestLCP, len(j.req.Prompt)-1)
		best.seq.Truncate(keep)
		best.tokens = best.tokens[:keep]
		best.sampler.Set(j.req.Sampling)
		best.job = j
		best.lastUse = clock
		j.fed, j.cached = keep, keep
		j.started = time.Now()
		e.stats.running.Add(1)
		e.stats.cached.Add(int64(keep))
	}
}

func commonPrefix(a, b []int32) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// build fills the batch buffers: one token for every decoding sequence,
// then prompt chunks up to the batch size. It reports whether any work is
// in the batch.
func (e *Engine) build() bool {
	e.bTokens, e.bSeqs, e.bFlags = e.bTokens[:0], e.bSeqs[:0], e.bFlags[:0]
	budget := e.opt.Batch
	row := 0
	for _, s := range e.slots {
		s.row = -1
		if s.job == nil || !s.job.hasNext {
			continue
		}
		e.push(s, s.job.pending, true)
		s.row = row
		row++
		budget--
	}
	for _, s := range e.slots {
		j := s.job
		if j == nil || j.hasNext || j.fed == len(j.req.Prompt) || budget == 0 {
			continue
		}
		n := min(len(j.req.Prompt)-j.fed, budget)
		for i := range n {
			last := j.fed+i == len(j.req.Prompt)-1
			e.push(s, j.req.Prompt[j.fed+i], last)
			if last {
				s.row = row
				row++
			}
		}
		j.fed += n
		budget -= n
		e.stats.prompt.Add(int64(n))
	}
	return len(e.bTokens) > 0
}

func (e *Engine) push(s *slot, tok int32, logits bool) {
	e.bTokens = append(e.bTokens, tok)
	e.bSeqs = append(e.bSeqs, s.seq)
	e.bFlags = append(e.bFlags, logits)
	s.tokens = append(s.tokens, tok)
}

// afterStep samples the next token of every sequence that has logits,
// streams its text and finishes the requests that are done.
func (e *Engine) afterStep() {
	V := e.m.Spec.Vocab
	for _, s := range e.slots {
		if s.row < 0 {
			continue
		}
		j := s.job
		j.hasNext = false
		logits := e.logits[s.row*V : (s.row+1)*V]
		c := j.req.Constraint
		if c != nil && c.Mask(logits) == 0 {
			e.finish(s, fmt.Errorf("engine: %w after %d tokens", ErrConstraint, len(j.generated)))
			continue
		}
		tok := s.sampler.Sample(logits, s.tokens)
		j.generated = append(j.generated, tok)
		e.stats.generated.Add(1)
		if len(j.generated) == 1 {
			j.first = time.Now()
		}
		if e.eog[tok] && !j.req.IgnoreEOS {
			e.complete(s, FinishStop)
			continue
		}
		before := len(j.text)
		j.text = j.decoder.Append(j.text, tok)
		if i := e.findStop(j, before); i >= 0 {
			j.text = j.text[:i]
			e.complete(s, FinishStop)
			continue
		}
		if c != nil && c.Accept(tok) {
			j.text = j.decoder.Flush(j.text)
			e.complete(s, FinishStop)
			continue
		}
		if (j.req.MaxTokens > 0 && len(j.generated) >= j.req.MaxTokens) || s.seq.Pos >= s.seq.Cache.Ctx {
			j.text = j.decoder.Flush(j.text)
			e.complete(s, FinishLength)
			continue
		}
		j.pending, j.hasNext = tok, true
		e.publish(j, len(j.text)-heldBack(j.text, j.req.Stop))
	}
}

// findStop returns where the first stop string starts in text, searching
// the part that could include the bytes added after before, or -1.
func (e *Engine) findStop(j *job, before int) int {
	if j.maxStop == 0 {
		return -1
	}
	from := max(0, before-j.maxStop+1)
	best := -1
	for _, s := range j.req.Stop {
		if i := strings.Index(string(j.text[from:]), s); i >= 0 && (best < 0 || from+i < best) {
			best = from + i
		}
	}
	return best
}

// heldBack is the length of the longest suffix of text that begins a stop
// string: text that must wait, since the next token may complete the stop.
func heldBack(text []byte, stops []string) int {
	held := 0
	for _, s := range stops {
		for n := min(len(s)-1, len(text)); n > held; n-- {
			if string(text[len(text)-n:]) == s[:n] {
				held = n
				break
			}
		}
	}
	return held
}

func (e *Engine) publish(j *job, upto int) {
	j.mu.Lock()
	if upto > j.published {
		j.out = append(j.out, j.text[j.published:upto]...)
		j.published = upto
		j.cuts = append(j.cuts, upto)
	}
	j.mu.Unlock()
	j.signal()
}

// complete ends a slot's request successfully.
func (e *Engine) complete(s *slot, finish string) {
	j := s.job
	now := time.Now()
	r := Result{
		Tokens:       j.generated,
		Text:         string(j.text),
		Finish:       finish,
		PromptTokens: len(j.req.Prompt),
		CachedTokens: j.cached,
		Queued:       j.started.Sub(j.submitted),
		Total:        now.Sub(j.submitted),
	}
	if !j.first.IsZero() {
		r.FirstToken = j.first.Sub(j.submitted)
	}
	j.mu.Lock()
	j.result = r
	j.mu.Unlock()
	e.publish(j, len(j.text))
	e.finish(s, nil)
	e.stats.requests.Add(1)
}

// finish frees a slot; err (if any) is what the request's caller gets.
func (e *Engine) finish(s *slot, err error) {
	j := s.job
	j.mu.Lock()
	j.done, j.err = true, err
	j.mu.Unlock()
	j.signal()
	s.job = nil
	e.stats.running.Add(-1)
}

func (e *Engine) failRunning(err error) {
	for _, s := range e.slots {
		if s.job != nil {
			// The cache may hold a partial batch: forget it.
			s.seq.Reset()
			s.tokens = s.tokens[:0]
			e.finish(s, err)
		}
	}
}

func (e *Engine) failAll(err error) {
	e.failRunning(err)
	e.mu.Lock()
	q := e.queue
	e.queue = nil
	e.mu.Unlock()
	for _, j := range q {
		j.mu.Lock()
		j.done, j.err = true, err
		j.mu.Unlock()
		j.signal()
	}
}
