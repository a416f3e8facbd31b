// Package kv holds the attention key/value cache. This first version stores
// float32; every byte is reserved on the ledger before it is allocated.
package kv

import (
	"fmt"

	"github.com/memfit/memfit/internal/ledger"
)

// Cache holds keys and values of every layer for up to Ctx positions.
type Cache struct {
	Ctx   int // positions the cache holds
	KVDim int // floats per position per layer (kv heads × head_dim)
	K, V  [][]float32
	res   *ledger.Reservation
}

// Bytes is the size of a cache of ctx positions.
func Bytes(layers, ctx, kvDim int) int64 { return 2 * int64(layers) * int64(ctx) * int64(kvDim) * 4 }

// New reserves and allocates a cache on l.
func New(l *ledger.Ledger, layers, ctx, kvDim int) (*Cache, error) {
	if layers <= 0 || ctx <= 0 || kvDim <= 0 {
		return nil, fmt.Errorf("kv: cache of %d layers × %d positions × %d values is empty", layers, ctx, kvDim)
	}
	res, err := l.Reserve("kv", Bytes(layers, ctx, kvDim))
	if err != nil {
		return nil, fmt.Errorf("kv cache for %d positions: %w", ctx, err)
	}
	c := &Cache{Ctx: ctx, KVDim: kvDim, K: make([][]float32, layers), V: make([][]float32, layers), res: res}
	for i := range c.K {
		c.K[i] = make([]float32, ctx*kvDim)
		c.V[i] = make([]float32, ctx*kvDim)
	}
	return c, nil
}

// Release frees the cache's reservation; the cache must not be used after.
func (c *Cache) Release() {
	c.res.Release()
	c.K, c.V = nil, nil
}
