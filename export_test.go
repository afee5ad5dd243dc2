package sessiond

import "time"

// SetWatermarkCallTimeout sets the bound of the watermark loop's store
// calls, for the external tests (sessiond_test) that use a real store.
func SetWatermarkCallTimeout(o *Options, d time.Duration) { o.watermarkCallTimeout = d }

// ConcurrentInFlight is the bound on concurrent-login reads in flight.
const ConcurrentInFlight = concurrentInFlight

// ConcurrentStale is the age past which a login's check is dropped.
const ConcurrentStale = concurrentStale
