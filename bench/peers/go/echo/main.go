// echo-go: the Go peer of coil's echo_server. One goroutine per connection,
// a 16 KiB buffer, Read then Write of what came; GOMAXPROCS=1 (set here, so
// the runtime runs Go code on one thread, like the other single-threaded
// servers; --procs N sets GOMAXPROCS=N). Go's net package sets TCP_NODELAY
// on accepted connections.
//
//	echo-go --port N [--exit-after N] [--procs N]
//
// --port 0 picks a free port; prints "listening on 127.0.0.1:PORT" (stdout is
// unbuffered in Go). --exit-after N: exit 0 after N connections have closed
// (for valgrind). SIGINT/SIGTERM: exit 0.
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"runtime"
	"sync/atomic"
	"syscall"
)

func main() {
	port := flag.Int("port", 0, "port (0: any)")
	exitAfter := flag.Int64("exit-after", -1, "exit after N closed connections")
	procs := flag.Int("procs", 1, "GOMAXPROCS")
	flag.Parse()
	if *procs < 1 {
		fmt.Fprintln(os.Stderr, "echo-go: --procs must be >= 1")
		os.Exit(2)
	}
	runtime.GOMAXPROCS(*procs)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() { <-sigs; os.Exit(0) }()

	ln, err := net.Listen("tcp4", fmt.Sprintf("127.0.0.1:%d", *port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "echo-go:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on 127.0.0.1:%d\n", ln.Addr().(*net.TCPAddr).Port)
	var closed int64
	for {
		c, err := ln.Accept()
		if err != nil {
			continue
		}
		go func(c net.Conn) {
			buf := make([]byte, 16384)
			for {
				n, err := c.Read(buf)
				if n > 0 {
					if _, werr := c.Write(buf[:n]); werr != nil {
						break
					}
				}
				if err != nil {
					break
				}
			}
			c.Close()
			if *exitAfter >= 0 && atomic.AddInt64(&closed, 1) >= *exitAfter {
				os.Exit(0)
			}
		}(c)
	}
}
