package chat

import (
	"errors"
	"math"
	"strings"
	"sync"
	"testing"
	"time"
)

var tenth = 0.1 // a variable, so that tenth + 0.2 is computed in float64

func TestFloatRepr(t *testing.T) {
	tests := []struct {
		in   float64
		want string
	}{
		{1, "1.0"}, {3, "3.0"}, {1e-5, "1e-05"}, {2.5e-7, "2.5e-07"}, {0.0001, "0.0001"},
		{1e16, "1e+16"}, {1e15, "1000000000000000.0"}, {tenth + 0.2, "0.30000000000000004"},
		{math.Copysign(0, -1), "-0.0"}, {math.Inf(1), "inf"}, {math.Inf(-1), "-inf"}, {math.NaN(), "nan"},
		{123456789.123, "123456789.123"}, {5e-324, "5e-324"}, {1.7976931348623157e308, "1.7976931348623157e+308"},
		{-1.5, "-1.5"}, {100, "100.0"}, {1e22, "1e+22"},
	}
	for _, tc := range tests {
		if got := floatRepr(tc.in); got != tc.want {
			t.Errorf("floatRepr(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParseJSONKeepsOrderAndNumberKinds(t *testing.T) {
	v, err := ParseJSON([]byte(`{"z": 1, "a": 1.0, "m": [3, 2.5e-7, 123456789012345678901234567890], "k": {"y": null, "x": true}, "z": 2}`))
	if err != nil {
		t.Fatal(err)
	}
	d := v.(*Dict)
	var keys []string
	for _, k := range d.Keys() {
		keys = append(keys, string(k.(Str)))
	}
	if got := strings.Join(keys, ","); got != "z,a,m,k" {
		t.Fatalf("keys %s, want z,a,m,k (first position, last value)", got)
	}
	tests := []struct {
		key  string
		want string
	}{
		{"z", "2"}, {"a", "1.0"}, {"m", "[3, 2.5e-07, 123456789012345678901234567890]"}, {"k", "{'y': None, 'x': True}"},
	}
	for _, tc := range tests {
		got, _ := d.GetStr(tc.key)
		if s := str(got); s != tc.want {
			t.Errorf("%s printed %q, want %q", tc.key, s, tc.want)
		}
	}
	for _, bad := range []string{`{"a": }`, `[1, 2`, `{"a": 1} x`, strings.Repeat("[", 1000) + strings.Repeat("]", 1000)} {
		if _, err := ParseJSON([]byte(bad)); err == nil {
			t.Errorf("ParseJSON(%.20q...) succeeded, want an error", bad)
		}
	}
}

func render(t *testing.T, src string, vars map[string]Value) (string, error) {
	t.Helper()
	tmpl, err := Compile(src)
	if err != nil {
		return "", err
	}
	return tmpl.RenderOptions(vars, Options{Now: FixedClock(fixedNow)})
}

func TestErrorsAreTypedPythonExceptions(t *testing.T) {
	tests := []struct {
		src, typ, msg string
	}{
		{"{{ raise_exception('Only user and assistant roles are supported!') }}", "TemplateError", "Only user and assistant roles are supported!"},
		{"{{ x.y.z }}", "UndefinedError", "'x' is undefined"},
		{"{{ {}.a.b }}", "UndefinedError", "'dict object' has no attribute 'a'"},
		{"{{ 1 / 0 }}", "ZeroDivisionError", "division by zero"},
		{"{{ 'a' + 1 }}", "TypeError", `can only concatenate str (not "int") to str`},
		{"{{ [1].append(2) }}", "SecurityError", "access to attribute 'append' of 'list' object is unsafe."},
		{"{% if true %}{{ x | from_json }}{% endif %}", "TemplateRuntimeError", "No filter named 'from_json' found."},
		{"{{ x | from_json }}", "TemplateAssertionError", "No filter named 'from_json'."},
		{"{% for %}", "TemplateSyntaxError", "Expected an expression, got 'end of statement block'"},
		{"{% if x %}", "TemplateSyntaxError", "Unexpected end of template. Jinja was looking for the following tags: 'elif' or 'else' or 'endif'. The innermost block that needs to be closed is 'if'."},
		{"{% break %}", "SyntaxError", "'break' outside loop"},
		{"{% include 'x.jinja' %}", "TypeError", "no loader for this environment specified (chat templates cannot include, import or extend other templates)"},
		{"{{ range(200000) }}", "OverflowError", "Range too big. The sandbox blocks ranges larger than MAX_RANGE (100000)."},
		{"{{ 'x'.index('y') }}", "ValueError", "substring not found"},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			out, err := render(t, tc.src, nil)
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("got %q, %v; want %s", out, err, tc.typ)
			}
			if te.Type != tc.typ || te.Msg != tc.msg {
				t.Fatalf("got %s: %q, want %s: %q", te.Type, te.Msg, tc.typ, tc.msg)
			}
		})
	}
}

