package chat

import (
	"strings"
	"time"
)

// Template is a compiled chat template. It is immutable and safe for
// concurrent use by multiple goroutines.
type Template struct {
	body []stmt
}

// Limits bound the work one render may do. Zero fields take the defaults.
type Limits struct {
	MaxOutput int // bytes of output (and of any one string built), default 16 MiB
	MaxSteps  int // loop iterations, calls and sequence elements processed, default 20 million
	MaxDepth  int // nesting of macro calls and recursive loops, default 200
}

// DefaultLimits are the limits used when a field of Limits is zero.
var DefaultLimits = Limits{MaxOutput: 16 << 20, MaxSteps: 20_000_000, MaxDepth: 200}

// Options configure one render.
type Options struct {
	// Now is the clock strftime_now() reads; nil means time.Now.
	Now func() time.Time
	// Limits bound the render; zero fields take DefaultLimits.
	Limits Limits
}

// Compile parses a template source. Syntax errors are returned as *Error
// (TemplateSyntaxError or TemplateAssertionError) with the line.
func Compile(src string) (*Template, error) {
	toks, err := tokenize(src)
	if err != nil {
		return nil, err
	}
	body, err := parse(toks)
	if err != nil {
		return nil, err
	}
	foldConstants(body)
	return &Template{body: body}, nil
}

// Render renders the template with the given variables (names bound in the
// template's global scope) and default options.
func (t *Template) Render(vars map[string]Value) (string, error) {
	return t.RenderOptions(vars, Options{})
}

// RenderOptions renders the template with the given variables and options.
// A template that raises returns an *Error and no text.
func (t *Template) RenderOptions(vars map[string]Value, opt Options) (string, error) {
	lim := opt.Limits
	if lim.MaxOutput <= 0 {
		lim.MaxOutput = DefaultLimits.MaxOutput
	}
	if lim.MaxSteps <= 0 {
		lim.MaxSteps = DefaultLimits.MaxSteps
	}
	if lim.MaxDepth <= 0 {
		lim.MaxDepth = DefaultLimits.MaxDepth
	}
	now := opt.Now
	if now == nil {
		now = time.Now
	}
	r := &renderer{vars: vars, now: now, lim: lim, out: &strings.Builder{}}
	root := &scope{}
	if _, err := r.execBody(t.body, root); err != nil {
		return "", err
	}
	return r.out.String(), nil
}
