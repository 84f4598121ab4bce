package store

import (
	"bytes"
	"encoding/binary"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// refEncode is the stored form written out by its definition: the sorted
// buckets with a count, as zigzag deltas and uvarint counts.
func refEncode(counts map[int32]int64) []byte {
	var idx []int32
	for i, n := range counts {
		if n != 0 {
			idx = append(idx, i)
		}
	}
	slices.Sort(idx)
	var b []byte
	var prev int64
	for _, i := range idx {
		b = binary.AppendVarint(b, int64(i)-prev)
		b = binary.AppendUvarint(b, uint64(counts[i]))
		prev = int64(i)
	}
	return b
}

// TestHistStoredForm: whatever the buckets (zero, dense, beyond the dense
// range, infinity), Encode writes the stored form, MergeEncoded reads it
// back, and MergeHists adds two stored histograms as decoding, adding and
// encoding them would.
func TestHistStoredForm(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := func() []float64 {
		var vs []float64
		for range r.IntN(40) {
			switch r.IntN(6) {
			case 0:
				vs = append(vs, 0)
			case 1:
				vs = append(vs, math.Inf(1))
			case 2:
				vs = append(vs, math.Pow(histGrowth, 5000)) // beyond the dense range
			default:
				vs = append(vs, math.Exp(r.Float64()*20-5))
			}
		}
		return vs
	}
	for range 200 {
		a, b := values(), values()
		ref := map[int32]int64{}
		var ha, hb Hist
		for _, v := range a {
			ha.Add(v)
			ref[histIndex(v)]++
		}
		refA := refEncode(ref)
		for _, v := range b {
			hb.Add(v)
			ref[histIndex(v)]++
		}
		if got := ha.Encode(); !bytes.Equal(got, refA) {
			t.Fatalf("Encode = %x, want %x", got, refA)
		}
		want := refEncode(ref)
		if got := MergeHists(ha.Encode(), hb.Encode()); !bytes.Equal(got, want) {
			t.Fatalf("MergeHists = %x, want %x", got, want)
		}
		var read Hist
		read.MergeEncoded(ha.Encode())
		read.MergeEncoded(hb.Encode())
		if got := read.Encode(); !bytes.Equal(got, want) {
			t.Fatalf("MergeEncoded = %x, want %x", got, want)
		}
		sum := ha
		sum.counts = slices.Clone(ha.counts)
		sum.Merge(&hb)
		if got := sum.Encode(); !bytes.Equal(got, want) {
			t.Fatalf("Merge = %x, want %x", got, want)
		}
		if sum.Empty() != (len(a)+len(b) == 0) {
			t.Fatalf("empty() = %v with %d values", sum.Empty(), len(a)+len(b))
		}
	}
}

// TestHistQuantiles: nearest-rank quantiles within the stated error, zero
// for values at or below a microsecond, and a corrupt stored index neither
// crashes nor allocates its range.
func TestHistQuantiles(t *testing.T) {
	var h Hist
	for v := 1; v <= 100; v++ {
		h.Add(float64(v))
	}
	for i, q := range h.Quantiles(0.5, 0.95, 0.99, 1) {
		want := []float64{50, 95, 99, 100}[i]
		if math.Abs(q-want)/want > HistRelativeError {
			t.Errorf("quantile %d = %v, want %v within %v", i, q, want, HistRelativeError)
		}
	}
	var z Hist
	z.Add(0)
	z.Add(0.0005)
	z.Add(10)
	if q := z.Quantiles(0.5, 1); q[0] != 0 || math.Abs(q[1]-10)/10 > HistRelativeError {
		t.Errorf("quantiles = %v, want [0 ~10]", q)
	}
	var bad Hist
	bad.MergeEncoded(binary.AppendUvarint(binary.AppendVarint(nil, math.MaxInt32-5), 3))
	if len(bad.counts) != 0 || bad.other[math.MaxInt32-5] != 3 {
		t.Errorf("a far index: dense %d buckets, sparse %v", len(bad.counts), bad.other)
	}
	if q := (&Hist{}).Quantiles(0.5); q[0] != 0 {
		t.Errorf("empty quantile = %v, want 0", q[0])
	}
}
