package constrain

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/memfit/memfit/internal/fixtures"
	"github.com/memfit/memfit/internal/tokenizer"
)

// readJSON feeds s to a fresh JSON reader and returns how many bytes it
// accepted and whether the object was complete after them.
func readJSON(s string) (int, bool) {
	var st jsonState
	for i := 0; i < len(s); i++ {
		if !st.feed(s[i]) {
			return i, false
		}
	}
	return len(s), st.mode == jDone
}

// isObject reports whether s is one valid JSON object with nothing after it.
func isObject(s string) bool {
	t := strings.TrimLeft(s, " \t\r\n")
	return json.Valid([]byte(s)) && strings.HasPrefix(t, "{") && strings.TrimRight(s, " \t\r\n") == s
}

func TestJSONReader(t *testing.T) {
	for _, tc := range []struct {
		in       string
		complete bool // a whole object
		prefix   bool // every byte accepted (a valid prefix)
	}{
		{`{}`, true, true},
		{` {"a": 1}`, true, true},
		{`{"a":[1,2.5,-3e+7,0,-0.0E1,true,false,null,"x\"\\\/\b\f\n\r\t\u00e9"],"b":{"c":{}}}`, true, true},
		{"{\n    \"city\": \"Paris\",\n    \"days\": [1, 2]\n}", true, true},
		{`{"a": "é日本"}`, true, true},
		{`{"a":`, false, true},
		{`{"a": 12`, false, true},
		{`{"a": tr`, false, true},
		{`{"a": "\u12`, false, true},
		{`[]`, false, false},
		{`"x"`, false, false},
		{`{"a": 01}`, false, false},
		{`{"a": 1.}`, false, false},
		{`{"a": -}`, false, false},
		{`{"a": 1e}`, false, false},
		{`{"a" 1}`, false, false},
		{`{a: 1}`, false, false},
		{`{"a": 1,}`, false, false},
		{`{"a": [1,]}`, false, false},
		{`{"a": [1}`, false, false},
		{`{"a": tru}`, false, false},
		{`{"a": nul1}`, false, false},
		{`{"a": "\x"}`, false, false},
		{`{"a": "\u12g4"}`, false, false},
		{"{\"a\": \"line\nbreak\"}", false, false},
		{`{} `, false, false},
		{`{}{}`, false, false},
		{`{"a": 1}}`, false, false},
		{"{" + strings.Repeat(" ", maxWhitespace+1) + "}", false, false},
		{`{"a":` + strings.Repeat("[", maxDepth) + strings.Repeat("]", maxDepth) + `}`, false, false},
		{`{"a":` + strings.Repeat("[", maxDepth-1) + strings.Repeat("]", maxDepth-1) + `}`, true, true},
	} {
		n, complete := readJSON(tc.in)
		if complete != tc.complete || (n == len(tc.in)) != tc.prefix {
			t.Errorf("%q: accepted %d of %d bytes, complete %v; want all accepted %v, complete %v", tc.in, n, len(tc.in), complete, tc.prefix, tc.complete)
		}
		if tc.complete && !isObject(tc.in) {
			t.Errorf("%q: test case is not a JSON object", tc.in)
		}
	}
}

