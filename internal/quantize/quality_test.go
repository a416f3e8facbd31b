package quantize_test

import (
	"context"
	"encoding/json"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/eval"
	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/model"
	"github.com/memfit/memfit/internal/tokenizer"
)

// TestGocoderQuantizedQuality runs llama.cpp's quantized gocoder files (the
// same bytes memfit quantize writes, see TestGocoderMatchesLlamaQuantize)
// as memfit perplexity -f net_http_server.go --ctx 256 --kl-base bf16 does,
// in one pass per file: the perplexity within 0.3% of llama-perplexity's
// (reference.json perplexity.llama_cpp.<type>.ppl) and the mean KL
// divergence from the bf16 model within 10% of llama.cpp's
// (kl_divergence.<type>.mean_kld).
func TestGocoderQuantizedQuality(t *testing.T) {
	var ref struct {
		Perplexity struct {
			LlamaCpp map[string]struct {
				PPL float64 `json:"ppl"`
			} `json:"llama_cpp"`
		} `json:"perplexity"`
		KL map[string]json.RawMessage `json:"kl_divergence"`
	}
	b, err := os.ReadFile(fixtures.Path(t, "models", "gocoder", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	text, err := os.ReadFile(fixtures.Path(t, "text", "net_http_server.go"))
	if err != nil {
		t.Fatal(err)
	}
	basePath := fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf")
	tok, err := tokenizer.Load(basePath)
	if err != nil {
		t.Fatal(err)
	}
	ids := tok.Encode(strings.TrimSuffix(string(text), "\n"), true)
	bos, _ := tok.BOS()
	base, err := model.Load(basePath, model.Options{Threads: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer base.Close()
	for _, typ := range []string{"Q8_0", "Q4_K_M"} {
		t.Run(typ, func(t *testing.T) {
			var kl struct {
				MeanKLD float64 `json:"mean_kld"`
			}
			if err := json.Unmarshal(ref.KL[typ], &kl); err != nil {
				t.Fatal(err)
			}
			wantPPL := ref.Perplexity.LlamaCpp[typ].PPL
			if wantPPL == 0 || kl.MeanKLD == 0 {
				t.Fatalf("reference.json lacks the %s figures", typ)
			}
			m, err := model.Load(fixtures.Path(t, "models", "gocoder", "gocoder."+typ+".gguf"), model.Options{Threads: 2})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			r, err := eval.Perplexity(context.Background(), m, ids, eval.Options{Ctx: 256, BOS: bos, ReplaceBOS: true, Batch: 256, Base: base})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s: PPL %.4f (llama.cpp %.4f), mean KLD %.6g (llama.cpp %.6g), same top token %.3f%%, base PPL %.4f",
				typ, r.PPL, wantPPL, r.KL.Mean, kl.MeanKLD, r.KL.SameTop, r.KL.BasePPL)
			if r.Chunks != 217 || r.Scored != 27559 {
				t.Errorf("%d chunks, %d scored tokens; llama-perplexity had 217 and 27559", r.Chunks, r.Scored)
			}
			if d := math.Abs(r.PPL-wantPPL) / wantPPL; d > 0.003 {
				t.Errorf("PPL %.4f is %.3f%% from llama.cpp's %.4f (want within 0.3%%)", r.PPL, 100*d, wantPPL)
			}
			if d := math.Abs(r.KL.Mean-kl.MeanKLD) / kl.MeanKLD; d > 0.10 {
				t.Errorf("mean KL divergence %.6g is %.1f%% from llama.cpp's %.6g (want within 10%%)", r.KL.Mean, 100*d, kl.MeanKLD)
			}
		})
	}
}
