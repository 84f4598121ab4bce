package web

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
)

func TestLiveCacheGet(t *testing.T) {
	key := liveKey{page: 1}

	t.Run("ConcurrentCallersShareOneComputation", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var (
				c     liveCache
				calls atomic.Int32
				gate  = make(chan struct{})
				wg    sync.WaitGroup
			)
			compute := func() (liveUpdate, error) {
				calls.Add(1)
				<-gate
				return liveUpdate{version: "7"}, nil
			}
			now := time.Now()
			for range 20 {
				wg.Go(func() {
					if u, err := c.get(t.Context(), key, now, "", compute); err != nil || u.version != "7" {
						t.Errorf("get = %+v, %v; want version 7", u, err)
					}
				})
			}
			synctest.Wait() // every caller computes or waits
			if n := calls.Load(); n != 1 {
				t.Errorf("%d computations in flight, want 1", n)
			}
			close(gate)
			wg.Wait()
		})
	})

	t.Run("WaiterLeavesComputationGoesOn", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var (
				c     liveCache
				calls atomic.Int32
				gate  = make(chan struct{})
			)
			compute := func() (liveUpdate, error) {
				calls.Add(1)
				<-gate
				return liveUpdate{version: "7"}, nil
			}
			now := time.Now()
			go c.get(t.Context(), key, now, "", compute)
			synctest.Wait()
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error)
			go func() {
				_, err := c.get(ctx, key, now, "", compute)
				done <- err
			}()
			synctest.Wait()
			cancel()
			if err := <-done; !errors.Is(err, context.Canceled) {
				t.Errorf("cancelled waiter got %v, want context.Canceled", err)
			}
			close(gate)
			synctest.Wait()
			if u, err := c.get(t.Context(), key, now, "", compute); err != nil || u.version != "7" || calls.Load() != 1 {
				t.Errorf("get = %+v, %v after %d computations; want the first one's update", u, err, calls.Load())
			}
		})
	})

	t.Run("FailuresAreNotKept", func(t *testing.T) {
		var c liveCache
		now := time.Now()
		boom := errors.New("boom")
		if _, err := c.get(t.Context(), key, now, "", func() (liveUpdate, error) { return liveUpdate{}, boom }); err != boom {
			t.Fatalf("get = %v, want boom", err)
		}
		u, err := c.get(t.Context(), key, now, "", func() (liveUpdate, error) { return liveUpdate{version: "8"}, nil })
		if err != nil || u.version != "8" {
			t.Errorf("get after a failure = %+v, %v; want a new computation", u, err)
		}
	})

	t.Run("PanicReleasesWaiters", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var c liveCache
			gate := make(chan struct{})
			now := time.Now()
			go func() {
				defer func() { recover() }()
				c.get(t.Context(), key, now, "", func() (liveUpdate, error) { <-gate; panic("render bug") })
			}()
			synctest.Wait()
			done := make(chan error)
			go func() {
				_, err := c.get(t.Context(), key, now, "", func() (liveUpdate, error) { return liveUpdate{}, nil })
				done <- err
			}()
			synctest.Wait()
			close(gate)
			if err := <-done; !errors.Is(err, errLiveAborted) {
				t.Errorf("waiter got %v, want errLiveAborted", err)
			}
		})
	})

	t.Run("CurrentVersionOutlivesTheInterval", func(t *testing.T) {
		var c liveCache
		var calls int
		compute := func() (liveUpdate, error) { calls++; return liveUpdate{version: "v1"}, nil }
		now := time.Now()
		c.get(t.Context(), key, now, "v1", compute)
		later := now.Add(10 * minRefresh)
		for _, tc := range []struct {
			current string
			want    int
		}{{"v1", 1}, {"", 2}, {"v2", 3}} {
			c.get(t.Context(), key, later, tc.current, compute)
			if calls != tc.want {
				t.Errorf("current %q: %d computations, want %d", tc.current, calls, tc.want)
			}
			later = later.Add(minRefresh)
		}
	})

	t.Run("Bounded", func(t *testing.T) {
		var c liveCache
		now := time.Now()
		compute := func() (liveUpdate, error) { return liveUpdate{}, nil }
		for i := range 2 * maxLiveEntries {
			c.get(t.Context(), liveKey{page: i + 1}, now, "", compute)
			if n := len(c.entries); n > maxLiveEntries {
				t.Fatalf("%d entries, want at most %d", n, maxLiveEntries)
			}
		}
		c.get(t.Context(), key, now.Add(minRefresh), "", compute)
		if n := len(c.entries); n != 1 {
			t.Errorf("%d entries after the interval, want only the new one", n)
		}
	})
}
