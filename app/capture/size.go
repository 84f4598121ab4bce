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
		// A stored body is its Head itself unless it was decoded or
		// scrubbed, which copies it.
		n += copySize(r.ReqBodyStored, r.ReqBody.Head) + copySize(r.RespBodyStored, r.RespBody.Head)
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

// copySize is the capacity of stored when it is not (a part of) head.
func copySize(stored, head []byte) int64 {
	if len(stored) == 0 || len(head) > 0 && &stored[0] == &head[0] {
		return 0
	}
	return int64(cap(stored))
}
