//! How much heap decoding a hostile frame takes. A frame is at most `MAX_FRAME`
//! bytes; decoding one must not take many times that, whatever its shape (an array
//! of tiny objects once took ~190 times the frame through a JSON tree and its clone).
//!
//! The allocator below counts the bytes live on the current thread only, so tests
//! running in parallel threads do not disturb each other's figures.
use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ssm_runas_protocol::{FrameError, MAX_FRAME, Request, Response, decode};

struct Counting;

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
    static PEAK: Cell<usize> = const { Cell::new(0) };
}

fn grow(n: usize) {
    // `try_with`: the thread may be tearing down its locals.
    let _ = LIVE.try_with(|l| {
        let now = l.get().saturating_add(n);
        l.set(now);
        let _ = PEAK.try_with(|p| p.set(p.get().max(now)));
    });
}

fn shrink(n: usize) {
    let _ = LIVE.try_with(|l| l.set(l.get().saturating_sub(n)));
}

// SAFETY: every method forwards to the system allocator with the caller's layout and
// pointer unchanged; the bookkeeping touches only const-initialised thread-locals
// (no allocation, no panic).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        grow(layout.size());
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        shrink(layout.size());
        // SAFETY: `ptr` was allocated by `System` with `layout` (see `alloc`).
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        grow(new_size);
        shrink(layout.size());
        // SAFETY: `ptr` was allocated by `System` with `layout`; same contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The most heap the current thread had live while `f` ran, beyond what it had before.
fn peak_during<R>(f: impl FnOnce() -> R) -> (R, usize) {
    let before = LIVE.with(Cell::get);
    PEAK.with(|p| p.set(before));
    let r = f();
    (r, PEAK.with(Cell::get) - before)
}

/// `prefix`, then `item` repeated, then `suffix`, as long as fits in one frame.
fn padded(prefix: &str, item: &str, suffix: &str) -> Vec<u8> {
    let room = MAX_FRAME - prefix.len() - suffix.len();
    let n = (room + 1) / (item.len() + 1);
    let items = vec![item; n].join(",");
    let s = format!("{prefix}{items}{suffix}");
    assert!(s.len() <= MAX_FRAME && s.len() > MAX_FRAME - item.len() - 1);
    s.into_bytes()
}

/// Decoding never takes more than twice the frame's size in heap.
const CEILING: usize = 2 * MAX_FRAME;

#[test]
fn hostile_frames_decode_within_a_small_heap_ceiling() {
    let cases = [
        // The one the fuzzer found: an array of tiny objects as the body.
        padded(r#"{"v":1,"body":["#, r#"{"":0}"#, "]}"),
        // The same inside a field next to a variant without fields.
        padded(
            r#"{"v":1,"body":{"verb":"resolve","x":["#,
            r#"{"":0}"#,
            "]}}",
        ),
        // … and as the value of a real field.
        padded(
            r#"{"v":1,"body":{"verb":"check","user":["#,
            r#"{"":0}"#,
            "]}}",
        ),
        // … and before the tag.
        padded(
            r#"{"v":1,"body":{"x":["#,
            r#"{"":0}"#,
            r#"],"verb":"resolve"}}"#,
        ),
        // … and next to the envelope.
        padded(
            r#"{"x":["#,
            r#"{"":0}"#,
            r#"],"v":1,"body":{"verb":"resolve"}}"#,
        ),
        // Deep nesting instead of width.
        format!(
            r#"{{"v":1,"body":{{"verb":"resolve","x":{}"#,
            "[".repeat(MAX_FRAME - 40)
        )
        .into_bytes(),
    ];
    for frame in &cases {
        let (r, peak) = peak_during(|| decode::<Request>(frame));
        let shown = String::from_utf8_lossy(&frame[..48]);
        eprintln!("{shown}…: {peak} bytes");
        assert!(
            matches!(r, Err(FrameError::Malformed(_))),
            "{shown}…: {r:?}"
        );
        assert!(
            peak <= CEILING,
            "{shown}…: decoding took {peak} bytes of heap, more than {CEILING}"
        );
    }
}

#[test]
fn hostile_responses_decode_within_the_same_ceiling() {
    for frame in [
        padded(r#"{"v":1,"body":["#, r#"{"":0}"#, "]}"),
        padded(r#"{"v":1,"body":{"answer":"ack","x":["#, r#"{"":0}"#, "]}}"),
        padded(
            r#"{"v":1,"body":{"answer":"allow","groups":["#,
            r#"{"":0}"#,
            "]}}",
        ),
    ] {
        let (r, peak) = peak_during(|| decode::<Response>(&frame));
        assert!(matches!(r, Err(FrameError::Malformed(_))), "{r:?}");
        assert!(peak <= CEILING, "decoding took {peak} bytes of heap");
    }
}

#[test]
fn a_legitimate_frame_of_the_same_size_still_decodes() {
    // A long value is kept: its own size is what it costs.
    let user = "a".repeat(MAX_FRAME - 64);
    let frame = format!(r#"{{"v":1,"body":{{"verb":"check","user":"{user}"}}}}"#);
    let (r, peak) = peak_during(|| decode::<Request>(frame.as_bytes()));
    assert_eq!(r.ok(), Some(Request::Check { user }));
    assert!(peak <= CEILING, "decoding took {peak} bytes of heap");
}
