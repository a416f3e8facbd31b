package chat

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/memfit/memfit/internal/fixtures"
)

// fixtureCase is one case of cases.json or probes.json.
type fixtureCase struct {
	id        string
	src       string // template source
	vars      map[string]Value
	now       time.Time
	expected  string
	wantErr   string
	errType   string
	hasExpect bool
}

// loadJSONFile decodes a fixture file with key order kept.
func loadJSONFile(t testing.TB, path string) *Dict {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read %s: %v", path, err)
	}
	v, err := ParseJSON(data)
	if err != nil {
		t.Fatalf("decode %s: %v", path, err)
	}
	d, ok := v.(*Dict)
	if !ok {
		t.Fatalf("%s: top level is %s, want an object", path, v.pyType())
	}
	return d
}

func field(t testing.TB, d *Dict, key string) Value {
	t.Helper()
	v, ok := d.GetStr(key)
	if !ok {
		t.Fatalf("fixture object has no %q", key)
	}
	return v
}

func optStr(d *Dict, key string) (string, bool) {
	v, ok := d.GetStr(key)
	if !ok {
		return "", false
	}
	s, ok := v.(Str)
	return string(s), ok
}

var fixedNow = time.Date(2026, 1, 15, 10, 30, 0, 0, time.UTC)

// loadCases reads cases.json with its templates.
func loadCases(t testing.TB) []fixtureCase {
	t.Helper()
	root := loadJSONFile(t, fixtures.Path(t, "chat", "cases.json"))
	tmplDir := fixtures.Path(t, "chat", "templates")
	srcs := map[string]string{}
	var out []fixtureCase
	for _, cv := range field(t, root, "cases").(List) {
		c := cv.(*Dict)
		fc := fixtureCase{}
		fc.id, _ = optStr(c, "id")
		name, _ := optStr(c, "template")
		src, ok := srcs[name]
		if !ok {
			b, err := os.ReadFile(filepath.Join(tmplDir, name))
			if err != nil {
				t.Fatalf("case %s: %v", fc.id, err)
			}
			src = string(b)
			srcs[name] = src
		}
		fc.src = src
		in := ChatInput{
			Messages:            field(t, c, "messages"),
			Tools:               field(t, c, "tools"),
			AddGenerationPrompt: truthy(field(t, c, "add_generation_prompt")),
			Kwargs:              field(t, c, "kwargs").(*Dict),
		}
		if docs, ok := in.Kwargs.GetStr("documents"); ok {
			in.Documents = docs
		}
		fc.vars = in.Vars()
		fc.now = fixedNow
		if s, ok := optStr(c, "now"); ok {
			tm, err := time.Parse(time.RFC3339, s)
			if err != nil {
				t.Fatalf("case %s: bad now %q", fc.id, s)
			}
			fc.now = tm
		}
		fc.expected, fc.hasExpect = optStr(c, "expected")
		fc.wantErr, _ = optStr(c, "error")
		fc.errType, _ = optStr(c, "error_type")
		out = append(out, fc)
	}
	return out
}

// loadProbes reads probes.json.
func loadProbes(t testing.TB) []fixtureCase {
	t.Helper()
	root := loadJSONFile(t, fixtures.Path(t, "chat", "probes.json"))
	var out []fixtureCase
	for _, cv := range field(t, root, "cases").(List) {
		c := cv.(*Dict)
		fc := fixtureCase{now: fixedNow, vars: map[string]Value{}}
		fc.id, _ = optStr(c, "name")
		fc.src, _ = optStr(c, "template")
		if ctx, ok := c.GetStr("context"); ok {
			if d, ok := ctx.(*Dict); ok {
				for i, k := range d.keys {
					fc.vars[string(k.(Str))] = d.vals[i]
				}
			}
		}
		fc.expected, fc.hasExpect = optStr(c, "expected")
		fc.wantErr, _ = optStr(c, "error")
		fc.errType, _ = optStr(c, "error_type")
		out = append(out, fc)
	}
	return out
}

var compiled sync.Map // template source -> *Template or error

func compileCached(src string) (*Template, error) {
	if v, ok := compiled.Load(src); ok {
		if err, isErr := v.(error); isErr {
			return nil, err
		}
		return v.(*Template), nil
	}
	tmpl, err := Compile(src)
	if err != nil {
		compiled.Store(src, err)
		return nil, err
	}
	compiled.Store(src, tmpl)
	return tmpl, nil
}

// runFixture renders one case and checks it.
func runFixture(t *testing.T, fc fixtureCase) {
	t.Helper()
	var got string
	tmpl, err := compileCached(fc.src)
	if err == nil {
		got, err = tmpl.RenderOptions(fc.vars, Options{Now: FixedClock(fc.now)})
	}
	if fc.hasExpect {
		if err != nil {
			t.Fatalf("render failed: %v", err)
		}
		if got != fc.expected {
			t.Fatalf("output differs\n got: %q\nwant: %q", got, fc.expected)
		}
		return
	}
	if err == nil {
		t.Fatalf("render succeeded with %q, want %s: %s", got, fc.errType, fc.wantErr)
	}
	var te *Error
	if !errors.As(err, &te) {
		t.Fatalf("error %v is not a *chat.Error", err)
	}
	// raise_exception messages must match byte for byte; other errors must
	// at least be errors (their Python wording is matched where we can).
	if fc.errType == errTemplate && (te.Type != errTemplate || te.Msg != fc.wantErr) {
		t.Fatalf("got %s: %q, want %s: %q", te.Type, te.Msg, fc.errType, fc.wantErr)
	}
	if te.Type != fc.errType || te.Msg != fc.wantErr {
		t.Logf("error wording differs: got %s: %q, Python: %s: %q", te.Type, te.Msg, fc.errType, fc.wantErr)
	}
}

// The fixture files' sizes (README.md), so a truncated file cannot pass.
const (
	fixtureCaseCount  = 800
	fixtureProbeCount = 91
)

// TestFixtureCases renders every case of chat/cases.json: byte-exact
// output, or an error where the case records one.
func TestFixtureCases(t *testing.T) {
	cases := loadCases(t)
	if len(cases) != fixtureCaseCount {
		t.Fatalf("cases.json has %d cases, want %d", len(cases), fixtureCaseCount)
	}
	for _, fc := range cases {
		t.Run(fc.id, func(t *testing.T) { runFixture(t, fc) })
	}
}

// TestFixtureProbes renders every probe of chat/probes.json.
func TestFixtureProbes(t *testing.T) {
	probes := loadProbes(t)
	if len(probes) != fixtureProbeCount {
		t.Fatalf("probes.json has %d probes, want %d", len(probes), fixtureProbeCount)
	}
	for _, fc := range probes {
		t.Run(fc.id, func(t *testing.T) { runFixture(t, fc) })
	}
}
