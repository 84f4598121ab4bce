package web

import "time"

// SetClock makes s read the time from now, so tests can let the live
// cache's interval pass without sleeping.
func SetClock(s *Server, now func() time.Time) { s.now = now }

// MinRefresh exposes minRefresh.
const MinRefresh = minRefresh

// MaxSearchOffset exposes maxSearchOffset.
const MaxSearchOffset = maxSearchOffset

// MaxSummed exposes maxSummed.
const MaxSummed = maxSummed

// MaxFilterOptions exposes maxFilterOptions.
const MaxFilterOptions = maxFilterOptions
