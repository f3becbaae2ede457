//! chan-tokio: the Tokio peer of bench/chan_pingpong.c, on a current_thread
//! runtime, with tokio::sync::mpsc (bounded; capacity 1 is the smallest
//! Tokio allows, so there is no rendezvous variant).
//!
//!   pingpong-cap1   two tasks bounce a value over mpsc channels of capacity 1
//!   stream-cap128   one producer, one consumer, capacity 128: ns per message
//!
//! Prints "name<TAB>median<TAB>min<TAB>max<TAB>iters<TAB>reps".
//!
//!   chan-tokio [--iters N] [--reps R]
use std::time::Instant;
use tokio::sync::mpsc;

async fn pingpong(n: usize) -> f64 {
    let (ping_tx, mut ping_rx) = mpsc::channel::<usize>(1);
    let (pong_tx, mut pong_rx) = mpsc::channel::<usize>(1);
    let echo = tokio::spawn(async move {
        while let Some(v) = ping_rx.recv().await {
            if pong_tx.send(v).await.is_err() {
                break;
            }
        }
    });
    let t0 = Instant::now();
    for i in 0..n {
        ping_tx.send(i).await.unwrap();
        pong_rx.recv().await.unwrap();
    }
    let d = t0.elapsed();
    drop(ping_tx);
    echo.await.unwrap();
    d.as_nanos() as f64 / n as f64
}

async fn stream(n: usize) -> f64 {
    let (tx, mut rx) = mpsc::channel::<usize>(128);
    let consumer = tokio::spawn(async move {
        let mut s = 0usize;
        while let Some(v) = rx.recv().await {
            s = s.wrapping_add(v);
        }
        s
    });
    let t0 = Instant::now();
    for i in 0..n {
        tx.send(i).await.unwrap();
    }
    drop(tx);
    consumer.await.unwrap();
    t0.elapsed().as_nanos() as f64 / n as f64
}

fn report(name: &str, iters: usize, mut ns: Vec<f64>) {
    ns.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let reps = ns.len();
    println!("{}\t{:.1}\t{:.1}\t{:.1}\t{}\t{}", name, ns[reps / 2], ns[0], ns[reps - 1], iters, reps);
}

fn main() {
    let mut iters = 1_000_000usize;
    let mut reps = 7usize;
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i + 1 < args.len() {
        match args[i].as_str() {
            "--iters" => iters = args[i + 1].parse().expect("--iters N"),
            "--reps" => reps = args[i + 1].parse().expect("--reps R"),
            _ => panic!("usage: chan-tokio [--iters N] [--reps R]"),
        }
        i += 2;
    }
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        pingpong(iters / 10).await; // warm-up
        let mut pp = Vec::new();
        for _ in 0..reps {
            pp.push(pingpong(iters).await);
        }
        report("pingpong-cap1", iters, pp);
        stream(iters / 10).await;
        let mut st = Vec::new();
        for _ in 0..reps {
            st.push(stream(iters).await);
        }
        report("stream-cap128", iters, st);
    });
}