func TestLimitsStopRunawayTemplates(t *testing.T) {
	lim := Limits{MaxOutput: 1 << 16, MaxSteps: 100_000, MaxDepth: 20}
	tests := []struct{ name, src string }{
		{"output", "{% for i in range(100000) %}xxxxxxxxxxxxxxxx{% endfor %}"},
		{"steps", "{% for i in range(1000) %}{% for j in range(1000) %}{% endfor %}{% endfor %}"},
		{"depth", "{% macro m() %}{{ m() }}{% endmacro %}{{ m() }}"},
		{"string repetition", "{{ 'ab' * 10000000 }}"},
		{"big int", "{{ 3 ** 10000000 }}"},
		{"doubling string", "{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}"},
		{"exponential compare", "{% set ns = namespace(a=[1], b=[1]) %}{% for i in range(64) %}{% set ns.a = [ns.a, ns.a] %}{% set ns.b = [ns.b, ns.b] %}{% endfor %}{{ ns.a == ns.b }}"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := Compile(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			out, err := tmpl.RenderOptions(nil, Options{Limits: lim})
			var te *Error
			if !errors.As(err, &te) || te.Type != errLimit {
				t.Fatalf("got %d bytes, %v; want a LimitError", len(out), err)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v to hit the limit", d)
			}
		})
	}
}

func TestConcurrentRendersShareTemplate(t *testing.T) {
	src := "{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{{ m.role }}:{{ m.content }};{% endfor %}{{ ns.n }}|{{ strftime_now('%Y') }}"
	tmpl, err := Compile(src)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := ParseJSON([]byte(`[{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]`))
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]Value{"messages": msgs}
	const want = "user:a;assistant:b;2|2026"
	var wg sync.WaitGroup
	errs := make(chan string, 16)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				out, err := tmpl.RenderOptions(vars, Options{Now: FixedClock(fixedNow)})
				if err != nil || out != want {
					errs <- out
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("concurrent render gave %q, want %q", e, want)
	}
}

func TestChatInputVars(t *testing.T) {
	in := ChatInput{
		Messages:      List{},
		SpecialTokens: dictOf("bos_token", Str("<s>"), "eos_token", Str("</s>")),
		Kwargs:        dictOf("eos_token", Str("<|end|>"), "enable_thinking", Bool(false)),
	}
	out, err := render(t, "{{ tools is none }} {{ tools is defined }} {{ documents is none }} {{ add_generation_prompt }} {{ bos_token }}{{ eos_token }} {{ enable_thinking }} {{ unk_token is defined }}", in.Vars())
	if err != nil {
		t.Fatal(err)
	}
	if want := "True True True False <s><|end|> False False"; out != want {
		t.Fatalf("got %q, want %q", out, want)
	}
}

