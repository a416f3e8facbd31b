package plan

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

const mib = 1 << 20

// fakeRoot writes files (path → content) under a temp folder.
func fakeRoot(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func n(v int64) string { return strconv.FormatInt(v, 10) }

const (
	meminfo20G = "MemTotal: 24000000 kB\nMemFree: 1000 kB\nMemAvailable: 20971520 kB\n"
	v1Mounts   = "30 22 0:27 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n" +
		"35 30 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n" +
		"31 30 0:28 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
	v2Mounts = "30 22 0:27 / /sys/fs/cgroup rw,relatime - cgroup2 cgroup2 rw\n"
	unlimV1  = "9223372036854771712"
)

func TestAvailableAt(t *testing.T) {
	v1 := "sys/fs/cgroup/memory"
	tests := []struct {
		name  string
		files map[string]string
		want  int64
	}{
		{"no cgroup limit: MemAvailable", map[string]string{
			"proc/meminfo": meminfo20G, "proc/self/mountinfo": v1Mounts,
			"proc/self/cgroup":              "4:memory:/a\n0::/\n",
			v1 + "/memory.limit_in_bytes":   unlimV1,
			v1 + "/memory.usage_in_bytes":   n(5000 * mib),
			v1 + "/a/memory.limit_in_bytes": unlimV1,
			v1 + "/a/memory.usage_in_bytes": n(100 * mib),
			v1 + "/a/memory.stat":           "hierarchical_memory_limit " + unlimV1 + "\ntotal_inactive_file 0\n",
		}, 20 << 30},
		{"v1 limit on the own group, inactive file cache not counted", map[string]string{
			"proc/meminfo": meminfo20G, "proc/self/mountinfo": v1Mounts,
			"proc/self/cgroup":                "0::/\n9:name=systemd:/\n4:memory:/a/b\n",
			v1 + "/a/b/memory.limit_in_bytes": n(1024 * mib),
			v1 + "/a/b/memory.usage_in_bytes": n(600 * mib),
			v1 + "/a/b/memory.stat":           "inactive_file 1\nhierarchical_memory_limit " + n(1024*mib) + "\ntotal_inactive_file " + n(200*mib) + "\n",
		}, 624 * mib},
		{"v1 limit on a parent", map[string]string{
			"proc/meminfo": meminfo20G, "proc/self/mountinfo": v1Mounts,
			"proc/self/cgroup":                "4:memory:/a/b\n",
			v1 + "/a/memory.limit_in_bytes":   n(800 * mib),
			v1 + "/a/memory.usage_in_bytes":   n(700 * mib),
			v1 + "/a/memory.stat":             "total_inactive_file " + n(100*mib) + "\n",
			v1 + "/a/b/memory.limit_in_bytes": unlimV1,
			v1 + "/a/b/memory.usage_in_bytes": n(50 * mib),
			v1 + "/a/b/memory.stat":           "hierarchical_memory_limit " + n(800*mib) + "\ntotal_inactive_file 0\n",
		}, 200 * mib},
		{"v1 in a container: the mount shows the own group, an ancestor's limit only in hierarchical_memory_limit", map[string]string{
			"proc/meminfo":                meminfo20G,
			"proc/self/mountinfo":         "35 30 0:32 /docker/abc /sys/fs/cgroup/memory ro,nosuid - cgroup cgroup rw,memory\n",
			"proc/self/cgroup":            "4:memory:/docker/abc\n",
			v1 + "/memory.limit_in_bytes": unlimV1,
			v1 + "/memory.usage_in_bytes": n(300 * mib),
			v1 + "/memory.stat":           "hierarchical_memory_limit " + n(2048*mib) + "\ntotal_inactive_file " + n(100*mib) + "\n",
		}, 1848 * mib},
		{"v2 limit on a parent, memory.high lower on the own group", map[string]string{
			"proc/meminfo": meminfo20G, "proc/self/mountinfo": v2Mounts,
			"proc/self/cgroup":                     "0::/svc/app\n",
			"sys/fs/cgroup/svc/memory.max":         n(3072 * mib),
			"sys/fs/cgroup/svc/memory.high":        "max",
			"sys/fs/cgroup/svc/memory.current":     n(1024 * mib),
			"sys/fs/cgroup/svc/memory.stat":        "active_file 5\ninactive_file " + n(24*mib) + "\n",
			"sys/fs/cgroup/svc/app/memory.max":     "max",
			"sys/fs/cgroup/svc/app/memory.high":    n(2048 * mib),
			"sys/fs/cgroup/svc/app/memory.current": n(1000 * mib),
			"sys/fs/cgroup/svc/app/memory.stat":    "inactive_file " + n(500*mib) + "\n",
		}, 1548 * mib},
		{"v2 limit, MemAvailable smaller", map[string]string{
			"proc/meminfo": "MemAvailable: 102400 kB\n", "proc/self/mountinfo": v2Mounts,
			"proc/self/cgroup":               "0::/x\n",
			"sys/fs/cgroup/x/memory.max":     n(4096 * mib),
			"sys/fs/cgroup/x/memory.current": n(10 * mib),
		}, 100 * mib},
		{"usage over the limit: nothing free", map[string]string{
			"proc/meminfo": meminfo20G, "proc/self/mountinfo": v2Mounts,
			"proc/self/cgroup":               "0::/x\n",
			"sys/fs/cgroup/x/memory.max":     n(100 * mib),
			"sys/fs/cgroup/x/memory.current": n(150 * mib),
		}, 0},
		{"hybrid: a unified line without the memory controller, v1 memory", map[string]string{
			"proc/meminfo":                         meminfo20G,
			"proc/self/mountinfo":                  v1Mounts + "40 30 0:40 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n",
			"proc/self/cgroup":                     "0::/a\n4:memory:/a\n",
			"sys/fs/cgroup/unified/a/cgroup.procs": "1\n",
			v1 + "/a/memory.limit_in_bytes":        n(512 * mib),
			v1 + "/a/memory.usage_in_bytes":        n(12 * mib),
		}, 500 * mib},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := availableAt(fakeRoot(t, tt.files)); got != tt.want {
				t.Errorf("available %d MiB, want %d MiB", got/mib, tt.want/mib)
			}
		})
	}
}

func TestAvailable(t *testing.T) {
	if a := Available(); a <= 0 {
		t.Errorf("Available() = %d", a)
	}
}

func TestUnescapeMount(t *testing.T) {
	if got := unescapeMount(`/a\040b/c\\d`); got != `/a b/c\\d` {
		t.Errorf("unescapeMount = %q", got)
	}
}
