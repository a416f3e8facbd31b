package tokenizer

// A postProcessor adds special tokens around an encoding when Encode is
// asked to (the tokenizer.json "post_processor").
type postProcessor interface {
	process(dst, ids []int32) []int32
}

// templateItem is one element of a TemplateProcessing "single" template:
// the sequence itself, or the ids of a special token.
type templateItem struct {
	sequence bool
	ids      []int32
}

// templatePost is TemplateProcessing (single sequences only).
type templatePost []templateItem

func (t templatePost) process(dst, ids []int32) []int32 {
	for _, it := range t {
		if it.sequence {
			dst = append(dst, ids...)
		} else {
			dst = append(dst, it.ids...)
		}
	}
	return dst
}

// wrapPost puts one token before and one after the sequence
// (RobertaProcessing, BertProcessing).
type wrapPost struct{ cls, sep int32 }

func (w wrapPost) process(dst, ids []int32) []int32 {
	dst = append(dst, w.cls)
	dst = append(dst, ids...)
	return append(dst, w.sep)
}

// seqPost applies post-processors in order (Sequence).
type seqPost []postProcessor

func (q seqPost) process(dst, ids []int32) []int32 {
	cur := append([]int32(nil), ids...)
	for _, p := range q {
		cur = p.process(nil, cur)
	}
	return append(dst, cur...)
}
