package server

import (
	"fmt"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/memfit/memfit/internal/engine"
)

// latencyBuckets are the histogram bounds in seconds.
var latencyBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// histogram is a Prometheus histogram.
type histogram struct {
	counts []uint64 // per bucket, not cumulative
	sum    float64
	n      uint64
}

func (h *histogram) observe(v float64) {
	if h.counts == nil {
		h.counts = make([]uint64, len(latencyBuckets))
	}
	i := sort.SearchFloat64s(latencyBuckets, v)
	if i < len(h.counts) {
		h.counts[i]++
	}
	h.sum += v
	h.n++
}

func (h *histogram) write(b *strings.Builder, name, labels string) {
	var cum uint64
	sep := ""
	if labels != "" {
		sep = ","
	}
	for i, le := range latencyBuckets {
		if h.counts != nil {
			cum += h.counts[i]
		}
		fmt.Fprintf(b, "%s_bucket{%s%sle=\"%s\"} %d\n", name, labels, sep, strconv.FormatFloat(le, 'g', -1, 64), cum)
	}
	fmt.Fprintf(b, "%s_bucket{%s%sle=\"+Inf\"} %d\n", name, labels, sep, h.n)
	if labels != "" {
		labels = "{" + labels + "}"
	}
	fmt.Fprintf(b, "%s_sum%s %g\n%s_count%s %d\n", name, labels, h.sum, name, labels, h.n)
}

type routeCode struct {
	route string
	code  int
}

// metrics are the server's counters.
type metrics struct {
	mu        sync.Mutex
	requests  map[routeCode]uint64
	durations map[string]*histogram
	ttft      histogram
	queued    histogram
	genTime   histogram
	promptTok uint64
	cachedTok uint64
	genTok    uint64
	active    atomic.Int64
	cancelled atomic.Int64
}

func newMetrics() *metrics {
	return &metrics{requests: map[routeCode]uint64{}, durations: map[string]*histogram{}}
}

func (m *metrics) request(route string, code int, d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.requests[routeCode{route, code}]++
	h := m.durations[route]
	if h == nil {
		h = &histogram{}
		m.durations[route] = h
	}
	h.observe(d.Seconds())
}