// FuzzJSONReader checks the reader against encoding/json: a text it reads
// as a complete object is valid JSON, and every valid object within the
// reader's limits is read whole, with every prefix accepted.
func FuzzJSONReader(f *testing.F) {
	for _, s := range []string{`{}`, `{"a": [1, {"b": null}], "c": "d\u0041"}`, `{"x": -1.5e-3}`, `{"a": tru}`, `[1]`, `{"a":1}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, complete := readJSON(s)
		if complete && !isObject(s) {
			t.Fatalf("%q read as a complete object, but encoding/json disagrees", s)
		}
		if isObject(s) && !complete && withinLimits(s) {
			t.Fatalf("%q is a JSON object within the limits, but the reader stopped at byte %d", s, n)
		}
	})
}

// withinLimits reports whether s keeps to the reader's depth and
// whitespace limits (approximately: brackets inside strings count too,
// which only makes the check stricter).
func withinLimits(s string) bool {
	depth, ws := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '{' || c == '[':
			depth++
			if depth > maxDepth-1 {
				return false
			}
		case c == '}' || c == ']':
			depth--
		}
		if isWS(s[i]) {
			ws++
			if ws > maxWhitespace {
				return false
			}
		} else {
			ws = 0
		}
	}
	return true
}

// testVocab is a vocabulary of the given token strings.
func testVocab(tokens []string, special map[int]bool) *Vocab {
	v := &Vocab{offs: make([]int32, len(tokens)+1), special: make([]bool, len(tokens))}
	for i, s := range tokens {
		v.arena = append(v.arena, s...)
		v.offs[i+1] = int32(len(v.arena))
		v.special[i] = special[i]
	}
	v.markPlain()
	return v
}

// TestConstraintRandomWalk generates with random logits under a tool-call
// constraint over a vocabulary of single bytes and multi-byte tokens, and
// checks that every finished text is one of the names, a JSON object and
// the closing literal.
func TestConstraintRandomWalk(t *testing.T) {
	var tokens []string
	for b := 32; b < 127; b++ {
		tokens = append(tokens, string(rune(b)))
	}
	tokens = append(tokens, "\n", "<eos>", "", `{"`, `": `, `", "`, `"}`, "}\n</tool_call>", "</tool_call>", `get_weather", "arguments": {`,
		"get", "_", "weather", "time", `", "arguments": `, "true", "null", "12", "3.5", `\"`, `\u00`, "ü", "},", "]}", "[{", " ")
	eos := 96
	v := testVocab(tokens, map[int]bool{eos: true})
	names := []string{`get_weather", "arguments": `, `get_time", "arguments": `, `get", "arguments": `}
	rng := rand.New(rand.NewPCG(1, 2))
	logits := make([]float32, len(tokens))
	finished := 0
	for walk := 0; walk < 300; walk++ {
		c, err := New(v, Choice(names...), JSONObject(), Literal("}\n</tool_call>"))
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		done := false
		for step := 0; step < 200 && !done; step++ {
			for i := range logits {
				logits[i] = float32(rng.NormFloat64())
			}
			if c.Mask(logits) == 0 {
				t.Fatalf("walk %d: no token allowed after %q", walk, out.String())
			}
			if !math.IsInf(float64(logits[eos]), -1) {
				t.Fatalf("walk %d: the special token is allowed", walk)
			}
			best := -1
			for i, l := range logits {
				if !math.IsInf(float64(l), -1) && (best < 0 || l > logits[best]) {
					best = i
				}
			}
			out.WriteString(tokens[best])
			done = c.Accept(int32(best))
		}
		if c.Failed() {
			t.Fatalf("walk %d: accepted a token Mask allowed, and failed: %q", walk, out.String())
		}
		if !done {
			continue
		}
		finished++
		text := out.String()
		rest, ok := cutAny(text, names)
		if !ok {
			t.Fatalf("walk %d: %q does not start with a name", walk, text)
		}
		obj, ok := strings.CutSuffix(rest, "}\n</tool_call>")
		if !ok || !isObject(obj) {
			t.Fatalf("walk %d: %q is not a JSON object followed by the closing", walk, rest)
		}
	}
	if finished < 10 {
		t.Fatalf("only %d of 300 random walks finished", finished)
	}
}

func cutAny(s string, prefixes []string) (string, bool) {
	for _, p := range prefixes {
		if rest, ok := strings.CutPrefix(s, p); ok {
			return rest, true
		}
	}
	return "", false
}

func TestNewRejects(t *testing.T) {
	v := testVocab([]string{"a"}, nil)
	for name, parts := range map[string][]Part{
		"no parts":     nil,
		"empty choice": {Choice()},
		"empty string": {Choice("a", "")},
		"prefix":       {Choice("ab", "abc")},
	} {
		if _, err := New(v, parts...); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

// TestGocoderVocab checks the token bytes read from a real tokenizer
// against its decoder, and that the constraint can write a call with it.
func TestGocoderVocab(t *testing.T) {
	tok, err := tokenizer.Load(fixtures.Path(t, "models", "gocoder", "hf"))
	if err != nil {
		t.Fatal(err)
	}
	v := NewVocab(tok)
	if v.Size() != tok.VocabSize() {
		t.Fatalf("vocab of %d, tokenizer has %d", v.Size(), tok.VocabSize())
	}
	ids := tok.Encode("func main() {\n\tfmt.Println(\"héllo\")\n}", false)
	var got []byte
	for _, id := range ids {
		got = append(got, v.bytes(int(id))...)
	}
	if want := tok.Decode(ids, true); string(got) != want {
		t.Fatalf("token bytes give %q, the decoder %q", got, want)
	}
	for _, id := range tok.EOG() {
		if !v.special[id] {
			t.Errorf("end-of-generation token %d is not special", id)
		}
	}
	c, err := New(v, JSONObject())
	if err != nil {
		t.Fatal(err)
	}
	logits := make([]float32, v.Size())
	if n := c.Mask(logits); n == 0 {
		t.Fatal("no gocoder token can start a JSON object")
	}
	for id, l := range logits {
		bs := string(v.bytes(id))
		n, _ := readJSON(bs)
		if ok := len(bs) > 0 && n == len(bs) && !v.special[id]; ok == math.IsInf(float64(l), -1) {
			t.Errorf("token %d %q: allowed %v at the start of an object", id, v.bytes(id), !math.IsInf(float64(l), -1))
		}
	}
}

// TestMaskMatchesFeeding compares Mask with feeding every token's bytes to
// a copy of the state, in states inside and outside strings (the fast path
// for plain tokens inside strings included).
func TestMaskMatchesFeeding(t *testing.T) {
	tok, err := tokenizer.Load(fixtures.Path(t, "models", "gocoder", "hf"))
	if err != nil {
		t.Fatal(err)
	}
	v := NewVocab(tok)
	for _, before := range []string{`{"ci`, `{"city": `, `{"city": "Pa`, `{"a": [1, 2`, `{"a": "\`, `{"a": tr`, `{"a": {}`} {
		c, err := New(v, JSONObject(), Literal("}\n</tool_call>"))
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(before); i++ {
			if !c.feed(&c.st, before[i]) {
				t.Fatalf("%q: byte %d refused", before, i)
			}
		}
		logits := make([]float32, v.Size())
		n := c.Mask(logits)
		want := 0
		for id := range v.Size() {
			st := c.st
			ok := !v.special[id] && len(v.bytes(id)) > 0
			for _, b := range v.bytes(id) {
				if ok && !c.feed(&st, b) {
					ok = false
				}
			}
			if ok {
				want++
			}
			if ok == math.IsInf(float64(logits[id]), -1) {
				t.Errorf("after %q: token %d %q allowed %v by Mask, %v by feeding", before, id, v.bytes(id), !ok, ok)
			}
		}
		if n != want {
			t.Errorf("after %q: Mask counts %d allowed, feeding %d", before, n, want)
		}
	}
}

func TestMaskAllocatesNothing(t *testing.T) {
	tok, err := tokenizer.Load(fixtures.Path(t, "models", "gocoder", "hf"))
	if err != nil {
		t.Fatal(err)
	}
	v := NewVocab(tok)
	c, err := New(v, Choice(`a", "arguments": `, `b", "arguments": `), JSONObject(), Literal("}"))
	if err != nil {
		t.Fatal(err)
	}
	logits := make([]float32, v.Size())
	if n := testing.AllocsPerRun(10, func() { c.Mask(logits) }); n != 0 {
		t.Fatalf("Mask allocates %v times", n)
	}
}

// BenchmarkMask measures one masking step of a tool-call constraint over
// the vocabularies of gocoder (2,048 tokens), Qwen 3 (151,669) and Gemma 3
// (262,145): the time the scheduler spends per constrained token.
func BenchmarkMask(b *testing.B) {
	for _, tc := range []struct{ name, path string }{
		{"gocoder", fixtures.Path(b, "models", "gocoder", "hf")},
		{"qwen3", fixtures.Path(b, "tokenizers", "qwen3")},
		{"gemma3", fixtures.Path(b, "tokenizers", "gemma3")},
	} {
		tok, err := tokenizer.Load(tc.path)
		if err != nil {
			b.Fatal(err)
		}
		v := NewVocab(tok)
		logits := make([]float32, v.Size())
		for _, state := range []struct{ name, text string }{{"in-string", `{"city": "Par`}, {"before-value", `{"city": `}} {
			c, err := New(v, JSONObject(), Literal("}\n</tool_call>"))
			if err != nil {
				b.Fatal(err)
			}
			for i := 0; i < len(state.text); i++ {
				c.feed(&c.st, state.text[i])
			}
			b.Run(tc.name+"/"+state.name, func(b *testing.B) {
				for b.Loop() {
					c.Mask(logits)
				}
				b.ReportMetric(float64(v.Size()), "tokens")
			})
		}
	}
}
