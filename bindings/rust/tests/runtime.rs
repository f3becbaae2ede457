// The Rust binding over libcoil: a background runtime with a main fiber in
// Rust, and a tick loop. Run by ctest "rust" (COIL_LIB_DIR set).
use std::cell::Cell;
use std::io::ErrorKind;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use coil::{Event, Loop, Runtime};

const ECHO: i32 = 0;
// Waits that only catch a hang (a busy machine may be slow, never wrong).
const HANG: Duration = Duration::from_secs(60);

fn echo_runtime(cap: usize) -> Runtime {
    Runtime::start(cap, |f| {
        while let Some(c) = f.recv().expect("recv") {
            f.emit(ECHO, 0, c.id, &c.data).expect("emit");
        }
    })
    .expect("start")
}

#[test]
fn commands_in_events_out_then_closed() {
    let rt = echo_runtime(16);
    for i in 0..500u64 {
        rt.submit(ECHO, i, format!("message {i}").as_bytes(), None).unwrap();
        let ev = rt.next_event(Some(HANG)).unwrap().expect("an event");
        assert_eq!(ev, Event { kind: ECHO, result: 0, id: i, data: format!("message {i}").into_bytes() });
    }
    rt.stop().unwrap();
    let closed = rt.next_event(Some(HANG)).unwrap().unwrap();
    assert_eq!(closed.kind, Event::CLOSED);
    assert_eq!(closed.result, 0);
    assert_eq!(rt.try_next_event().unwrap_err().kind(), ErrorKind::BrokenPipe);
    assert_eq!(rt.submit(ECHO, 0, b"late", None).unwrap_err().kind(), ErrorKind::BrokenPipe);
    assert_eq!(rt.try_submit(ECHO, 0, b"late").unwrap_err().kind(), ErrorKind::BrokenPipe);
}

#[test]
fn full_queue_and_timeouts() {
    // main takes nothing until told (a flag, not a time: a busy machine
    // may run this thread late): the command queue fills
    let go = Arc::new(AtomicBool::new(false));
    let main_go = go.clone();
    let rt = Runtime::start(2, move |f| {
        while !main_go.load(Ordering::Acquire) {
            f.sleep(Duration::from_millis(1)).unwrap();
        }
        while let Some(c) = f.recv().unwrap() {
            f.emit(ECHO, 0, c.id, &[]).unwrap();
        }
    })
    .unwrap();
    assert!(rt.try_submit(ECHO, 1, b"").unwrap());
    assert!(rt.try_submit(ECHO, 2, b"").unwrap());
    assert!(!rt.try_submit(ECHO, 3, b"").unwrap());
    let t0 = Instant::now();
    assert_eq!(rt.submit(ECHO, 3, b"", Some(Duration::from_millis(20))).unwrap_err().kind(), ErrorKind::TimedOut);
    assert!(t0.elapsed() >= Duration::from_millis(20));
    assert_eq!(rt.try_next_event().unwrap(), None);
    assert_eq!(rt.next_event(Some(Duration::from_millis(5))).unwrap(), None);
    go.store(true, Ordering::Release);
    assert_eq!(rt.next_event(Some(HANG)).unwrap().unwrap().id, 1);
    assert_eq!(rt.next_event(Some(HANG)).unwrap().unwrap().id, 2);
    assert_eq!(rt.try_submit(-5, 0, b"").unwrap_err().kind(), ErrorKind::InvalidInput);
}

#[test]
fn a_panic_in_main_ends_it_and_the_runtime_closes() {
    let rt = Runtime::start(4, |_f| panic!("main fails")).unwrap();
    let ev = rt.next_event(Some(HANG)).unwrap().unwrap();
    assert_eq!(ev.kind, Event::CLOSED);
}

#[test]
fn a_loop_ticked_from_here_runs_fibers_and_timers() {
    let l = Loop::new().unwrap();
    let woke = Rc::new(Cell::new(None));
    let w = woke.clone();
    l.spawn(move || {
        let t0 = Instant::now();
        coil::sleep(Duration::from_millis(15)).unwrap();
        w.set(Some(t0.elapsed()));
    })
    .unwrap();
    assert_eq!(l.timeout(), Some(Duration::ZERO));
    let end = Instant::now() + HANG;
    while l.tick(Some(Duration::ZERO), 0).unwrap() && Instant::now() < end {
        let t = l.timeout().unwrap_or(Duration::from_millis(1));
        std::thread::sleep(t.min(Duration::from_millis(50)));
    }
    let slept = woke.get().expect("the fiber ran");
    assert!(slept >= Duration::from_millis(15), "woke early: {slept:?}");
    assert!(!l.tick(Some(Duration::ZERO), 0).unwrap());
    if std::env::var("COIL_BACKEND").as_deref() != Ok("poll") {
        assert!(l.fd().is_some());
    }
}