func TestStrftime(t *testing.T) {
	tm := time.Date(2024, 2, 29, 23, 5, 9, 0, time.UTC)
	tests := []struct{ f, want string }{
		{"%Y-%m-%d %H:%M:%S", "2024-02-29 23:05:09"},
		{"%a %A %b %B %j", "Thu Thursday Feb February 060"},
		{"%I:%M %p", "11:05 PM"},
		{"%y %e %-d %-m %Z%z%%", "24 29 29 2 %"},
		{"%c", "Thu Feb 29 23:05:09 2024"},
		{"%x %X %D %F %T", "02/29/24 23:05:09 02/29/24 2024-02-29 23:05:09"},
		{"%U %W %V %G %u %w", "08 09 09 2024 4 4"},
		{"plain %Q", "plain %Q"},
	}
	for _, tc := range tests {
		if got := strftime(tm, tc.f); got != tc.want {
			t.Errorf("strftime(%q) = %q, want %q", tc.f, got, tc.want)
		}
	}
}

// TestHugeIntegers checks that integers with millions of digits (in a
// template literal, a JSON file, a string given to | int) are refused or
// handled at once: big.Int parses decimal in quadratic time, so 20 million
// digits would otherwise take hours.
func TestHugeIntegers(t *testing.T) {
	digits := strings.Repeat("7", 20_000_000)
	if _, err := Compile("{{ " + digits + " }}"); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("Compile of a 20M-digit literal: %v, want an error saying it is too large", err)
	}
	if _, err := ParseJSON([]byte("[-" + digits + "]")); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("ParseJSON of a 20M-digit integer: %v, want an error saying it is too large", err)
	}
	tests := []struct {
		name, s, want string
	}{
		{"many digits", digits, ""},
		{"leading zeros", strings.Repeat("0", 20_000_000) + "5", "5"},
		{"two signs", "--5", "0"},
		{"sign and zeros", "-" + strings.Repeat("0", 1000) + "12", "-12"},
	}
	tmpl, err := Compile("{{ s | int }}")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, err := tmpl.Render(map[string]Value{"s": Str(tc.s)})
			if tc.name == "many digits" {
				// Python: int() refuses it, int(float(s)) overflows;
				// what matters here is an answer or an error, at once.
				t.Logf("%d digits | int: %.40q, %v", len(tc.s), out, err)
				return
			}
			if err != nil || out != tc.want {
				t.Errorf("got %q, %v; want %q", out, err, tc.want)
			}
		})
	}
}

