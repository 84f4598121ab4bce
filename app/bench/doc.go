// Package bench holds `task bench`: it drives the same load at the recording
// proxy, at a bare httputil.ReverseProxy and directly at the mock upstream, in
// one run, and reports throughput, latency percentiles and their ratios.
// It has no non-test code.
package bench
