//! Shell-style glob matching for names and paths in the configuration.
//!
//! Only `*` is special: it matches any run of characters (including none). For
//! paths, `*` does not cross `/`. There is no `?`, no character class and no
//! escaping, so a pattern is easy to read and easy to validate.
#![forbid(unsafe_code)]

/// Matches `text` against `pattern`, where `*` matches any run of characters.
pub fn matches(pattern: &str, text: &str) -> bool {
    matches_with(pattern, text, None)
}

/// Matches a path: `*` matches any run of characters except `/`.
pub fn matches_path(pattern: &str, path: &str) -> bool {
    matches_with(pattern, path, Some('/'))
}

/// Whether a pattern contains a wildcard.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains('*')
}

/// Checks that a pattern uses only what this matcher supports: `*` is the one
/// wildcard; `?`, `[`, `]`, `{`, `}` and `\\` are refused rather than taken
/// literally, because an admin writing them expects shell meaning.
pub fn validate(pattern: &str) -> Result<(), String> {
    if pattern.is_empty() {
        return Err("empty pattern".into());
    }
    if let Some(c) = pattern.chars().find(|c| "?[]{}\\".contains(*c)) {
        return Err(format!(
            "`{c}` is not supported in patterns; only `*` is a wildcard"
        ));
    }
    if pattern.contains("**") {
        return Err("`**` is not supported; one `*` matches any run of characters".into());
    }
    Ok(())
}

fn matches_with(pattern: &str, text: &str, stop: Option<char>) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    // Iterative matcher with backtracking to the last star: O(len(p) * len(t)).
    let (mut pi, mut ti) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == t[ti] {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // Let the star swallow one more character, unless it may not.
            if Some(t[st]) == stop {
                return false;
            }
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_refuses_unsupported_syntax() {
        assert!(validate("Admin*").is_ok());
        assert!(validate("/snap/amazon-ssm-agent/*/ssm-session-worker").is_ok());
        for bad in ["", "a?", "[ab]", "{a,b}", "a\\*", "a**"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn literal_and_star() {
        let cases = [
            ("Admin", "Admin", true),
            ("Admin", "admin", false),
            ("Admin*", "AdminRole", true),
            ("*Admin", "OrgAdmin", true),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("ci-*", "ci-deployer", true),
            ("ci-*", "ops-deployer", false),
            ("", "", true),
            ("", "x", false),
        ];
        for (p, t, want) in cases {
            assert_eq!(matches(p, t), want, "{p} ~ {t}");
        }
    }

    #[test]
    fn path_star_stays_in_one_component() {
        let p = "/snap/amazon-ssm-agent/*/ssm-session-worker";
        assert!(matches_path(
            p,
            "/snap/amazon-ssm-agent/9881/ssm-session-worker"
        ));
        assert!(!matches_path(
            p,
            "/snap/amazon-ssm-agent/9881/x/ssm-session-worker"
        ));
        assert!(!matches_path(
            p,
            "/snap/amazon-ssm-agent/../../tmp/ssm-session-worker"[..]
                .replace("..", "x/y")
                .as_str()
        ));
        assert!(matches_path(
            "/usr/bin/ssm-session-worker",
            "/usr/bin/ssm-session-worker"
        ));
        assert!(!matches_path(
            "/usr/bin/ssm-session-worker",
            "/usr/bin/ssm-session-worker2"
        ));
    }
}
