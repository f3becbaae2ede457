// chan-go: the Go peer of bench/chan_pingpong.c, on one P (GOMAXPROCS=1).
//
//	pingpong-rdv      two goroutines bounce a value over unbuffered channels
//	pingpong-cap1     the same over channels of capacity 1
//	stream-cap128     one producer, one consumer, capacity 128: ns per message
//
// Prints "name<TAB>median<TAB>min<TAB>max<TAB>iters<TAB>reps" (chan_pingpong
// --tsv's format): ns per round trip (ping-pong) or per message (stream).
//
//	chan-go [-iters N] [-reps R]
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sort"
	"time"
)

func pingpong(n, capacity int) time.Duration {
	ping := make(chan int, capacity)
	pong := make(chan int, capacity)
	go func() {
		for v := range ping {
			pong <- v
		}
		close(pong)
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	d := time.Since(t0)
	close(ping)
	for range pong {
	}
	return d
}

func stream(n int) time.Duration {
	ch := make(chan int, 128)
	done := make(chan int)
	go func() {
		s := 0
		for v := range ch {
			s += v
		}
		done <- s
	}()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		ch <- i
	}
	close(ch)
	<-done
	return time.Since(t0)
}

func report(name string, iters, reps int, run func() time.Duration) {
	run() // warm-up
	ns := make([]float64, reps)
	for r := 0; r < reps; r++ {
		ns[r] = float64(run().Nanoseconds()) / float64(iters)
	}
	sort.Float64s(ns)
	fmt.Printf("%s\t%.1f\t%.1f\t%.1f\t%d\t%d\n", name, ns[reps/2], ns[0], ns[reps-1], iters, reps)
}

func main() {
	iters := flag.Int("iters", 1000000, "round trips or messages per repetition")
	reps := flag.Int("reps", 7, "repetitions")
	flag.Parse()
	runtime.GOMAXPROCS(1)
	n := *iters
	report("pingpong-rdv", n, *reps, func() time.Duration { return pingpong(n, 0) })
	report("pingpong-cap1", n, *reps, func() time.Duration { return pingpong(n, 1) })
	report("stream-cap128", n, *reps, func() time.Duration { return stream(n) })
}
