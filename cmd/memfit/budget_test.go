package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/memcg"
)

// budgetEnv is what the cgroup tests share: a memfit binary and a
// random-weight llama-3.2-1b-shape Q4_0 model (about 0.7 GB), made once.
var budgetEnv struct {
	once  sync.Once
	dir   string
	bin   string
	model string
	err   error
}

// budgetFiles builds memfit and synthesizes the 1B model (once per test
// binary; removed by TestMain).
func budgetFiles(t *testing.T) (bin, model string) {
	t.Helper()
	e := &budgetEnv
	e.once.Do(func() {
		if e.dir, e.err = os.MkdirTemp("", "memfit-budget-"); e.err != nil {
			return
		}
		e.bin = filepath.Join(e.dir, "memfit")
		if out, err := exec.Command("go", "build", "-o", e.bin, ".").CombinedOutput(); err != nil {
			e.err = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		e.model = filepath.Join(e.dir, "l1b-q4_0.gguf")
		if out, err := exec.Command(e.bin, "synth", "--shape", "llama-3.2-1b", "--type", "Q4_0", "-o", e.model, "--seed", "1", "-q").CombinedOutput(); err != nil {
			e.err = fmt.Errorf("synth: %v\n%s", err, out)
		}
	})
	if e.err != nil {
		t.Fatal(e.err)
	}
	return e.bin, e.model
}

// privateCopy copies a fixture into the test's folder: the page cache of
// a file other processes have mapped is charged to their cgroups, not to
// the test's.
func privateCopy(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), filepath.Base(path))
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return dst
}

