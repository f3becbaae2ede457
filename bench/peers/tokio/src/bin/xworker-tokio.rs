//! xworker-tokio: the Tokio peer of bench/xworker.c, on a multi_thread
//! runtime with 2 workers. Tokio does not let a program place a task on a
//! worker: the scheduler decides (a woken task goes to the waker's LIFO
//! slot; idle workers steal), so "cross" means what Tokio does with two
//! workers, not a forced crossing. tokio::sync::mpsc has no rendezvous
//! (capacity 1 is the smallest).
//!
//!   cross-pingpong-cap1  two tasks bounce a value over mpsc channels of capacity 1
//!   cross-spawn-join     tokio::spawn and await its JoinHandle, one at a time
//!   wake-worker-p50/p99  a task sleeps 100 us (tokio::time), stamps the time and
//!                        sends it to a task blocked in recv: ns from the stamp
//!                        to the receiver running
//!   wake-thread-p50/p99  the same with the sender a plain std::thread
//!                        (blocking_send), which must wake a parked worker
//!   forced-pingpong-cap1 cross-pingpong-cap1 with each task on a
//!                        current_thread runtime of its own thread (Tokio's
//!                        thread-per-core pattern: the way a Tokio program
//!                        keeps a task on a thread), so every hand-off
//!                        crosses threads, as coil's cross-* rows do
//!   forced-spawn-join    spawn onto such a runtime of another thread (its
//!                        Handle) and await the JoinHandle (coil's
//!                        cross-spawn-join, coil_task_spawn_on)
//!   forced-wake-p50/p99  wake-worker with the receiver on such a runtime:
//!                        the wake must reach the other, sleeping, thread
//!                        (coil's wake-worker)
//!
//! Prints "name<TAB>median<TAB>min<TAB>max<TAB>iters<TAB>reps".
//!
//!   xworker-tokio [--iters N] [--wakes W] [--reps R]
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

async fn pingpong(n: usize) -> f64 {
    let (ping_tx, mut ping_rx) = mpsc::channel::<usize>(1);
    let (pong_tx, mut pong_rx) = mpsc::channel::<usize>(1);
    let echo = tokio::spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            if pong_tx.send(v + 1).await.is_err() {
                break;
            }
        }
    });
    let mut v = 0usize;
    let t0 = Instant::now();
    for _ in 0..n {
        ping_tx.send(v).await.unwrap();
        v = pong_rx.recv().await.unwrap();
    }
    let d = t0.elapsed();
    drop(ping_tx);
    echo.await.unwrap();
    assert_eq!(v, n);
    d.as_nanos() as f64 / n as f64
}

async fn spawn_join(n: usize) -> f64 {
    let t0 = Instant::now();
    for i in 0..n {
        let r = tokio::spawn(async move { i + 1 }).await.unwrap();
        assert_eq!(r, i + 1);
    }
    t0.elapsed().as_nanos() as f64 / n as f64
}

fn percentiles(mut lat: Vec<f64>) -> (f64, f64) {
    lat.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = lat.len();
    (lat[n / 2], lat[(n as f64 * 0.99) as usize])
}

async fn wake(n: usize, from_thread: bool) -> (f64, f64) {
    let (tx, mut rx) = mpsc::channel::<Instant>(1);
    let recv = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(n);
        for _ in 0..n {
            let t = rx.recv().await.unwrap();
            lat.push(t.elapsed().as_nanos() as f64);
        }
        lat
    });
    if from_thread {
        let th = std::thread::spawn(move || {
            for _ in 0..n {
                std::thread::sleep(Duration::from_micros(100));
                tx.blocking_send(Instant::now()).unwrap();
            }
        });
        let lat = recv.await.unwrap();
        th.join().unwrap();
        percentiles(lat)
    } else {
        for _ in 0..n {
            tokio::time::sleep(Duration::from_micros(100)).await;
            tx.send(Instant::now()).await.unwrap();
        }
        percentiles(recv.await.unwrap())
    }
}

fn local_rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

/// pingpong with the echo task on a runtime of its own thread and the
/// caller on another: each hand-off crosses threads.
fn forced_pingpong(n: usize) -> f64 {
    let (ping_tx, mut ping_rx) = mpsc::channel::<usize>(1);
    let (pong_tx, mut pong_rx) = mpsc::channel::<usize>(1);
    let echo = std::thread::spawn(move || {
        local_rt().block_on(async move {
            while let Some(v) = ping_rx.recv().await {
                if pong_tx.send(v + 1).await.is_err() {
                    break;
                }
            }
        })
    });
    let d = local_rt().block_on(async move {
        let mut v = 0usize;
        let t0 = Instant::now();
        for _ in 0..n {
            ping_tx.send(v).await.unwrap();
            v = pong_rx.recv().await.unwrap();
        }
        assert_eq!(v, n);
        t0.elapsed()
    });
    echo.join().unwrap();
    d.as_nanos() as f64 / n as f64
}

