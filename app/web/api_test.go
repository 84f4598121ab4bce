package web_test

import (
	"bytes"
	"encoding/base64"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// listNames asks /api/requests with query as the user of cookie and
// returns the fixture names in the answer.
func (e *env) listNames(t *testing.T, c *http.Cookie, query string) ([]string, listResponse) {
	t.Helper()
	return e.listNamesWith(t, query, withCookie(c))
}

// listNamesWith is listNames with any credentials.
func (e *env) listNamesWith(t *testing.T, query string, opts ...reqOpt) ([]string, listResponse) {
	t.Helper()
	w := e.get("/api/requests?"+query, opts...)
	wantStatus(t, w, http.StatusOK)
	got := decode[listResponse](t, w)
	ids := make([]string, 0, len(got.Requests))
	for _, r := range got.Requests {
		if r.ID == "" {
			t.Fatalf("a request without id in %s", w.Body)
		}
		ids = append(ids, r.ID)
	}
	return e.recordNames(ids), got
}

func TestAPIRequestsVisibility(t *testing.T) {
	e := newSeededEnv(t)
	users := e.sessions()
	tests := []struct {
		user     string
		want     []string
		wantMask bool // the key column is for admins only
	}{
		{"alice", aliceSees, false},
		{"bob", bobSees, false},
		{"admin", adminSees, true},
	}
	for _, tc := range tests {
		t.Run(tc.user+"SeesOnlyWhatIsTheirs", func(t *testing.T) {
			names, got := e.listNames(t, users[tc.user], "")
			if !slices.Equal(names, tc.want) || got.TotalCount != int64(len(tc.want)) {
				t.Errorf("got %v (total_count %d), want %v", names, got.TotalCount, tc.want)
			}
			if got.Page != 1 || got.PageSize != 50 {
				t.Errorf("page %d, page_size %d; want 1 and PAGE_SIZE 50", got.Page, got.PageSize)
			}
			for _, r := range got.Requests {
				if (r.KeyMask != "") != tc.wantMask {
					t.Errorf("record %s: key_mask %q; shown to admins only", e.names[r.ID], r.KeyMask)
				}
			}
		})
	}
}

func TestAPIRequestsFilters(t *testing.T) {
	e := newSeededEnv(t)
	users := e.sessions()
	rfc := func(d time.Duration) string { return url.QueryEscape(e.now.Add(-d).UTC().Format(time.RFC3339)) }
	tests := []struct {
		name, user, query string
		want              []string
		wantTotal         int64 // -1: len(want)
	}{
		{"SearchMatchesPath", "alice", "search=embeddings", []string{"alice-binary"}, -1},
		{"SearchIgnoresCase", "alice", "search=EMBEDDINGS", []string{"alice-binary"}, -1},
		{"SearchMatchesBody", "alice", "search=Weather+in+Paris", []string{"alice-chat"}, -1},
		{"SearchCannotReachOtherKeys", "alice", "search=mistral", nil, -1},
		{"AdminSearchReachesAllKeys", "admin", "search=mistral", []string{"bob-chat"}, -1},
		{"SearchIsLiteral", "alice", "search=a%25b", nil, -1},
		{"OnlyPunctuationIsNoSearch", "alice", "search=%25", aliceSees, -1},
		{"StatusError", "alice", "status=error", []string{"alice-500"}, -1},
		{"StatusSuccess", "alice", "status=success", []string{"alice-chat", "alice-models", "alice-binary"}, -1},
		{"Status5xx", "alice", "status=5xx", []string{"alice-500"}, -1},
		{"Status4xxForUser", "alice", "status=4xx", nil, -1},
		{"Status4xxForAdmin", "admin", "status=4xx", []string{"default-429"}, -1},
		{"Status2xx", "bob", "status=2xx", bobSees, -1},
		{"Model", "alice", "model=anthropic/claude-sonnet-4.5", []string{"alice-500"}, -1},
		{"ModelOfOtherKey", "alice", "model=mistralai/mistral-large", nil, -1},
		{"MethodIgnoresCase", "alice", "method=get", []string{"alice-models"}, -1},
		{"From", "alice", "from=" + rfc(90*time.Minute), []string{"alice-chat", "alice-models", "alice-binary"}, -1},
		{"To", "alice", "to=" + rfc(90*time.Minute), []string{"alice-500"}, -1},
		{"FromAndTo", "admin", "from=" + rfc(15*time.Minute) + "&to=" + rfc(3*time.Minute), []string{"bob-chat", "alice-chat"}, -1},
		{"AdminPicksKey", "admin", "key=" + capture.Fingerprint(aliceKey), aliceSees, -1},
		{"UserCannotPickOtherKey", "alice", "key=" + capture.Fingerprint(bobKey), aliceSees, -1},
		{"Combined", "admin", "method=POST&status=success&search=chat", []string{"bob-xss", "bob-chat", "alice-chat"}, -1},
		{"FirstPage", "admin", "page_size=3", []string{"bob-xss", "bob-chat", "alice-chat"}, 7},
		{"SecondPage", "admin", "page_size=3&page=2", []string{"alice-models", "alice-binary", "alice-500"}, 7},
		{"LastPage", "admin", "page_size=3&page=3", []string{"default-429"}, 7},
		{"PastTheEnd", "bob", "page_size=3&page=9", nil, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			names, got := e.listNames(t, users[tc.user], tc.query)
			if tc.wantTotal < 0 {
				tc.wantTotal = int64(len(tc.want))
			}
			if !slices.Equal(names, tc.want) && len(names)+len(tc.want) > 0 {
				t.Errorf("got %v, want %v", names, tc.want)
			}
			if got.TotalCount != tc.wantTotal {
				t.Errorf("total_count %d, want %d", got.TotalCount, tc.wantTotal)
			}
		})
	}

	t.Run("PageAndPageSizeEchoed", func(t *testing.T) {
		_, got := e.listNames(t, users["admin"], "page=2&page_size=3")
		if got.Page != 2 || got.PageSize != 3 {
			t.Errorf("page %d, page_size %d; want 2 and 3", got.Page, got.PageSize)
		}
	})
	t.Run("PageSizeIsCapped", func(t *testing.T) {
		_, got := e.listNames(t, users["admin"], "page_size=1000000")
		if got.PageSize != 500 {
			t.Errorf("page_size %d, want the cap 500", got.PageSize)
		}
	})
}

