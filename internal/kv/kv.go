// Package kv holds the attention key/value cache of one sequence, stored as
// float32, as IEEE binary16, or as ggml Q8_0 / Q4_0 blocks (each position's
// row of keys, and of values, quantized with ggml's reference quantizer in
// blocks of 32 values; a head's slice of a row is whole blocks). Every byte
// is reserved on the ledger before it is allocated.
package kv

import (
	"fmt"
	"strings"

	"github.com/memfit/memfit/internal/kernels"
	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/quant"
	"github.com/memfit/memfit/internal/tensor"
)

// Cache holds keys and values of every layer for up to Ctx positions.
type Cache struct {
	Ctx    int          // positions the cache holds
	KVDim  int          // values per position per layer (kv heads × head_dim)
	Type   tensor.DType // F32, F16, Q8_0 or Q4_0
	Layers []kernels.KVLayer
	res    *ledger.Reservation
	// quantize writes a row of KVDim values as blocks (quantized types).
	quantize func(dst []byte, src []float32)
	rowBytes int
}

// Types lists the cache element types.
var Types = []tensor.DType{tensor.F32, tensor.F16, tensor.Q8_0, tensor.Q4_0}

// ParseType reads a cache type as the command line spells it (f32, f16,
// q8_0, q4_0; case does not matter).
func ParseType(s string) (tensor.DType, error) {
	for _, t := range Types {
		if strings.EqualFold(s, t.String()) {
			return t, nil
		}
	}
	return 0, fmt.Errorf("KV cache type %q: want f16, q8_0, q4_0 or f32", s)
}

// TypeName is the command-line spelling of a cache type (f16, q8_0, ...).
func TypeName(t tensor.DType) string { return strings.ToLower(t.String()) }

// RowBytes is the size of one position's keys (or values) of one layer:
// kvDim values of type t. It fails for a type that is not a cache type or
// a row that is not whole blocks.
func RowBytes(t tensor.DType, kvDim int) (int64, error) {
	switch t {
	case tensor.F32, tensor.F16:
	case tensor.Q8_0, tensor.Q4_0:
		if kvDim%kernels.QuantKVBlock != 0 {
			return 0, fmt.Errorf("kv: %d values per position are not whole %v blocks of %d", kvDim, t, kernels.QuantKVBlock)
		}
	default:
		return 0, fmt.Errorf("kv: cache type %v is not supported (want f32, f16, q8_0 or q4_0)", t)
	}
	return t.RowBytes(int64(kvDim))
}

// Bytes is the size of a cache of ctx positions (0 for a type or row that
// cannot be a cache; New rejects those).
func Bytes(t tensor.DType, layers, ctx, kvDim int) int64 {
	rb, err := RowBytes(t, kvDim)
	if err != nil {
		return 0
	}
	return 2 * int64(layers) * int64(ctx) * rb
}

// New reserves and allocates a cache on l.
func New(l *ledger.Ledger, t tensor.DType, layers, ctx, kvDim int) (*Cache, error) {
	if layers <= 0 || ctx <= 0 || kvDim <= 0 {
		return nil, fmt.Errorf("kv: cache of %d layers × %d positions × %d values is empty", layers, ctx, kvDim)
	}
	rb, err := RowBytes(t, kvDim)
	if err != nil {
		return nil, err
	}
	res, err := l.Reserve("kv", Bytes(t, layers, ctx, kvDim))
	if err != nil {
		return nil, fmt.Errorf("kv cache for %d positions: %w", ctx, err)
	}
	c := &Cache{Ctx: ctx, KVDim: kvDim, Type: t, Layers: make([]kernels.KVLayer, layers), res: res, rowBytes: int(rb)}
	if t == tensor.Q8_0 || t == tensor.Q4_0 {
		tr, err := quant.Traits(t)
		if err != nil {
			res.Release()
			return nil, fmt.Errorf("kv: %w", err)
		}
		c.quantize = tr.Quantize
	}
	n := ctx * kvDim
	for i := range c.Layers {
		switch t {
		case tensor.F32:
			c.Layers[i] = kernels.KVLayer{K: make([]float32, n), V: make([]float32, n)}
		case tensor.F16:
			c.Layers[i] = kernels.KVLayer{K16: make([]uint16, n), V16: make([]uint16, n)}
		default:
			c.Layers[i] = kernels.KVLayer{Q: &kernels.QuantKV{
				Type: t, RowBytes: int(rb),
				K: make([]byte, ctx*int(rb)), V: make([]byte, ctx*int(rb)),
			}}
		}
		touchLayer(&c.Layers[i])
	}
	return c, nil
}

// touchLayer writes every page of a layer's cache, so the memory the ledger
// reserved for the whole context is in use from the start (a memory cgroup
// counts it then, as llama.cpp's cleared KV buffers are).
func touchLayer(L *kernels.KVLayer) {
	for i := 0; i < len(L.K); i += 1024 {
		L.K[i], L.V[i] = 0, 0
	}
	for i := 0; i < len(L.K16); i += 2048 {
		L.K16[i], L.V16[i] = 0, 0
	}
	if q := L.Q; q != nil {
		for i := 0; i < len(q.K); i += 4096 {
			q.K[i], q.V[i] = 0, 0
		}
	}
}

// Store writes the keys and values of position pos of layer l.
func (c *Cache) Store(l, pos int, k, v []float32) {
	L := &c.Layers[l]
	off := pos * c.KVDim
	switch {
	case L.K != nil:
		copy(L.K[off:off+c.KVDim], k)
		copy(L.V[off:off+c.KVDim], v)
	case L.Q != nil:
		b := pos * c.rowBytes
		c.quantize(L.Q.K[b:b+c.rowBytes], k[:c.KVDim])
		c.quantize(L.Q.V[b:b+c.rowBytes], v[:c.KVDim])
	default:
		ks, vs := L.K16[off:off+c.KVDim], L.V16[off:off+c.KVDim]
		for i := range ks {
			ks[i] = tensor.F32ToF16(k[i])
			vs[i] = tensor.F32ToF16(v[i])
		}
	}
}

// Release frees the cache's reservation; the cache must not be used after.
func (c *Cache) Release() {
	c.res.Release()
	c.Layers = nil
}
