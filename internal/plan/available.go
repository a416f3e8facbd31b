package plan

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// Available is the memory this process may use when no budget is given:
// the least free memory of its memory cgroup and every ancestor that has a
// limit (limit minus usage, where usage does not count the inactive,
// reclaimable file cache), or the machine's MemAvailable when that is
// smaller or there is no limit. It reads cgroup v1 and v2 wherever they
// are mounted. It returns 0 when it cannot tell.
func Available() int64 {
	return availableAt("/")
}

// availableAt is Available with every file read under root (for tests).
func availableAt(root string) int64 {
	avail := memAvailable(filepath.Join(root, "proc/meminfo"))
	if free, ok := cgroupFree(root); ok && (avail <= 0 || free < avail) {
		avail = max(free, 0)
	}
	return avail
}

// memAvailable reads MemAvailable from a meminfo file.
func memAvailable(path string) int64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "MemAvailable:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// mount is a cgroup file system mount: the cgroup path it shows (root) and
// where (dir).
type mount struct {
	root, dir string
	v2        bool
	opts      []string // super options (v1: the controllers)
}

// cgroupMounts lists the cgroup mounts in a mountinfo file.
func cgroupMounts(path string) []mount {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	var out []mount
	for _, line := range strings.Split(string(b), "\n") {
		// id parent major:minor root mountpoint options [optional...] - fstype source superoptions
		pre, post, ok := strings.Cut(line, " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 1 {
			continue
		}
		m := mount{root: unescapeMount(f[3]), dir: unescapeMount(f[4])}
		switch g[0] {
		case "cgroup2":
			m.v2 = true
		case "cgroup":
			if len(g) >= 3 {
				m.opts = strings.Split(g[2], ",")
			}
		default:
			continue
		}
		out = append(out, m)
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// cgroupFree returns the least free memory over this process's memory
// cgroup and its visible ancestors that have a limit, and whether any has
// one.
func cgroupFree(root string) (int64, bool) {
	b, err := os.ReadFile(filepath.Join(root, "proc/self/cgroup"))
	if err != nil {
		return 0, false
	}
	mounts := cgroupMounts(filepath.Join(root, "proc/self/mountinfo"))
	var free int64
	found := false
	add := func(f int64, ok bool) {
		if ok && (!found || f < free) {
			free, found = f, true
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		v2 := parts[0] == "0" && parts[1] == ""
		if !v2 && !slices.Contains(strings.Split(parts[1], ","), "memory") {
			continue
		}
		for _, m := range mounts {
			if m.v2 != v2 || (!v2 && !slices.Contains(m.opts, "memory")) {
				continue
			}
			dir, ok := cgroupDir(root, m, parts[2])
			if !ok {
				continue
			}
			if v2 {
				add(freeV2(filepath.Join(root, m.dir), dir))
			} else {
				add(freeV1(filepath.Join(root, m.dir), dir))
			}
			break
		}
	}
	return free, found
}

// cgroupDir maps a cgroup path from /proc/self/cgroup to its folder under
// mount m. A mount may show a sub-tree (its root); a path outside it (as a
// container without its own cgroup namespace may see) maps to the mount's
// top, which is then the container's own cgroup.
func cgroupDir(root string, m mount, path string) (string, bool) {
	rel := path
	if m.root != "/" {
		if r, ok := strings.CutPrefix(path, m.root); ok && (r == "" || r[0] == '/') {
			rel = r
		} else {
			rel = "/"
		}
	}
	dir := filepath.Join(root, m.dir, rel)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return "", false
	}
	return dir, true
}

// freeV1 walks a v1 memory cgroup and its ancestors up to the mount and
// returns the least limit − (usage − total_inactive_file); the group's
// hierarchical_memory_limit covers ancestors above the mount.
func freeV1(mountDir, dir string) (int64, bool) {
	var free int64
	found := false
	first := true
	for d := dir; ; d = filepath.Dir(d) {
		lim, err := readInt(filepath.Join(d, "memory.limit_in_bytes"))
		usage, uerr := readInt(filepath.Join(d, "memory.usage_in_bytes"))
		stat := filepath.Join(d, "memory.stat")
		if first {
			if h := statField(stat, "hierarchical_memory_limit"); h > 0 && (err != nil || h < lim) {
				lim, err = h, nil
			}
			first = false
		}
		if err == nil && uerr == nil && lim < 1<<60 {
			f := lim - (usage - statField(stat, "total_inactive_file"))
			if !found || f < free {
				free, found = f, true
			}
		}
		if d == mountDir || len(d) <= len(mountDir) {
			break
		}
	}
	return free, found
}

// freeV2 walks a v2 cgroup and its ancestors up to the mount and returns
// the least min(memory.max, memory.high) − (memory.current −
// inactive_file).
func freeV2(mountDir, dir string) (int64, bool) {
	var free int64
	found := false
	for d := dir; ; d = filepath.Dir(d) {
		lim, err := readInt(filepath.Join(d, "memory.max"))
		if high, herr := readInt(filepath.Join(d, "memory.high")); herr == nil && (err != nil || high < lim) {
			lim, err = high, nil
		}
		if err == nil {
			if cur, cerr := readInt(filepath.Join(d, "memory.current")); cerr == nil {
				f := lim - (cur - statField(filepath.Join(d, "memory.stat"), "inactive_file"))
				if !found || f < free {
					free, found = f, true
				}
			}
		}
		if d == mountDir || len(d) <= len(mountDir) {
			break
		}
	}
	return free, found
}

// errNoLimit is readInt's error for "max".
var errNoLimit = errors.New("no limit")

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(string(b))
	if s == "max" {
		return 0, errNoLimit
	}
	return strconv.ParseInt(s, 10, 64)
}

// statField reads one "key value" line of a memory.stat file (0 if
// absent).
func statField(path, key string) int64 {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, key+" "); ok {
			n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}
