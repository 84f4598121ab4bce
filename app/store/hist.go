package store

import (
	"encoding/binary"
	"math"
	"slices"
)

// Rollups keep latencies as log-scale histograms: bucket i holds the
// values in (γ^(i-1), γ^i] milliseconds, with γ = histGrowth, and a
// quantile is reported as the point of its bucket that is the same
// relative distance from both edges, 2γ^i/(γ+1). Every value of the bucket
// is then within HistRelativeError of it, so a percentile read from a
// histogram is within HistRelativeError of the exact (nearest-rank) one.
// Values at or below histMinMs (including 0) share bucket histZero and are
// reported as 0.
const (
	histGrowth = 1.05
	// HistRelativeError is the largest relative error of a percentile
	// taken from the rollups' histograms: (γ-1)/(γ+1) for γ = 1.05, about
	// 2.44%.
	HistRelativeError = (histGrowth - 1) / (histGrowth + 1)
	histMinMs         = 0.001 // one microsecond
	histZero          = math.MinInt32
)

// The buckets a Hist keeps in its dense part: every value from histMinMs
// (bucket -141) to 1.05^4096 ms. Others (histZero, infinity, a corrupt
// stored index) go to its sparse part, so that no index can make it
// allocate much.
const (
	histDenseLo = -256
	histDenseHi = 4096
)

// histLogGrowth is ln γ.
var histLogGrowth = math.Log(histGrowth)

// histIndex returns the bucket of a value in milliseconds.
func histIndex(ms float64) int32 {
	if !(ms > histMinMs) { // also NaN
		return histZero
	}
	i := math.Ceil(math.Log(ms) / histLogGrowth)
	// Guard the edges against rounding: the bucket must hold ms.
	if math.Pow(histGrowth, i-1) >= ms {
		i--
	} else if math.Pow(histGrowth, i) < ms {
		i++
	}
	return int32(min(i, math.MaxInt32/2))
}

// histValue returns the value a bucket stands for.
func histValue(i int32) float64 {
	if i == histZero {
		return 0
	}
	return 2 * math.Pow(histGrowth, float64(i)) / (histGrowth + 1)
}

// Hist is a latency histogram being built or merged: counts by bucket. The
// zero value is empty and ready to use. Every store keeps its rollups'
// histograms in the form Encode writes, so that one format serves them all.
//
// Latencies fall in a narrow band of buckets (100 ms to a minute is
// buckets 95 to 225), so counts is dense from bucket lo: merging the
// thousands of stored histograms a query reads is then additions into a
// slice, not map updates.
type Hist struct {
	lo     int32
	counts []int64
	other  map[int32]int64 // buckets outside [histDenseLo, histDenseHi)
}

// Add counts one value in milliseconds.
func (h *Hist) Add(ms float64) { h.addN(histIndex(ms), 1) }

// addN adds n to bucket i.
func (h *Hist) addN(i int32, n int64) {
	if i < histDenseLo || i >= histDenseHi {
		if h.other == nil {
			h.other = map[int32]int64{}
		}
		h.other[i] += n
		return
	}
	switch {
	case len(h.counts) == 0:
		h.lo = i
		h.counts = append(h.counts[:0], n)
		return
	case i < h.lo:
		// Grow downwards, with room for a few more.
		lo := max(histDenseLo, i-8)
		grown := make([]int64, int(h.lo-lo)+len(h.counts), int(h.lo-lo)+cap(h.counts))
		copy(grown[h.lo-lo:], h.counts)
		h.lo, h.counts = lo, grown
	case int(i-h.lo) >= len(h.counts):
		h.counts = append(h.counts, make([]int64, int(i-h.lo)+1-len(h.counts))...)
	}
	h.counts[i-h.lo] += n
}

// Empty reports whether h counts nothing.
func (h *Hist) Empty() bool {
	for _, n := range h.counts {
		if n != 0 {
			return false
		}
	}
	for _, n := range h.other {
		if n != 0 {
			return false
		}
	}
	return true
}