// TestRoundFilter checks the round filter against Jinja2 3.1.6 (the
// outputs and errors below are Python's): Python's int rounding (ties to
// even) for negative precisions, float rounding correctly rounded and with
// CPython's bounds on ndigits, and floor/ceil with Python's int and float
// arithmetic.
func TestRoundFilter(t *testing.T) {
	tests := []struct{ src, want, err string }{
		{"{{ (2**64) | round(-5) }}", "18446744073709600000", ""},
		{"{{ (2**64) | round(-100000) }}", "0", ""},
		{"{{ (12355) | round(-2) }}", "12400", ""},
		{"{{ (25) | round(-1) }}", "20", ""},
		{"{{ (35) | round(-1) }}", "40", ""},
		{"{{ (-25) | round(-1) }}", "-20", ""},
		{"{{ (-2**70) | round(-23) }}", "0", ""},
		{"{{ (true) | round }}", "1", ""},
		{"{{ (1.5) | round(-400) }}", "0.0", ""},
		{"{{ (-1.5) | round(-400) }}", "-0.0", ""},
		{"{{ (1.5) | round(-1) }}", "0.0", ""},
		{"{{ (123456.5) | round(-1) }}", "123460.0", ""},
		{"{{ (1e22) | round(-22) }}", "1e+22", ""},
		{"{{ (1e23) | round(-23) }}", "1e+23", ""},
		{"{{ (1.7e308) | round(-308) }}", "", "OverflowError: rounded value too large to represent"},
		{"{{ (2.675) | round(2) }}", "2.67", ""},
		{"{{ (2.5) | round }}", "2.0", ""},
		{"{{ (5e-324) | round(323) }}", "0.0", ""},
		{"{{ (5e-324) | round(400) }}", "5e-324", ""},
		{"{{ (-0.0) | round(-5) }}", "-0.0", ""},
		{"{{ (2**64+1) | round(2, 'floor') }}", "1.8446744073709552e+19", ""},
		{"{{ (10**400) | round(2, 'floor') }}", "", "OverflowError: integer division result too large for a float"},
		{"{{ (10**400) | round(-2, 'floor') }}", "", "OverflowError: int too large to convert to float"},
		{"{{ (2.675) | round(2, 'floor') }}", "2.67", ""},
		{"{{ (2.675) | round(2, 'ceil') }}", "2.68", ""},
		{"{{ (0.1) | round(17, 'ceil') }}", "0.1", ""},
		{"{{ (0.1) | round(309, 'floor') }}", "", "OverflowError: int too large to convert to float"},
		{"{{ (1e300) | round(17, 'floor') }}", "", "OverflowError: cannot convert float infinity to integer"},
		{"{{ (-7.25) | round(-1, 'ceil') }}", "0.0", ""},
		{"{{ (-7.25) | round(-1, 'floor') }}", "-10.0", ""},
		{"{{ (123456.5) | round(-400, 'floor') }}", "", "ZeroDivisionError: float division by zero"},
		{"{{ (12345) | round(-2, 'ceil') }}", "12400.0", ""},
		{"{{ ((2**53+1)) | round(-1, 'floor') }}", "9007199254740990.0", ""},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			tmpl, err := Compile(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			out, err := tmpl.Render(nil)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got %q, %v; want %s", out, err, tc.err)
				}
				return
			}
			if err != nil || out != tc.want {
				t.Fatalf("got %q, %v; want %q", out, err, tc.want)
			}
		})
	}
}

// TestWidthsAndWordwrap checks Python's behaviour (Jinja2 3.1.6's outputs
// and errors) for negative widths, which pad nothing, and for wordwrap,
// which needs a string and checks its width only when it wraps a line.
func TestWidthsAndWordwrap(t *testing.T) {
	tests := []struct{ src, want, err string }{
		{"{{ 'ab' | center(-3) }}", "ab", ""},
		{"{{ 'ab'.center(-3, '*') }}", "ab", ""},
		{"{{ 'ab'.ljust(-1) }}", "ab", ""},
		{"{{ 'ab'.rjust(-9) }}", "ab", ""},
		{"{{ '-4'.zfill(-2) }}", "-4", ""},
		{"{{ 'a\nb' | indent(-1, true) }}", "a\nb", ""},
		{"{{ '' | wordwrap(0) }}", "", ""},
		{"{{ 'abc' | wordwrap(0) }}", "", "ValueError: invalid width 0 (must be > 0)"},
		{"{{ 3.0 | wordwrap(5) }}", "", "AttributeError: 'float' object has no attribute 'splitlines'"},
		{"{{ none | wordwrap }}", "", "AttributeError: 'NoneType' object has no attribute 'splitlines'"},
		{"{{ [1] | wordwrap }}", "", "AttributeError: 'list' object has no attribute 'splitlines'"},
		{"{{ undef | wordwrap }}", "", "UndefinedError: 'undef' is undefined"},
	}
	for _, tc := range tests {
		t.Run(tc.src, func(t *testing.T) {
			tmpl, err := Compile(tc.src)
			if err != nil {
				t.Fatal(err)
			}
			out, err := tmpl.Render(nil)
			if tc.err != "" {
				if err == nil || err.Error() != tc.err {
					t.Fatalf("got %q, %v; want %s", out, err, tc.err)
				}
				return
			}
			if err != nil || out != tc.want {
				t.Fatalf("got %q, %v; want %q", out, err, tc.want)
			}
		})
	}
}
