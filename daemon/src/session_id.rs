//! What a well-formed SSM SessionId and EC2 / hybrid instance id look like.
//!
//! A SessionId is opaque: `<principal name>-<suffix>`, where the principal name may itself
//! contain `-` and the suffix format has changed over time. We check only the character set
//! and the length, and never split it.
#![forbid(unsafe_code)]

/// Longest SessionId the SSM API accepts.
pub const SESSION_ID_MAX_LEN: usize = 96;

/// Whether `s` is a well-formed SessionId: 1–96 characters of `[A-Za-z0-9_+=,.@-]`.
pub fn is_session_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= SESSION_ID_MAX_LEN
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_+=,.@-".contains(&b))
}

/// Whether `s` is an EC2 instance id (`i-` and 8 or 17 lowercase hex digits) or a hybrid
/// managed node id (`mi-` and 17 lowercase hex digits).
pub fn is_instance_id(s: &str) -> bool {
    if let Some(hex) = s.strip_prefix("mi-") {
        hex.len() == 17 && is_lower_hex(hex)
    } else if let Some(hex) = s.strip_prefix("i-") {
        (hex.len() == 8 || hex.len() == 17) && is_lower_hex(hex)
    } else {
        false
    }
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids() {
        let good = [
            "alice@example.com-0a1b2c3d4e5f6a7b8",
            "bob.jones-0e6d5c4b3a2918f7e",
            "botocore-session-1729069811-0b1c2d3e4f5a6b7c8",
            "ci+deploy=x,y-abcdefghijklmnopqrstuvwxyz",
            "a",
            "Under_score-0123456789abcdefg",
        ];
        for s in good {
            assert!(is_session_id(s), "{s} should be accepted");
        }
        let max = "a".repeat(96);
        assert!(is_session_id(&max));
        let too_long = "a".repeat(97);
        let bad = [
            "",
            too_long.as_str(),
            "alice bob-0a1b",
            "alice/../x-0a1b",
            "alice-0a1b\n",
            "alice-0a1b\0",
            "ålice-0a1b",
            "alice;rm-0a1b",
            "alice$(x)-0a1b",
        ];
        for s in bad {
            assert!(!is_session_id(s), "{s:?} should be refused");
        }
    }

    #[test]
    fn instance_ids() {
        let good = ["i-0123456789abcdef0", "i-0123abcd", "mi-0123456789abcdef0"];
        for s in good {
            assert!(is_instance_id(s), "{s} should be accepted");
        }
        let bad = [
            "",
            "i-",
            "i-0123456789ABCDEF0",
            "i-0123456789abcdef",
            "i-0123456789abcdef01",
            "i-0123abc",
            "i-0123abcdg",
            "mi-0123abcd",
            "x-0123456789abcdef0",
            "i-0123456789abcdef0/..",
            " i-0123abcd",
        ];
        for s in bad {
            assert!(!is_instance_id(s), "{s:?} should be refused");
        }
    }
}
