package main

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/synth"
)

// benchJSON runs memfit bench --json and decodes its object.
func benchJSON(t *testing.T, args ...string) benchResult {
	t.Helper()
	out, errText, code := runCLI(t, append([]string{"bench", "--json"}, args...)...)
	if code != exitOK {
		t.Fatalf("bench %v: exit %d: %s", args, code, errText)
	}
	var r benchResult
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("bench output is not JSON: %v\n%s", err, out)
	}
	// Every key DESIGN.md names is present.
	var keys map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &keys); err != nil {
		t.Fatal(err)
	}
	for _, k := range strings.Fields("model file_bytes type threads prompt_tokens gen_tokens prefill_tok_s decode_tok_s peak_rss_bytes budget_bytes streamed_bytes_per_token cpu_features memfit_version predicted_prefill_tok_s predicted_decode_tok_s") {
		if _, ok := keys[k]; !ok {
			t.Errorf("bench JSON lacks %q", k)
		}
	}
	return r
}

func checkStats(t *testing.T, what string, s tokStats) {
	t.Helper()
	if !(s.Min > 0 && s.Min <= s.Median && s.Median <= s.Max) {
		t.Errorf("%s: %+v, want 0 < min ≤ median ≤ max", what, s)
	}
}

// TestBenchCommand measures gocoder's Q8_0 file: the JSON object of
// DESIGN.md with plausible figures, and the table.
func TestBenchCommand(t *testing.T) {
	path := fixtures.Path(t, "models", "gocoder", "gocoder.Q8_0.gguf")
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	r := benchJSON(t, "-m", path, "--threads", "2", "--prompt", "16", "--gen", "8", "--reps", "2")
	if r.Model != path || r.FileBytes != st.Size() || r.Type != "Q8_0" || r.Threads != 2 || r.PromptTokens != 16 || r.GenTokens != 8 || r.Reps != 2 {
		t.Errorf("header: %+v", r)
	}
	checkStats(t, "prefill", r.Prefill)
	checkStats(t, "decode", r.Decode)
	if r.PeakRSS <= 0 || r.Budget <= 0 || r.StreamedPerToken != 0 || len(r.CPUFeatures) == 0 || r.Version != versionString || r.KVType != "f16" || r.Experts != nil {
		t.Errorf("figures: %+v", r)
	}
	out, errText, code := runCLI(t, "bench", "-m", path, "--prompt", "8", "--gen", "0", "--reps", "1")
	if code != exitOK || !strings.Contains(out, "| gocoder.Q8_0.gguf") || !strings.Contains(out, "pp8") || strings.Contains(out, "tg") {
		t.Errorf("table: exit %d, %q, %s", code, out, errText)
	}
}