func TestBadInputIs400(t *testing.T) {
	e := newSeededEnv(t)
	c := e.login(aliceKey)
	tests := []struct {
		query, wantInMsg string
	}{
		{"page=abc", "page"},
		{"page=0", "page"},
		{"page=-1", "page"},
		{"page=1.5", "page"},
		{"page=99999999999999999999", "page"},
		// (page-1)*page_size would wrap around to offset 2.
		{"page=1106804644422573098", "page"},
		{"page_size=0", "page_size"},
		{"page_size=x", "page_size"},
		{"status=weird", "status"},
		{"from=garbage", "from"},
		{"from=2026-13-45", "from"},
		{"to=garbage", "to"},
		{"to=%3Cscript%3E", "to"},
	}
	for _, tc := range tests {
		t.Run("API "+tc.query, func(t *testing.T) {
			for _, path := range []string{"/api/requests", "/api/stats"} {
				msg := wantJSONError(t, e.get(path+"?"+tc.query, withCookie(c)), http.StatusBadRequest)
				if !strings.Contains(msg, tc.wantInMsg) {
					t.Errorf("%s: message %q does not name %q", path, msg, tc.wantInMsg)
				}
			}
		})
		t.Run("Pages "+tc.query, func(t *testing.T) {
			for _, path := range []string{"/", "/partials/requests"} {
				w := e.get(path+"?"+tc.query, withCookie(c))
				wantStatus(t, w, http.StatusBadRequest)
				if !strings.Contains(w.Body.String(), tc.wantInMsg) {
					t.Errorf("%s: body %q does not name %q", path, w.Body, tc.wantInMsg)
				}
			}
		})
	}
}

// maxSearchBytes is search.Parse's bound on a search, in bytes.
const maxSearchBytes = 1000

