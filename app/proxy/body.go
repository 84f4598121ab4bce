package proxy

import (
	"bytes"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/openrouter-proxy/openrouter-proxy/app/capture"
)

// smallBody is the largest declared request length read in one allocation.
const smallBody = 256 << 10

// prepareBody buffers a request body of up to RetryBodyLimit bytes so that
// it can be replayed on retry; a larger body streams straight through, never
// held whole in memory, and is not retried. Every read from the client
// counts as progress for the watchdog, so only a silent client times out.
func (p *Proxy) prepareBody(r *http.Request, ex *exchange) error {
	if r.Body == nil || r.Body == http.NoBody {
		ex.watch.setPhase(phaseHeaders)
		return nil
	}
	r.Body = &watchedBody{ReadCloser: r.Body, d: ex.watch}
	limit := int64(p.opts.RetryBodyLimit)
	if r.ContentLength > limit {
		ex.rec.ReqBody.Head = make([]byte, 0, ex.rec.ReqBody.Limit)
		ex.reqTee = &teeReader{r: r.Body, body: &ex.rec.ReqBody}
		r.Body = ex.reqTee
		return nil
	}
	if r.ContentLength >= 0 && r.ContentLength <= smallBody {
		// The usual case: a known, small length, read in one allocation.
		buf := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, buf); err != nil {
			return err
		}
		// Read on to EOF: only then does net/http start watching the
		// connection, which is how a client that leaves cancels r.Context()
		// and so the upstream request.
		var eof [1]byte
		r.Body.Read(eof[:])
		p.buffered(r, ex, buf)
		return nil
	}
	// A larger or unknown length: read fixed-size pieces as they arrive, so
	// a client cannot make the proxy allocate by declaring a length, and a
	// huge chunked body costs at most the limit before it streams on.
	const piece = 64 << 10
	var pieces [][]byte
	var total int64
	for total <= limit {
		b := make([]byte, piece)
		n, err := io.ReadFull(r.Body, b)
		pieces, total = append(pieces, b[:n]), total+int64(n)
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if r.ContentLength >= 0 && total != r.ContentLength {
				return io.ErrUnexpectedEOF
			}
			p.buffered(r, ex, bytes.Join(pieces, nil))
			return nil
		}
		if err != nil {
			return err
		}
	}
	ex.rec.ReqBody.Head = make([]byte, 0, ex.rec.ReqBody.Limit)
	readers := make([]io.Reader, 0, len(pieces)+1)
	for _, b := range pieces {
		ex.rec.ReqBody.Write(b)
		readers = append(readers, bytes.NewReader(b))
	}
	ex.reqTee = &teeReader{r: io.MultiReader(append(readers, r.Body)...), body: &ex.rec.ReqBody, skip: total, closer: r.Body}
	r.Body = ex.reqTee
	return nil
}

// buffered keeps a whole request body for replay. The record shares the
// buffer when it keeps all of it; when it keeps only a head, the head is
// copied, so that the record waiting in the writer's queue does not hold
// the whole replay buffer (up to RETRY_BODY_LIMIT) alive.
func (p *Proxy) buffered(r *http.Request, ex *exchange, buf []byte) {
	ex.body = buf
	if limit := ex.rec.ReqBody.Limit; len(buf) > limit {
		ex.rec.ReqBody.Head = bytes.Clone(buf[:limit])
	} else {
		ex.rec.ReqBody.Head = buf
	}
	ex.rec.ReqBody.Size = int64(len(buf))
	r.Body = http.NoBody
	r.ContentLength = int64(len(buf))
	ex.watch.setPhase(phaseHeaders)
}

// watchedBody is the client's request body; each read is progress, and the
// end of the body starts the wait for the upstream's headers.
type watchedBody struct {
	io.ReadCloser
	d *watchdog
}

func (b *watchedBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && b.d.phase.Load() == phaseRequest {
		b.d.setPhase(phaseHeaders)
	} else if n > 0 {
		b.d.touch()
	}
	return n, err
}

// teeBody copies the upstream response body into the record as the
// ReverseProxy reads it, noting when each piece arrived.
type teeBody struct {
	rc  io.ReadCloser
	rec *capture.Record
	d   *watchdog
	eof bool
	err error
}

func (t *teeBody) Read(p []byte) (int, error) {
	n, err := t.rc.Read(p)
	if n > 0 {
		t.d.touch()
		t.rec.RespBody.Write(p[:n])
		t.rec.Marks.Add(t.rec.RespBody.Size, time.Since(t.rec.Start))
	}
	if err == io.EOF {
		t.eof = true
	} else if err != nil {
		t.err = err
	}
	return n, err
}

func (t *teeBody) Close() error { return t.rc.Close() }

// teeReader copies a streamed request body into the record as it is sent,
// skipping the first skip bytes, which were recorded already. The
// transport may still be reading the body after the exchange has ended (an
// upstream can answer before reading it all), so finish seals the tee
// before handing the record on, and later reads are passed on unrecorded.
type teeReader struct {
	r      io.Reader
	body   *capture.Body
	skip   int64
	closer io.Closer

	mu     sync.Mutex
	sealed bool
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if n > 0 {
		b := p[:n]
		t.mu.Lock()
		if !t.sealed {
			if t.skip > 0 {
				s := min(t.skip, int64(n))
				b, t.skip = b[s:], t.skip-s
			}
			t.body.Write(b)
		}
		t.mu.Unlock()
	}
	return n, err
}

// seal stops recording; after it returns the record's body is not touched.
func (t *teeReader) seal() {
	t.mu.Lock()
	t.sealed = true
	t.mu.Unlock()
}

func (t *teeReader) Close() error {
	if c, ok := t.r.(io.Closer); ok {
		return c.Close()
	}
	if t.closer != nil {
		return t.closer.Close()
	}
	return nil
}
