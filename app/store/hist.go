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

// hist is a histogram being built or merged: counts by bucket.
type hist map[int32]int64

// add counts one value in milliseconds.
func (h hist) add(ms float64) { h[histIndex(ms)]++ }

// encode returns h as stored: for each bucket in ascending order, the
// zigzag varint of its distance from the previous bucket (from 0 for the
// first) and the uvarint of its count. An empty histogram is empty.
func (h hist) encode() []byte {
	if len(h) == 0 {
		return []byte{}
	}
	idx := make([]int32, 0, len(h))
	for i, n := range h {
		if n != 0 {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	b := make([]byte, 0, 4*len(idx))
	var prev int64
	for _, i := range idx {
		b = binary.AppendVarint(b, int64(i)-prev)
		b = binary.AppendUvarint(b, uint64(h[i]))
		prev = int64(i)
	}
	return b
}

// merge adds the stored histogram b into h. A malformed tail is ignored:
// a histogram is statistics, not data worth failing a query over.
func (h hist) merge(b []byte) {
	var prev int64
	for len(b) > 0 {
		d, n := binary.Varint(b)
		if n <= 0 {
			return
		}
		b = b[n:]
		c, n := binary.Uvarint(b)
		if n <= 0 {
			return
		}
		b = b[n:]
		prev += d
		h[int32(prev)] += int64(c)
	}
}

// mergeHists returns the stored sum of two stored histograms.
func mergeHists(a, b []byte) []byte {
	h := hist{}
	h.merge(a)
	h.merge(b)
	return h.encode()
}

// quantiles returns the nearest-rank quantiles qs (each in (0, 1]) of h, in
// milliseconds, each within HistRelativeError of the exact one; zeros when
// h is empty.
func (h hist) quantiles(qs ...float64) []float64 {
	out := make([]float64, len(qs))
	var total int64
	idx := make([]int32, 0, len(h))
	for i, n := range h {
		if n > 0 {
			idx = append(idx, i)
			total += n
		}
	}
	if total == 0 {
		return out
	}
	slices.Sort(idx)
	for k, q := range qs {
		// Nearest rank: the ceil(q·n)-th smallest value.
		rank := max(1, int64(math.Ceil(q*float64(total)-1e-9)))
		var seen int64
		for _, i := range idx {
			seen += h[i]
			if seen >= rank {
				out[k] = histValue(i)
				break
			}
		}
	}
	return out
}
