//! Safe Rust bindings to coil, a C runtime on fibers and io_uring.
//!
//! Two of coil's embedding shapes (see coil's docs/embedding.md):
//!
//! - [`Runtime`]: coil on threads of its own (`coil_bg`), with a main fiber
//!   written in Rust ([`Runtime::start`]) that takes [`Command`]s and emits
//!   [`Event`]s. Any thread submits and takes events; [`Runtime::event_fd`]
//!   is readable while events wait, for an embedder that multiplexes (with
//!   Tokio: `tokio::io::unix::AsyncFd`, see `examples/tokio_events.rs`).
//! - [`Loop`]: coil ticked by the caller's own loop (`coil_loop`): spawn
//!   fibers, [`Loop::tick`], [`Loop::timeout`] for the next timer, and
//!   [`Loop::fd`] to poll.
//!
//! Errors are `std::io::Error`s carrying coil's errno: `BrokenPipe` once a
//! runtime stopped, `TimedOut` for timed calls that gave up.
//!
//! Code inside fibers runs on coil's fiber stacks (128 KiB by default): keep
//! large buffers on the heap. A panic inside a fiber is caught at the
//! fiber's edge (it never unwinds into C) and ends that fiber.

use std::ffi::c_void;
use std::io;
use std::os::raw::{c_int, c_uint};
use std::os::unix::io::RawFd;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::time::Duration;

mod ffi {
    use std::ffi::c_void;
    use std::os::raw::{c_int, c_uint};

    #[repr(C)]
    pub struct Bg {
        _p: [u8; 0],
    }
    #[repr(C)]
    pub struct LoopT {
        _p: [u8; 0],
    }
    #[repr(C)]
    pub struct RawEvent {
        pub kind: c_int,
        pub result: c_int,
        pub id: u64,
        pub data: *mut c_void,
        pub len: usize,
    }
    #[repr(C)]
    pub struct RawCommand {
        pub kind: c_int,
        pub id: u64,
        pub data: *mut c_void,
        pub len: usize,
    }
    pub type MainFn = extern "C" fn(*mut Bg, *mut c_void) -> *mut c_void;
    pub type FiberFn = extern "C" fn(*mut c_void) -> *mut c_void;

    extern "C" {
        pub fn coil_now() -> i64;
        pub fn coil_sleep(ns: i64) -> c_int;

        pub fn coil_bg_start(out: *mut *mut Bg, cfg: *const c_void, cap: usize, main: MainFn,
                             arg: *mut c_void) -> c_int;
        pub fn coil_bg_try_submit(bg: *mut Bg, kind: c_int, id: u64, data: *const c_void,
                                  len: usize) -> c_int;
        pub fn coil_bg_submit(bg: *mut Bg, kind: c_int, id: u64, data: *const c_void, len: usize,
                              deadline: i64) -> c_int;
        pub fn coil_bg_try_next_event(bg: *mut Bg, out: *mut *mut RawEvent) -> c_int;
        pub fn coil_bg_next_event(bg: *mut Bg, out: *mut *mut RawEvent, deadline: i64) -> c_int;
        pub fn coil_bg_event_free(ev: *mut RawEvent);
        pub fn coil_bg_event_fd(bg: *mut Bg) -> c_int;
        pub fn coil_bg_stop(bg: *mut Bg) -> c_int;
        pub fn coil_bg_free(bg: *mut Bg);
        pub fn coil_bg_recv(bg: *mut Bg, out: *mut *mut RawCommand) -> c_int;
        pub fn coil_bg_command_free(c: *mut RawCommand);
        pub fn coil_bg_emit(bg: *mut Bg, kind: c_int, result: c_int, id: u64, data: *const c_void,
                            len: usize) -> c_int;

        pub fn coil_loop_new(out: *mut *mut LoopT, cfg: *const c_void) -> c_int;
        pub fn coil_loop_spawn(l: *mut LoopT, out: *mut u64, f: FiberFn, arg: *mut c_void) -> c_int;
        pub fn coil_loop_tick(l: *mut LoopT, timeout: i64, budget: c_uint) -> c_int;
        pub fn coil_loop_timeout(l: *mut LoopT) -> i64;
        pub fn coil_loop_fd(l: *mut LoopT) -> c_int;
        pub fn coil_loop_free(l: *mut LoopT) -> c_int;
    }
}

const NO_DEADLINE: i64 = i64::MAX;
const EAGAIN: c_int = 11;
const ETIMEDOUT: c_int = 110;
const EPIPE: c_int = 32;
const EOPNOTSUPP: c_int = 95;

fn check(r: c_int) -> io::Result<c_int> {
    if r < 0 {
        Err(io::Error::from_raw_os_error(-r))
    } else {
        Ok(r)
    }
}

fn deadline(timeout: Option<Duration>) -> i64 {
    match timeout {
        None => NO_DEADLINE,
        Some(d) => {
            let ns = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX / 2);
            unsafe { ffi::coil_now() }.saturating_add(ns)
        }
    }
}

fn kind_ok(kind: i32) -> io::Result<()> {
    if kind < 0 {
        Err(io::Error::from_raw_os_error(22)) // EINVAL: kinds are >= 0
    } else {
        Ok(())
    }
}

