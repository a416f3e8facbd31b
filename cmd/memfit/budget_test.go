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

	"golang.org/x/sys/unix"

	"github.com/memfit/memfit/internal/memcg"
)

// buildMemfit builds the memfit binary into a temp folder.
func buildMemfit(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "memfit")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// dropCache evicts path from the page cache, so a run inside a cgroup is
// charged for every page it reads.
func dropCache(t *testing.T, path string) {
	t.Helper()
	fd, err := unix.Open(path, unix.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fd)
	if err := unix.Fadvise(fd, 0, 0, unix.FADV_DONTNEED); err != nil {
		t.Fatal(err)
	}
}

type runJSON struct {
	PromptIDs []int32 `json:"prompt_ids"`
	IDs       []int32 `json:"ids"`
	Text      string  `json:"text"`
}

// TestBudgetInCgroup generates from a random-weight llama-3.2-1b-shape
// Q4_0 model (about 0.7 GB) inside a memory cgroup whose limit is a
// 350 MiB budget, and checks: the same tokens as without a budget, the
// cgroup's peak at or under the budget, no OOM kill; and that a budget
// below the minimum exits with code 3 before reading weights.
func TestBudgetInCgroup(t *testing.T) {
	bin := buildMemfit(t)
	dir := t.TempDir()
	model := filepath.Join(dir, "l1b-q4_0.gguf")
	if out, err := exec.Command(bin, "synth", "--shape", "llama-3.2-1b", "--type", "Q4_0", "-o", model, "--seed", "1").CombinedOutput(); err != nil {
		t.Fatalf("synth: %v\n%s", err, out)
	}
	st, err := os.Stat(model)
	if err != nil {
		t.Fatal(err)
	}
	const budget = 350 << 20
	if st.Size() < 2*budget {
		t.Fatalf("model of %d bytes: want at least twice the %d-byte budget", st.Size(), budget)
	}
	args := []string{"run", "-m", model, "-p", "The quick brown fox", "-n", "8", "--temp", "0", "--ctx", "256", "--json", "-t", "2"}
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		t.Fatalf("unbudgeted run: %v", err)
	}
	var free runJSON
	if err := json.Unmarshal(out, &free); err != nil || len(free.IDs) != 8 {
		t.Fatalf("unbudgeted run printed %q: %v", out, err)
	}

	g, err := memcg.New(fmt.Sprintf("memfit-budget-%d", os.Getpid()), budget)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Remove()
	dropCache(t, model)
	dropCache(t, bin)
	cmd := g.Command(bin, append(args, "--mem-budget", "350MiB")...)
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
	t.Logf("model %d MiB, budget %d MiB, cgroup peak %.1f MiB", st.Size()>>20, budget>>20, float64(peak)/(1<<20))

	// Below the minimum: exit 3, having read no weights.
	small := exec.Command(bin, append(args, "--mem-budget", "64MiB")...)
	out, err = small.CombinedOutput()
	var ee *exec.ExitError
	if err == nil || !errorsAs(err, &ee) || ee.ExitCode() != 3 || !strings.Contains(string(out), "--mem-budget") {
		t.Errorf("64 MiB budget: %v, output %q; want exit 3 with a suggestion", err, out)
	}
}

func errorsAs(err error, target **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	if ok {
		*target = e
	}
	return ok
}
