package plan

import (
	"fmt"
	"strings"

	"github.com/memfit/memfit/internal/arch"
	"github.com/memfit/memfit/internal/tensor"
)

// PassMatrix is one matrix a decoded token is multiplied with: its weight
// type, row length (Cols) and row count.
type PassMatrix struct {
	Type tensor.DType
	Cols int
	Rows int
}

// Bytes is the matrix's size in bytes (0 for a type without a row size).
func (m PassMatrix) Bytes() int64 {
	rb, err := m.Type.RowBytes(int64(m.Cols))
	if err != nil {
		return 0
	}
	return rb * int64(m.Rows)
}

// PassGroup is matrices the forward pass multiplies with one input in one
// parallel run (kernels.Ops.MatMuls): a layer's Q, K and V, or its gate
// and up projections. Every matrix of a group has the same row length.
type PassGroup []PassMatrix

// Pass is a part of one decode step that the device probe times as a
// whole, through the matrix kernels, in the forward pass's order and
// grouping: one layer's products (its routed experts aside), or the
// output projection.
type Pass []PassGroup

// Bytes is the weight bytes one run of the pass reads.
func (p Pass) Bytes() int64 {
	var n int64
	for _, g := range p {
		for _, m := range g {
			n += m.Bytes()
		}
	}
	return n
}

// String names the pass by its matrices, groups in brackets, e.g.
// "[Q4_K/4096x4096 Q4_K/4096x1024 Q6_K/4096x1024][Q4_K/4096x4096]…".
func (p Pass) String() string {
	var b strings.Builder
	for _, g := range p {
		b.WriteByte('[')
		for i, m := range g {
			if i > 0 {
				b.WriteByte(' ')
			}
			fmt.Fprintf(&b, "%v/%dx%d", m.Type, m.Cols, m.Rows)
		}
		b.WriteByte(']')
	}
	return b.String()
}

// CountedPass is a pass, how many times one decode step runs it (the
// layers that share its shape and types) and how many distinct copies of
// it the probe runs through in turn (see PassFootprint).
type CountedPass struct {
	Pass   Pass
	Count  int
	Copies int
}

// passFootprint caps the memory the probe times a pass in: a forward pass
// reads its weights from 1 GiB or more, and on this kind of machine (a
// virtual machine; nested paging, most likely) reading from a gigabyte
// runs 15–25% slower than reading the same bytes from a few hundred
// megabytes over and over.
const passFootprint = 1 << 30

// PassFootprint is how many bytes of weights the probe reads through when
// it times a pass of a model whose decode step reads modelBytes, under
// budget: as many as the model, up to 1 GiB and a quarter of the budget.
func PassFootprint(modelBytes, budget int64) int64 {
	f := min(modelBytes, passFootprint)
	if budget > 0 {
		f = min(f, budget/4)
	}
	return max(f, 0)
}

// key is the pass's entry in the device cache's pass times: the pass and
// its copies.
func (c CountedPass) key() string { return fmt.Sprintf("%dx%v", c.Copies, c.Pass) }

// DecodePasses lists what one decoded token multiplies, as passes the
// probe can time: each distinct layer (a layer's attention, dense MLP,
// router and shared expert, in the forward pass's groups; routed experts
// are left to the kernel rates) with how many layers are like it, and the
// output projection. Each is to be timed in as many copies as make the
// PassFootprint of the model under budget. It returns nil when a matrix
// the Spec names is not in the index.
func (ix *Index) DecodePasses(budget int64) []CountedPass {
	types := make(map[string]tensor.DType, len(ix.Tensors))
	for _, t := range ix.Tensors {
		types[t.Name] = t.Type
	}
	s := ix.Spec
	ok := true
	mat := func(r arch.Ref, cols, rows int) PassMatrix {
		t, found := types[r.Name]
		if !found {
			ok = false
		}
		return PassMatrix{t, cols, rows}
	}
	group := func(g ...PassMatrix) PassGroup { return g }
	var out []CountedPass
	add := func(p Pass) {
		for i := range out {
			if out[i].Pass.String() == p.String() {
				out[i].Count++
				return
			}
		}
		out = append(out, CountedPass{Pass: p, Count: 1})
	}
	H, qd, kvd := s.Hidden, s.QDim(), s.KVDim()
	for i := range s.Layers {
		r := s.LayerRefs(i)
		p := Pass{group(mat(r.Q, H, qd), mat(r.K, H, kvd), mat(r.V, H, kvd)), group(mat(r.O, qd, H))}
		switch {
		case s.Experts == 0:
			p = append(p, group(mat(r.Gate, H, s.FFN), mat(r.Up, H, s.FFN)), group(mat(r.Down, s.FFN, H)))
		default:
			p = append(p, group(mat(r.Router, H, s.Experts)))
			if s.SharedFFN > 0 {
				p = append(p, group(mat(r.ShGate, H, s.SharedFFN), mat(r.ShUp, H, s.SharedFFN)), group(mat(r.ShDown, s.SharedFFN, H)))
				if s.SharedGate {
					p = append(p, group(mat(r.ShGateInp, H, 1)))
				}
			}
		}
		add(p)
	}
	g := s.Globals()
	out1 := g.Output
	if s.Tied {
		out1 = g.Embed
	}
	add(Pass{group(mat(out1, H, s.Vocab))})
	if !ok {
		return nil
	}
	var total int64
	for _, c := range out {
		total += int64(c.Count) * c.Pass.Bytes()
	}
	f := PassFootprint(total, budget)
	for i := range out {
		b := out[i].Pass.Bytes()
		out[i].Copies = 1
		if b > 0 {
			out[i].Copies = int(max(1, (f+b/2)/b))
		}
	}
	return out
}
