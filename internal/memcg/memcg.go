// Package memcg runs a process inside a Linux memory cgroup with a limit
// and reads back its peak usage, the way tests prove that memfit keeps its
// memory budget. It supports cgroup v1 (memory controller under
// /sys/fs/cgroup/memory) and v2 (unified hierarchy with the memory
// controller enabled).
package memcg

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Group is a child memory cgroup.
type Group struct {
	Path string
	v2   bool
}

// New creates a child memory cgroup named name with the given limit in
// bytes.
func New(name string, limit int64) (*Group, error) {
	if st, err := os.Stat("/sys/fs/cgroup/memory/memory.limit_in_bytes"); err == nil && !st.IsDir() {
		g := &Group{Path: filepath.Join("/sys/fs/cgroup/memory", name)}
		if err := os.Mkdir(g.Path, 0o755); err != nil {
			return nil, fmt.Errorf("memcg: %w", err)
		}
		// Swap would let usage hide; a v1 group without memsw ignores it.
		_ = os.WriteFile(filepath.Join(g.Path, "memory.swappiness"), []byte("0"), 0o644)
		if err := os.WriteFile(filepath.Join(g.Path, "memory.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
			g.Remove()
			return nil, fmt.Errorf("memcg: setting the limit: %w", err)
		}
		return g, nil
	}
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		g := &Group{Path: filepath.Join("/sys/fs/cgroup", name), v2: true}
		_ = os.WriteFile("/sys/fs/cgroup/cgroup.subtree_control", []byte("+memory"), 0o644)
		if err := os.Mkdir(g.Path, 0o755); err != nil {
			return nil, fmt.Errorf("memcg: %w", err)
		}
		for file, v := range map[string]string{"memory.max": strconv.FormatInt(limit, 10), "memory.swap.max": "0"} {
			if err := os.WriteFile(filepath.Join(g.Path, file), []byte(v), 0o644); err != nil && file == "memory.max" {
				g.Remove()
				return nil, fmt.Errorf("memcg: setting the limit: %w", err)
			}
		}
		return g, nil
	}
	return nil, errors.New("memcg: no memory cgroup controller (want /sys/fs/cgroup/memory or cgroup v2)")
}

// Command returns a command that joins the group before it execs name:
// every byte the program uses is charged to the group.
func (g *Group) Command(name string, args ...string) *exec.Cmd {
	procs := filepath.Join(g.Path, "cgroup.procs")
	script := `echo $$ > "$0" && exec "$@"`
	return exec.Command("/bin/sh", append([]string{"-c", script, procs, name}, args...)...)
}

// MaxUsage is the group's peak memory usage in bytes (v1
// memory.max_usage_in_bytes; v2 memory.peak).
func (g *Group) MaxUsage() (int64, error) {
	file := "memory.max_usage_in_bytes"
	if g.v2 {
		file = "memory.peak"
	}
	return readInt(filepath.Join(g.Path, file))
}

// OOMKills is how many processes the kernel killed in the group for lack of
// memory.
func (g *Group) OOMKills() (int64, error) {
	file, key := "memory.oom_control", "oom_kill "
	if g.v2 {
		file, key = "memory.events", "oom_kill "
	}
	b, err := os.ReadFile(filepath.Join(g.Path, file))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, nil
}

// Remove deletes the group (waiting briefly for exited processes to
// leave it).
func (g *Group) Remove() error {
	var err error
	for range 50 {
		if err = os.Remove(g.Path); err == nil || os.IsNotExist(err) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("memcg: removing %s: %w", g.Path, err)
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("memcg: %w", err)
	}
	return strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
}
