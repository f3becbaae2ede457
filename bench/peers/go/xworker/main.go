// xworker-go: the Go peer of bench/xworker.c, on two Ps (GOMAXPROCS=2, set
// here). Go does not let a program place a goroutine on a thread: the
// scheduler decides (a woken goroutine usually goes to the waker's P, and
// an idle P's thread spins a while before it sleeps), so "cross" here means
// what Go does with two Ps, not a forced crossing.
//
//	cross-pingpong-rdv   two goroutines bounce a value over unbuffered channels
//	cross-pingpong-cap1  the same over channels of capacity 1
//	cross-spawn-join     go f() and wait for its result on a channel, one at a time
//	wake-worker-p50/p99  a goroutine sleeps 100 us, stamps the time and sends
//	                     it to a goroutine blocked in a receive: ns from the
//	                     stamp to the receiver running
//	forced-pingpong-rdv  cross-pingpong-rdv with the echo goroutine locked to
//	                     its thread (runtime.LockOSThread: the way a Go
//	                     program keeps a goroutine on a thread), so every
//	                     hand-off crosses threads, as coil's cross-* rows do
//	forced-wake-p50/p99  wake-worker with the receiver locked to its thread:
//	                     the wake must reach that sleeping thread (coil's
//	                     wake-worker)
//
// Prints "name<TAB>median<TAB>min<TAB>max<TAB>iters<TAB>reps" (xworker
// --tsv's format).
//
//	xworker-go [-iters N] [-wakes W] [-reps R]
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sort"
	"time"
)

func pingpong(n, capacity int, locked bool) float64 {
	ping := make(chan int, capacity)
	pong := make(chan int, capacity)
	go func() {
		if locked {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		for v := range ping {
			pong <- v + 1
		}
		close(pong)
	}()
	v := 0
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ping <- v
		v = <-pong
	}
	d := time.Since(t0)
	close(ping)
	for range pong {
	}
	if v != n {
		panic("pingpong: wrong value")
	}
	return float64(d.Nanoseconds()) / float64(n)
}

func spawnJoin(n int) float64 {
	done := make(chan int)
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func(x int) { done <- x }(i + 1)
		if <-done != i+1 {
			panic("spawn-join: wrong value")
		}
	}
	return float64(time.Since(t0).Nanoseconds()) / float64(n)
}

func wake(n int, locked bool) (float64, float64) {
	ch := make(chan time.Time, 1)
	lat := make([]float64, n)
	fin := make(chan struct{})
	go func() {
		if locked {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		for i := 0; i < n; i++ {
			t := <-ch
			lat[i] = float64(time.Since(t).Nanoseconds())
		}
		close(fin)
	}()
	for i := 0; i < n; i++ {
		time.Sleep(100 * time.Microsecond)
		ch <- time.Now()
	}
	<-fin
	sort.Float64s(lat)
	return lat[n/2], lat[int(float64(n)*0.99)]
}

func report(name string, iters int, v []float64) {
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	r := len(s)
	med := s[r/2]
	if r%2 == 0 {
		med = (s[r/2-1] + s[r/2]) / 2
	}
	fmt.Printf("%s\t%.1f\t%.1f\t%.1f\t%d\t%d\n", name, med, s[0], s[r-1], iters, r)
}

func main() {
	runtime.GOMAXPROCS(2)
	iters := flag.Int("iters", 200000, "round trips per repetition")
	wakes := flag.Int("wakes", 2000, "wake samples per repetition")
	reps := flag.Int("reps", 5, "repetitions")
	flag.Parse()
	if *iters < 1 || *wakes < 100 || *reps < 1 {
		panic("bad -iters, -wakes or -reps")
	}
	for _, c := range []struct {
		name string
		cap  int
	}{{"cross-pingpong-rdv", 0}, {"cross-pingpong-cap1", 1}} {
		pingpong(*iters/10+1, c.cap, false)
		v := make([]float64, *reps)
		for i := range v {
			v[i] = pingpong(*iters, c.cap, false)
		}
		report(c.name, *iters, v)
	}
	sj := *iters/4 + 1
	spawnJoin(sj/10 + 1)
	v := make([]float64, *reps)
	for i := range v {
		v[i] = spawnJoin(sj)
	}
	report("cross-spawn-join", sj, v)
	for _, c := range []struct {
		name   string
		locked bool
	}{{"wake-worker", false}, {"forced-wake", true}} {
		wake(*wakes/10+1, c.locked)
		p50 := make([]float64, *reps)
		p99 := make([]float64, *reps)
		for i := range p50 {
			p50[i], p99[i] = wake(*wakes, c.locked)
		}
		report(c.name+"-p50", *wakes, p50)
		report(c.name+"-p99", *wakes, p99)
	}
	pingpong(*iters/10+1, 0, true)
	v = make([]float64, *reps)
	for i := range v {
		v[i] = pingpong(*iters, 0, true)
	}
	report("forced-pingpong-rdv", *iters, v)
}
