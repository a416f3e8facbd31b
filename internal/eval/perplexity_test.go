package eval

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/model"
	"github.com/memfit/memfit/internal/tokenizer"
)

// TestGocoderPerplexity checks memfit perplexity's method against the torch
// reference: net_http_server.go with a context of 256, within 0.1% of
// perplexity.torch_bf16.ppl, from the HF folder and the bf16 GGUF.
func TestGocoderPerplexity(t *testing.T) {
	b, err := os.ReadFile(fixtures.Path(t, "models", "gocoder", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Perplexity struct {
			Torch struct {
				PPL     float64 `json:"ppl"`
				Stderr  float64 `json:"ppl_stderr"`
				NTokens int     `json:"n_tokens"`
				NChunks int     `json:"n_chunks"`
				NScored int     `json:"n_scored"`
			} `json:"torch_bf16"`
		} `json:"perplexity"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	want := ref.Perplexity.Torch
	text, err := os.ReadFile(fixtures.Path(t, "text", "net_http_server.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{
		fixtures.Path(t, "models", "gocoder", "hf"),
		fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"),
	} {
		t.Run(path[strings.LastIndex(path, "/")+1:], func(t *testing.T) {
			m, err := model.Load(path, model.Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			tok, err := tokenizer.Load(path)
			if err != nil {
				t.Fatal(err)
			}
			ids := tok.Encode(strings.TrimSuffix(string(text), "\n"), true)
			bos, _ := tok.BOS()
			r, err := Perplexity(context.Background(), m, ids, Options{Ctx: 256, BOS: bos, ReplaceBOS: tok.AddBOS()})
			if err != nil {
				t.Fatal(err)
			}
			if r.Tokens != want.NTokens || r.Chunks != want.NChunks || r.Scored != want.NScored {
				t.Errorf("tokens %d chunks %d scored %d, want %d %d %d", r.Tokens, r.Chunks, r.Scored, want.NTokens, want.NChunks, want.NScored)
			}
			if rel := math.Abs(r.PPL-want.PPL) / want.PPL; rel > 0.001 {
				t.Errorf("PPL %.5f, torch %.5f: relative difference %.2g > 0.1%%", r.PPL, want.PPL, rel)
			}
			if rel := math.Abs(r.PPLStderr-want.Stderr) / want.Stderr; rel > 0.01 {
				t.Errorf("PPL stderr %.5f, torch %.5f", r.PPLStderr, want.Stderr)
			}
			t.Logf("PPL %.5f ± %.5f (torch %.5f ± %.5f)", r.PPL, r.PPLStderr, want.PPL, want.Stderr)
		})
	}
}

func TestPerplexityErrors(t *testing.T) {
	m, err := model.Load(fixtures.Path(t, "archs", "llama", "hf"), model.Options{Threads: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if _, err := Perplexity(context.Background(), m, make([]int32, 10), Options{Ctx: 8}); err == nil || !strings.Contains(err.Error(), "at least 16") {
		t.Errorf("too few tokens: err = %v", err)
	}
	if _, err := Perplexity(context.Background(), m, make([]int32, 10), Options{Ctx: 2}); err == nil {
		t.Error("tiny context: no error")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Perplexity(ctx, m, make([]int32, 32), Options{Ctx: 8}); err == nil {
		t.Error("cancelled context: no error")
	}
}

func TestLogSoftmaxAt(t *testing.T) {
	l := []float32{1, 2, 3}
	want := 3 - math.Log(math.Exp(1)+math.Exp(2)+math.Exp(3))
	if got := LogSoftmaxAt(l, 2); math.Abs(got-want) > 1e-9 {
		t.Errorf("LogSoftmaxAt = %v, want %v", got, want)
	}
}
