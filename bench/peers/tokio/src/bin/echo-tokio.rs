//! echo-tokio: the Tokio peer of coil's echo_server. A current_thread runtime
//! (one thread, I/O driver on), one task per connection, a 16 KiB buffer,
//! read then write_all of what came; TCP_NODELAY on each accepted socket.
//! --threads N (N >= 1): a multi_thread runtime with N workers instead.
//!
//!   echo-tokio --port N [--exit-after N] [--threads N]
//!
//! --port 0 picks a free port; prints "listening on 127.0.0.1:PORT" (flushed).
//! --exit-after N: exit 0 after N connections have closed (for valgrind).
//! SIGINT/SIGTERM (tokio::signal): exit 0.
use std::io::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::signal::unix::{signal, SignalKind};

fn usage() -> ! {
    eprintln!("usage: echo-tokio --port N [--exit-after N] [--threads N]");
    std::process::exit(2)
}

fn main() {
    let mut port: u16 = 0;
    let mut exit_after: i64 = -1;
    let mut threads: usize = 0;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let v = args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--port" => port = v.parse().unwrap_or_else(|_| usage()),
            "--exit-after" => exit_after = v.parse().unwrap_or_else(|_| usage()),
            "--threads" => threads = v.parse().unwrap_or_else(|_| usage()),
            _ => usage(),
        }
    }
    let rt = if threads == 0 {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    } else {
        tokio::runtime::Builder::new_multi_thread().worker_threads(threads).enable_all().build().unwrap()
    };
    rt.block_on(async move {
        let ln = TcpListener::bind(("127.0.0.1", port)).await.unwrap_or_else(|e| {
            eprintln!("echo-tokio: bind: {e}");
            std::process::exit(1)
        });
        println!("listening on 127.0.0.1:{}", ln.local_addr().unwrap().port());
        std::io::stdout().flush().unwrap();
        for kind in [SignalKind::interrupt(), SignalKind::terminate()] {
            let mut s = signal(kind).unwrap();
            tokio::spawn(async move {
                s.recv().await;
                std::process::exit(0);
            });
        }
        let closed = Arc::new(AtomicI64::new(0));
        loop {
            let (mut sock, _) = match ln.accept().await {
                Ok(x) => x,
                Err(_) => continue,
            };
            let _ = sock.set_nodelay(true);
            let closed = closed.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 16384];
                loop {
                    match sock.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => {
                            if sock.write_all(&buf[..n]).await.is_err() {
                                break;
                            }
                        }
                    }
                }
                drop(sock);
                let n = closed.fetch_add(1, Ordering::Relaxed) + 1;
                if exit_after >= 0 && n >= exit_after {
                    std::process::exit(0);
                }
            });
        }
    });
}
