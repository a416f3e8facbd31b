package kernels

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/memfit/memfit/internal/tensor"
)

// QuantKV is one layer's key/value cache stored as ggml blocks of 32
// values (Q8_0 or Q4_0, as ggml's reference quantizers write them): the
// kvDim keys of position p are the RowBytes bytes at p·RowBytes of K, its
// values the same bytes of V. A head's slice of a row is whole blocks, so
// the head dimension must be a multiple of 32.
type QuantKV struct {
	Type     tensor.DType
	K, V     []byte
	RowBytes int
}

// QuantKVBlock is the number of values in one block of a quantized cache.
const QuantKVBlock = 32

// CheckQuantKV reports whether a cache of type t can hold heads of headDim
// values: t must be Q8_0 or Q4_0 and headDim a multiple of 32.
func CheckQuantKV(t tensor.DType, headDim int) error {
	if t != tensor.Q8_0 && t != tensor.Q4_0 {
		return fmt.Errorf("KV cache type %v: quantized caches are q8_0 or q4_0", t)
	}
	if headDim <= 0 || headDim%QuantKVBlock != 0 {
		return fmt.Errorf("KV cache type %v needs a head dimension that is a multiple of %d; this model's is %d", t, QuantKVBlock, headDim)
	}
	return nil
}

// elem dequantizes value idx (position idx/kvDim, value idx%kvDim) of b,
// which is K or V, as ggml's dequantize_row functions do.
func (c *QuantKV) elem(b []byte, idx int) float32 {
	bb := c.Type.BlockBytes()
	kvDim := c.RowBytes / bb * QuantKVBlock
	pos, i := idx/kvDim, idx%kvDim
	blk := b[pos*c.RowBytes+i/QuantKVBlock*bb:]
	d := f16Table[binary.LittleEndian.Uint16(blk)]
	j := i % QuantKVBlock
	if c.Type == tensor.Q8_0 {
		return float32(int8(blk[2+j])) * d
	}
	q := blk[2+j%16]
	if j >= 16 {
		q >>= 4
	}
	return float32(int32(q&0xf)-8) * d
}

// attentionQTask is attention over quantized caches. Its items are
// (token, KV head) pairs: the query heads that share a KV head (grouped-
// query attention) are computed together, so each cached block is
// dequantized once for all of them. Positions are taken four at a time:
// their keys and values are dequantized into a small per-worker buffer and
// fed to the plain-Go four-position dot and axpy, with the softmax
// computed online (a running maximum and sum per head, the output rescaled
// when the maximum grows), so no score buffer of the context's size is
// needed.
type attentionQTask attentionTask

// quantScratch is one worker's buffers for attentionQTask.
type quantScratch struct {
	kl   KVLayer   // K, V: four positions' dequantized keys and values
	max  []float32 // per head of the group: running maximum score
	sum  []float64 // per head of the group: running sum of exp(score − max)
	offs [4]int
	s    [4]float32
}

// quantizedKV reports whether any token of a attends to a quantized cache.
func (a *Attention) quantizedKV() bool {
	for _, kv := range a.KV {
		if kv.Q != nil {
			return true
		}
	}
	return false
}

// quantAttention returns the task for attention over quantized caches,
// with its per-worker buffers, and its number of items.
func (o *Ops) quantAttention() (Task, int) {
	if len(o.att.quant) != len(o.att.scores) {
		o.att.quant = make([]quantScratch, len(o.att.scores))
	}
	return (*attentionQTask)(&o.att), len(o.att.a.Pos) * o.att.a.KVHeads
}

