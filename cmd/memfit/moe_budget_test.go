package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/memcg"
)

// TestMoEBudgetInCgroup generates from a random-weight olmoe-1b-7b-shape
// Q4_0 model (64 experts in each of 16 layers, about 3.7 GiB) inside a
// memory cgroup whose limit is a budget of about a third of it, so most
// experts are read from disk into the expert cache as the router picks
// them, and checks: the plan caches experts, the same tokens as without a
// budget (sampled with a fixed seed, so the routing varies), the cgroup's
// peak at or under the budget, no OOM kill.
func TestMoEBudgetInCgroup(t *testing.T) {
	bin, _ := budgetFiles(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "olmoe-q4_0.gguf")
	if out, err := exec.Command(bin, "synth", "--shape", "olmoe-1b-7b", "--type", "Q4_0", "-o", model, "--seed", "1", "-q").CombinedOutput(); err != nil {
		t.Fatalf("synth: %v\n%s", err, out)
	}
	st, err := os.Stat(model)
	if err != nil {
		t.Fatal(err)
	}
	const budget = 1280 << 20
	if st.Size() < 5*budget/2 {
		t.Fatalf("model of %d bytes: want at least 2.5 times the %d-byte budget", st.Size(), budget)
	}
	args := []string{"run", "-m", model, "-p", "The quick brown fox", "-n", "6", "--temp", "1", "--seed", "7", "--ctx", "256", "--json", "-t", "2"}
	budgeted := append(slices.Clone(args), "--mem-budget", "1280MiB")

	// The plan reads only headers: experts are cached, not streamed.
	out, err := exec.Command(bin, "plan", "-m", model, "--mem-budget", "1280MiB", "--ctx", "256", "-t", "2").Output()
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	var p struct {
		Fits          bool  `json:"fits"`
		Total         int64 `json:"total_bytes"`
		ExpertSlots   int   `json:"expert_slots"`
		ExpertsTotal  int   `json:"experts_total"`
		ExpertCache   int64 `json:"expert_cache_bytes"`
		StreamedBytes int64 `json:"streamed_weight_bytes"`
	}
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatalf("plan printed %q: %v", out, err)
	}
	if !p.Fits || p.Total > budget || p.ExpertSlots == 0 || p.ExpertSlots >= p.ExpertsTotal || p.StreamedBytes != 0 {
		t.Fatalf("plan: fits %v, total %d, %d of %d experts cached in %d bytes, %d bytes streamed; want a fit caching part of the experts, nothing streamed",
			p.Fits, p.Total, p.ExpertSlots, p.ExpertsTotal, p.ExpertCache, p.StreamedBytes)
	}

	out, err = exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("unbudgeted run: %v", err)
	}
	var free runJSON
	if err := json.Unmarshal(out, &free); err != nil || len(free.IDs) != 6 {
		t.Fatalf("unbudgeted run printed %q: %v", out, err)
	}

	g, err := memcg.New(fmt.Sprintf("memfit-moe-budget-%d", os.Getpid()), budget)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
	dropCache(t, model)
	dropCache(t, bin)
	cmd := g.Command(bin, budgeted...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		t.Fatalf("budgeted run: %v\n%s", err, stderr.String())
	}
	var capped runJSON
	if err := json.Unmarshal(out, &capped); err != nil {
		t.Fatalf("budgeted run printed %q: %v", out, err)
	}
	if !slices.Equal(capped.IDs, free.IDs) {
		t.Errorf("budgeted ids %v, unbudgeted %v", capped.IDs, free.IDs)
	}
	peak, err := g.MaxUsage()
	if err != nil {
		t.Fatal(err)
	}
	if kills, _ := g.OOMKills(); kills != 0 {
		t.Errorf("%d OOM kills", kills)
	}
	if peak > budget {
		t.Errorf("cgroup peak %d bytes over the %d-byte budget", peak, budget)
	}
	t.Logf("model %d MiB, budget %d MiB (%d of %d experts cached), cgroup peak %.1f MiB", st.Size()>>20, budget>>20, p.ExpertSlots, p.ExpertsTotal, float64(peak)/(1<<20))
}
