package store

// LastIDSQL exposes lastIDSQL, so tests can check its query plan.
var LastIDSQL = lastIDSQL