unsafe fn copy_out(data: *mut c_void, len: usize) -> Vec<u8> {
    if len == 0 || data.is_null() {
        Vec::new()
    } else {
        std::slice::from_raw_parts(data as *const u8, len).to_vec()
    }
}

/// An event taken from a [`Runtime`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    /// The program's kind (>= 0), or [`Event::CLOSED`].
    pub kind: i32,
    /// 0 or a negative errno (`-ECANCELED` and `-ETIMEDOUT` are distinct).
    pub result: i32,
    pub id: u64,
    pub data: Vec<u8>,
}

impl Event {
    /// The last event of every runtime; its result is the runtime's.
    pub const CLOSED: i32 = -1;
}

/// A command, as the main fiber receives it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Command {
    pub kind: i32,
    pub id: u64,
    pub data: Vec<u8>,
}

/// What a [`Runtime`]'s main fiber sees: its command queue and event queue,
/// and the calls that park the fiber. Only valid inside that fiber.
pub struct Fiber {
    bg: *mut ffi::Bg,
}

impl Fiber {
    /// The next command; `Ok(None)` once the runtime stops and every queued
    /// command was received (then return from main).
    pub fn recv(&self) -> io::Result<Option<Command>> {
        let mut c: *mut ffi::RawCommand = ptr::null_mut();
        let r = unsafe { ffi::coil_bg_recv(self.bg, &mut c) };
        if r == -EPIPE {
            return Ok(None);
        }
        check(r)?;
        let cmd = unsafe {
            let raw = &*c;
            let cmd = Command { kind: raw.kind, id: raw.id, data: copy_out(raw.data, raw.len) };
            ffi::coil_bg_command_free(c);
            cmd
        };
        Ok(Some(cmd))
    }

    /// Emit an event (parks while the event queue is full).
    pub fn emit(&self, kind: i32, result: i32, id: u64, data: &[u8]) -> io::Result<()> {
        kind_ok(kind)?;
        let p = if data.is_empty() { ptr::null() } else { data.as_ptr() as *const c_void };
        check(unsafe { ffi::coil_bg_emit(self.bg, kind, result, id, p, data.len()) }).map(|_| ())
    }

    /// Park this fiber for d (never shorter).
    pub fn sleep(&self, d: Duration) -> io::Result<()> {
        sleep(d)
    }
}

/// Park the calling fiber for d (from a fiber of a [`Runtime`] or [`Loop`]).
pub fn sleep(d: Duration) -> io::Result<()> {
    let ns = i64::try_from(d.as_nanos()).unwrap_or(i64::MAX);
    check(unsafe { ffi::coil_sleep(ns) }).map(|_| ())
}

type MainBox = Box<dyn FnOnce(&Fiber) + Send + 'static>;

extern "C" fn main_trampoline(bg: *mut ffi::Bg, arg: *mut c_void) -> *mut c_void {
    let f: Box<MainBox> = unsafe { Box::from_raw(arg as *mut MainBox) };
    let fiber = Fiber { bg };
    let _ = catch_unwind(AssertUnwindSafe(move || f(&fiber)));
    ptr::null_mut()
}

/// coil on threads of its own behind a command queue and an event queue.
/// Dropping it stops it and frees it (events not taken are dropped then).
pub struct Runtime {
    bg: *mut ffi::Bg,
}

// The C calls used from outside the runtime are thread-safe.
unsafe impl Send for Runtime {}
unsafe impl Sync for Runtime {}

impl Runtime {
    /// Start a runtime (the default config; `$COIL_WORKERS`, `$COIL_BACKEND`
    /// apply) with `main` as its main fiber; queue_cap bounds each queue.
    /// When main returns, the runtime's other fibers are cancelled and the
    /// CLOSED event follows.
    pub fn start<F>(queue_cap: usize, main: F) -> io::Result<Runtime>
    where
        F: FnOnce(&Fiber) + Send + 'static,
    {
        let boxed: Box<MainBox> = Box::new(Box::new(main));
        let arg = Box::into_raw(boxed) as *mut c_void;
        let mut bg: *mut ffi::Bg = ptr::null_mut();
        let r = unsafe { ffi::coil_bg_start(&mut bg, ptr::null(), queue_cap, main_trampoline, arg) };
        if r < 0 {
            // main never started: the closure is still ours
            drop(unsafe { Box::from_raw(arg as *mut MainBox) });
            return Err(io::Error::from_raw_os_error(-r));
        }
        Ok(Runtime { bg })
    }

    /// Queue a command without blocking: `Ok(false)` when the queue is full.
    pub fn try_submit(&self, kind: i32, id: u64, data: &[u8]) -> io::Result<bool> {
        kind_ok(kind)?;
        let p = if data.is_empty() { ptr::null() } else { data.as_ptr() as *const c_void };
        let r = unsafe { ffi::coil_bg_try_submit(self.bg, kind, id, p, data.len()) };
        if r == -EAGAIN {
            return Ok(false);
        }
        check(r).map(|_| true)
    }

