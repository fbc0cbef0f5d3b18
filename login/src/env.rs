//! The environment of the target account's shell, built from nothing: a few
//! inherited variables that pass a strict check, the account's own values, then
//! what the PAM modules exported.
#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

/// The `PATH` of the target shell.
pub const PATH: &str = "/usr/local/bin:/usr/bin:/bin";

/// Inherited variables worth keeping, if their values are sane.
const KEPT: &[&str] = &[
    "TERM",
    "LANG",
    "LC_ALL",
    "LC_ADDRESS",
    "LC_COLLATE",
    "LC_CTYPE",
    "LC_IDENTIFICATION",
    "LC_MEASUREMENT",
    "LC_MESSAGES",
    "LC_MONETARY",
    "LC_NAME",
    "LC_NUMERIC",
    "LC_PAPER",
    "LC_TELEPHONE",
    "LC_TIME",
];

/// Variables only the account database decides; PAM modules cannot override them.
const FIXED: &[&str] = &["HOME", "USER", "LOGNAME", "SHELL"];

/// A value for `TERM` or a locale variable: short, and only characters that appear in
/// terminal and locale names (no `/`, so it cannot name a file; no controls).
fn sane_value(value: &[u8]) -> bool {
    !value.is_empty()
        && value.len() <= 64
        && value
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'@' | b'+'))
}

/// Picks the inherited variables to keep, in a fixed order.
pub fn kept_from(
    inherited: impl IntoIterator<Item = (OsString, OsString)>,
) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = Vec::new();
    for (name, value) in inherited {
        let Some(name) = name.to_str() else { continue };
        if !KEPT.contains(&name) || !sane_value(value.as_bytes()) {
            continue;
        }
        let Some(value) = value.to_str() else {
            continue;
        };
        if let Some(slot) = found.iter_mut().find(|(n, _)| n == name) {
            slot.1 = value.to_owned();
        } else {
            found.push((name.to_owned(), value.to_owned()));
        }
    }
    found.sort_by_key(|(n, _)| KEPT.iter().position(|k| k == n));
    found
}

/// What the shell's environment is made of.
pub struct Account<'a> {
    pub user: &'a str,
    pub home: &'a str,
    pub shell: &'a str,
}

/// Builds the final environment as `NAME=value` strings: kept variables, the
/// account's values, then PAM's list (which cannot replace the account's identity).
pub fn build(
    kept: &[(String, String)],
    account: &Account<'_>,
    pam_env: &[Vec<u8>],
) -> Vec<Vec<u8>> {
    let mut vars: Vec<(Vec<u8>, Vec<u8>)> = Vec::new();
    let mut set = |name: &[u8], value: &[u8]| {
        if let Some(slot) = vars.iter_mut().find(|(n, _)| n == name) {
            slot.1 = value.to_vec();
        } else {
            vars.push((name.to_vec(), value.to_vec()));
        }
    };
    for (n, v) in kept {
        set(n.as_bytes(), v.as_bytes());
    }
    set(b"HOME", account.home.as_bytes());
    set(b"USER", account.user.as_bytes());
    set(b"LOGNAME", account.user.as_bytes());
    set(b"SHELL", account.shell.as_bytes());
    set(b"PATH", PATH.as_bytes());
    set(b"MAIL", format!("/var/mail/{}", account.user).as_bytes());
    for entry in pam_env {
        let Some(eq) = entry.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (name, value) = (&entry[..eq], &entry[eq + 1..]);
        if name.is_empty() || entry.contains(&0) || FIXED.iter().any(|f| f.as_bytes() == name) {
            continue;
        }
        set(name, value);
    }
    vars.into_iter()
        .map(|(mut n, v)| {
            n.push(b'=');
            n.extend_from_slice(&v);
            n
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn os(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
        pairs.iter().map(|(a, b)| (a.into(), b.into())).collect()
    }

    #[test]
    fn only_sane_term_and_locale_survive() {
        let kept = kept_from(os(&[
            ("LC_TIME", "en_GB.UTF-8"),
            ("TERM", "xterm-256color"),
            ("LD_PRELOAD", "/tmp/evil.so"),
            ("LANG", "../../tmp/x"),
            ("LC_CTYPE", "C.UTF-8\n"),
            ("LC_ALL", &"x".repeat(65)),
            ("LC_EVIL", "C"),
            ("PATH", "/tmp"),
            ("HOME", "/tmp"),
            ("SSM_SESSION_ID", "forged"),
        ]));
        assert_eq!(
            kept,
            vec![
                ("TERM".to_string(), "xterm-256color".to_string()),
                ("LC_TIME".to_string(), "en_GB.UTF-8".to_string())
            ]
        );
    }

    #[test]
    fn account_values_win_over_pam_for_identity_only() {
        let kept = vec![("TERM".to_string(), "xterm".to_string())];
        let acct = Account {
            user: "alice",
            home: "/home/alice",
            shell: "/bin/bash",
        };
        let pam = vec![
            b"SSM_SESSION_ID=alice-0123".to_vec(),
            b"HOME=/tmp".to_vec(),
            b"PATH=/usr/sbin:/usr/bin".to_vec(),
            b"junk".to_vec(),
        ];
        let env: Vec<String> = build(&kept, &acct, &pam)
            .into_iter()
            .map(|v| String::from_utf8_lossy(&v).into_owned())
            .collect();
        assert_eq!(
            env,
            vec![
                "TERM=xterm",
                "HOME=/home/alice",
                "USER=alice",
                "LOGNAME=alice",
                "SHELL=/bin/bash",
                "PATH=/usr/sbin:/usr/bin",
                "MAIL=/var/mail/alice",
                "SSM_SESSION_ID=alice-0123",
            ]
        );
    }
}
