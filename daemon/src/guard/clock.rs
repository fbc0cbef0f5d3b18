//! Clocks in the kernel's units (ticks after boot), and durations for people.

use super::*;

pub(super) fn clock_ticks_per_sec() -> u64 {
    // SAFETY: sysconf only reads a system constant; it takes and returns plain integers.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(hz).ok().filter(|h| *h > 0).unwrap_or(100)
}

/// Now, in clock ticks after boot (the unit and origin of `/proc/<pid>/stat` field 22,
/// which counts `CLOCK_BOOTTIME`).
pub(super) fn boottime_ticks(hz: u64) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live, writable timespec; clock_gettime writes only into it.
    let r = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut ts) };
    if r != 0 {
        return 0;
    }
    let secs = u64::try_from(ts.tv_sec).unwrap_or(0);
    let nanos = u64::try_from(ts.tv_nsec).unwrap_or(0);
    secs.saturating_mul(hz) + nanos * hz / 1_000_000_000
}

pub(super) fn duration_to_ticks(d: Duration, hz: u64) -> u64 {
    let t = d
        .as_nanos()
        .saturating_mul(u128::from(hz))
        .div_ceil(1_000_000_000);
    u64::try_from(t).unwrap_or(u64::MAX)
}

/// `3 s`, `1.5 s`, `250 ms`.
pub(super) fn human(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms.is_multiple_of(1000) {
        format!("{} s", ms / 1000)
    } else {
        format!("{} s", d.as_secs_f64())
    }
}
