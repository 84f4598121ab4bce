package store

import "time"

// The feed reads records in commit order, for a consumer that keeps its own
// copy (the search index) and catches up from the last sequence it holds.

// FeedState is where the feed stands.
type FeedState struct {
	// MaxSeq is the sequence of the last committed record; 0 when none.
	MaxSeq int64
	// Count is the number of records.
	Count int64
	// Oldest is when the oldest record started; zero when there is none.
	// Records that started before it were pruned.
	Oldest time.Time
}

// Texts is the text of one record that a search result shows snippets of.
type Texts struct {
	Request   []byte // the stored request body
	Content   string // the reply
	Reasoning string
	ToolCalls string // JSON array; "" when none
	Error     string
}
