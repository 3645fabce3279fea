package verify

import (
	"container/list"
	"context"
	"math/big"
	"sync"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
)

// Cache lifetimes of NewCachedChain. A mined transaction's content is fixed
// by its hash, so it is kept long; what a reorg can change (its receipt,
// the canonical header at a height) briefly; the head about a second. A
// reorg that removes an anchor is therefore seen up to CacheReceiptTTL
// late; one that moves it, or a head that moved on, is seen at once
// (Verify refreshes before reporting such a mismatch).
const (
	DefaultCacheEntries = 4096
	CacheChainIDTTL     = 10 * time.Minute
	CacheTxTTL          = 10 * time.Minute
	CacheReceiptTTL     = 2 * time.Second
	CacheHeaderTTL      = 2 * time.Second
	CacheHeadTTL        = time.Second
)

// Refresher is a Chain behind a cache (NewCachedChain). Verify uses
// Refresh before it reports a mismatch that a cached answer could have
// caused (a receipt or a canonical header changed by a reorg, a head that
// has moved on): Refresh reads through the cache and stores what it read.
type Refresher interface {
	Chain
	Refresh() Chain
}

// NewCachedChain wraps c with a bounded cache of its successful answers
// (at most entries, least recently used evicted; 0 means
// DefaultCacheEntries), for a service that verifies the same anchors for
// many callers: each verification costs about five reads, and most callers
// ask about the same few anchors. Errors and not-found answers are never
// cached, nor a pending transaction. The cached values are shared: callers
// must not modify them (Verify does not).
func NewCachedChain(c Chain, entries int) Chain {
	if entries <= 0 {
		entries = DefaultCacheEntries
	}
	return &cachedChain{c: c, max: entries, lru: list.New(), m: map[cacheKey]*list.Element{}, now: time.Now}
}

// Refresh returns the chain that bypasses the cache for reads and stores
// their answers in it.
func (c *cachedChain) Refresh() Chain { return refreshing{c} }

type refreshing struct{ c *cachedChain }

func (r refreshing) ChainID(ctx context.Context) (*big.Int, error) {
	r.c.drop(cacheKey{kind: kindChainID})
	return r.c.ChainID(ctx)
}

func (r refreshing) TransactionByHash(ctx context.Context, h common.Hash) (*types.Transaction, bool, error) {
	r.c.drop(cacheKey{kind: kindTx, hash: h})
	return r.c.TransactionByHash(ctx, h)
}

func (r refreshing) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	r.c.drop(cacheKey{kind: kindReceipt, hash: h})
	return r.c.TransactionReceipt(ctx, h)
}

func (r refreshing) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	k := cacheKey{kind: kindHead}
	if n != nil && n.IsUint64() {
		k = cacheKey{kind: kindHeader, num: n.Uint64()}
	}
	r.c.drop(k)
	return r.c.HeaderByNumber(ctx, n)
}

func (c *cachedChain) drop(k cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[k]; ok {
		c.lru.Remove(e)
		delete(c.m, k)
	}
}

type cacheKind uint8

const (
	kindChainID cacheKind = iota
	kindTx
	kindReceipt
	kindHeader
	kindHead
)

type cacheKey struct {
	kind cacheKind
	hash common.Hash
	num  uint64
}

type cacheEntry struct {
	key     cacheKey
	value   any
	expires time.Time
}

type cachedChain struct {
	c   Chain
	mu  sync.Mutex
	max int
	lru *list.List
	m   map[cacheKey]*list.Element
	now func() time.Time
}

func (c *cachedChain) get(k cacheKey) (any, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok {
		return nil, false
	}
	ent := e.Value.(*cacheEntry)
	if !c.now().Before(ent.expires) {
		c.lru.Remove(e)
		delete(c.m, k)
		return nil, false
	}
	c.lru.MoveToFront(e)
	return ent.value, true
}

func (c *cachedChain) put(k cacheKey, v any, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	exp := c.now().Add(ttl)
	if e, ok := c.m[k]; ok {
		ent := e.Value.(*cacheEntry)
		ent.value, ent.expires = v, exp
		c.lru.MoveToFront(e)
		return
	}
	c.m[k] = c.lru.PushFront(&cacheEntry{key: k, value: v, expires: exp})
	for c.lru.Len() > c.max {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.m, old.Value.(*cacheEntry).key)
	}
}

func (c *cachedChain) ChainID(ctx context.Context) (*big.Int, error) {
	k := cacheKey{kind: kindChainID}
	if v, ok := c.get(k); ok {
		return new(big.Int).Set(v.(*big.Int)), nil
	}
	id, err := c.c.ChainID(ctx)
	if err == nil && id != nil {
		c.put(k, new(big.Int).Set(id), CacheChainIDTTL)
	}
	return id, err
}

func (c *cachedChain) TransactionByHash(ctx context.Context, h common.Hash) (*types.Transaction, bool, error) {
	k := cacheKey{kind: kindTx, hash: h}
	if v, ok := c.get(k); ok {
		return v.(*types.Transaction), false, nil
	}
	tx, pending, err := c.c.TransactionByHash(ctx, h)
	if err == nil && !pending && tx != nil {
		c.put(k, tx, CacheTxTTL)
	}
	return tx, pending, err
}

func (c *cachedChain) TransactionReceipt(ctx context.Context, h common.Hash) (*types.Receipt, error) {
	k := cacheKey{kind: kindReceipt, hash: h}
	if v, ok := c.get(k); ok {
		return v.(*types.Receipt), nil
	}
	rc, err := c.c.TransactionReceipt(ctx, h)
	if err == nil && rc != nil {
		c.put(k, rc, CacheReceiptTTL)
	}
	return rc, err
}

func (c *cachedChain) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	k, ttl := cacheKey{kind: kindHead}, CacheHeadTTL
	if n != nil {
		if !n.IsUint64() {
			return c.c.HeaderByNumber(ctx, n)
		}
		k, ttl = cacheKey{kind: kindHeader, num: n.Uint64()}, CacheHeaderTTL
	}
	if v, ok := c.get(k); ok {
		return v.(*types.Header), nil
	}
	h, err := c.c.HeaderByNumber(ctx, n)
	if err == nil && h != nil {
		c.put(k, h, ttl)
	}
	return h, err
}
