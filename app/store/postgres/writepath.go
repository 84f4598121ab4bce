package postgres

import (
	"context"
	"sync"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

// writePath is what the store needs of the recording pipeline.
type writePath interface {
	Record(rec *capture.Record) error
	Flush(ctx context.Context) error
	Health() store.Health
	Close() error
}

// TEMPORARY until package pipeline lands: a synchronous stand-in that
// commits on Flush and Close.
type shim struct {
	s      *Postgres
	mu     sync.Mutex
	queue  []*capture.Record
	closed bool
}

func newWritePath(s *Postgres, _ Options) writePath { return &shim{s: s} }

func (w *shim) Record(rec *capture.Record) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return store.ErrClosed
	}
	if !rec.Analyzed {
		rec.Analyze()
	}
	w.queue = append(w.queue, rec)
	return nil
}

func (w *shim) Flush(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return store.ErrClosed
	}
	return w.flush(ctx)
}

func (w *shim) flush(ctx context.Context) error {
	for len(w.queue) > 0 {
		n := min(len(w.queue), 512)
		if err := w.s.Commit(ctx, w.queue[:n]); err != nil {
			return err
		}
		w.queue = w.queue[n:]
	}
	return nil
}

func (w *shim) Health() store.Health { return store.Health{} }

func (w *shim) Close() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return nil
	}
	w.closed = true
	return w.flush(context.Background())
}
