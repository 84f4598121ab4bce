package mockupstream

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"
)

// shutdownTimeout bounds how long Serve waits for in-flight responses.
const shutdownTimeout = 5 * time.Second

// Serve runs a Mock on addr until ctx is done, logging to logger (nil
// discards). Each request is logged at debug level.
//
// Request contexts derive from ctx, so a "hang" request or a slow stream
// ends as soon as ctx does instead of holding up the shutdown.
func Serve(ctx context.Context, addr string, logger *slog.Logger) error {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := New()
	m.OnDone = func(e Event) {
		// Checking first keeps the attribute boxing off the hot path when
		// debug logging is off.
		if logger.Enabled(ctx, slog.LevelDebug) {
			logger.Debug("mock upstream request", "method", e.Method, "path", e.Path,
				"status", e.Status, "scenario", e.Scenario, "cancelled", e.Cancelled)
		}
	}
	srv := &http.Server{
		Handler: m,
		// Bounds slowloris-style clients; bodies are not bounded because
		// /sink and streamed answers legitimately take long.
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mockupstream: listen: %w", err)
	}
	logger.Info("mock upstream listening", "addr", ln.Addr().String())

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("mockupstream: serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		srv.Close()
		return fmt.Errorf("mockupstream: shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("mockupstream: serve: %w", err)
	}
	return nil
}
