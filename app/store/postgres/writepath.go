package postgres

import (
	"github.com/openrouter-proxy/openrouter-proxy/app/store/pipeline"
)

// newWritePath starts the recording pipeline that commits through s: the
// queue, the analysis workers and the writer goroutine every backend
// shares. Each replica has its own; Commit is what makes them safe
// together.
func newWritePath(s *Postgres, opts Options) *pipeline.Pipeline {
	return pipeline.New(s, pipeline.Options{
		QueueSize: opts.QueueSize, QueueBytes: opts.QueueBytes, QueueWait: opts.QueueWait,
		AnalyzeWorkers: opts.AnalyzeWorkers, BatchSize: opts.BatchSize, BatchDelay: opts.BatchDelay,
		Hooks: opts.Hooks, OnCommit: opts.OnCommit, Logger: opts.Logger,
	})
}
