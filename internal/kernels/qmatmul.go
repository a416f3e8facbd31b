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
// of the fp16 scale and the int32 sum of the quants; none for Q8_K).
type actFunc func(dst, aux []byte, x []float32)

// quantKernels are one variant's kernels for one weight type.
type quantKernels struct {
	// tiles[m-1] computes 4 rows × m tokens (m = 1..4); tiles[4] computes
	// 8 rows × 1 token.
	tiles [5]tileFunc
}

// auxBytes is the size of one block's aux data for activations of type t.
func auxBytes(t tensor.DType) int {
	if t == tensor.Q8_0 {
		return 8
	}
	return 0
}

// actTask quantizes T activation rows in parallel.
type actTask struct {
	act         actFunc
	ref         quant.QuantizeFunc
	x           []float32
	in          int
	xq, aux     []byte
	xqRow, auxN int
}

func (a *actTask) Do(_, lo, hi int) {
	for t := lo; t < hi; t++ {
		x := a.x[t*a.in : (t+1)*a.in]
		dst := a.xq[t*a.xqRow : (t+1)*a.xqRow]
		if a.act != nil {
			a.act(dst, a.aux[t*a.auxN:(t+1)*a.auxN], x)
		} else {
			a.ref(dst, x)
		}
	}
}

// quantTask is a matrix product with block-quantized weights over already
// quantized activations, split by rows of the weight.
type quantTask struct {
	w             *tensor.Tensor
	xq, aux       []byte
	xqRow, auxRow int // bytes of one token's quantized row and aux row
	y             []float32
	t, ldy        int
	dot           quant.VecDotFunc
	k             *quantKernels // nil: the reference dot product
}

func (q *quantTask) Do(_, lo, hi int) {
	n, rb := q.w.RowLen(), q.w.RowBytes()
	r := lo
	if k := q.k; k != nil {
		nb := n / q.w.Type.BlockElems()
		w := q.w.Data
		var aux *byte
		if len(q.aux) > 0 {
			aux = &q.aux[0]
		}
		if q.t == 1 && k.tiles[4] != nil {
			for ; r+8 <= hi; r += 8 {
				k.tiles[4](&w[r*rb], rb, &q.xq[0], q.xqRow, aux, q.auxRow, nb, &q.y[r], q.ldy)
			}
		}
		for ; r+4 <= hi; r += 4 {
			for t := 0; t < q.t; t += 4 {
				m := min(4, q.t-t)
				var a *byte
				if aux != nil {
					a = &q.aux[t*q.auxRow]
				}
				k.tiles[m-1](&w[r*rb], rb, &q.xq[t*q.xqRow], q.xqRow, a, q.auxRow, nb, &q.y[t*q.ldy+r], q.ldy)
			}
		}
	}
	for ; r < hi; r++ {
		row := q.w.Data[r*rb : (r+1)*rb]
		for t := 0; t < q.t; t++ {
			q.y[t*q.ldy+r] = q.dot(n, row, q.xq[t*q.xqRow:(t+1)*q.xqRow])
		}
	}
}

// matMulQuant is MatMul for block-quantized weights.
func (o *Ops) matMulQuant(w *tensor.Tensor, x []float32, T int, y []float32, ldy int) {
	tr, err := quant.Traits(w.Type)
	if err != nil || tr.VecDot == nil {
		panic(fmt.Sprintf("kernels: MatMul of unsupported type %v", w.Type))
	}
	in, rows := w.RowLen(), w.NumRows()
	xqRow64, err := tr.VecDotType.RowBytes(int64(in))
	if err != nil || in%w.Type.BlockElems() != 0 {
		panic(fmt.Sprintf("kernels: MatMul %v: row of %d values: %v", w.Type, in, err))
	}
	if len(w.Data) < rows*w.RowBytes() {
		panic(fmt.Sprintf("kernels: MatMul %v: %d bytes of data for %d rows of %d bytes", w.Type, len(w.Data), rows, w.RowBytes()))
	}
	xqRow := int(xqRow64)
	k := active.quant[w.Type]
	act := active.act[tr.VecDotType]
	if k == nil || act == nil {
		k, act = nil, nil
	}
	auxRow := 0
	if act != nil {
		auxRow = in / tr.VecDotType.BlockElems() * auxBytes(tr.VecDotType)
	}
	q := &o.qm
	q.xq = grow(q.xq, T*xqRow)
	q.aux = grow(q.aux, T*auxRow)
	a := &o.qa
	a.act, a.ref, a.x, a.in = act, tr.QuantizeActivation, x, in
	a.xq, a.aux, a.xqRow, a.auxN = q.xq, q.aux, xqRow, auxRow
	if T == 1 {
		a.Do(0, 0, 1)
	} else {
		o.Pool.Run(T, 1, a)
	}
	a.x = nil
	q.w, q.xqRow, q.auxRow, q.y, q.t, q.ldy, q.dot, q.k = w, xqRow, auxRow, y, T, ldy, tr.VecDot, k
	// Chunks of whole 8-row tiles, about 64 KiB of weights each, at least
	// four per worker when the matrix is large enough.
	grain := max(8, min((64<<10)/max(1, w.RowBytes()), o.Pool.Grain(rows, 8)))
	o.Pool.Run(rows, (grain+7)&^7, q)
	q.w, q.y = nil, nil
}

// grow returns b resized to n bytes, reallocating only when it is too
// small.
func grow(b []byte, n int) []byte {
	if cap(b) < n {
		return make([]byte, n)
	}
	return b[:n]
}
