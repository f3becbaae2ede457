//! spawnjoin-tokio: the Tokio peer of bench/spawn_join.c. Spawn + await of an
//! empty task on a current_thread runtime (one thread, no I/O or time driver
//! enabled), sequential.
//!
//!   seq    tokio::spawn(async {}).await           N times
//!   batch  spawn B tasks, then await the B of them  N/B times
//!
//! One untimed warm-up of N/10, then R timed repetitions (Instant is
//! CLOCK_MONOTONIC); ns per spawn+await, median and min-max.
//!
//!   spawnjoin-tokio [--iters N] [--reps R] [--batch B] [--tsv]
//!
//! --tsv prints "name<TAB>median<TAB>min<TAB>max<TAB>iters<TAB>-1<TAB>reps" lines
//! (the same format as spawn_join --tsv; -1: syscalls not counted).
use std::time::Instant;

async fn seq(n: usize) {
    for _ in 0..n {
        tokio::spawn(async {}).await.unwrap();
    }
}

async fn batch(n: usize, b: usize, handles: &mut Vec<tokio::task::JoinHandle<()>>) {
    let mut i = 0;
    while i < n {
        for _ in 0..b {
            handles.push(tokio::spawn(async {}));
        }
        for h in handles.drain(..) {
            h.await.unwrap();
        }
        i += b;
    }
}

fn usage() -> ! {
    eprintln!("usage: spawnjoin-tokio [--iters N] [--reps R] [--batch B] [--tsv]");
    std::process::exit(2);
}

fn main() {
    let mut iters: usize = 1_000_000;
    let mut reps: usize = 7;
    let mut b: usize = 100;
    let mut tsv = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut num = || -> usize {
            args.next()
                .and_then(|v| v.parse().ok())
                .unwrap_or_else(|| usage())
        };
        match a.as_str() {
            "--iters" => iters = num(),
            "--reps" => reps = num(),
            "--batch" => b = num(),
            "--tsv" => tsv = true,
            _ => usage(),
        }
    }
    if iters == 0 || reps == 0 || b == 0 {
        usage();
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let nb = (iters + b - 1) / b * b;
    let warm = std::cmp::max(iters / 10, b) / b * b;
    let mut out: Vec<(&str, &str, usize, Vec<f64>)> = Vec::new();
    rt.block_on(async {
        let mut v = Vec::new();
        seq(warm).await;
        for _ in 0..reps {
            let t0 = Instant::now();
            seq(iters).await;
            v.push(t0.elapsed().as_nanos() as f64 / iters as f64);
        }
        out.push(("seq", "spawn + await, one at a time", iters, v));

        let mut handles = Vec::with_capacity(b);
        let mut v = Vec::new();
        batch(warm, b, &mut handles).await;
        for _ in 0..reps {
            let t0 = Instant::now();
            batch(nb, b, &mut handles).await;
            v.push(t0.elapsed().as_nanos() as f64 / nb as f64);
        }
        out.push(("batch", "spawn B, then await B (per task)", nb, v));
    });
    if !tsv {
        println!(
            "spawnjoin-tokio (current_thread): {} reps x {}, batch {}\n",
            reps, iters, b
        );
        println!("| variant | ns per spawn+await median | min-max |\n|---|---|---|");
    }
    for (name, what, n, v) in &out {
        let mut s = v.clone();
        s.sort_by(|x, y| x.partial_cmp(y).unwrap());
        let l = s.len();
        let med = if l % 2 == 1 {
            s[l / 2]
        } else {
            (s[l / 2 - 1] + s[l / 2]) / 2.0
        };
        if tsv {
            let r: Vec<String> = v.iter().map(|x| format!("{:.3}", x)).collect();
            println!(
                "{}\t{:.3}\t{:.3}\t{:.3}\t{}\t-1\t{}",
                name,
                med,
                s[0],
                s[l - 1],
                n,
                r.join(",")
            );
        } else {
            println!(
                "| {}: {} | {:.1} | {:.1}-{:.1} |",
                name,
                what,
                med,
                s[0],
                s[l - 1]
            );
        }
    }
}
