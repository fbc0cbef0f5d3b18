//! What a well-formed SessionId and instance id look like (placeholder until the
//! ancestry change lands its full version).
#![forbid(unsafe_code)]

/// `i-` + 8 or 17 lower-case hex digits, or `mi-` + 17 (hybrid nodes).
pub fn is_instance_id(s: &str) -> bool {
    let hex = |h: &str, n: &[usize]| {
        n.contains(&h.len())
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    if let Some(h) = s.strip_prefix("mi-") {
        hex(h, &[17])
    } else if let Some(h) = s.strip_prefix("i-") {
        hex(h, &[8, 17])
    } else {
        false
    }
}
