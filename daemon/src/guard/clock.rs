//! Clocks in the kernel's units (ticks after boot), and durations for people.

use super::*;

pub(super) use crate::sys::clock_ticks_per_sec;

/// Now, in clock ticks after boot (the unit and origin of `/proc/<pid>/stat` field 22,
/// which counts `CLOCK_BOOTTIME`).
pub(super) fn boottime_ticks(hz: u64) -> u64 {
    let now = crate::sys::boottime();
    now.as_secs().saturating_mul(hz) + u64::from(now.subsec_nanos()) * hz / 1_000_000_000
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
