package dpop

import "github.com/sessiond/sessiond"

// ReplayCache remembers proof identifiers until they expire.
//
// RememberOnce records key until the given time and reports fresh=false when
// the key is already remembered at now (a replay). It must be atomic across
// every node that shares it. A sessiond store that implements
// sessiond.ReplayGuard (memstore, redisstore) satisfies this interface as it
// is, and shares the cache between the nodes on that store.
type ReplayCache = sessiond.ReplayGuard

// MemoryReplay is a ReplayCache in this process's memory: correct for a
// single node only.
type MemoryReplay = sessiond.ReplayMemory

// NewMemoryReplay returns an empty in-memory cache.
func NewMemoryReplay() *MemoryReplay { return &sessiond.ReplayMemory{} }