// TestBenchExpertCache benchmarks a synth MoE model under a budget that
// holds only part of its experts: the expert cache reports its hit rate,
// the bytes it reads per token and its prefetch accuracy, and those bytes
// count in the disk reads per decoded token.
func TestBenchExpertCache(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir()) // no earlier runs of this model
	s, _ := synth.Lookup("tiny-moe")
	ft, _ := synth.LookupType("Q4_0")
	path := filepath.Join(t.TempDir(), "moe.gguf")
	if err := synth.WriteFile(path, s, ft, synth.Options{Seed: 2}); err != nil {
		t.Fatal(err)
	}
	type planJSON struct {
		Fits      bool    `json:"fits"`
		Slots     int     `json:"expert_slots"`
		Minimum   int64   `json:"minimum_bytes"`
		Total     int64   `json:"total_bytes"`
		Reuse     float64 `json:"expert_reuse_assumed"`
		ReuseFrom string  `json:"expert_reuse_from"`
		Read      float64 `json:"expected_expert_read_bytes_per_token"`
		From      string  `json:"compute_factor_from"`
	}
	plan := func(budget string) planJSON {
		out, _, _ := runCLI(t, "plan", "-m", path, "--mem-budget", budget, "--ctx", "16", "--kv-type", "f16", "--batch", "16")
		var p planJSON
		if err := json.Unmarshal([]byte(out), &p); err != nil {
			t.Fatalf("plan output: %v\n%s", err, out)
		}
		return p
	}
	minimum, full := plan("1MiB").Minimum, plan("64GiB").Total
	budget := ""
	for k := 1; k < 16 && budget == ""; k++ {
		b := fmt.Sprint(minimum + int64(k)*(full-minimum)/16)
		if p := plan(b); p.Fits && p.Slots > 0 {
			budget = b
		}
	}
	if budget == "" {
		t.Fatalf("no budget between %d and %d gives an expert cache", minimum, full)
	}
	r := benchJSON(t, "-m", path, "--threads", "2", "--prompt", "16", "--gen", "16", "--reps", "2", "--mem-budget", budget)
	e := r.Experts
	if e == nil || e.AllResident || e.Slots <= 0 || e.Experts != s.Experts*s.Layers || e.ExpertsUsed != s.ExpertsUsed {
		t.Fatalf("expert cache: %+v", e)
	}
	if !(e.HitRate > 0 && e.HitRate < 1) || e.BytesReadPerToken <= 0 || e.PrefetchAccuracy < 0 || e.PrefetchAccuracy > 1 {
		t.Errorf("expert cache counters: %+v", e)
	}
	if r.StreamedPerToken < int64(e.BytesReadPerToken) {
		t.Errorf("%d bytes read from disk per decoded token, fewer than the expert cache's %v", r.StreamedPerToken, e.BytesReadPerToken)
	}
	checkStats(t, "decode", r.Decode)
	// The run calibrated the routing and the compute: a plan of the model
	// at the same budget now expects the reads per token the run made (or,
	// when they exceeded what routing with no locality reads, that
	// routing's) and takes the model's own compute factor.
	pl := plan(budget)
	noLocality := float64(s.ExpertsUsed) / float64(s.Experts)
	if !r.Calibrated || pl.ReuseFrom != "runs" || pl.From != "model" || pl.Reuse < noLocality || pl.Read > e.BytesReadPerToken*1.001 ||
		(pl.Reuse > noLocality && math.Abs(pl.Read/e.BytesReadPerToken-1) > 0.001) {
		t.Errorf("after a run reading %.0f bytes per token (calibrated %v): plan assumes reuse %v from %q, expects %.0f, compute factor from %q", e.BytesReadPerToken, r.Calibrated, pl.Reuse, pl.ReuseFrom, pl.Read, pl.From)
	}
	t.Logf("run read %.0f bytes per token; the plan after it: reuse %.3f, %.0f bytes", e.BytesReadPerToken, pl.Reuse, pl.Read)
	// Decoding every token with no context takes the routing's locality
	// away: fewer of a token's experts were the previous token's.
	f := benchJSON(t, "-m", path, "--threads", "2", "--prompt", "0", "--gen", "32", "--reps", "2", "--mem-budget", budget, "--fresh")
	if !f.FreshDecode || f.Experts == nil || !(f.Experts.Reuse > 0 && f.Experts.Reuse < e.Reuse) {
		t.Errorf("routing reuse %v in context, %+v fresh", e.Reuse, f.Experts)
	}
	t.Logf("routing reuse %.2f in context, %.2f fresh; hit rate %.2f, %.2f", e.Reuse, f.Experts.Reuse, e.HitRate, f.Experts.HitRate)
}

func TestBenchBadInput(t *testing.T) {
	q8 := fixtures.Path(t, "models", "gocoder", "gocoder.Q8_0.gguf")
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"bench", "-m", q8, "--reps", "0"}, exitUsage, "--reps 0"},
		{[]string{"bench", "-m", q8, "--prompt", "0", "--gen", "0"}, exitUsage, "not both 0"},
		{[]string{"bench", "-m", q8, "--prompt", "-3"}, exitUsage, "--prompt -3"},
		{[]string{"bench", "-m", q8, "--threads", "-2"}, exitUsage, "--threads -2"},
		{[]string{"bench", "-m", q8, "--kv-type", "q4"}, exitUsage, "--kv-type"},
		{[]string{"bench", "-m", "/nonexistent/model.gguf"}, exitError, "/nonexistent/model.gguf"},
		{[]string{"bench", "-m", q8, "--mem-budget", "1MiB"}, exitNoFit, "needs at least"},
		{[]string{"bench", "-m", q8, "--mem-budget", "lots"}, exitUsage, "--mem-budget"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args[1:], " "), func(t *testing.T) {
			_, errText, code := runCLI(t, tc.args...)
			if code != tc.code || !strings.Contains(errText, tc.msg) {
				t.Errorf("exit %d, stderr %q; want exit %d mentioning %q", code, errText, tc.code, tc.msg)
			}
		})
	}
}
