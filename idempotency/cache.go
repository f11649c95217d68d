package idempotency

import (
	"sync"
	"time"
)

// Completed keys are answered from memory once this process has read or
// written them: a completed row never changes before it expires (a take-over
// needs it expired, a release needs it in flight), so a copy is as good as
// the row until its ExpiresAt, in any number of processes. The cache is
// bounded in entries and in response bytes; the oldest entries leave first.
const (
	cacheEntries   = 4096
	cacheBodyBytes = 8 << 20
	// cacheMaxBody keeps large responses out, so a few of them cannot
	// push out many small ones.
	cacheMaxBody = 64 << 10
)

type cacheKey struct{ scope, key string }

type completedCache struct {
	mu    sync.Mutex
	recs  map[cacheKey]Record
	order []cacheKey // insertion order, oldest first
	bytes int
}

func newCompletedCache() *completedCache {
	return &completedCache{recs: map[cacheKey]Record{}}
}

// get returns the completed record of scope/key if it is cached and has not
// expired at now.
func (c *completedCache) get(scope, key string, now time.Time) (Record, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	rec, ok := c.recs[cacheKey{scope, key}]
	if !ok || !now.Before(rec.ExpiresAt) {
		return Record{}, false
	}
	rec.Response.Header = rec.Response.Header.Clone()
	return rec, true
}

// put caches a completed record.
func (c *completedCache) put(rec Record) {
	if rec.State != StateCompleted || len(rec.Response.Body) > cacheMaxBody {
		return
	}
	rec.Response.Header = rec.Response.Header.Clone()
	rec.Response.Body = append([]byte(nil), rec.Response.Body...)
	k := cacheKey{rec.Scope, rec.Key}
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.recs[k]; ok {
		c.bytes -= len(old.Response.Body)
	} else {
		c.order = append(c.order, k)
	}
	c.recs[k] = rec
	c.bytes += len(rec.Response.Body)
	for len(c.recs) > cacheEntries || c.bytes > cacheBodyBytes {
		oldest := c.order[0]
		c.order = c.order[1:]
		if old, ok := c.recs[oldest]; ok {
			c.bytes -= len(old.Response.Body)
			delete(c.recs, oldest)
		}
	}
	if len(c.order) > 2*cacheEntries {
		// Keys put again left stale places behind: compact.
		live := c.order[:0]
		seen := make(map[cacheKey]bool, len(c.recs))
		for _, o := range c.order {
			if _, ok := c.recs[o]; ok && !seen[o] {
				seen[o] = true
				live = append(live, o)
			}
		}
		c.order = append([]cacheKey(nil), live...)
	}
}
