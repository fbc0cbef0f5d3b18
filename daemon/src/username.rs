//! The fixed rules that turn a person's name into a Linux user name for `{user}`.
//!
//! In order:
//! 1. lower-case the name;
//! 2. with `strip_domain = "example.com"`, remove a trailing `@example.com`; with
//!    `strip_domain = "*"`, remove everything from the last `@`;
//! 3. replace each character outside `[a-z0-9._-]` by `_`;
//! 4. the result must match `^[a-z_][a-z0-9._-]{0,31}$`, or the owner is denied.
//!
//! Nothing is ever truncated or guessed: a name that does not fit is refused.
#![forbid(unsafe_code)]

/// Longest Linux user name accepted (as `useradd` does by default).
pub const MAX_LEN: usize = 32;

/// Whether `s` matches `^[a-z_][a-z0-9._-]{0,31}$`.
pub fn is_valid(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_LEN
        && (b[0].is_ascii_lowercase() || b[0] == b'_')
        && b.iter().all(|&c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, b'.' | b'_' | b'-')
        })
}

/// Applies the rules to a name; the error says why the name cannot be used.
pub fn from_name(name: &str, strip_domain: Option<&str>) -> Result<String, String> {
    let mut s = name.to_lowercase();
    match strip_domain {
        Some("*") => {
            if let Some(at) = s.rfind('@') {
                s.truncate(at);
            }
        }
        Some(domain) => {
            let suffix = format!("@{}", domain.trim_start_matches('@').to_lowercase());
            if s.ends_with(&suffix) {
                s.truncate(s.len() - suffix.len());
            }
        }
        None => {}
    }
    let mapped: String = s
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if is_valid(&mapped) {
        Ok(mapped)
    } else if mapped.is_empty() {
        Err(format!("the name `{name}` gives an empty Linux user name"))
    } else if mapped.chars().count() > MAX_LEN {
        Err(format!(
            "the name `{name}` gives `{mapped}`, longer than {MAX_LEN} characters"
        ))
    } else {
        Err(format!(
            "the name `{name}` gives `{mapped}`, which does not start with a letter or `_`"
        ))
    }
}

/// Expands a `linux_user` template: `{user}` becomes [`from_name`] of the name; the
/// whole result must be a valid user name.
pub fn expand(template: &str, name: &str, strip_domain: Option<&str>) -> Result<String, String> {
    let user = from_name(name, strip_domain)?;
    let out = template.replace("{user}", &user);
    if is_valid(&out) {
        Ok(out)
    } else {
        Err(format!(
            "`{template}` with `{user}` gives `{out}`, which is not a valid Linux user name"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_names() {
        for ok in ["a", "_", "alice", "a.b-c_d", "a1", &"a".repeat(32)] {
            assert!(is_valid(ok), "{ok}");
        }
        for bad in [
            "",
            "1a",
            "-a",
            ".a",
            "Alice",
            "a b",
            "a@b",
            &"a".repeat(33),
            "é",
        ] {
            assert!(!is_valid(bad), "{bad}");
        }
    }

    #[test]
    fn table() {
        let cases: &[(&str, Option<&str>, Result<&str, ()>)] = &[
            ("alice", None, Ok("alice")),
            ("Alice", None, Ok("alice")),
            ("alice@example.com", None, Ok("alice_example.com")),
            ("alice@example.com", Some("example.com"), Ok("alice")),
            ("Alice@Example.COM", Some("example.com"), Ok("alice")),
            (
                "alice@other.org",
                Some("example.com"),
                Ok("alice_other.org"),
            ),
            ("alice@other.org", Some("*"), Ok("alice")),
            ("a@b@c.org", Some("*"), Ok("a_b")),
            ("bob", Some("*"), Ok("bob")),
            ("jean luc", None, Ok("jean_luc")),
            ("josé", None, Ok("jos_")),
            ("o'brien", None, Ok("o_brien")),
            ("first+tag", None, Ok("first_tag")),
            ("1password", None, Err(())),
            ("-x", None, Err(())),
            ("@example.com", Some("example.com"), Err(())),
            ("", None, Err(())),
            (
                "averyveryveryverylongname.person",
                None,
                Ok("averyveryveryverylongname.person"),
            ),
            ("averyveryveryverylongname.person1", None, Err(())),
            ("ÄRGER", None, Ok("_rger")),
        ];
        for (name, dom, want) in cases {
            let got = from_name(name, *dom);
            match want {
                Ok(w) => assert_eq!(got.as_deref(), Ok(*w), "{name} {dom:?}"),
                Err(()) => assert!(got.is_err(), "{name} {dom:?} gave {got:?}"),
            }
        }
    }

    #[test]
    fn template() {
        assert_eq!(expand("{user}", "Bob", None).as_deref(), Ok("bob"));
        assert_eq!(expand("ro-{user}", "Bob", None).as_deref(), Ok("ro-bob"));
        assert!(expand("ro-{user}", &"b".repeat(30), None).is_err());
    }

    #[test]
    fn never_truncates() {
        let long = "x".repeat(40);
        assert!(from_name(&long, None).is_err());
    }
}