// each calls fn for every bucket with a count, in ascending order.
func (h *Hist) each(fn func(i int32, n int64)) {
	var low, high []int32
	for i, n := range h.other {
		if n == 0 {
			continue
		}
		if i < histDenseLo {
			low = append(low, i)
		} else {
			high = append(high, i)
		}
	}
	slices.Sort(low)
	slices.Sort(high)
	for _, i := range low {
		fn(i, h.other[i])
	}
	for k, n := range h.counts {
		if n != 0 {
			fn(h.lo+int32(k), n)
		}
	}
	for _, i := range high {
		fn(i, h.other[i])
	}
}

// Merge adds o into h.
func (h *Hist) Merge(o *Hist) {
	if len(o.counts) > 0 {
		// Make room for o's range once, then add.
		h.addN(o.lo, 0)
		h.addN(o.lo+int32(len(o.counts))-1, 0)
		off := int(o.lo - h.lo)
		for k, n := range o.counts {
			h.counts[off+k] += n
		}
	}
	for i, n := range o.other {
		h.addN(i, n)
	}
}

// Encode returns h as stored: for each bucket in ascending order, the
// zigzag varint of its distance from the previous bucket (from 0 for the
// first) and the uvarint of its count. An empty histogram is empty.
func (h *Hist) Encode() []byte {
	b := make([]byte, 0, 2*len(h.counts)+4*len(h.other))
	var prev int64
	h.each(func(i int32, n int64) {
		b = binary.AppendVarint(b, int64(i)-prev)
		b = binary.AppendUvarint(b, uint64(n))
		prev = int64(i)
	})
	return b
}

// histReader reads a stored histogram's buckets in order.
type histReader struct {
	b    []byte
	prev int64
}

// next returns the next bucket and its count; ok is false at the end or at
// a malformed tail, which is ignored: a histogram is statistics, not data
// worth failing a query over.
func (r *histReader) next() (i int32, n int64, ok bool) {
	d, k := binary.Varint(r.b)
	if k <= 0 {
		return 0, 0, false
	}
	c, m := binary.Uvarint(r.b[k:])
	if m <= 0 {
		return 0, 0, false
	}
	r.b = r.b[k+m:]
	r.prev += d
	return int32(r.prev), int64(c), true
}

// MergeEncoded adds the stored histogram b (as Encode wrote it) into h.
func (h *Hist) MergeEncoded(b []byte) {
	r := histReader{b: b}
	for {
		i, n, ok := r.next()
		if !ok {
			return
		}
		h.addN(i, n)
	}
}

// MergeHists returns the stored sum of two stored histograms, merging the
// two sorted streams of buckets without building either. The rollups'
// upsert calls it for every row a batch adds to.
func MergeHists(a, b []byte) []byte {
	out := make([]byte, 0, len(a)+len(b))
	ra, rb := histReader{b: a}, histReader{b: b}
	ia, na, oka := ra.next()
	ib, nb, okb := rb.next()
	var prev int64
	emit := func(i int32, n int64) {
		out = binary.AppendVarint(out, int64(i)-prev)
		out = binary.AppendUvarint(out, uint64(n))
		prev = int64(i)
	}
	for oka || okb {
		switch {
		case oka && (!okb || ia < ib):
			emit(ia, na)
			ia, na, oka = ra.next()
		case okb && (!oka || ib < ia):
			emit(ib, nb)
			ib, nb, okb = rb.next()
		default: // the same bucket in both
			emit(ia, na+nb)
			ia, na, oka = ra.next()
			ib, nb, okb = rb.next()
		}
	}
	return out
}

// Quantiles returns the nearest-rank quantiles qs (each in (0, 1]) of h, in
// milliseconds, each within HistRelativeError of the exact one; zeros when
// h is empty.
func (h *Hist) Quantiles(qs ...float64) []float64 {
	out := make([]float64, len(qs))
	var total int64
	h.each(func(_ int32, n int64) {
		if n > 0 {
			total += n
		}
	})
	if total == 0 {
		return out
	}
	ranks := make([]int64, len(qs))
	for k, q := range qs {
		// Nearest rank: the ceil(q·n)-th smallest value.
		ranks[k] = max(1, int64(math.Ceil(q*float64(total)-1e-9)))
	}
	done := make([]bool, len(qs))
	var seen int64
	h.each(func(i int32, n int64) {
		if n <= 0 {
			return
		}
		seen += n
		for k, rank := range ranks {
			if !done[k] && seen >= rank {
				out[k], done[k] = histValue(i), true
			}
		}
	})
	return out
}
