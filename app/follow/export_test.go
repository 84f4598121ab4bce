package follow

// Seq returns the last sequence handed on, for tests: call it only when
// Run is not running.
func (f *Follower) Seq() int64 { return f.seq }
