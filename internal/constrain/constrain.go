// Package constrain is constrained decoding: it masks the logits of the
// tokens that cannot continue a required shape of text, so that what a
// model generates is guaranteed to have that shape. The shape is a
// sequence of parts, each a choice among literal strings or one JSON
// object; the server uses it to make a required tool call a well-formed
// call, e.g. a choice among `name", "arguments": ` strings, a JSON object of
// arguments, and the closing `}\n</tool_call>`.
//
// Tokens are tried byte by byte on a copy of the reader's state, so a token
// that spans parts (`": {`) is allowed when its bytes fit. After the
// constraint is built, masking and accepting allocate nothing.
package constrain

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/memfit/memfit/internal/tokenizer"
)

// Vocab is the bytes every token of a tokenizer adds to a text.
type Vocab struct {
	arena   []byte
	offs    []int32 // token id → its bytes are arena[offs[id]:offs[id+1]]
	special []bool  // token id → special (never allowed by a constraint)
	// plain marks tokens that can sit inside a JSON string as they are:
	// bytes, none a control character, a quote or a backslash. Inside a
	// string, where most of a long generation is, they need no reading.
	plain []bool
}

// NewVocab reads the bytes of every token of tok.
func NewVocab(tok *tokenizer.Tokenizer) *Vocab {
	n := tok.VocabSize()
	v := &Vocab{offs: make([]int32, n+1), special: make([]bool, n)}
	for id := range n {
		var sp bool
		v.arena, sp = tok.TokenBytes(v.arena, int32(id))
		v.special[id] = sp
		v.offs[id+1] = int32(len(v.arena))
	}
	v.markPlain()
	return v
}

func (v *Vocab) markPlain() {
	v.plain = make([]bool, len(v.special))
	for id := range v.plain {
		bs := v.bytes(id)
		ok := len(bs) > 0 && !v.special[id]
		for _, b := range bs {
			if b < 0x20 || b == '"' || b == '\\' {
				ok = false
				break
			}
		}
		v.plain[id] = ok
	}
}

// Size is the number of tokens.
func (v *Vocab) Size() int { return len(v.special) }

func (v *Vocab) bytes(id int) []byte { return v.arena[v.offs[id]:v.offs[id+1]] }

// Part is one piece of the required text: a choice among literal strings
// (Choice) or, when JSONObject is set, one JSON object.
type Part struct {
	Choice     []string
	JSONObject bool
}

// Literal is a part that must be exactly s.
func Literal(s string) Part { return Part{Choice: []string{s}} }

// Choice is a part that must be one of the strings.
func Choice(alts ...string) Part { return Part{Choice: alts} }

// JSONObject is a part that must be one JSON object.
func JSONObject() Part { return Part{JSONObject: true} }

// state is where a Constraint's reader is; copying it forks the reader.
type state struct {
	part   int
	lo, hi int // alternatives of a choice that match the bytes read
	n      int // bytes of the choice read
	json   jsonState
	failed bool
}

// Constraint requires a generation to be its parts in order and nothing
// else; it implements engine.Constraint. It is used by one generation at a
// time, from one goroutine.
type Constraint struct {
	v     *Vocab
	parts []Part
	st    state
	first [256]bool // scratch: bytes that can come next
}

// New returns a constraint for the parts, read with the tokens of v. A
// choice's strings must be non-empty and none may be a prefix of another
// (so where a choice ends is never in doubt).
func New(v *Vocab, parts ...Part) (*Constraint, error) {
	c := &Constraint{v: v}
	for i, p := range parts {
		if p.JSONObject {
			c.parts = append(c.parts, Part{JSONObject: true})
			continue
		}
		alts := slices.Clone(p.Choice)
		slices.Sort(alts)
		alts = slices.Compact(alts)
		if len(alts) == 0 {
			return nil, fmt.Errorf("constrain: part %d: an empty choice", i)
		}
		for j, a := range alts {
			if a == "" {
				return nil, fmt.Errorf("constrain: part %d: an empty string", i)
			}
			if j > 0 && len(alts[j-1]) < len(a) && a[:len(alts[j-1])] == alts[j-1] {
				return nil, fmt.Errorf("constrain: part %d: %q is a prefix of %q", i, alts[j-1], a)
			}
		}
		c.parts = append(c.parts, Part{Choice: alts})
	}
	if len(c.parts) == 0 {
		return nil, errors.New("constrain: no parts")
	}
	c.enter(&c.st)
	return c, nil
}

// enter starts the part st.part.
func (c *Constraint) enter(st *state) {
	if st.part < len(c.parts) {
		st.lo, st.hi, st.n = 0, len(c.parts[st.part].Choice), 0
		st.json = jsonState{}
	}
}

// feed advances st by one byte and reports whether it can continue the
// required text.
func (c *Constraint) feed(st *state, b byte) bool {
	if st.part >= len(c.parts) {
		return false
	}
	p := &c.parts[st.part]
	if p.JSONObject {
		if !st.json.feed(b) {
			return false
		}
		if st.json.mode == jDone {
			st.part++
			c.enter(st)
		}
		return true
	}
	// The alternatives in [lo, hi) share their first n bytes and are
	// sorted, so those whose next byte is b are contiguous.
	lo, hi := st.hi, st.hi
	for i := st.lo; i < st.hi; i++ {
		if a := p.Choice[i]; len(a) > st.n && a[st.n] == b {
			if lo == st.hi {
				lo = i
			}
			hi = i + 1
		}
	}
	if lo == st.hi {
		return false
	}
	st.lo, st.hi = lo, hi
	st.n++
	if hi-lo == 1 && len(p.Choice[lo]) == st.n {
		st.part++
		c.enter(st)
	}
	return true
}

// Done reports whether the required text is complete.
func (c *Constraint) Done() bool { return c.st.part >= len(c.parts) || c.st.failed }

// Mask sets the logits of every token that cannot continue the required
// text to -Inf and returns how many tokens remain allowed. Special tokens
// and tokens that add no bytes are never allowed.
func (c *Constraint) Mask(logits []float32) int {
	for b := range c.first {
		st := c.st
		c.first[b] = c.feed(&st, byte(b))
	}
	inf := float32(math.Inf(-1))
	allowed := 0
	n := min(len(logits), c.v.Size())
	// Inside a JSON string a plain token keeps the reader where it is.
	inString := c.st.part < len(c.parts) && c.parts[c.st.part].JSONObject && c.st.json.mode == jString
	for id := range n {
		if inString && c.v.plain[id] {
			allowed++
			continue
		}
		bs := c.v.bytes(id)
		ok := !c.v.special[id] && len(bs) > 0 && c.first[bs[0]]
		if ok && len(bs) > 1 {
			st := c.st
			c.feed(&st, bs[0])
			for _, b := range bs[1:] {
				if !c.feed(&st, b) {
					ok = false
					break
				}
			}
		}
		if ok {
			allowed++
		} else {
			logits[id] = inf
		}
	}
	for id := n; id < len(logits); id++ {
		logits[id] = inf
	}
	return allowed
}

// Accept advances the constraint by the token chosen and reports whether
// the required text is complete (or the token broke it, which Mask
// prevents), so generation should end.
func (c *Constraint) Accept(tok int32) bool {
	if int(tok) < 0 || int(tok) >= c.v.Size() || c.v.special[tok] {
		c.st.failed = true
		return true
	}
	for _, b := range c.v.bytes(int(tok)) {
		if !c.feed(&c.st, b) {
			c.st.failed = true
			return true
		}
	}
	return c.Done()
}

// Failed reports whether a token that breaks the constraint was accepted.
func (c *Constraint) Failed() bool { return c.st.failed }
