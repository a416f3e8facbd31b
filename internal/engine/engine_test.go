package engine

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/model"
	"github.com/memfit/memfit/internal/sample"
	"github.com/memfit/memfit/internal/tensor"
	"github.com/memfit/memfit/internal/tokenizer"
)

type reference struct {
	Prompts []struct {
		Prompt     string  `json:"prompt"`
		IDs        []int32 `json:"ids"`
		GreedyIDs  []int32 `json:"greedy_ids"`
		GreedyText string  `json:"greedy_text"`
	} `json:"prompts"`
}

func readReference(t testing.TB) *reference {
	b, err := os.ReadFile(fixtures.Path(t, "models", "gocoder", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var r reference
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Prompts) == 0 {
		t.Fatal("no prompts in reference.json")
	}
	return &r
}

func newEngine(t testing.TB, path string, opt Options) *Engine {
	t.Helper()
	m, err := model.Load(path, model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenizer.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	e, err := New(m, tok, opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Close()
		m.Close()
	})
	return e
}

func gocoderPaths(t testing.TB) []string {
	return []string{
		fixtures.Path(t, "models", "gocoder", "hf"),
		fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"),
	}
}

// TestGreedyMatchesReference generates 48 greedy tokens of every prompt,
// one request at a time and all at once (continuous batching), with f32
// and f16 caches, and checks them against greedy_ids and the streamed text
// against greedy_text.
func TestGreedyMatchesReference(t *testing.T) {
	ref := readReference(t)
	for _, path := range gocoderPaths(t) {
		for _, kvt := range []tensor.DType{tensor.F32, tensor.F16} {
			e := newEngine(t, path, Options{Parallel: 4, Ctx: 128, KVType: kvt})
			for _, together := range []bool{false, true} {
				var wg sync.WaitGroup
				for _, p := range ref.Prompts {
					run := func() {
						defer wg.Done()
						tok := e.Tokenizer()
						if ids := tok.Encode(p.Prompt, true); !slices.Equal(ids, p.IDs) {
							t.Errorf("%q tokenizes to %v, want %v", p.Prompt, ids, p.IDs)
						}
						var streamed strings.Builder
						r, err := e.Generate(context.Background(), Request{Prompt: p.IDs, MaxTokens: len(p.GreedyIDs)}, func(s string) error {
							streamed.WriteString(s)
							return nil
						})
						if err != nil {
							t.Error(err)
							return
						}
						if !slices.Equal(r.Tokens, p.GreedyIDs) {
							t.Errorf("%s %v together=%v %q: ids %v, want %v", path, kvt, together, p.Prompt, r.Tokens, p.GreedyIDs)
						}
						if r.Text != p.GreedyText || streamed.String() != r.Text {
							t.Errorf("%q: text %q, streamed %q, want %q", p.Prompt, r.Text, streamed.String(), p.GreedyText)
						}
						if r.Finish != FinishLength || r.PromptTokens != len(p.IDs) {
							t.Errorf("%q: finish %q, prompt tokens %d", p.Prompt, r.Finish, r.PromptTokens)
						}
					}
					wg.Add(1)
					if together {
						go run()
					} else {
						run()
					}
				}
				wg.Wait()
			}
		}
	}
}

func TestStopStrings(t *testing.T) {
	ref := readReference(t)
	e := newEngine(t, gocoderPaths(t)[0], Options{Ctx: 128})
	p := ref.Prompts[1]
	full := p.GreedyText
	tests := []struct {
		name, stop string
	}{
		{"middle", full[10:14]},
		{"one byte", full[5:6]},
		{"never", "\x00never"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var streamed strings.Builder
			r, err := e.Generate(context.Background(), Request{Prompt: p.IDs, MaxTokens: 48, Stop: []string{"zzzz-unused", tt.stop}}, func(s string) error {
				streamed.WriteString(s)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			want, finish := full, FinishLength
			if i := strings.Index(full, tt.stop); i >= 0 {
				want, finish = full[:i], FinishStop
			}
			if r.Text != want || r.Finish != finish {
				t.Errorf("stop %q: text %q finish %q, want %q %q", tt.stop, r.Text, r.Finish, want, finish)
			}
			if streamed.String() != r.Text {
				t.Errorf("streamed %q, result %q", streamed.String(), r.Text)
			}
		})
	}
}

func TestEndOfGeneration(t *testing.T) {
	ref := readReference(t)
	e := newEngine(t, gocoderPaths(t)[0], Options{Ctx: 128})
	p := ref.Prompts[0]
	// Make the 6th greedy token end generation (the scheduler owns eog,
	// but it reads it only between requests' steps; the engine is idle).
	e.eog[p.GreedyIDs[5]] = true
	first := slices.Index(p.GreedyIDs, p.GreedyIDs[5])
	r, err := e.Generate(context.Background(), Request{Prompt: p.IDs, MaxTokens: 48}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Finish != FinishStop || !slices.Equal(r.Tokens, p.GreedyIDs[:first+1]) {
		t.Errorf("finish %q tokens %v, want stop after %v", r.Finish, r.Tokens, p.GreedyIDs[:first+1])
	}
	r, err = e.Generate(context.Background(), Request{Prompt: p.IDs, MaxTokens: 48, IgnoreEOS: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Tokens, p.GreedyIDs) {
		t.Errorf("IgnoreEOS: tokens %v, want %v", r.Tokens, p.GreedyIDs)
	}
}

func TestContextLimits(t *testing.T) {
	ref := readReference(t)
	e := newEngine(t, gocoderPaths(t)[0], Options{Ctx: 16})
	p := ref.Prompts[0]
	long := slices.Repeat(p.IDs, 3)
	_, err := e.Generate(context.Background(), Request{Prompt: long}, nil)
	if !errors.Is(err, ErrContext) || !strings.Contains(err.Error(), "24 tokens") {
		t.Errorf("prompt of %d tokens in a 16-token context: %v", len(long), err)
	}
	// Generation stops when the context is full, with finish "length".
	r, err := e.Generate(context.Background(), Request{Prompt: p.IDs}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Finish != FinishLength || len(r.Tokens) != 16-len(p.IDs)+1 {
		t.Errorf("finish %q after %d tokens, want length after %d", r.Finish, len(r.Tokens), 16-len(p.IDs)+1)
	}
	if !slices.Equal(r.Tokens, p.GreedyIDs[:len(r.Tokens)]) {
		t.Errorf("tokens %v, want %v", r.Tokens, p.GreedyIDs[:len(r.Tokens)])
	}
	for _, bad := range []Request{
		{},
		{Prompt: []int32{1 << 20}},
		{Prompt: p.IDs, MaxTokens: -1},
		{Prompt: p.IDs, Stop: []string{""}},
		{Prompt: p.IDs, Sampling: sample.Params{Temperature: -1}},
	} {
		if _, err := e.Generate(context.Background(), bad, nil); err == nil {
			t.Errorf("request %+v: no error", bad)
		}
	}
}

func TestPrefixReuse(t *testing.T) {
	ref := readReference(t)
	e := newEngine(t, gocoderPaths(t)[0], Options{Parallel: 2, Ctx: 128})
	p := ref.Prompts[2]
	r1, err := e.Generate(context.Background(), Request{Prompt: p.IDs, MaxTokens: 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The same prompt again, then one that extends it with the generated
	// tokens: both reuse the cache.
	r2, err := e.Generate(context.Background(), Request{Prompt: p.IDs, MaxTokens: 20}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r2.CachedTokens != len(p.IDs)-1 || !slices.Equal(r1.Tokens, r2.Tokens) {
		t.Errorf("repeat: cached %d (want %d), tokens %v vs %v", r2.CachedTokens, len(p.IDs)-1, r2.Tokens, r1.Tokens)
	}
	ext := append(slices.Clone(p.IDs), r1.Tokens[:10]...)
	r3, err := e.Generate(context.Background(), Request{Prompt: ext, MaxTokens: 10}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r3.CachedTokens < len(p.IDs) || !slices.Equal(r3.Tokens, p.GreedyIDs[10:20]) {
		t.Errorf("extension: cached %d, tokens %v, want %v", r3.CachedTokens, r3.Tokens, p.GreedyIDs[10:20])
	}
}

func TestCancel(t *testing.T) {
	ref := readReference(t)
	e := newEngine(t, gocoderPaths(t)[0], Options{Ctx: 1024})
	p := ref.Prompts[3]
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	_, err := e.Generate(ctx, Request{Prompt: p.IDs}, func(string) error {
		if n++; n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled generation: %v", err)
	}
	// A writer error stops the generation too.
	werr := errors.New("client gone")
	if _, err := e.Generate(context.Background(), Request{Prompt: p.IDs}, func(string) error { return werr }); !errors.Is(err, werr) {
		t.Errorf("writer error: %v", err)
	}
	// The sequence is free again.
	deadline := time.Now().Add(10 * time.Second)
	for e.Stats().Running != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	r, err := e.Generate(context.Background(), Request{Prompt: p.IDs, MaxTokens: 48}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Tokens, p.GreedyIDs) {
		t.Errorf("after cancel: %v, want %v", r.Tokens, p.GreedyIDs)
	}
}

func TestSeededSampling(t *testing.T) {
	ref := readReference(t)
	e := newEngine(t, gocoderPaths(t)[0], Options{Parallel: 2, Ctx: 128})
	p := ref.Prompts[0]
	params := sample.Params{Temperature: 0.9, TopK: 40, TopP: 0.95, Seed: 42}
	gen := func() []int32 {
		r, err := e.Generate(context.Background(), Request{Prompt: p.IDs, MaxTokens: 32, Sampling: params}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r.Tokens
	}
	a, b := gen(), gen()
	if !slices.Equal(a, b) {
		t.Errorf("same seed: %v and %v", a, b)
	}
	params.Seed = 43
	if c := gen(); slices.Equal(a, c) {
		t.Errorf("seeds 42 and 43 gave the same 32 tokens %v", a)
	}
}

func TestClose(t *testing.T) {
	m, err := model.Load(gocoderPaths(t)[0], model.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	tok, err := tokenizer.Load(gocoderPaths(t)[0])
	if err != nil {
		t.Fatal(err)
	}
	before := m.Ledger().Used()
	e, err := New(m, tok, Options{Parallel: 2, Ctx: 64})
	if err != nil {
		t.Fatal(err)
	}
	if m.Ledger().Used() <= before {
		t.Error("engine reserved nothing on the ledger")
	}
	e.Close()
	if got := m.Ledger().Used(); got != before {
		t.Errorf("after Close the ledger holds %d bytes, want %d", got, before)
	}
	if _, err := e.Generate(context.Background(), Request{Prompt: []int32{0, 5}}, nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Generate after Close: %v", err)
	}
}

// forceIDs is a constraint that allows exactly the ids of want, in order.
type forceIDs struct {
	want []int32
	i    int
}

func (c *forceIDs) Mask(logits []float32) int {
	n := 0
	for id := range logits {
		if c.i < len(c.want) && int32(id) == c.want[c.i] {
			n++
			continue
		}
		logits[id] = float32(math.Inf(-1))
	}
	return n
}

func (c *forceIDs) Accept(tok int32) bool {
	c.i++
	return c.i >= len(c.want)
}

// TestConstraint checks that a constraint decides the tokens (whatever
// the sampler would pick), ends the generation when complete, and that a
// constraint allowing nothing is an error.
func TestConstraint(t *testing.T) {
	ref := readReference(t)
	e := newEngine(t, gocoderPaths(t)[0], Options{Parallel: 2, Ctx: 256})
	want := []int32{300, 301, 302, 303}
	r, err := e.Generate(context.Background(), Request{
		Prompt: ref.Prompts[0].IDs, MaxTokens: 20, Constraint: &forceIDs{want: want},
		Sampling: sample.Params{Temperature: 1, Seed: 7, TopP: 1, RepeatPenalty: 1},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Tokens, want) || r.Finish != FinishStop {
		t.Fatalf("tokens %v (finish %s), want %v (stop)", r.Tokens, r.Finish, want)
	}
	if text := e.Tokenizer().Decode(want, true); r.Text != text {
		t.Fatalf("text %q, want %q", r.Text, text)
	}
	_, err = e.Generate(context.Background(), Request{Prompt: ref.Prompts[0].IDs, MaxTokens: 20, Constraint: &forceIDs{}}, nil)
	if !errors.Is(err, ErrConstraint) {
		t.Fatalf("a constraint allowing nothing: error %v, want ErrConstraint", err)
	}
	// The engine still serves.
	if _, err := e.Generate(context.Background(), Request{Prompt: ref.Prompts[0].IDs, MaxTokens: 3}, nil); err != nil {
		t.Fatal(err)
	}
}