// A search longer than search.Parse takes answers 400 with a message on
// every route that takes one; odd bytes in it never make a 500.
func TestSearchInput(t *testing.T) {
	e := newSeededEnv(t)
	c := e.login(aliceKey)
	routes := []struct {
		path string
		json bool
	}{{"/api/requests", true}, {"/api/stats", true}, {"/", false}, {"/partials/requests", false}}

	long := []struct{ name, search string }{
		{"50000Characters", strings.Repeat("a", 50000)},
		{"JustOverTheBound", strings.Repeat("a", maxSearchBytes) + "é"},
		{"CharactersUnderTheBoundBytesOver", strings.Repeat("é", maxSearchBytes/2+1)},
	}
	for _, tc := range long {
		for _, r := range routes {
			t.Run("TooLongIs400 "+tc.name+" "+r.path, func(t *testing.T) {
				w := e.get(r.path+"?search="+url.QueryEscape(tc.search), withCookie(c))
				var msg string
				if r.json {
					msg = wantJSONError(t, w, http.StatusBadRequest)
				} else {
					wantStatus(t, w, http.StatusBadRequest)
					msg = page(t, w).Find(byTestID("search-error")).Text()
				}
				if !strings.Contains(msg, "search") || !strings.Contains(msg, strconv.Itoa(maxSearchBytes)) {
					t.Errorf("message %q does not name search and its bound", msg)
				}
			})
		}
	}

	odd := []struct{ name, query string }{
		{"AtTheBound", "search=" + strings.Repeat("é", maxSearchBytes/2)},
		{"NULByte", "search=chat%00"},
		{"OnlyNUL", "search=%00"},
		{"InvalidUTF8", "search=%ff%fe"},
		{"TruncatedUTF8", "search=caf%c3"},
		{"LikeWildcards", "search=%25_%5C"},
	}
	for _, tc := range odd {
		for _, r := range routes {
			t.Run("Never500 "+tc.name+" "+r.path, func(t *testing.T) {
				w := e.get(r.path+"?"+tc.query, withCookie(c))
				if w.Code != http.StatusOK && w.Code != http.StatusBadRequest {
					t.Errorf("status %d, want 200 or 400; body:\n%.500s", w.Code, w.Body)
				}
			})
		}
	}
}

// detailResponse is the part of GET /api/request/{id} the tests read.
type detailResponse struct {
	ID               string            `json:"id"`
	Method           string            `json:"method"`
	URL              string            `json:"url"`
	Path             string            `json:"path"`
	ResponseStatus   int               `json:"response_status"`
	DurationMs       float64           `json:"duration_ms"`
	Outcome          string            `json:"outcome"`
	Stream           bool              `json:"is_stream"`
	ModelRequested   string            `json:"model_requested"`
	Model            string            `json:"model"`
	KeyMask          string            `json:"key_mask"`
	Headers          map[string]string `json:"headers"`
	Body             string            `json:"body"`
	BodyEncoding     string            `json:"body_encoding"`
	BodySize         int64             `json:"body_size"`
	ResponseHeaders  map[string]string `json:"response_headers"`
	ResponseBody     string            `json:"response_body"`
	ResponseEncoding string            `json:"response_body_encoding"`
	Content          string            `json:"content"`
	FinishReason     string            `json:"finish_reason"`
	Usage            struct {
		PromptTokens     int64 `json:"prompt_tokens"`
		CompletionTokens int64 `json:"completion_tokens"`
		TotalTokens      int64 `json:"total_tokens"`
	} `json:"usage"`
}

