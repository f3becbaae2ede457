//! A Tokio task awaits coil events through `tokio::io::unix::AsyncFd` on the
//! runtime's event fd: no thread of Tokio's blocks on coil.
//!
//!   COIL_LIB_DIR=.../build/release/src cargo run --offline --example tokio_events
//!
//! A coil runtime's main fiber (Rust, on a coil fiber) emits a tick event
//! every 10 ms for each command it gets; a Tokio current_thread runtime
//! submits 5 commands, awaits readability of the event fd, takes events
//! without blocking, and stops coil after 5 ticks (then sees CLOSED).
use std::os::unix::io::{AsRawFd, RawFd};
use std::time::Duration;

use coil::{Event, Runtime};
use tokio::io::unix::AsyncFd;

struct EventFd(RawFd);
impl AsRawFd for EventFd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

fn main() -> std::io::Result<()> {
    let rt = Runtime::start(16, |f| {
        while let Some(c) = f.recv().expect("recv") {
            f.sleep(Duration::from_millis(10)).expect("sleep");
            f.emit(0, 0, c.id, b"tick").expect("emit");
        }
    })?;
    let tokio_rt = tokio::runtime::Builder::new_current_thread().enable_io().build()?;
    let got = tokio_rt.block_on(async {
        let fd = AsyncFd::new(EventFd(rt.event_fd()))?;
        for i in 0..5 {
            rt.submit(0, i, b"", None)?;
        }
        let mut ticks = 0;
        let mut closed = false;
        while !closed {
            let mut guard = fd.readable().await?;
            while let Some(ev) = rt.try_next_event()? {
                if ev.kind == Event::CLOSED {
                    closed = true;
                    break;
                }
                ticks += 1;
                println!("tokio_events: event {} {:?}", ev.id, String::from_utf8_lossy(&ev.data));
                if ticks == 5 {
                    rt.stop()?; // CLOSED follows
                }
            }
            guard.clear_ready();
        }
        Ok::<_, std::io::Error>(ticks)
    })?;
    if got != 5 {
        eprintln!("tokio_events: {got} ticks, expected 5");
        std::process::exit(1);
    }
    println!("tokio_events: ok, 5 events awaited through AsyncFd, then CLOSED");
    Ok(())
}
