package tokenizer

import "sync"

// wordCache remembers the ids of words the model has encoded, as the
// Hugging Face library's BPE cache does. It holds at most maxEntries words
// of fewer than maxWordLen bytes and starts afresh when full.
type wordCache struct {
	mu    sync.RWMutex
	m     map[string]cacheEntry
	arena []int32
}

type cacheEntry struct{ off, n uint32 }

const (
	cacheMaxEntries = 1 << 16
	cacheMaxWordLen = 256
)

// appendCached appends the cached ids of word to dst.
func (c *wordCache) appendCached(dst []int32, word string) ([]int32, bool) {
	c.mu.RLock()
	e, ok := c.m[word]
	if ok {
		dst = append(dst, c.arena[e.off:e.off+e.n]...)
	}
	c.mu.RUnlock()
	return dst, ok
}

// add caches ids for word.
func (c *wordCache) add(word string, ids []int32) {
	if len(word) >= cacheMaxWordLen {
		return
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= cacheMaxEntries {
		c.m = make(map[string]cacheEntry, 1024)
		c.arena = make([]int32, 0, 1<<14)
	}
	if _, ok := c.m[word]; !ok {
		c.m[word] = cacheEntry{uint32(len(c.arena)), uint32(len(ids))}
		c.arena = append(c.arena, ids...)
	}
	c.mu.Unlock()
}
