package kernels

import (
	"fmt"

	"github.com/memfit/memfit/internal/quant"
	"github.com/memfit/memfit/internal/tensor"
)

// Quantized matrix products. As ggml does, the activations are quantized
// once per token to the weight type's vec_dot type (Q8_0 or Q8_K), then
// every weight row takes an integer block dot product with every token.
//
// The reference is internal/quant: its activation quantizer and its dot
// product (ggml's generic vec_dot) per row and token. A variant's kernels
// compute the same values bit for bit: the integer part of a block's dot
// product is exact in any order, and the float part (scales times integer
// sums, accumulated block by block) follows the reference's operations in
// its order, one weight row per SIMD lane. A (row, token) result is thus the
// reference's whatever the tile, the batch or the variant.

// tileFunc computes R weight rows (ws bytes apart, from w) times M tokens
// of quantized activations (xs bytes apart, from x; their aux rows as bytes
// apart, from aux) over nb weight blocks, writing out[t·ldo + r].
type tileFunc func(w *byte, ws int, x *byte, xs int, aux *byte, as int, nb int, out *float32, ldo int)

// actFunc quantizes x (whole blocks) into dst, in the vec_dot type's block
// layout, and writes the type's aux data (Q8_0: per block the float32 value
// of the fp16 scale and the int32 sum of the quants, then the quants of all
// blocks back to back; none for Q8_K).
type actFunc func(dst, aux []byte, x []float32)

// quantKernels are one variant's kernels for one weight type: tiles4[m-1]
// computes 4 rows × m tokens (present for m = 1..4), tiles8[m-1] 8 rows × m
// tokens and tiles16[m-1] 16 rows × m tokens over an even number of blocks
// (nil where the variant has no such tile).
type quantKernels struct {
	tiles4, tiles8, tiles16 [8]tileFunc
}

// pick returns the widest tile of tiles for at most rem tokens and its
// width, or nil and 0.
func pick(tiles *[8]tileFunc, rem int) (tileFunc, int) {
	for m := min(len(tiles), rem); m > 0; m-- {
		if tiles[m-1] != nil {
			return tiles[m-1], m
		}
	}
	return nil, 0
}

// auxBytes is the size of one block's aux data for activations of type t.
func auxBytes(t tensor.DType) int {
	if t == tensor.Q8_0 {
		return 8 + 32
	}
	return 0
}

// actBuf is one input's quantized rows, in one activation type, for the
// current product.
type actBuf struct {
	typ           tensor.DType // vec_dot type (0: unused)
	act           actFunc      // nil: the reference quantizer
	ref           quant.QuantizeFunc
	x             []float32 // the input: T rows of in values
	in            int
	xq, aux       []byte
	xqRow, auxRow int // bytes of one token's quantized row and aux row
}

// actTask quantizes T activation rows in parallel.
type actTask struct {
	b *actBuf
}

func (a *actTask) Do(_, lo, hi int) {
	b := a.b
	for t := lo; t < hi; t++ {
		x := b.x[t*b.in : (t+1)*b.in]
		dst := b.xq[t*b.xqRow : (t+1)*b.xqRow]
		if b.act != nil {
			b.act(dst, b.aux[t*b.auxRow:(t+1)*b.auxRow], x)
		} else {
			b.ref(dst, x)
		}
	}
}

// qseg is one weight matrix of a quantized product: its rows are rows
// [start, start+NumRows) of the task.
type qseg struct {
	w     *tensor.Tensor
	y     []float32
	ldy   int
	start int
	act   *actBuf
	dot   quant.VecDotFunc
	k     *quantKernels // nil: the reference dot product
}

// quantTask is a product of one or more block-quantized matrices with the
// same already quantized activations, split by rows.
type quantTask struct {
	segs []qseg
	acts []actBuf // at least max(2, jobs)
	t    int
}

func (q *quantTask) Do(_, lo, hi int) {
	for i := range q.segs {
		s := &q.segs[i]
		n := s.w.NumRows()
		if s.start >= hi || s.start+n <= lo {
			continue
		}
		q.rows(s, max(lo, s.start)-s.start, min(hi, s.start+n)-s.start)
	}
}

