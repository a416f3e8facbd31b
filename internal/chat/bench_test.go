package chat

import (
	"testing"
)

// BenchmarkRenderCase renders a real template (Qwen3 with two tools) per
// iteration: the per-request cost of chat templating.
func BenchmarkRenderCase(b *testing.B) {
	var fc fixtureCase
	for _, c := range loadCases(b) {
		if c.id == "Qwen-Qwen3-0.6B/tools_list" {
			fc = c
		}
	}
	if fc.src == "" {
		b.Fatal("case Qwen-Qwen3-0.6B/tools_list not found")
	}
	tmpl, err := Compile(fc.src)
	if err != nil {
		b.Fatal(err)
	}
	opts := Options{Now: FixedClock(fc.now)}
	b.ReportAllocs()
	b.ResetTimer()
	var out string
	for i := 0; i < b.N; i++ {
		if out, err = tmpl.RenderOptions(fc.vars, opts); err != nil {
			b.Fatal(err)
		}
	}
	if out != fc.expected {
		b.Fatalf("benchmark output differs from the fixture")
	}
	b.ReportMetric(float64(len(out))*float64(b.N)/b.Elapsed().Seconds()/1e6, "MB/s")
}

// BenchmarkCompile measures compiling a large real template.
func BenchmarkCompile(b *testing.B) {
	var src string
	for _, c := range loadCases(b) {
		if len(c.src) > len(src) {
			src = c.src
		}
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		if _, err := Compile(src); err != nil {
			b.Fatal(err)
		}
	}
}