/// spawn_join onto a runtime of another thread.
fn forced_spawn_join(n: usize) -> f64 {
    let other = local_rt();
    let handle = other.handle().clone();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // block_on drives the tasks spawned onto a current_thread runtime.
    let th = std::thread::spawn(move || {
        other.block_on(async move {
            let _ = stop_rx.await;
        })
    });
    let d = local_rt().block_on(async move {
        let t0 = Instant::now();
        for i in 0..n {
            let r = handle.spawn(async move { i + 1 }).await.unwrap();
            assert_eq!(r, i + 1);
        }
        t0.elapsed()
    });
    stop_tx.send(()).unwrap();
    th.join().unwrap();
    d.as_nanos() as f64 / n as f64
}

/// wake with the receiver on a runtime of its own thread, the sender on
/// another.
fn forced_wake(n: usize) -> (f64, f64) {
    let (tx, mut rx) = mpsc::channel::<Instant>(1);
    let recv = std::thread::spawn(move || {
        local_rt().block_on(async move {
            let mut lat = Vec::with_capacity(n);
            for _ in 0..n {
                let t = rx.recv().await.unwrap();
                lat.push(t.elapsed().as_nanos() as f64);
            }
            lat
        })
    });
    local_rt().block_on(async move {
        for _ in 0..n {
            tokio::time::sleep(Duration::from_micros(100)).await;
            tx.send(Instant::now()).await.unwrap();
        }
    });
    percentiles(recv.join().unwrap())
}

fn report(name: &str, iters: usize, mut v: Vec<f64>) {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let r = v.len();
    let med = if r % 2 == 1 { v[r / 2] } else { (v[r / 2 - 1] + v[r / 2]) / 2.0 };
    println!("{}\t{:.1}\t{:.1}\t{:.1}\t{}\t{}", name, med, v[0], v[r - 1], iters, r);
}

fn main() {
    let mut iters = 200_000usize;
    let mut wakes = 2000usize;
    let mut reps = 5usize;
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i + 1 < args.len() {
        match args[i].as_str() {
            "--iters" => iters = args[i + 1].parse().expect("--iters N"),
            "--wakes" => wakes = args[i + 1].parse().expect("--wakes W"),
            "--reps" => reps = args[i + 1].parse().expect("--reps R"),
            _ => panic!("usage: xworker-tokio [--iters N] [--wakes W] [--reps R]"),
        }
        i += 2;
    }
    assert!(iters >= 1 && wakes >= 100 && reps >= 1, "bad --iters, --wakes or --reps");
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        // block_on's future runs on the caller's thread: run the benchmark
        // as a task, on the workers, like the others.
        tokio::spawn(async move {
            pingpong(iters / 10 + 1).await;
            let mut v = Vec::new();
            for _ in 0..reps {
                v.push(pingpong(iters).await);
            }
            report("cross-pingpong-cap1", iters, v);
            let sj = iters / 4 + 1;
            spawn_join(sj / 10 + 1).await;
            let mut v = Vec::new();
            for _ in 0..reps {
                v.push(spawn_join(sj).await);
            }
            report("cross-spawn-join", sj, v);
            for (from_thread, name) in [(false, "wake-worker"), (true, "wake-thread")] {
                wake(wakes / 10 + 1, from_thread).await;
                let (mut p50, mut p99) = (Vec::new(), Vec::new());
                for _ in 0..reps {
                    let (a, b) = wake(wakes, from_thread).await;
                    p50.push(a);
                    p99.push(b);
                }
                report(&format!("{name}-p50"), wakes, p50);
                report(&format!("{name}-p99"), wakes, p99);
            }
        })
        .await
        .unwrap();
    });
    drop(rt);
    forced_pingpong(iters / 10 + 1);
    let v: Vec<f64> = (0..reps).map(|_| forced_pingpong(iters)).collect();
    report("forced-pingpong-cap1", iters, v);
    let sj = iters / 4 + 1;
    forced_spawn_join(sj / 10 + 1);
    let v: Vec<f64> = (0..reps).map(|_| forced_spawn_join(sj)).collect();
    report("forced-spawn-join", sj, v);
    forced_wake(wakes / 10 + 1);
    let (mut p50, mut p99) = (Vec::new(), Vec::new());
    for _ in 0..reps {
        let (a, b) = forced_wake(wakes);
        p50.push(a);
        p99.push(b);
    }
    report("forced-wake-p50", wakes, p50);
    report("forced-wake-p99", wakes, p99);
}
