//! One checker per section of the file: each turns the raw (as written) section into
//! its validated form, pushing a `PATH:LINE:COLUMN` diagnostic for every problem and
//! going on with the default, so that all problems are reported together. The checks
//! that recur (an absolute path, seconds, an integer range, one of some words) are
//! written once, in [`Check`].

use super::*;

// ---------------------------------------------------------------------------
// Raw (as written) sections.

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGuard {
    mode: Option<Spanned<String>>,
    grace_secs: Option<Spanned<f64>>,
    scan_interval_ms: Option<Spanned<i64>>,
    helper_path: Option<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAws {
    region: Option<Spanned<String>>,
    endpoint_url: Option<Spanned<String>>,
    instance_id: Option<Spanned<String>>,
    connect_timeout_secs: Option<Spanned<f64>>,
    attempt_timeout_secs: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawResolver {
    source: Option<Spanned<String>>,
    allowed_documents: Option<Vec<Spanned<String>>>,
    worker_paths: Option<Vec<Spanned<String>>>,
    agent_state_dir: Option<Spanned<String>>,
    deadline_secs: Option<Spanned<f64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDaemon {
    socket: Option<Spanned<String>>,
    max_connections: Option<Spanned<i64>>,
    client_timeout_secs: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAudit {
    #[serde(default = "yes")]
    journald: bool,
    file: Option<Spanned<String>>,
}

impl Default for RawAudit {
    fn default() -> Self {
        RawAudit {
            journald: true,
            file: None,
        }
    }
}

fn yes() -> bool {
    true
}

// ---------------------------------------------------------------------------
// The recurring checks.

/// The source for positions, and where problems go.
pub(super) struct Check<'s, 'a> {
    pub(super) src: &'s Source_<'a>,
    pub(super) errors: &'s mut Vec<Diagnostic>,
}

impl Check<'_, '_> {
    fn error(&mut self, at: Range<usize>, message: impl Into<String>) {
        self.errors.push(self.src.span(at, message));
    }

    /// An absolute path, or `default` when absent.
    fn abs_path(&mut self, v: Option<&Spanned<String>>, default: &str, what: &str) -> PathBuf {
        match v {
            None => PathBuf::from(default),
            Some(p) => self.some_abs_path(p, what),
        }
    }

    fn some_abs_path(&mut self, p: &Spanned<String>, what: &str) -> PathBuf {
        if !p.get_ref().starts_with('/') {
            self.error(p.span(), format!("{what} must be an absolute path"));
        }
        PathBuf::from(p.get_ref())
    }

    /// Seconds, more than 0 and at most 300; `default` when absent or wrong.
    fn secs(&mut self, v: Option<&Spanned<f64>>, default: f64, name: &str) -> Duration {
        let Some(s) = v else {
            return Duration::from_secs_f64(default);
        };
        let x = *s.get_ref();
        if x > 0.0 && x <= 300.0 {
            Duration::from_secs_f64(x)
        } else {
            self.error(
                s.span(),
                format!("{name} must be more than 0 and at most 300 seconds"),
            );
            Duration::from_secs_f64(default)
        }
    }

    /// An integer in `range`; `default` when absent, clamped when outside.
    fn int(
        &mut self,
        v: Option<&Spanned<i64>>,
        default: i64,
        range: std::ops::RangeInclusive<i64>,
        name: &str,
    ) -> i64 {
        let Some(m) = v else { return default };
        let x = *m.get_ref();
        if !range.contains(&x) {
            self.error(
                m.span(),
                format!(
                    "{name} must be between {} and {}",
                    range.start(),
                    range.end()
                ),
            );
        }
        x.clamp(*range.start(), *range.end())
    }

    /// A string that must pass `ok`, else `wrong(quoted value)` is the message.
    fn text(
        &mut self,
        v: &Spanned<String>,
        ok: impl Fn(&str) -> bool,
        wrong: impl Fn(&str) -> String,
    ) -> String {
        let s = v.get_ref();
        if !ok(s) {
            self.error(v.span(), wrong(&q(s)));
        }
        s.clone()
    }
}

// ---------------------------------------------------------------------------
// The sections.

/// `landing_user`: a valid name, never root or any uid-0 account.
pub(super) fn landing_user(
    c: &mut Check<'_, '_>,
    raw: &Spanned<String>,
    uid_of: &dyn Fn(&str) -> Option<u32>,
) -> String {
    let name = raw.get_ref().clone();
    if !username::is_valid(&name) {
        c.error(
            raw.span(),
            format!("landing_user `{}` is not a valid Linux user name", q(&name)),
        );
    } else if name == "root" || uid_of(&name) == Some(0) {
        c.error(
            raw.span(),
            "landing_user must not be root or any uid-0 account",
        );
    }
    name
}

/// `strip_domain`: a domain name or `*`, lower-cased, without a leading `@`.
pub(super) fn strip_domain(c: &mut Check<'_, '_>, raw: Option<&Spanned<String>>) -> Option<String> {
    let d = raw?;
    let v = d.get_ref().trim_start_matches('@').to_ascii_lowercase();
    let domain = |s: &str| {
        s.chars()
            .all(|ch| ch.is_ascii_alphanumeric() || ch == '.' || ch == '-')
    };
    if v.is_empty() || (v != "*" && !domain(&v)) {
        c.error(
            d.span(),
            format!(
                "strip_domain `{}` must be a domain name like `example.com`, or `*`",
                q(d.get_ref())
            ),
        );
    }
    Some(v)
}

/// `[aws]`.
pub(super) fn aws(c: &mut Check<'_, '_>, raw: &RawAws) -> Aws {
    Aws {
        region: raw.region.as_ref().map(|r| {
            c.text(
                r,
                |v| {
                    !v.is_empty()
                        && v.chars()
                            .all(|ch| ch.is_ascii_lowercase() || ch.is_ascii_digit() || ch == '-')
                },
                |qv| format!("region `{qv}` is not a region name like `eu-west-1`"),
            )
        }),
        endpoint_url: raw.endpoint_url.as_ref().map(|u| {
            c.text(
                u,
                |v| v.starts_with("https://") || v.starts_with("http://"),
                |qv| format!("endpoint_url `{qv}` must start with https:// (or http:// for tests)"),
            )
        }),
        instance_id: raw.instance_id.as_ref().map(|i| {
            c.text(i, crate::session_id::is_instance_id, |qv| {
                format!("instance_id `{qv}` is not an instance id like `i-0123456789abcdef0`")
            })
        }),
        connect_timeout: c.secs(
            raw.connect_timeout_secs.as_ref(),
            3.0,
            "connect_timeout_secs",
        ),
        attempt_timeout: c.secs(
            raw.attempt_timeout_secs.as_ref(),
            3.0,
            "attempt_timeout_secs",
        ),
    }
}

/// `[resolver]`.
pub(super) fn resolver(c: &mut Check<'_, '_>, raw: &RawResolver) -> Resolver {
    let source = match raw.source.as_ref() {
        None => Source::Api,
        Some(s) => Source::parse(s.get_ref()).unwrap_or_else(|| {
            c.error(
                s.span(),
                format!(
                    "source `{}` is not one of `api`, `agent-state`, `agent-state-then-api`",
                    q(s.get_ref())
                ),
            );
            Source::Api
        }),
    };
    let allowed_documents = match &raw.allowed_documents {
        None => vec![DEFAULT_DOCUMENT.to_string()],
        Some(list) => {
            if list.is_empty() {
                c.errors.push(c.src.at(
                    0,
                    "resolver.allowed_documents is empty: no session could ever switch",
                ));
            }
            let document = |v: &str| {
                !v.is_empty()
                    && v.len() <= 128
                    && v.chars()
                        .all(|ch| ch.is_ascii_alphanumeric() || "_-.:/".contains(ch))
            };
            list.iter()
                .map(|d| {
                    c.text(d, document, |qv| {
                        format!("`{qv}` is not an SSM document name")
                    })
                })
                .collect()
        }
    };
    let worker_paths = match &raw.worker_paths {
        None => DEFAULT_WORKER_PATHS.iter().map(|s| s.to_string()).collect(),
        Some(list) => list
            .iter()
            .map(|p| {
                let v = p.get_ref();
                if !v.starts_with('/') || v.contains("..") || v.ends_with('/') {
                    c.error(
                        p.span(),
                        format!(
                            "worker path `{}` must be an absolute path to the session worker",
                            q(v)
                        ),
                    );
                } else if let Err(e) = glob::validate(v) {
                    c.error(p.span(), format!("worker path `{}`: {e}", q(v)));
                }
                v.clone()
            })
            .collect(),
    };
    let agent_state_dir = c.abs_path(
        raw.agent_state_dir.as_ref(),
        DEFAULT_AGENT_STATE_DIR,
        "agent_state_dir",
    );
    let deadline = c.secs(raw.deadline_secs.as_ref(), 10.0, "deadline_secs");
    if deadline.as_secs_f64() >= ssm_runas_protocol::DEFAULT_CLIENT_TIMEOUT_SECS as f64
        && let Some(d) = &raw.deadline_secs
    {
        c.error(
            d.span(),
            format!(
                "deadline_secs must be shorter than the PAM module's timeout ({} s), or the first login fails while the second works",
                ssm_runas_protocol::DEFAULT_CLIENT_TIMEOUT_SECS
            ),
        );
    }
    Resolver {
        source,
        allowed_documents,
        worker_paths,
        agent_state_dir,
        deadline,
    }
}

/// `[daemon]`.
pub(super) fn daemon(c: &mut Check<'_, '_>, raw: &RawDaemon) -> Daemon {
    Daemon {
        socket: c.abs_path(
            raw.socket.as_ref(),
            ssm_runas_protocol::DEFAULT_SOCKET,
            "socket",
        ),
        max_connections: usize::try_from(c.int(
            raw.max_connections.as_ref(),
            64,
            1..=4096,
            "max_connections",
        ))
        .unwrap_or(64),
        client_timeout: c.secs(raw.client_timeout_secs.as_ref(), 5.0, "client_timeout_secs"),
    }
}

/// `[audit]`.
pub(super) fn audit(c: &mut Check<'_, '_>, raw: &RawAudit) -> Audit {
    Audit {
        journald: raw.journald,
        file: raw.file.as_ref().map(|f| c.some_abs_path(f, "audit file")),
    }
}

/// `[guard]`.
pub(super) fn guard(c: &mut Check<'_, '_>, raw: &RawGuard) -> Guard {
    let mode = match &raw.mode {
        None => GuardMode::Enforce,
        Some(m) => match m.get_ref().as_str() {
            "enforce" => GuardMode::Enforce,
            "audit" => GuardMode::Audit,
            "off" => GuardMode::Off,
            other => {
                c.error(
                    m.span(),
                    format!(
                        "guard mode `{}` is not one of `enforce`, `audit`, `off`",
                        q(other)
                    ),
                );
                GuardMode::Enforce
            }
        },
    };
    let grace = c.secs(raw.grace_secs.as_ref(), 3.0, "grace_secs");
    if grace > Duration::from_secs(60)
        && let Some(s) = &raw.grace_secs
    {
        c.error(s.span(), "grace_secs must be at most 60");
    }
    let scan_ms = c.int(
        raw.scan_interval_ms.as_ref(),
        200,
        10..=10_000,
        "scan_interval_ms",
    );
    Guard {
        mode,
        grace,
        scan_interval: Duration::from_millis(u64::try_from(scan_ms).unwrap_or(200)),
        helper_path: c.abs_path(raw.helper_path.as_ref(), DEFAULT_HELPER_PATH, "helper_path"),
    }
}
