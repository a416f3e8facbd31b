package tokenizer

import "sync"

// encState is the scratch memory of one Encode call.
type encState struct {
	segs    []segment
	segs2   []segment
	spans   []span
	pieces  []string
	bufs    [][]string
	syms    []int32
	ranks   []uint64
	next    []int32
	prev    []int32
	buf     []byte
	occ     []occurrence
	owner   []int32
	tmp     []int32
	heap    []spmBigram
	spmSyms []spmSym
	atStart bool
}

var statePool = sync.Pool{New: func() any { return new(encState) }}

func (st *encState) takeBuf() []string {
	if n := len(st.bufs); n > 0 {
		b := st.bufs[n-1]
		st.bufs = st.bufs[:n-1]
		return b[:0]
	}
	return make([]string, 0, 64)
}

func (st *encState) putBuf(b []string) { st.bufs = append(st.bufs, b[:0]) }

// AppendEncode appends the ids of text to dst.
func (t *Tokenizer) AppendEncode(dst []int32, text string, opts EncodeOptions) []int32 {
	st := statePool.Get().(*encState)
	defer statePool.Put(st)
	if t.llama {
		return t.encodeLlama(dst, text, opts, st)
	}
	n0 := len(dst)
	segs := st.segs[:0]
	if t.added != nil {
		segs = t.added.splitHF(text, opts.ParseSpecial, segs)
	} else if text != "" {
		segs = append(segs, segment{0, len(text), -1})
	}
	st.segs = segs
	for _, sg := range segs {
		if sg.id >= 0 {
			dst = append(dst, sg.id)
			continue
		}
		part := text[sg.start:sg.end]
		st.atStart = sg.start == 0
		if t.norm != nil {
			part = t.norm.normalize(part)
		}
		if t.addedNorm == nil {
			dst = t.encodeText(part, st, dst)
			continue
		}
		sub := t.addedNorm.splitHF(part, opts.ParseSpecial, st.segs2[:0])
		st.segs2 = sub
		for _, s2 := range sub {
			if s2.id >= 0 {
				dst = append(dst, s2.id)
			} else {
				dst = t.encodeText(part[s2.start:s2.end], st, dst)
			}
		}
	}
	if opts.AddSpecial && t.post != nil {
		st.tmp = append(st.tmp[:0], dst[n0:]...)
		dst = t.post.process(dst[:n0], st.tmp)
	}
	return dst
}

// encodeText pre-tokenizes one normalized segment and encodes the pieces.
func (t *Tokenizer) encodeText(s string, st *encState, dst []int32) []int32 {
	if s == "" {
		return dst
	}
	if t.pre == nil {
		return t.model.encode(s, st, dst)
	}
	if t.partsOK {
		return t.encodeInParts(s, st, dst)
	}
	in := st.takeBuf()
	in = append(in, s)
	pieces := t.pre.split(in, st.takeBuf(), st)
	for _, p := range pieces {
		dst = t.model.encode(p, st, dst)
	}
	st.putBuf(in)
	st.putBuf(pieces)
	return dst
}

// encodeLlama encodes with llama.cpp's semantics (GGUF vocabularies).
func (t *Tokenizer) encodeLlama(dst []int32, text string, opts EncodeOptions, st *encState) []int32 {
	if opts.AddSpecial && t.addBOS && t.bos >= 0 {
		dst = append(dst, t.bos)
	}
	segs := st.segs[:0]
	if t.added != nil {
		segs = t.added.splitLlama(text, opts.ParseSpecial, st, segs)
	} else if text != "" {
		segs = append(segs, segment{0, len(text), -1})
	}
	st.segs = segs
	prevSpecial := true
	for _, sg := range segs {
		if sg.id >= 0 {
			dst = append(dst, sg.id)
			prevSpecial = true
			continue
		}
		part := text[sg.start:sg.end]
		if t.spm {
			buf := st.buf[:0]
			if t.addSpacePrefix && prevSpecial {
				buf = append(buf, "\u2581"...)
			}
			for i := 0; i < len(part); i++ {
				if part[i] == ' ' {
					buf = append(buf, "\u2581"...)
				} else {
					buf = append(buf, part[i])
				}
			}
			st.buf = buf
			dst = t.model.encode(string(buf), st, dst)
		} else {
			dst = t.encodeText(part, st, dst)
		}
		prevSpecial = false
	}
	if opts.AddSpecial && t.addEOS && t.eos >= 0 {
		dst = append(dst, t.eos)
	}
	return dst
}

// partsSpans is how many spans encodeInParts takes from the first
// pre-tokenizer step at a time (a variable so tests can make parts tiny).
var partsSpans = 4096

// encodeInParts pre-tokenizes and encodes s a few thousand pieces at a
// time, so that a long text needs scratch memory for one part instead of
// all its pieces. The first step's scanner resumes where the last part
// ended, and every later step handles each piece on its own, so the ids are
// those of the whole text split at once.
func (t *Tokenizer) encodeInParts(s string, st *encState, dst []int32) []int32 {
	atStart := st.atStart
	first := t.partsFirst
	sc := first.sc.(resumableScanner)
	pieces := st.takeBuf()
	var rest []string
	if t.partsRest != nil {
		rest = st.takeBuf()
	}
	for i := 0; i < len(s); {
		spans, next := sc.scanFrom(s, i, st.spans[:0], partsSpans)
		i = next
		if first.invert {
			for k := range spans {
				spans[k].match = !spans[k].match
			}
		}
		pieces = applyBehavior(s, spans, first.behavior, pieces[:0])
		st.spans = spans
		words := pieces
		if t.partsRest != nil {
			rest = t.partsRest.split(pieces, rest[:0], st)
			words = rest
			// Only the first part holds the text's first piece (Metaspace
			// prepend_scheme "first").
			st.atStart = false
		}
		for _, w := range words {
			dst = t.model.encode(w, st, dst)
		}
	}
	st.atStart = atStart
	st.putBuf(pieces)
	if rest != nil {
		st.putBuf(rest)
	}
	return dst
}

// preparePre simplifies the pre-tokenizer once the model is known and
// decides whether long texts can be encoded in parts: it drops a final
// ByteLevel step that changes nothing (the model works on raw bytes and no
// GPT-2 split or prefix space is asked for), and enables encodeInParts when
// the first step is a split that keeps each span on its own (Isolated or
// Removed) with a resumable scanner.
func (t *Tokenizer) preparePre() {
	if q, ok := t.pre.(seqPre); ok && len(q) > 0 {
		if bl, ok := q[len(q)-1].(*byteLevelPre); ok && bl.raw && !bl.useRegex && !bl.addPrefixSpace {
			q = q[:len(q)-1]
		}
		switch len(q) {
		case 0:
			t.pre = nil
		case 1:
			t.pre = q[0]
		default:
			t.pre = q
		}
	}
	first, rest := t.pre, preTokenizer(nil)
	if q, ok := first.(seqPre); ok {
		if len(q) < 2 {
			return
		}
		first = q[0]
		if len(q) > 2 {
			rest = q[1:]
		} else {
			rest = q[1]
		}
	}
	sp, ok := first.(splitPre)
	if !ok || (sp.behavior != behIsolated && sp.behavior != behRemoved) {
		return
	}
	if _, ok := sp.sc.(resumableScanner); !ok {
		return
	}
	t.partsOK, t.partsFirst, t.partsRest = true, sp, rest
}