func TestAPIRequestDetail(t *testing.T) {
	e := newSeededEnv(t)
	users := e.sessions()

	t.Run("FullRecordWithMaskedAuthorization", func(t *testing.T) {
		w := e.get("/api/request/"+e.ids["alice-chat"], withCookie(users["alice"]))
		wantStatus(t, w, http.StatusOK)
		d := decode[detailResponse](t, w)
		checks := []struct {
			field     string
			got, want any
		}{
			{"id", d.ID, e.ids["alice-chat"]},
			{"method", d.Method, "POST"},
			{"url", d.URL, "/v1/chat/completions"},
			{"path", d.Path, "/chat/completions"},
			{"response_status", d.ResponseStatus, 200},
			{"duration_ms", d.DurationMs, 100.0},
			{"outcome", d.Outcome, "ok"},
			{"is_stream", d.Stream, true},
			{"model", d.Model, "openai/gpt-4o-mini"},
			{"model_requested", d.ModelRequested, "openai/gpt-4o-mini"},
			{"key_mask", d.KeyMask, capture.Mask(aliceKey)},
			{"headers.Authorization", d.Headers["Authorization"], "Bearer " + capture.Mask(aliceKey)},
			{"headers.Content-Type", d.Headers["Content-Type"], "application/json"},
			{"response_headers.Content-Type", d.ResponseHeaders["Content-Type"], "text/event-stream"},
			{"body", d.Body, chatRequest},
			{"body_encoding", d.BodyEncoding, "utf-8"},
			{"body_size", d.BodySize, int64(len(chatRequest))},
			{"response_body", d.ResponseBody, chatStream},
			{"response_body_encoding", d.ResponseEncoding, "utf-8"},
			{"content", d.Content, chatReply},
			{"finish_reason", d.FinishReason, "stop"},
			{"usage.prompt_tokens", d.Usage.PromptTokens, int64(42)},
			{"usage.completion_tokens", d.Usage.CompletionTokens, int64(6)},
			{"usage.total_tokens", d.Usage.TotalTokens, int64(48)},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s = %#v, want %#v", c.field, c.got, c.want)
			}
		}
	})

	t.Run("NonUTF8BodyComesBackAsBase64", func(t *testing.T) {
		w := e.get("/api/request/"+e.ids["alice-binary"], withCookie(users["alice"]))
		wantStatus(t, w, http.StatusOK)
		d := decode[detailResponse](t, w)
		if d.BodyEncoding != "base64" {
			t.Fatalf("body_encoding %q, want base64", d.BodyEncoding)
		}
		got, err := base64.StdEncoding.DecodeString(d.Body)
		if err != nil || !bytes.Equal(got, binaryBody) {
			t.Errorf("body decodes to %x (err %v), want %x", got, err, binaryBody)
		}
		if d.ResponseEncoding != "utf-8" {
			t.Errorf("response_body_encoding %q, want utf-8", d.ResponseEncoding)
		}
	})

	for _, tc := range detailVisibility {
		t.Run(tc.name, func(t *testing.T) {
			id := e.caseID(tc)
			w := e.get("/api/request/"+url.PathEscape(id), withCookie(users[tc.user]))
			if tc.want == http.StatusOK {
				wantStatus(t, w, http.StatusOK)
				if d := decode[detailResponse](t, w); d.ID != id {
					t.Errorf("id %q, want %q", d.ID, id)
				}
				return
			}
			wantJSONError(t, w, tc.want)
			if strings.Contains(w.Body.String(), "Bonjour") || strings.Contains(w.Body.String(), "Rate limit") {
				t.Errorf("404 body reveals the record: %s", w.Body)
			}
		})
	}
}

// statsResponse is GET /api/stats.
type statsResponse struct {
	TotalRequests   *int64   `json:"total_requests"`
	SuccessRate     *float64 `json:"success_rate"`
	AvgResponseTime *float64 `json:"avg_response_time"`
	RecentRequests  *int64   `json:"recent_requests_count"`
	SuccessCount    int64    `json:"success_count"`
	ErrorCount      int64    `json:"error_count"`
	TotalTokens     int64    `json:"total_tokens"`
}

func TestAPIStats(t *testing.T) {
	e := newSeededEnv(t)
	users := e.sessions()
	tests := []struct {
		name, user, query      string
		total, recent, success int64
		rate, avgMs            float64
		tokens                 int64
	}{
		{"Alice", "alice", "", 4, 3, 3, 75, 250, 48},
		{"Bob", "bob", "", 2, 2, 2, 100, 750, 30},
		{"Admin", "admin", "", 7, 5, 5, 500.0 / 7, 2550.0 / 7, 78},
		{"AdminFilteredToErrors", "admin", "status=error", 2, 0, 0, 0, 175, 0},
		{"AliceCannotCountBobByKey", "alice", "key=" + capture.Fingerprint(bobKey), 4, 3, 3, 75, 250, 48},
		{"AliceSearchOutsideHerKey", "alice", "search=mistral", 0, 0, 0, 0, 0, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := e.get("/api/stats?"+tc.query, withCookie(users[tc.user]))
			wantStatus(t, w, http.StatusOK)
			s := decode[statsResponse](t, w)
			if s.TotalRequests == nil || s.SuccessRate == nil || s.AvgResponseTime == nil || s.RecentRequests == nil {
				t.Fatalf("stats %s lack one of total_requests, success_rate, avg_response_time, recent_requests_count", w.Body)
			}
			if *s.TotalRequests != tc.total || *s.RecentRequests != tc.recent || s.SuccessCount != tc.success ||
				s.ErrorCount != tc.total-tc.success || s.TotalTokens != tc.tokens {
				t.Errorf("got %s\nwant total %d, recent %d, success %d, errors %d, tokens %d",
					w.Body, tc.total, tc.recent, tc.success, tc.total-tc.success, tc.tokens)
			}
			if math.Abs(*s.SuccessRate-tc.rate) > 1e-9 || math.Abs(*s.AvgResponseTime-tc.avgMs) > 1e-6 {
				t.Errorf("success_rate %v, avg_response_time %v; want %v and %v", *s.SuccessRate, *s.AvgResponseTime, tc.rate, tc.avgMs)
			}
		})
	}
}