// rows computes rows [lo, hi) of segment s for every token.
func (q *quantTask) rows(s *qseg, lo, hi int) {
	n, rb := s.w.RowLen(), s.w.RowBytes()
	a := s.act
	r := lo
	if k := s.k; k != nil {
		nb := n / s.w.Type.BlockElems()
		w := s.w.Data
		var aux *byte
		if len(a.aux) > 0 {
			aux = &a.aux[0]
		}
		if k.tiles16[0] != nil && nb%2 == 0 {
			for ; r+16 <= hi; r += 16 {
				for t := 0; t < q.t; {
					tile, m := pick(&k.tiles16, q.t-t)
					tile(&w[r*rb], rb, nil, 0, &a.aux[t*a.auxRow], a.auxRow, nb, &s.y[t*s.ldy+r], s.ldy)
					t += m
				}
			}
		}
		for r+4 <= hi {
			eight := r+8 <= hi
			for t := 0; t < q.t; {
				x := &a.xq[t*a.xqRow]
				var ax *byte
				if aux != nil {
					ax = &a.aux[t*a.auxRow]
				}
				t4, m4 := pick(&k.tiles4, q.t-t)
				if !eight {
					t4(&w[r*rb], rb, x, a.xqRow, ax, a.auxRow, nb, &s.y[t*s.ldy+r], s.ldy)
					t += m4
					continue
				}
				if t8, m8 := pick(&k.tiles8, q.t-t); t8 != nil && m8 >= m4 {
					t8(&w[r*rb], rb, x, a.xqRow, ax, a.auxRow, nb, &s.y[t*s.ldy+r], s.ldy)
					t += m8
					continue
				}
				t4(&w[r*rb], rb, x, a.xqRow, ax, a.auxRow, nb, &s.y[t*s.ldy+r], s.ldy)
				t4(&w[(r+4)*rb], rb, x, a.xqRow, ax, a.auxRow, nb, &s.y[t*s.ldy+r+4], s.ldy)
				t += m4
			}
			if eight {
				r += 8
			} else {
				r += 4
			}
		}
	}
	for ; r < hi; r++ {
		row := s.w.Data[r*rb : (r+1)*rb]
		for t := 0; t < q.t; t++ {
			s.y[t*s.ldy+r] = s.dot(n, row, a.xq[t*a.xqRow:(t+1)*a.xqRow])
		}
	}
}

// MatJob is one matrix product: Y[t·LDY + r] = Σ_i W[r][i]·x[t·in + i],
// where x is MatMuls' shared input or, for GroupedMatMuls, the job's own X.
type MatJob struct {
	W   *tensor.Tensor
	Y   []float32
	LDY int
	X   []float32 // GroupedMatMuls only: this product's input
}

// MatMuls computes several products of the same input x (T tokens of
// in = W.RowLen() values each; every W has that row length): the
// projections of one hidden state. Block-quantized weights share one
// quantization of x per activation type and one parallel run over all
// their rows; other weights run as MatMul. The results are those of one
// MatMul per job, bit for bit.
func (o *Ops) MatMuls(x []float32, T int, jobs []MatJob) {
	if len(jobs) == 0 {
		return
	}
	in := jobs[0].W.RowLen()
	for _, j := range jobs {
		if j.W.RowLen() != in {
			panic(fmt.Sprintf("kernels: MatMuls: %s has rows of %d values, the input %d", j.W.Name, j.W.RowLen(), in))
		}
	}
	o.products(x, T, jobs)
}

// GroupedMatMuls computes several products each of its own input (job.X,
// T tokens of job.W.RowLen() values): the experts of one MoE layer, say.
// Block-quantized weights run as one parallel run over all their rows,
// each job's input quantized once; other weights run as MatMul. The results
// are those of one MatMul per job, bit for bit.
func (o *Ops) GroupedMatMuls(T int, jobs []MatJob) {
	o.products(nil, T, jobs)
}