func (t *attentionQTask) Do(w, lo, hi int) {
	a := t.a
	qDim := a.Heads * a.HeadDim
	group := a.Heads / a.KVHeads
	hd := a.HeadDim
	sc := &t.quant[w]
	if len(sc.kl.K) < 4*hd || len(sc.max) < group {
		sc.kl.K, sc.kl.V = make([]float32, 4*hd), make([]float32, 4*hd)
		sc.max, sc.sum = make([]float32, group), make([]float64, group)
	}
	kb, vb := sc.kl.K[:4*hd], sc.kl.V[:4*hd]
	for j := range sc.offs {
		sc.offs[j] = j * hd
	}
	for item := lo; item < hi; item++ {
		tok, g := item/a.KVHeads, item%a.KVHeads
		kv := a.KV[tok]
		if kv.Q == nil {
			// Another sequence's cache is float: the plain kernels, head
			// by head.
			for h := g * group; h < (g+1)*group; h++ {
				(*attentionTask)(t).Do(w, tok*a.Heads+h, tok*a.Heads+h+1)
			}
			continue
		}
		c := kv.Q
		deq := dequantQ8_0
		if c.Type == tensor.Q4_0 {
			deq = dequantQ4_0
		}
		bb := c.Type.BlockBytes()
		headOff := g * hd / QuantKVBlock * bb // bytes into a row
		headBytes := hd / QuantKVBlock * bb
		first, last := a.span(a.Pos[tok])
		for j := 0; j < group; j++ {
			sc.max[j] = float32(math.Inf(-1))
			sc.sum[j] = 0
			h := g*group + j
			clear(a.Out[tok*qDim+h*hd : tok*qDim+(h+1)*hd])
		}
		for k := first; k <= last; k += 4 {
			n := min(4, last+1-k)
			for j := 0; j < n; j++ {
				off := (k+j)*c.RowBytes + headOff
				deq(kb[j*hd:(j+1)*hd], c.K[off:off+headBytes])
				deq(vb[j*hd:(j+1)*hd], c.V[off:off+headBytes])
			}
			for j := n; j < 4; j++ { // pad: zero weight below
				clear(kb[j*hd : (j+1)*hd])
				clear(vb[j*hd : (j+1)*hd])
			}
			for j := 0; j < group; j++ {
				h := g*group + j
				q := a.Q[tok*qDim+h*hd : tok*qDim+(h+1)*hd]
				out := a.Out[tok*qDim+h*hd : tok*qDim+(h+1)*hd]
				kvDot4Go(&sc.kl, &sc.offs, q, &sc.s)
				m := sc.max[j]
				for i := 0; i < n; i++ {
					s := sc.s[i] * a.Scale
					if a.Softcap > 0 {
						s = float32(math.Tanh(float64(s)/float64(a.Softcap)) * float64(a.Softcap))
					}
					sc.s[i] = s
					m = max(m, s)
				}
				if m > sc.max[j] {
					if sc.sum[j] > 0 {
						f := math.Exp(float64(sc.max[j] - m))
						Scale(out, float32(f))
						sc.sum[j] *= f
					}
					sc.max[j] = m
				}
				for i := range sc.s {
					if i >= n {
						sc.s[i] = 0
						continue
					}
					e := math.Exp(float64(sc.s[i] - m))
					sc.sum[j] += e
					sc.s[i] = float32(e)
				}
				kvAxpy4Go(&sc.kl, &sc.offs, &sc.s, out)
			}
		}
		for j := 0; j < group; j++ {
			h := g*group + j
			Scale(a.Out[tok*qDim+h*hd:tok*qDim+(h+1)*hd], float32(1/sc.sum[j]))
		}
	}
}

// dequantQ8_0 writes the values of the Q8_0 blocks of b to dst.
func dequantQ8_0(dst []float32, b []byte) {
	for i := 0; i+QuantKVBlock <= len(dst); i += QuantKVBlock {
		d := f16Table[binary.LittleEndian.Uint16(b)]
		qs := b[2:34:34]
		y := dst[i : i+QuantKVBlock : i+QuantKVBlock]
		for j := range y {
			y[j] = float32(int8(qs[j])) * d
		}
		b = b[34:]
	}
}

// dequantQ4_0 writes the values of the Q4_0 blocks of b to dst.
func dequantQ4_0(dst []float32, b []byte) {
	for i := 0; i+QuantKVBlock <= len(dst); i += QuantKVBlock {
		d := f16Table[binary.LittleEndian.Uint16(b)]
		qs := b[2:18:18]
		y := dst[i : i+QuantKVBlock : i+QuantKVBlock]
		for j := 0; j < 16; j++ {
			y[j] = float32(int32(qs[j]&0xf)-8) * d
			y[j+16] = float32(int32(qs[j]>>4)-8) * d
		}
		b = b[18:]
	}
}
