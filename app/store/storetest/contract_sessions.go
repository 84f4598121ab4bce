package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/store"
)

func testSessions(t *testing.T, open Opener) {
	ctx := context.Background()
	now := time.Date(2025, 6, 1, 12, 0, 0, 123456789, time.FixedZone("X", 7200))

	t.Run("CreateGet", func(t *testing.T) {
		s := open(t, Options{})
		want := NewSession("h1", now)
		want.Admin = true
		if err := s.CreateSession(ctx, want); err != nil {
			t.Fatal(err)
		}
		got, err := s.GetSession(ctx, "h1", now.Add(time.Minute))
		if err != nil {
			t.Fatal(err)
		}
		if !SessionsEqual(got, want) {
			t.Errorf("GetSession = %+v, want %+v", got, want)
		}
		if v := got.Viewer(); v != (store.Viewer{Admin: true, KeyHash: "alice"}) {
			t.Errorf("Viewer = %+v", v)
		}
		if _, err := s.GetSession(ctx, "h2", now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSession of a missing session = %v, want ErrNotFound", err)
		}
		if err := s.CreateSession(ctx, want); err == nil {
			t.Error("CreateSession reused an id hash")
		}
		for _, bad := range []store.Session{NewSession("", now), {IDHash: "h3", Created: now}} {
			if err := s.CreateSession(ctx, bad); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("CreateSession(%+v) = %v, want ErrInvalid", bad, err)
			}
		}
	})

	t.Run("ReadableAtOnce", func(t *testing.T) {
		// Each session must be readable as soon as
		// CreateSession returns, while the writer commits records, and
		// gone as soon as DeleteSession returns.
		s := open(t, Options{})
		var wg sync.WaitGroup
		stop := make(chan struct{})
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
					if err := s.Record(NewRecord(t, "k")); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
		defer func() { close(stop); wg.Wait() }()
		for i := range 200 {
			id := fmt.Sprint("h", i)
			if err := s.CreateSession(ctx, NewSession(id, now)); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetSession(ctx, id, now); err != nil {
				t.Fatalf("session %d not readable after CreateSession: %v", i, err)
			}
			if err := s.DeleteSession(ctx, id); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetSession(ctx, id, now); !errors.Is(err, store.ErrNotFound) {
				t.Fatalf("session %d readable after DeleteSession: %v", i, err)
			}
		}
	})

	t.Run("Expiry", func(t *testing.T) {
		s := open(t, Options{})
		sess := NewSession("h1", now)
		if err := s.CreateSession(ctx, sess); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetSession(ctx, "h1", sess.Expires.Add(-time.Microsecond)); err != nil {
			t.Errorf("GetSession just before expiry: %v", err)
		}
		for _, at := range []time.Time{sess.Expires, sess.Expires.Add(time.Hour)} {
			if _, err := s.GetSession(ctx, "h1", at); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("GetSession at %v, after expiry: %v, want ErrNotFound", at, err)
			}
		}
	})

	t.Run("Revoke", func(t *testing.T) {
		s := open(t, Options{})
		for _, id := range []string{"h1", "h2"} {
			if err := s.CreateSession(ctx, NewSession(id, now)); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.DeleteSession(ctx, "h1"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetSession(ctx, "h1", now); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("GetSession after DeleteSession = %v, want ErrNotFound", err)
		}
		if _, err := s.GetSession(ctx, "h2", now); err != nil {
			t.Errorf("DeleteSession took another session: %v", err)
		}
		if err := s.DeleteSession(ctx, "h1"); err != nil {
			t.Errorf("second DeleteSession = %v, want nil", err)
		}
	})

	t.Run("DeleteExpired", func(t *testing.T) {
		s := open(t, Options{})
		for i, expires := range []time.Duration{time.Minute, time.Hour, 2 * time.Hour, 48 * time.Hour} {
			sess := NewSession(fmt.Sprint("h", i), now)
			sess.Expires = now.Add(expires)
			if err := s.CreateSession(ctx, sess); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.DeleteExpiredSessions(ctx, now.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if n != 2 {
			t.Errorf("DeleteExpiredSessions = %d, want 2", n)
		}
		// Still live at the earlier time had they not been deleted.
		for i, want := range []bool{false, false, true, true} {
			_, err := s.GetSession(ctx, fmt.Sprint("h", i), now)
			if found := err == nil; found != want {
				t.Errorf("session h%d found = %v (%v), want %v", i, found, err, want)
			}
		}
		if n, err := s.DeleteExpiredSessions(ctx, now.Add(time.Hour)); err != nil || n != 0 {
			t.Errorf("second DeleteExpiredSessions = %d, %v; want 0", n, err)
		}
	})
}

// testLoginFailed: failures count per client in windows that begin at the
// first failure; beyond max they are refused with the time left; a window
// over starts again; parallel failures cannot all slip under the limit;
// old failures are cleaned up with expired sessions.
func testLoginFailed(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, Options{})
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	const max, window = 3, 15 * time.Minute

	fail := func(client string, at time.Time) (bool, time.Duration) {
		t.Helper()
		ok, wait, err := s.LoginFailed(ctx, client, at, window, max)
		if err != nil {
			t.Fatal(err)
		}
		return ok, wait
	}
	for i := range max {
		if ok, _ := fail("10.0.0.1", start.Add(time.Duration(i)*time.Minute)); !ok {
			t.Fatalf("failure %d refused, want the first %d allowed", i+1, max)
		}
	}
	ok, wait := fail("10.0.0.1", start.Add(5*time.Minute))
	if ok || wait != 10*time.Minute {
		t.Fatalf("failure %d: ok=%v wait=%v, want refused for the 10 minutes left of the window", max+1, ok, wait)
	}
	if ok, wait := fail("10.0.0.1", start.Add(14*time.Minute)); ok || wait != time.Minute {
		t.Fatalf("later in the window: ok=%v wait=%v, want refused for 1m", ok, wait)
	}
	// Another client has its own count.
	if ok, _ := fail("10.0.0.2", start.Add(5*time.Minute)); !ok {
		t.Fatal("another client's first failure refused")
	}
	// The window is over: counting starts again.
	if ok, _ := fail("10.0.0.1", start.Add(window)); !ok {
		t.Fatal("a failure after the window refused")
	}
	for range max - 1 {
		fail("10.0.0.1", start.Add(window+time.Minute))
	}
	if ok, _ := fail("10.0.0.1", start.Add(window+2*time.Minute)); ok {
		t.Fatal("the new window's limit was not applied")
	}

	// Parallel failures: exactly max of them are allowed.
	var wg sync.WaitGroup
	var mu sync.Mutex
	allowed := 0
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, _, err := s.LoginFailed(ctx, "10.0.0.3", start, window, max)
			if err != nil {
				t.Error(err)
			}
			if ok {
				mu.Lock()
				allowed++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if allowed != max {
		t.Fatalf("%d of 20 parallel failures allowed, want %d", allowed, max)
	}

	// Cleaned up with the sessions a day later: the count starts afresh.
	if _, err := s.DeleteExpiredSessions(ctx, start.Add(store.LoginFailureKeep+time.Hour)); err != nil {
		t.Fatal(err)
	}
	if ok, _, err := s.LoginFailed(ctx, "10.0.0.3", start.Add(time.Minute), window, max); err != nil || !ok {
		t.Fatalf("after the clean-up: ok=%v err=%v, want a fresh count", ok, err)
	}
}

// testSecret: the first value stored under a name is the one every caller
// gets back, also from a store opened later on the same database.
func testSecret(t *testing.T, open Opener) {
	ctx := context.Background()
	s := open(t, Options{})
	got, err := s.Secret(ctx, "session", []byte("first-value-0123456789abcdef0123"))
	if err != nil || string(got) != "first-value-0123456789abcdef0123" {
		t.Fatalf("Secret = %q, %v", got, err)
	}
	if got, err := s.Secret(ctx, "session", []byte("second")); err != nil || string(got) != "first-value-0123456789abcdef0123" {
		t.Fatalf("second Secret = %q, %v; want the first value kept", got, err)
	}
	if got, err := s.Secret(ctx, "other", []byte{0, 1, 2, 255}); err != nil || string(got) != "\x00\x01\x02\xff" {
		t.Fatalf("Secret(other) = %q, %v", got, err)
	}
}