// products is MatMuls (x shared) and GroupedMatMuls (x nil: each job's X).
func (o *Ops) products(x []float32, T int, jobs []MatJob) {
	if T <= 0 || len(jobs) == 0 {
		return
	}
	q := &o.qm
	q.segs = q.segs[:0]
	if need := max(2, len(jobs)); len(q.acts) < need {
		q.acts = append(q.acts, make([]actBuf, need-len(q.acts))...)
	}
	for i := range q.acts {
		q.acts[i].typ = 0
	}
	rows := 0
	for _, j := range jobs {
		w, jx := j.W, x
		if x == nil {
			jx = j.X
		}
		in := w.RowLen()
		if len(jx) < T*in || len(j.Y) < (T-1)*j.LDY+w.NumRows() {
			panic("kernels: MatMuls buffers too small")
		}
		if isFloat(w.Type) {
			o.MatMul(w, jx, T, j.Y, j.LDY)
			continue
		}
		tr, err := quant.Traits(w.Type)
		if err != nil || tr.VecDot == nil {
			panic(fmt.Sprintf("kernels: MatMul of unsupported type %v", w.Type))
		}
		if in%w.Type.BlockElems() != 0 || len(w.Data) < w.NumRows()*w.RowBytes() {
			panic(fmt.Sprintf("kernels: MatMul %v: %d bytes of data for %d rows of %d values", w.Type, len(w.Data), w.NumRows(), in))
		}
		b := q.act(tr, in, T, x == nil)
		b.x = jx
		k := active.quant[w.Type]
		if b.act == nil {
			k = nil
		}
		q.segs = append(q.segs, qseg{w: w, y: j.Y, ldy: j.LDY, start: rows, act: b, dot: tr.VecDot, k: k})
		rows += w.NumRows()
	}
	if len(q.segs) == 0 {
		return
	}
	for i := range q.acts {
		b := &q.acts[i]
		if b.typ == 0 {
			continue
		}
		a := &o.qa
		a.b = b
		if T*b.in < 1<<14 {
			// A few short rows (decoding a handful of sequences):
			// quantizing them costs less than waking the workers.
			a.Do(0, 0, T)
		} else {
			o.Pool.Run(T, 1, a)
		}
		a.b = nil
		b.x = nil
	}
	q.t = T
	// A few large chunks of whole 16-row tiles: each worker streams long
	// contiguous runs of rows, which the tiles prefetch ahead of use (every
	// chunk starts cold). Two per worker for decode (memory bound), four
	// for batches (compute bound, so balance matters more).
	per := 2
	if T > 1 {
		per = 4
	}
	grain := max(16, (rows+per*o.Pool.Threads()-1)/(per*o.Pool.Threads()))
	o.Pool.Run(rows, (grain+15)&^15, q)
	for i := range q.segs {
		q.segs[i] = qseg{}
	}
	q.segs = q.segs[:0]
}

// act returns an activation buffer of tr's vec_dot type for T rows of in
// values: with own, a free one (each job its own input); otherwise the
// one of that type already claimed in this product, or a free one.
func (q *quantTask) act(tr quant.TypeTraits, in, T int, own bool) *actBuf {
	vt := tr.VecDotType
	if !own {
		for i := range q.acts {
			if q.acts[i].typ == vt {
				return &q.acts[i]
			}
		}
	}
	for i := range q.acts {
		b := &q.acts[i]
		if b.typ != 0 {
			continue
		}
		xqRow, _ := vt.RowBytes(int64(in))
		b.typ, b.ref, b.act, b.in = vt, tr.QuantizeActivation, active.act[vt], in
		b.xqRow, b.auxRow = int(xqRow), 0
		if b.act != nil {
			b.auxRow = in / vt.BlockElems() * auxBytes(vt)
		}
		b.xq = grow(b.xq, T*b.xqRow)
		b.aux = grow(b.aux, T*b.auxRow)
		return b
	}
	panic("kernels: MatMuls: more activation types than jobs")
}

// matMulQuant is MatMul for block-quantized weights.
func (o *Ops) matMulQuant(w *tensor.Tensor, x []float32, T int, y []float32, ldy int) {
	o.one[0] = MatJob{W: w, Y: y, LDY: ldy}
	o.MatMuls(x, T, o.one[:])
	o.one[0] = MatJob{}
}

// grow returns b resized to n bytes, reallocating only when it is too
// small.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