    /// Queue a command, waiting for room (None: no limit; `TimedOut` after).
    pub fn submit(&self, kind: i32, id: u64, data: &[u8], timeout: Option<Duration>) -> io::Result<()> {
        kind_ok(kind)?;
        let p = if data.is_empty() { ptr::null() } else { data.as_ptr() as *const c_void };
        check(unsafe { ffi::coil_bg_submit(self.bg, kind, id, p, data.len(), deadline(timeout)) })
            .map(|_| ())
    }

    /// The next event without waiting: `Ok(None)` when none waits;
    /// `BrokenPipe` after CLOSED was taken.
    pub fn try_next_event(&self) -> io::Result<Option<Event>> {
        self.take(None, true)
    }

    /// The next event, waiting up to timeout (None: no limit): `Ok(None)`
    /// when none came in time; `BrokenPipe` after CLOSED was taken.
    pub fn next_event(&self, timeout: Option<Duration>) -> io::Result<Option<Event>> {
        self.take(timeout, false)
    }

    fn take(&self, timeout: Option<Duration>, try_only: bool) -> io::Result<Option<Event>> {
        let mut e: *mut ffi::RawEvent = ptr::null_mut();
        let r = unsafe {
            if try_only {
                ffi::coil_bg_try_next_event(self.bg, &mut e)
            } else {
                ffi::coil_bg_next_event(self.bg, &mut e, deadline(timeout))
            }
        };
        if r == -EAGAIN || r == -ETIMEDOUT {
            return Ok(None);
        }
        check(r)?;
        let ev = unsafe {
            let raw = &*e;
            let ev = Event { kind: raw.kind, result: raw.result, id: raw.id, data: copy_out(raw.data, raw.len) };
            ffi::coil_bg_event_free(e);
            ev
        };
        Ok(Some(ev))
    }

    /// An fd readable while events wait (poll it; never read or close it).
    pub fn event_fd(&self) -> RawFd {
        unsafe { ffi::coil_bg_event_fd(self.bg) }
    }

    /// Stop: queued commands are still received, the rest is cancelled,
    /// CLOSED is emitted, the threads are joined. Not from inside the
    /// runtime's fibers (`PermissionDenied`).
    pub fn stop(&self) -> io::Result<()> {
        check(unsafe { ffi::coil_bg_stop(self.bg) }).map(|_| ())
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        unsafe { ffi::coil_bg_free(self.bg) };
    }
}

/// coil ticked by the caller's loop, on the thread that made it (not Send:
/// only that thread may tick it). Dropping it cancels its fibers and waits
/// for their I/O.
pub struct Loop {
    l: *mut ffi::LoopT,
}

type FiberBox = Box<dyn FnOnce() + 'static>;

extern "C" fn fiber_trampoline(arg: *mut c_void) -> *mut c_void {
    let f: Box<FiberBox> = unsafe { Box::from_raw(arg as *mut FiberBox) };
    let _ = catch_unwind(AssertUnwindSafe(move || f()));
    ptr::null_mut()
}

impl Loop {
    /// A loop owned by the calling thread (not inside a coil runtime).
    pub fn new() -> io::Result<Loop> {
        let mut l: *mut ffi::LoopT = ptr::null_mut();
        check(unsafe { ffi::coil_loop_new(&mut l, ptr::null()) })?;
        Ok(Loop { l })
    }

    /// Run f as a fiber of the loop (detached); it starts at the next tick.
    pub fn spawn<F: FnOnce() + 'static>(&self, f: F) -> io::Result<()> {
        let boxed: Box<FiberBox> = Box::new(Box::new(f));
        let arg = Box::into_raw(boxed) as *mut c_void;
        let r = unsafe { ffi::coil_loop_spawn(self.l, ptr::null_mut(), fiber_trampoline, arg) };
        if r < 0 {
            drop(unsafe { Box::from_raw(arg as *mut FiberBox) });
            return Err(io::Error::from_raw_os_error(-r));
        }
        Ok(())
    }

    /// One turn: ready fibers (at most budget; 0: all), then completions
    /// and timers; waits up to timeout for work when none is ready (Some(0):
    /// never waits; None: no limit). `Ok(true)` while fibers exist.
    pub fn tick(&self, timeout: Option<Duration>, budget: u32) -> io::Result<bool> {
        let t = match timeout {
            None => -1,
            Some(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        };
        check(unsafe { ffi::coil_loop_tick(self.l, t, budget as c_uint) }).map(|r| r > 0)
    }

    /// Time until the next timer: Some(0) when work is ready now, None when
    /// there is no timer (wait on the fd alone).
    pub fn timeout(&self) -> Option<Duration> {
        let t = unsafe { ffi::coil_loop_timeout(self.l) };
        if t < 0 {
            None
        } else {
            Some(Duration::from_nanos(t as u64))
        }
    }

    /// The fd to poll for readability, None on the poll backend (no fd).
    pub fn fd(&self) -> Option<RawFd> {
        let fd: c_int = unsafe { ffi::coil_loop_fd(self.l) };
        if fd == -EOPNOTSUPP || fd < 0 {
            None
        } else {
            Some(fd)
        }
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        unsafe { ffi::coil_loop_free(self.l) };
    }
}