func TestMain(m *testing.M) {
	// The commands' device cache (probe figures, calibration from bench
	// runs) goes to a directory of the tests' own, here and in the memfit
	// processes they start: the user's cache is not the tests' to change.
	cache, err := os.MkdirTemp("", "memfit-test-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("XDG_CACHE_HOME", cache)
	code := m.Run()
	if budgetEnv.dir != "" {
		os.RemoveAll(budgetEnv.dir)
	}
	os.RemoveAll(cache)
	os.Exit(code)
}

// dropCache evicts path from the page cache (written back first: dirty
// pages cannot be dropped), so a run inside a cgroup is charged for every
// page it reads.
func dropCache(t *testing.T, path string) {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil {
		t.Fatal(err)
	}
	if err := unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
}

type runJSON struct {
	PromptIDs []int32 `json:"prompt_ids"`
	IDs       []int32 `json:"ids"`
	Text      string  `json:"text"`
}

// planJSON is the part of memfit plan's output the tests read.
type planJSON struct {
	Budget     int64  `json:"budget_bytes"`
	Total      int64  `json:"total_bytes"`
	Minimum    int64  `json:"minimum_bytes"`
	Fits       bool   `json:"fits"`
	Streamed   int64  `json:"streamed_weight_bytes"`
	Suggestion string `json:"suggestion"`
	KVType     string `json:"kv_type"`
}

func runPlan(t *testing.T, bin string, args ...string) (planJSON, error) {
	t.Helper()
	out, err := exec.Command(bin, append([]string{"plan"}, args...)...).Output()
	var p planJSON
	if jerr := json.Unmarshal(out, &p); jerr != nil {
		t.Fatalf("memfit plan %v printed %q: %v (%v)", args, out, jerr, err)
	}
	return p, err
}

var groupSeq atomic.Int64

// inCgroup runs bin with args inside a fresh memory cgroup whose limit is
// limit bytes, with the model's and the binary's pages dropped from the
// page cache first, and returns its stdout, the cgroup's peak usage and OOM
// kills.
func inCgroup(t *testing.T, limit int64, model, bin string, args ...string) (out []byte, peak, kills int64, err error) {
	t.Helper()
	g, gerr := memcg.New(fmt.Sprintf("memfit-test-%d-%d", os.Getpid(), groupSeq.Add(1)), limit)
	if gerr != nil {
		t.Fatal(gerr)
	}
	defer g.Remove()
	dropCache(t, model)
	dropCache(t, bin)
	cmd := g.Command(bin, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err = cmd.Output()
	if err != nil {
		err = fmt.Errorf("%w\n%s", err, stderr.String())
	}
	if peak, gerr = g.MaxUsage(); gerr != nil {
		t.Fatal(gerr)
	}
	if kills, gerr = g.OOMKills(); gerr != nil {
		t.Fatal(gerr)
	}
	return out, peak, kills, err
}

// TestBudgetInCgroup generates from a random-weight llama-3.2-1b-shape
// Q4_0 model (about 0.7 GB) inside a memory cgroup whose limit is a
// 350 MiB budget, and checks: the same tokens as without a budget, the
// cgroup's peak at or under the budget and within 5% of the plan's total,
// no OOM kill; and that a budget below the minimum exits with code 3 before
// reading weights.
func TestBudgetInCgroup(t *testing.T) {
	bin, model := budgetFiles(t)
	st, err := os.Stat(model)
	if err != nil {
		t.Fatal(err)
	}
	const budget = 350 << 20
	if st.Size() < 2*budget {
		t.Fatalf("model of %d bytes: want at least twice the %d-byte budget", st.Size(), budget)
	}
	args := []string{"run", "-m", model, "-p", "The quick brown fox", "-n", "8", "--temp", "0", "--ctx", "64", "--json", "-t", "2"}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("unbudgeted run: %v", err)
	}
	var free runJSON
	if err := json.Unmarshal(out, &free); err != nil || len(free.IDs) != 8 {
		t.Fatalf("unbudgeted run printed %q: %v", out, err)
	}
	p, err := runPlan(t, bin, "-m", model, "--ctx", "64", "-t", "2", "--mem-budget", "350MiB")
	if err != nil || !p.Fits || p.Streamed == 0 {
		t.Fatalf("plan: %v, fits %v, streams %d bytes", err, p.Fits, p.Streamed)
	}
	out, peak, kills, err := inCgroup(t, budget, model, bin, append(args, "--mem-budget", "350MiB")...)
	if err != nil {
		t.Fatalf("budgeted run: %v", err)
	}
	var capped runJSON
	if err := json.Unmarshal(out, &capped); err != nil {
		t.Fatalf("budgeted run printed %q: %v", out, err)
	}
	if !slices.Equal(capped.IDs, free.IDs) {
		t.Errorf("budgeted ids %v, unbudgeted %v", capped.IDs, free.IDs)
	}
	if kills != 0 {
		t.Errorf("%d OOM kills", kills)
	}
	if peak > budget {
		t.Errorf("cgroup peak %d bytes over the %d-byte budget", peak, budget)
	}
	checkWithin5(t, "1B, 350 MiB", p.Total, peak)
	t.Logf("model %d MiB, budget %d MiB, plan total %.1f MiB, cgroup peak %.1f MiB", st.Size()>>20, budget>>20, mib(p.Total), mib(peak))

	// Below the minimum: exit 3, having read no weights.
	small := exec.Command(bin, append(args, "--mem-budget", "64MiB")...)
	out, err = small.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(string(out), "--mem-budget") {
		t.Errorf("64 MiB budget: %v, output %q; want exit 3 with a suggestion", err, out)
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// checkWithin5 checks the plan's predicted memory is within 5% of the
// cgroup's measured peak.
func checkWithin5(t *testing.T, what string, planned, peak int64) {
	t.Helper()
	if d := float64(planned-peak) / float64(peak); d > 0.05 || d < -0.05 {
		t.Errorf("%s: plan total %.1f MiB, cgroup peak %.1f MiB: %+.1f%%, want within 5%%", what, mib(planned), mib(peak), 100*d)
	}
}

// TestPlanTruthful runs the gocoder fixture inside cgroups, resident and
// streamed, with a prompt that fills the context and the prompt chunk (so
// every byte the plan counts is used), and checks the plan's total is
// within 5% of the cgroup's peak and the peak at or under the budget.
func TestPlanTruthful(t *testing.T) {
	bin, _ := budgetFiles(t)
	model := privateCopy(t, fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"))
	text, err := os.ReadFile(fixtures.Path(t, "text", "net_http_server.go"))
	if err != nil {
		t.Fatal(err)
	}
	prompt := string(text[:500]) // 230 tokens of gocoder's vocabulary
	full, err := runPlan(t, bin, "-m", model, "--ctx", "256", "--batch", "256", "-t", "2", "--mem-budget", "1GiB")
	if err != nil || full.Streamed != 0 {
		t.Fatalf("plan at 1 GiB: %v, streams %d bytes", err, full.Streamed)
	}
	for _, tc := range []struct {
		name   string
		budget int64
	}{
		{"resident", 1 << 30},
		{"streamed", full.Total - 4<<20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := fmt.Sprint(tc.budget)
			p, err := runPlan(t, bin, "-m", model, "--ctx", "256", "--batch", "256", "-t", "2", "--mem-budget", b)
			if err != nil || !p.Fits || (p.Streamed > 0) != (tc.name == "streamed") {
				t.Fatalf("plan: %v, fits %v, streams %d bytes", err, p.Fits, p.Streamed)
			}
			out, peak, kills, err := inCgroup(t, tc.budget, model, bin, "run", "-m", model, "-p", prompt, "-n", "4", "--temp", "0",
				"--ctx", "256", "--batch", "256", "--json", "-t", "2", "--mem-budget", b)
			if err != nil || kills != 0 {
				t.Fatalf("run: %v, %d OOM kills", err, kills)
			}
			var r runJSON
			if err := json.Unmarshal(out, &r); err != nil || len(r.PromptIDs) < 200 {
				t.Fatalf("run printed %q (%v): want a prompt of over 200 tokens", out, err)
			}
			if peak > tc.budget {
				t.Errorf("cgroup peak %d over the budget %d", peak, tc.budget)
			}
			checkWithin5(t, tc.name, p.Total, peak)
			t.Logf("budget %.1f MiB: plan total %.1f MiB, cgroup peak %.1f MiB", mib(tc.budget), mib(p.Total), mib(peak))
		})
	}
}

// TestNoOOMNearMinimum runs plans the planner accepts at and just above the
// minimum budget inside cgroups of exactly that limit: none may be
// OOM-killed, each peak stays within the budget, and the tokens are the
// unbudgeted ones.
func TestNoOOMNearMinimum(t *testing.T) {
	bin, l1b := budgetFiles(t)
	gocoder := privateCopy(t, fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf"))
	for _, tc := range []struct {
		model  string
		n      string
		extras []int64 // added to the minimum
	}{
		{gocoder, "8", []int64{0, 1 << 20, 3 << 20}},
		{l1b, "2", []int64{0, 24 << 20}},
	} {
		args := []string{"-m", tc.model, "--ctx", "64", "-t", "2"}
		run := append([]string{"run", "-p", "func main() {", "-n", tc.n, "--temp", "0", "--json"}, args...)
		out, err := exec.Command(bin, run...).Output()
		var free runJSON
		if err != nil || json.Unmarshal(out, &free) != nil {
			t.Fatalf("%s unbudgeted: %v, %q", tc.model, err, out)
		}
		p, err := runPlan(t, bin, append(args, "--mem-budget", "1GiB")...)
		if err != nil {
			t.Fatal(err)
		}
		for _, extra := range tc.extras {
			budget := p.Minimum + extra
			b := fmt.Sprint(budget)
			q, err := runPlan(t, bin, append(args, "--mem-budget", b)...)
			if err != nil || !q.Fits {
				t.Fatalf("%s at %d: plan %v, fits %v", tc.model, budget, err, q.Fits)
			}
			out, peak, kills, err := inCgroup(t, budget, tc.model, bin, append(run, "--mem-budget", b)...)
			var r runJSON
			if err != nil || kills != 0 || json.Unmarshal(out, &r) != nil {
				t.Fatalf("%s at the minimum + %d MiB: %v, %d OOM kills, output %q", filepath.Base(tc.model), extra>>20, err, kills, out)
			}
			if !slices.Equal(r.IDs, free.IDs) {
				t.Errorf("%s at %d: ids %v, unbudgeted %v", tc.model, budget, r.IDs, free.IDs)
			}
			if peak > budget {
				t.Errorf("%s at %d: cgroup peak %d over the budget", tc.model, budget, peak)
			}
			t.Logf("%s: budget %.1f MiB (minimum + %d MiB), plan %.1f MiB, cgroup peak %.1f MiB", filepath.Base(tc.model), mib(budget), extra>>20, mib(q.Total), mib(peak))
		}
	}
}

// TestDefaultBudgetInCgroup: without --mem-budget the budget is what the
// cgroup has free, not counting its reclaimable page cache. The group is
// first filled with page cache (a 0.7 GB file read through it), then
// memfit plan reports its budget.
func TestDefaultBudgetInCgroup(t *testing.T) {
	bin, l1b := budgetFiles(t)
	const limit = 400 << 20
	g, err := memcg.New(fmt.Sprintf("memfit-test-%d-%d", os.Getpid(), groupSeq.Add(1)), limit)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
	dropCache(t, l1b)
	if out, err := g.Command("cat", l1b).Output(); err != nil || len(out) == 0 {
		t.Fatalf("reading the model through the group: %v", err)
	}
	gocoder := fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf")
	out, err := g.Command(bin, "plan", "-m", gocoder, "--ctx", "256").Output()
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	var p planJSON
	if err := json.Unmarshal(out, &p); err != nil {
		t.Fatal(err)
	}
	if p.Budget > limit || p.Budget < limit-48<<20 {
		t.Errorf("default budget %.1f MiB in a %d MiB group full of page cache: want the limit less what memfit itself holds (within 48 MiB)", mib(p.Budget), limit>>20)
	}
	t.Logf("default budget in a %d MiB group: %.1f MiB", limit>>20, mib(p.Budget))
}

// TestPlanSuggestsKVType: memfit plan exits with code 3 when the minimum
// does not fit, and names --kv-type q8_0 when a q8_0 cache is what fits.
func TestPlanSuggestsKVType(t *testing.T) {
	bin, _ := budgetFiles(t)
	model := fixtures.Path(t, "models", "gocoder", "gocoder.bf16.gguf")
	args := []string{"-m", model, "--ctx", "32768", "--parallel", "1", "-t", "2"}
	q8, err := runPlan(t, bin, append(args, "--kv-type", "q8_0", "--mem-budget", "1GiB")...)
	if err != nil || q8.KVType != "q8_0" {
		t.Fatalf("q8_0 plan: %v, kv type %q", err, q8.KVType)
	}
	p, err := runPlan(t, bin, append(args, "--kv-type", "f16", "--mem-budget", fmt.Sprint(q8.Minimum))...)
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Fatalf("f16 cache at the q8_0 minimum: %v, want exit code 3", err)
	}
	if p.Fits || !strings.Contains(p.Suggestion, "--kv-type q8_0") {
		t.Errorf("suggestion %q lacks --kv-type q8_0", p.Suggestion)
	}
}
