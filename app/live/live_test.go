package live_test

import (
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
	"github.com/openrouter-proxy/openrouter-proxy/app/live"
)

func all(*live.Pending) bool { return true }

func TestPendingLifecycle(t *testing.T) {
	tr := live.New()
	v0 := tr.Version()
	rec := &capture.Record{ID: "01", Start: time.Now(), Method: "POST", Path: "/chat/completions", APIKey: "sk-or-v1-abcdefghijklmnopqrstuvwxyz0123"}
	rec.ReqBody.Limit = 1 << 20
	rec.ReqBody.Write([]byte(`{"messages":[], "model" : "openai/gpt-4o-mini", "stream":true}`))
	tr.Begin(rec)
	if tr.Version() == v0 {
		t.Fatal("Begin did not change the version")
	}
	p := tr.Pending(all)
	if len(p) != 1 || p[0].Model != "openai/gpt-4o-mini" || p[0].KeyHash != capture.Fingerprint(rec.APIKey) || p[0].KeyMask != "sk-or-v1…0123" {
		t.Fatalf("pending %+v", p)
	}
	tr.End(rec)
	if len(tr.Pending(all)) != 1 {
		t.Fatal("an exchange must stay pending until the store commits it")
	}
	v1 := tr.Version()
	tr.Committed([]*capture.Record{rec})
	if len(tr.Pending(all)) != 0 || tr.Version() == v1 {
		t.Fatal("Committed must remove the row and change the version")
	}
}

func TestPendingFilter(t *testing.T) {
	tr := live.New()
	for _, id := range []string{"a", "b", "c"} {
		tr.Begin(&capture.Record{ID: id, Start: time.Now()})
	}
	got := tr.Pending(func(p *live.Pending) bool { return p.ID != "b" })
	if len(got) != 2 || got[0].ID != "c" || got[1].ID != "a" {
		t.Fatalf("want c, a newest first; got %+v", got)
	}
}

func TestPeekModel(t *testing.T) {
	for body, want := range map[string]string{
		`{"model":"x/y"}`:              "x/y",
		`{"model" :  "a"}`:             "a",
		`{"model": 5}`:                 "",
		`not json "model"`:             "",
		`{"messages":[],"model":"m2"}`: "m2",
	} {
		rec := &capture.Record{ID: body}
		rec.ReqBody.Limit = 1 << 20
		rec.ReqBody.Write([]byte(body))
		tr := live.New()
		tr.Begin(rec)
		if got := tr.Pending(all)[0].Model; got != want {
			t.Errorf("%s: model %q, want %q", body, got, want)
		}
	}
}

// versions reads the version an admin sees and the ones alice and bob see.
type versions struct{ all, alice, bob string }

func read(tr *live.Tracker) versions {
	return versions{tr.Version(), tr.KeyVersion("alice-hash"), tr.KeyVersion("bob-hash")}
}

func TestKeyVersion(t *testing.T) {
	tr := live.New()
	bob := &capture.Record{ID: "b1", Start: time.Now(), KeyHash: "bob-hash"}
	alice := &capture.Record{ID: "a1", Start: time.Now(), KeyHash: "alice-hash"}
	anonymous := &capture.Record{ID: "n1", Start: time.Now()}
	steps := []struct {
		name            string
		do              func()
		all, alice, bob bool // which versions must change
	}{
		{"BobBegins", func() { tr.Begin(bob) }, true, false, true},
		{"BobEnds", func() { tr.End(bob) }, false, false, false},
		{"BobCommitted", func() { tr.Committed([]*capture.Record{bob}) }, true, false, true},
		{"AnonymousBegins", func() { tr.Begin(anonymous) }, true, false, false},
		{"AnonymousCommitted", func() { tr.Committed([]*capture.Record{anonymous}) }, true, false, false},
		{"Pruned", func() { tr.Pruned([]string{"b1"}) }, true, false, false},
		{"AliceBegins", func() { tr.Begin(alice) }, true, true, false},
		{"AliceEnds", func() { tr.End(alice) }, false, false, false},
		{"BothCommitted", func() { tr.Committed([]*capture.Record{alice, bob}) }, true, true, true},
	}
	for _, s := range steps {
		before := read(tr)
		s.do()
		after := read(tr)
		for _, c := range []struct {
			who           string
			before, after string
			want          bool
		}{{"admin", before.all, after.all, s.all}, {"alice", before.alice, after.alice, s.alice}, {"bob", before.bob, after.bob, s.bob}} {
			if changed := c.before != c.after; changed != c.want {
				t.Errorf("%s: %s's version changed: %v, want %v", s.name, c.who, changed, c.want)
			}
		}
	}
}

// A dashboard left open across a restart holds a version of the old
// process; the new one must not answer it with "nothing changed".
func TestVersionsDifferAcrossRestarts(t *testing.T) {
	a, b := live.New(), live.New()
	if a.Version() == b.Version() {
		t.Errorf("two trackers start at the same version %q", a.Version())
	}
	if a.KeyVersion("alice-hash") == b.KeyVersion("alice-hash") {
		t.Errorf("two trackers give a quiet key the same version %q", a.KeyVersion("alice-hash"))
	}
}