func (m *metrics) generation(r *engine.Result) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.promptTok += uint64(r.PromptTokens - r.CachedTokens)
	m.cachedTok += uint64(r.CachedTokens)
	m.genTok += uint64(len(r.Tokens))
	m.ttft.observe(r.FirstToken.Seconds())
	m.queued.observe(r.Queued.Seconds())
	m.genTime.observe(r.Total.Seconds())
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	m := s.metrics
	var b strings.Builder
	m.mu.Lock()
	b.WriteString("# HELP memfit_requests_total HTTP requests by route and status code.\n# TYPE memfit_requests_total counter\n")
	keys := make([]routeCode, 0, len(m.requests))
	for k := range m.requests {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i].route != keys[j].route {
			return keys[i].route < keys[j].route
		}
		return keys[i].code < keys[j].code
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "memfit_requests_total{route=%q,code=\"%d\"} %d\n", k.route, k.code, m.requests[k])
	}
	b.WriteString("# HELP memfit_request_duration_seconds Time to answer a request, by route.\n# TYPE memfit_request_duration_seconds histogram\n")
	routes := make([]string, 0, len(m.durations))
	for r := range m.durations {
		routes = append(routes, r)
	}
	sort.Strings(routes)
	for _, r := range routes {
		m.durations[r].write(&b, "memfit_request_duration_seconds", fmt.Sprintf("route=%q", r))
	}
	b.WriteString("# HELP memfit_time_to_first_token_seconds Time from submission to the first generated token.\n# TYPE memfit_time_to_first_token_seconds histogram\n")
	m.ttft.write(&b, "memfit_time_to_first_token_seconds", "")
	b.WriteString("# HELP memfit_queue_wait_seconds Time a request waited for a free sequence.\n# TYPE memfit_queue_wait_seconds histogram\n")
	m.queued.write(&b, "memfit_queue_wait_seconds", "")
	b.WriteString("# HELP memfit_generation_seconds Time of a whole generation.\n# TYPE memfit_generation_seconds histogram\n")
	m.genTime.write(&b, "memfit_generation_seconds", "")
	fmt.Fprintf(&b, "# HELP memfit_prompt_tokens_total Prompt tokens processed (not reused from a cache).\n# TYPE memfit_prompt_tokens_total counter\nmemfit_prompt_tokens_total %d\n", m.promptTok)
	fmt.Fprintf(&b, "# HELP memfit_prompt_tokens_cached_total Prompt tokens reused from a sequence's cache.\n# TYPE memfit_prompt_tokens_cached_total counter\nmemfit_prompt_tokens_cached_total %d\n", m.cachedTok)
	fmt.Fprintf(&b, "# HELP memfit_generated_tokens_total Tokens generated.\n# TYPE memfit_generated_tokens_total counter\nmemfit_generated_tokens_total %d\n", m.genTok)
	m.mu.Unlock()

	st := s.cfg.Engine.Stats()
	fmt.Fprintf(&b, "# HELP memfit_queue_depth Requests waiting for a free sequence.\n# TYPE memfit_queue_depth gauge\nmemfit_queue_depth %d\n", st.Waiting)
	fmt.Fprintf(&b, "# HELP memfit_sequences_running Sequences generating now.\n# TYPE memfit_sequences_running gauge\nmemfit_sequences_running %d\n", st.Running)
	fmt.Fprintf(&b, "# HELP memfit_sequences_parallel Sequences the engine runs at once (--parallel).\n# TYPE memfit_sequences_parallel gauge\nmemfit_sequences_parallel %d\n", s.cfg.Engine.Options().Parallel)
	fmt.Fprintf(&b, "# HELP memfit_forward_passes_total Forward passes run.\n# TYPE memfit_forward_passes_total counter\nmemfit_forward_passes_total %d\n", st.Steps)
	fmt.Fprintf(&b, "# HELP memfit_requests_active Generation requests being served.\n# TYPE memfit_requests_active gauge\nmemfit_requests_active %d\n", m.active.Load())
	fmt.Fprintf(&b, "# HELP memfit_requests_cancelled_total Generations stopped because the client went away.\n# TYPE memfit_requests_cancelled_total counter\nmemfit_requests_cancelled_total %d\n", m.cancelled.Load())
	if l := s.cfg.Ledger; l != nil {
		fmt.Fprintf(&b, "# HELP memfit_memory_budget_bytes The memory budget.\n# TYPE memfit_memory_budget_bytes gauge\nmemfit_memory_budget_bytes %d\n", l.Budget())
		b.WriteString("# HELP memfit_memory_reserved_bytes Bytes reserved on the ledger, by kind.\n# TYPE memfit_memory_reserved_bytes gauge\n")
		for _, k := range l.Kinds() {
			fmt.Fprintf(&b, "memfit_memory_reserved_bytes{kind=%q} %d\n", k.Kind, k.Bytes)
		}
		fmt.Fprintf(&b, "# HELP memfit_memory_reserved_peak_bytes Most bytes ever reserved on the ledger.\n# TYPE memfit_memory_reserved_peak_bytes gauge\nmemfit_memory_reserved_peak_bytes %d\n", l.Peak())
	}
	if rss, ok := residentBytes(); ok {
		fmt.Fprintf(&b, "# HELP memfit_process_resident_bytes Resident memory of the process (RssAnon + RssFile).\n# TYPE memfit_process_resident_bytes gauge\nmemfit_process_resident_bytes %d\n", rss)
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Write([]byte(b.String()))
}

// residentBytes reads the process's resident memory from /proc.
func residentBytes() (int64, bool) {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, false
	}
	var total int64
	found := false
	for _, line := range strings.Split(string(data), "\n") {
		for _, key := range []string{"RssAnon:", "RssFile:"} {
			if v, ok := strings.CutPrefix(line, key); ok {
				kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
				if err == nil {
					total += kb << 10
					found = true
				}
			}
		}
	}
	return total, found
}
