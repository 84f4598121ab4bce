package capture

import "net/http"

// recordOverhead approximates the fixed cost of a Record and its small
// allocations (the struct, id, URL, map headers), so that many tiny records
// still count against a byte budget.
const recordOverhead = 2 << 10

// MemSize returns roughly how many bytes r keeps alive: the capacity of its
// captured bodies, timing marks and headers, and, once analysed, the text
// derived from them. A queue with a byte budget counts records by it, so it
// must not undercount: it counts capacities, not lengths.
func (r *Record) MemSize() int64 {
	n := int64(recordOverhead)
	n += int64(cap(r.ReqBody.Head) + cap(r.RespBody.Head) + cap(r.ReqBody.tail) + cap(r.RespBody.tail))
	n += int64(cap(r.Marks)) * 16
	n += headerSize(r.ReqHeader) + headerSize(r.RespHeader)
	n += int64(len(r.URL) + len(r.Query))
	if r.Analyzed {
		// The stored request body is Head itself; a decoded response body
		// is a copy when the answer was compressed.
		if len(r.RespBodyStored) > 0 && len(r.RespBody.Head) > 0 && &r.RespBodyStored[0] != &r.RespBody.Head[0] {
			n += int64(cap(r.RespBodyStored))
		}
		n += int64(len(r.Content) + len(r.Reasoning) + len(r.ToolCallsJSON) + len(r.Error) +
			len(r.ReqHeaderJSON) + len(r.RespHeaderJSON))
	}
	return n
}

// headerSize is the bytes of h's names and values.
func headerSize(h http.Header) int64 {
	var n int64
	for k, vs := range h {
		n += int64(len(k))
		for _, v := range vs {
			n += int64(len(v)) + 16
		}
	}
	return n
}
