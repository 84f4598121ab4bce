// Package follow keeps a dashboard current with a database that other
// processes write to: proxy replicas recording into one PostgreSQL. It
// watches the commit sequence with one cheap query per interval and, when
// it moves, reads the new records in commit order and hands each batch to
// the same hooks the local writer calls after a commit (the live table's
// tracker, the search index), so that a dashboard sees every replica's
// exchanges as if it had recorded them itself.
package follow

import (
	"context"
	"log/slog"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// Source is the database followed.
type Source interface {
	// LastSeq returns the commit sequence of the last committed record.
	LastSeq(ctx context.Context) (int64, error)
	// Since returns up to limit records committed after sequence after,
	// in commit order, each with its Seq.
	Since(ctx context.Context, after int64, limit int) ([]*capture.Record, error)
}

// Defaults for the zero values of Options.
const (
	DefaultEvery = 250 * time.Millisecond
	DefaultBatch = 256
)

// Options tunes a Follower.
type Options struct {
	// Source is the database followed.
	Source Source
	// Every is how often the commit sequence is checked. Default
	// DefaultEvery: an exchange shows up within about that long.
	Every time.Duration
	// Batch is the most records read and handed on at once. Default
	// DefaultBatch.
	Batch int
	// Committed are called with each batch read, in commit order, on the
	// follower's goroutine; like store.Hook.AfterCommit, they must not
	// wait long and must not modify the records.
	Committed []func(batch []*capture.Record)
	// Logger receives read failures, once per outage. Default
	// slog.Default().
	Logger *slog.Logger
}

// Follower follows a Source's commit sequence.
type Follower struct {
	opts Options
	log  *slog.Logger
	seq  int64 // the last sequence handed on; owned by Run
}

// New returns a follower that hands on what is committed after sequence
// from: the dashboard's starting point, so that history is not replayed
// into hooks that only care about what is new (the search index catches up
// on history by itself).
func New(opts Options, from int64) *Follower {
	if opts.Every <= 0 {
		opts.Every = DefaultEvery
	}
	if opts.Batch <= 0 {
		opts.Batch = DefaultBatch
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	return &Follower{opts: opts, log: opts.Logger, seq: from}
}

// Run follows the source until ctx ends. While the database cannot be
// read it logs once, keeps trying every interval, and says when it can
// read again; nothing committed meanwhile is skipped.
func (f *Follower) Run(ctx context.Context) {
	t := time.NewTicker(f.opts.Every)
	defer t.Stop()
	failing := false
	for {
		err := f.Step(ctx)
		switch {
		case err != nil && ctx.Err() == nil && !failing:
			failing = true
			f.log.Error("follow: cannot read new records from the database; retrying", "err", err)
		case err == nil && failing:
			failing = false
			f.log.Info("follow: reading new records from the database again")
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Step checks the commit sequence once and hands on everything committed
// since the last step, batch by batch.
func (f *Follower) Step(ctx context.Context) error {
	last, err := f.opts.Source.LastSeq(ctx)
	if err != nil {
		return err
	}
	for f.seq < last {
		recs, err := f.opts.Source.Since(ctx, f.seq, f.opts.Batch)
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			// Committed, then pruned before it was read.
			f.seq = last
			return nil
		}
		for _, fn := range f.opts.Committed {
			fn(recs)
		}
		f.seq = recs[len(recs)-1].Seq
	}
	return ctx.Err()
}
