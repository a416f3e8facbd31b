// Package kv holds the attention key/value cache of one sequence, stored as
// float32 or as IEEE binary16. Every byte is reserved on the ledger before it
// is allocated.
package kv

import (
	"fmt"

	"github.com/memfit/memfit/internal/kernels"
	"github.com/memfit/memfit/internal/ledger"
	"github.com/memfit/memfit/internal/tensor"
)

// Cache holds keys and values of every layer for up to Ctx positions.
type Cache struct {
	Ctx    int          // positions the cache holds
	KVDim  int          // values per position per layer (kv heads × head_dim)
	Type   tensor.DType // F32 or F16
	Layers []kernels.KVLayer
	res    *ledger.Reservation
}

// Types lists the cache element types.
var Types = []tensor.DType{tensor.F32, tensor.F16}

// Bytes is the size of a cache of ctx positions.
func Bytes(t tensor.DType, layers, ctx, kvDim int) int64 {
	size := int64(4)
	if t == tensor.F16 {
		size = 2
	}
	return 2 * int64(layers) * int64(ctx) * int64(kvDim) * size
}

// New reserves and allocates a cache on l.
func New(l *ledger.Ledger, t tensor.DType, layers, ctx, kvDim int) (*Cache, error) {
	if layers <= 0 || ctx <= 0 || kvDim <= 0 {
		return nil, fmt.Errorf("kv: cache of %d layers × %d positions × %d values is empty", layers, ctx, kvDim)
	}
	if t != tensor.F32 && t != tensor.F16 {
		return nil, fmt.Errorf("kv: cache type %v is not supported (want f32 or f16)", t)
	}
	res, err := l.Reserve("kv", Bytes(t, layers, ctx, kvDim))
	if err != nil {
		return nil, fmt.Errorf("kv cache for %d positions: %w", ctx, err)
	}
	c := &Cache{Ctx: ctx, KVDim: kvDim, Type: t, Layers: make([]kernels.KVLayer, layers), res: res}
	n := ctx * kvDim
	for i := range c.Layers {
		if t == tensor.F32 {
			c.Layers[i] = kernels.KVLayer{K: make([]float32, n), V: make([]float32, n)}
		} else {
			c.Layers[i] = kernels.KVLayer{K16: make([]uint16, n), V16: make([]uint16, n)}
		}
	}
	return c, nil
}

// Store writes the keys and values of position pos of layer l.
func (c *Cache) Store(l, pos int, k, v []float32) {
	L := &c.Layers[l]
	off := pos * c.KVDim
	if L.K != nil {
		copy(L.K[off:off+c.KVDim], k)
		copy(L.V[off:off+c.KVDim], v)
		return
	}
	ks, vs := L.K16[off:off+c.KVDim], L.V16[off:off+c.KVDim]
	for i := range ks {
		ks[i] = tensor.F32ToF16(k[i])
		vs[i] = tensor.F32ToF16(v[i])
	}
}

// Release frees the cache's reservation; the cache must not be used after.
func (c *Cache) Release() {
	c.res.Release()
	c.Layers = nil
}
