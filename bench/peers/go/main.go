// spawnjoin-go: the Go peer of bench/spawn_join.c. Goroutine create + join,
// sequential, on one P (GOMAXPROCS=1, set here).
//
//	seq    go func() { done <- struct{}{} }(); <-done          N times
//	batch  start B goroutines, then wait for the B of them     N/B times
//
// "done" is one buffered channel (capacity B) reused for the whole run; the
// join is the receive. One untimed warm-up of N/10, then R timed repetitions
// (time.Now is CLOCK_MONOTONIC); ns per create+join, median and min-max.
//
//	spawnjoin-go [-iters N] [-reps R] [-batch B] [-tsv]
//
// -tsv prints "name<TAB>median<TAB>min<TAB>max<TAB>iters<TAB>-1<TAB>reps" lines
// (the same format as spawn_join --tsv; -1: syscalls not counted).
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sort"
	"strings"
	"time"
)

var done chan struct{}

func seq(n int) {
	for i := 0; i < n; i++ {
		go func() { done <- struct{}{} }()
		<-done
	}
}

func batch(n, b int) {
	for i := 0; i < n; i += b {
		for j := 0; j < b; j++ {
			go func() { done <- struct{}{} }()
		}
		for j := 0; j < b; j++ {
			<-done
		}
	}
}

func main() {
	iters := flag.Int("iters", 1000000, "create+joins per repetition")
	reps := flag.Int("reps", 7, "repetitions")
	b := flag.Int("batch", 100, "batch size")
	tsv := flag.Bool("tsv", false, "machine-readable output")
	flag.Parse()
	runtime.GOMAXPROCS(1)
	done = make(chan struct{}, *b)

	type result struct {
		name, what string
		n          int
		v          []float64
	}
	nb := (*iters + *b - 1) / *b * *b
	results := []*result{
		{name: "seq", what: "go + receive, one at a time", n: *iters},
		{name: "batch", what: "start B, then receive B (per goroutine)", n: nb},
	}
	run := func(r *result, n int) {
		if r.name == "seq" {
			seq(n)
		} else {
			batch(n, *b)
		}
	}
	for _, r := range results {
		w := r.n / 10
		if w < *b {
			w = *b
		}
		run(r, w/(*b)*(*b))
		for i := 0; i < *reps; i++ {
			t0 := time.Now()
			run(r, r.n)
			r.v = append(r.v, float64(time.Since(t0).Nanoseconds())/float64(r.n))
		}
	}
	if !*tsv {
		fmt.Printf("spawnjoin-go (%s, GOMAXPROCS=1): %d reps x %d, batch %d\n\n",
			runtime.Version(), *reps, *iters, *b)
		fmt.Printf("| variant | ns per create+join median | min-max |\n|---|---|---|\n")
	}
	for _, r := range results {
		s := append([]float64(nil), r.v...)
		sort.Float64s(s)
		med := s[len(s)/2]
		if len(s)%2 == 0 {
			med = (s[len(s)/2-1] + s[len(s)/2]) / 2
		}
		if *tsv {
			reps := make([]string, len(r.v))
			for i, x := range r.v {
				reps[i] = fmt.Sprintf("%.3f", x)
			}
			fmt.Printf("%s\t%.3f\t%.3f\t%.3f\t%d\t-1\t%s\n", r.name, med, s[0],
				s[len(s)-1], r.n, strings.Join(reps, ","))
		} else {
			fmt.Printf("| %s: %s | %.1f | %.1f-%.1f |\n", r.name, r.what, med, s[0],
				s[len(s)-1])
		}
	}
}
