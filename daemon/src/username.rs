//! The fixed rules that turn a person's name into a Linux user name for `{user}`.
//!
//! In order:
//! 1. lower-case the ASCII letters `A`-`Z` (only those: Unicode case folding would
//!    turn the Kelvin sign `K` into `k` and `İ` into `i` plus a combining dot, so two
//!    different owners could fold to one account);
//! 2. with `strip_domain = "example.com"`, remove a trailing `@example.com`; with
//!    `strip_domain = "*"`, remove everything from the last `@`;
//! 3. replace each character outside `[a-z0-9._-]` by `_` (one `_` per character,
//!    so every non-ASCII character, whatever its case, becomes `_`);
//! 4. the result must match `^[a-z_][a-z0-9._-]{0,31}$`, or the owner is denied.
//!
//! Nothing is ever truncated or guessed: a name that does not fit is refused.
//! Names quoted in the errors are escaped ([`ssm_runas_protocol::text::escape`]).
#![forbid(unsafe_code)]

use ssm_runas_protocol::text::escape;

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
    let mut s = name.to_ascii_lowercase();
    match strip_domain {
        Some("*") => {
            if let Some(at) = s.rfind('@') {
                s.truncate(at);
            }
        }
        Some(domain) => {
            let suffix = format!("@{}", domain.trim_start_matches('@').to_ascii_lowercase());
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
        return Ok(mapped);
    }
    let (name, shown) = (escape(name), escape(&mapped));
    if mapped.is_empty() {
        Err(format!("the name `{name}` gives an empty Linux user name"))
    } else if mapped.chars().count() > MAX_LEN {
        Err(format!(
            "the name `{name}` gives `{shown}`, longer than {MAX_LEN} characters"
        ))
    } else {
        Err(format!(
            "the name `{name}` gives `{shown}`, which does not start with a letter or `_`"
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
            "`{}` with `{user}` gives `{}`, which is not a valid Linux user name",
            escape(template),
            escape(&out)
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
    fn only_ascii_letters_are_lower_cased() {
        // Unicode lower-casing turns the Kelvin sign into `k` and `İ` into `i` plus a
        // combining dot: another owner's account.
        assert_eq!(from_name("\u{212a}elvin", None).as_deref(), Ok("_elvin"));
        assert_ne!(from_name("\u{212a}elvin", None), from_name("kelvin", None));
        assert_eq!(from_name("\u{130}nci", None).as_deref(), Ok("_nci"));
        assert_ne!(from_name("\u{130}nci", None), from_name("inci", None));
        assert_eq!(from_name("KELVIN", None).as_deref(), Ok("kelvin"));
        // Each character is one `_`, whatever its UTF-8 length or case mapping.
        assert_eq!(from_name("a\u{130}\u{212a}b", None).as_deref(), Ok("a__b"));
        assert_eq!(expand("ro-{user}", "\u{212a}", None).as_deref(), Ok("ro-_"));
    }

    #[test]
    fn errors_quote_the_name_escaped() {
        let e = from_name("9\u{202e}nimda\nFAKE:1:1: ok\u{1b}[2J", None).unwrap_err();
        assert_eq!(
            e,
            "the name `9\\u{202e}nimda\\nFAKE:1:1: ok\\u{1b}[2J` gives `9_nimda_fake_1_1__ok__2j`, \
             which does not start with a letter or `_`"
        );
        let long = format!("{}\u{202e}", "x".repeat(40));
        let e = from_name(&long, None).unwrap_err();
        assert!(e.contains("\\u{202e}") && !e.contains('\u{202e}'), "{e}");
    }

    #[test]
    fn never_truncates() {
        let long = "x".repeat(40);
        assert!(from_name(&long, None).is_err());
    }
}
