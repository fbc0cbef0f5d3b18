//! The daemon's decisions: who is asking (kernel), which session (ancestry), who
//! started it (agent state or DescribeSessions), which account (rules), and the
//! audit record for each answer. The socket plumbing is in [`crate::server`].
#![forbid(unsafe_code)]

use std::collections::HashMap;
use std::os::fd::BorrowedFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;

use ssm_runas_protocol::{Allow, Request, Response, StatusReport};

use crate::agent_state::{self, AgentStateError};
use crate::ancestry::{self, Identified, WorkerPolicy};
use crate::audit::{AuditRecord, Auditor, Decision};
use crate::aws_api::{ApiSettings, LookupError, SessionLookup};
use crate::config::{Config, Source};
use crate::owner;
use crate::rules::{self, Verdict};
use crate::switches::{ProcessKey, Switches};

/// Decision counters shown by `ssm-runas status`.
#[derive(Default)]
pub struct Counters {
    /// Switches allowed.
    pub allowed: AtomicU64,
    /// Switches denied.
    pub denied: AtomicU64,
    /// Requests that failed (upstream errors, malformed clients).
    pub errors: AtomicU64,
}

/// What the AWS side said at start-up.
#[derive(Default, Clone)]
pub struct AwsHealth {
    /// `sts:GetCallerIdentity`.
    pub identity: Option<String>,
    /// Whether `ssm:DescribeSessions` answered without AccessDenied.
    pub describe_sessions_allowed: Option<bool>,
}

/// The parts of the daemon that change on reload, swapped together.
pub struct Active {
    /// The configuration in force.
    pub config: Arc<Config>,
    /// The DescribeSessions client (API sources only).
    pub lookup: Option<SessionLookup>,
    /// Where audit records go.
    pub auditor: Arc<Auditor>,
    /// The landing user's uid.
    pub landing_uid: u32,
}

/// Everything a request handler needs.
pub struct Service {
    active: RwLock<Arc<Active>>,
    /// Decision counters.
    pub counters: Counters,
    /// The instance this daemon serves.
    pub instance_id: String,
    /// `/proc` (tests may point elsewhere).
    pub proc_root: PathBuf,
    started: Instant,
    health: Mutex<AwsHealth>,
    /// Sessions whose owners are cached, with their worker (pid, start time), so the
    /// cache can be pruned when the worker is gone.
    workers: Mutex<HashMap<String, (i32, u64)>>,
    /// The landing guard, once started (for `status`).
    pub guard: std::sync::OnceLock<crate::guard::GuardHandle>,
    /// Allowed switches by helper process, so the helper's later requests are tied to
    /// its session after it left the landing user's uid, and a helper that vanishes
    /// still gets its session's end recorded.
    pub switches: Switches,
}

/// Why a switch is refused: the person sees the text; the audit record says whether
/// it was a decision or a failure to decide.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Refusal {
    /// The rules, the owner or the session say no (`deny`).
    Denied(String),
    /// No decision could be made: AWS, the agent's state or the user database failed
    /// (`error`; the caller is denied all the same).
    Failed(String),
}

/// A refusal before the session's owner was known, with the session if it was.
struct Refused {
    refusal: Refusal,
    session_id: Option<String>,
}

/// What a resolved request learnt, for the answer and the audit record.
struct Resolved {
    ident: Identified,
    owner_arn: String,
    source: &'static str,
}

impl Service {
    /// A service for `active`, serving `instance_id`.
    pub fn new(active: Active, instance_id: String) -> Service {
        Service {
            active: RwLock::new(Arc::new(active)),
            counters: Counters::default(),
            instance_id,
            proc_root: PathBuf::from("/proc"),
            started: Instant::now(),
            health: Mutex::new(AwsHealth::default()),
            workers: Mutex::new(HashMap::new()),
            guard: std::sync::OnceLock::new(),
            switches: Switches::default(),
        }
    }

    /// The configuration etc. in force now.
    pub fn active(&self) -> Arc<Active> {
        match self.active.read() {
            Ok(g) => Arc::clone(&g),
            Err(p) => Arc::clone(&p.into_inner()),
        }
    }

    /// Puts a new configuration in force (after it validated).
    pub fn replace(&self, active: Active) {
        let new = Arc::new(active);
        match self.active.write() {
            Ok(mut g) => *g = new,
            Err(p) => *p.into_inner() = new,
        }
    }

    /// Records what AWS said at start-up.
    pub fn set_health(&self, h: AwsHealth) {
        if let Ok(mut g) = self.health.lock() {
            *g = h;
        }
    }

    /// Drops cached owners whose session worker has exited.
    pub fn prune(&self) -> usize {
        let active = self.active();
        let gone: Vec<String> = match self.workers.lock() {
            Ok(mut w) => {
                let gone: Vec<String> = w
                    .iter()
                    .filter(|(_, (pid, start))| {
                        crate::peer::starttime(&self.proc_root, *pid).ok() != Some(*start)
                    })
                    .map(|(s, _)| s.clone())
                    .collect();
                for s in &gone {
                    w.remove(s);
                }
                gone
            }
            Err(_) => Vec::new(),
        };
        if let Some(l) = &active.lookup {
            for s in &gone {
                l.forget(s);
            }
        }
        gone.len()
    }

    /// Starts resolving a new session's owner as soon as its worker appears (the
    /// landing guard sees it), so the helper's request usually finds it cached. Only
    /// successes are cached, and the helper's request joins a lookup in flight.
    pub async fn prefetch(&self, w: &crate::ancestry::Worker) {
        if w.instance_id
            .as_deref()
            .is_some_and(|i| i != self.instance_id)
        {
            return;
        }
        let a = self.active();
        if a.config.resolver.source != Source::Api {
            return;
        }
        let Some(lookup) = &a.lookup else { return };
        if let Ok(mut m) = self.workers.lock() {
            m.insert(w.session_id.clone(), (w.pid, w.starttime));
        }
        if let Err(e) = lookup.lookup(&w.session_id).await {
            tracing::debug!("prefetch of session {}: {e}", w.session_id);
        }
    }

    /// Answers one request from the peer on `fd`.
    pub async fn handle(&self, fd: BorrowedFd<'_>, req: Request) -> Response {
        match req {
            Request::Status => self.status(fd),
            Request::Resolve => self.resolve_and_decide(fd, None).await,
            Request::Check { user } => self.resolve_and_decide(fd, Some(user)).await,
            Request::SessionOpened { user } => {
                self.note(fd, Decision::SessionOpened, Some(user), "session opened")
            }
            Request::SessionClosed { user } => {
                self.note(fd, Decision::SessionClosed, Some(user), "session closed")
            }
            Request::SwitchFailed { reason } => {
                let reason = sanitize(&reason);
                self.note(fd, Decision::SwitchFailed, None, &reason)
            }
        }
    }

    fn status(&self, fd: BorrowedFd<'_>) -> Response {
        // Only root (the admin CLI) may read the daemon's state.
        // SO_PEERCRED holds the effective uid, which is 0 for the setuid helper too:
        // the real uid must be root as well.
        let is_root = crate::peer::peer_cred(fd).is_ok_and(|c| {
            c.uid == 0 && crate::peer::uids(&self.proc_root, c.pid).is_ok_and(|(real, _)| real == 0)
        });
        if !is_root {
            return Response::Error {
                reason: "status is for root only".into(),
            };
        }
        let a = self.active();
        let health = self.health.lock().map(|h| h.clone()).unwrap_or_default();
        let (cache_size, api_calls, last_aws_error) = match &a.lookup {
            Some(l) => (l.cache_size(), l.api_calls(), l.last_error()),
            None => (0, 0, None),
        };
        Response::Status(Box::new(StatusReport {
            version: env!("CARGO_PKG_VERSION").to_string(),
            config_path: a.config.path.display().to_string(),
            source: a.config.resolver.source.as_str().to_string(),
            landing_user: a.config.landing_user.clone(),
            rules: a.config.rules.len(),
            aws_identity: health.identity,
            describe_sessions_allowed: health.describe_sessions_allowed,
            instance_id: Some(self.instance_id.clone()),
            cache_size,
            allowed: self.counters.allowed.load(Ordering::Relaxed),
            denied: self.counters.denied.load(Ordering::Relaxed),
            errors: self.counters.errors.load(Ordering::Relaxed),
            api_calls,
            last_aws_error,
            uptime_secs: self.started.elapsed().as_secs(),
            extra: match self.guard.get() {
                Some(g) => vec![
                    (
                        "landing guard".to_string(),
                        format!("{} ({})", g.mode().as_str(), g.describe()),
                    ),
                    ("guard kills".to_string(), g.kills().to_string()),
                ],
                None => vec![("landing guard".to_string(), "not started".to_string())],
            },
        }))
    }

    /// An audit-only notification (session opened/closed, switch failed). The session
    /// is the one the daemon allowed this very process (see [`Switches`]); a process the
    /// daemon never allowed is tied to its session by its ancestry, as a request is.
    fn note(
        &self,
        fd: BorrowedFd<'_>,
        decision: Decision,
        user: Option<String>,
        reason: &str,
    ) -> Response {
        let a = self.active();
        let mut rec = AuditRecord {
            decision,
            reason: reason.to_string(),
            linux_user: user.map(|u| sanitize(&u)),
            ..AuditRecord::default()
        };
        let mut helper = None;
        let mut tty = None;
        if let Ok(c) = crate::peer::peer_cred(fd) {
            rec.peer_pid = Some(c.pid);
            rec.peer_uid = Some(c.uid);
            helper = crate::peer::pin_socket_peer(&self.proc_root, fd, c.pid)
                .ok()
                .map(|p| ProcessKey {
                    pid: p.pid,
                    starttime: p.starttime,
                });
            tty = crate::peer::stat(&self.proc_root, c.pid)
                .ok()
                .and_then(|st| st.tty_line());
        }
        let tracked = helper.and_then(|k| match decision {
            Decision::SessionOpened => self.switches.opened(k, tty.clone()),
            Decision::SessionClosed | Decision::SwitchFailed => self.switches.ended(k),
            _ => self.switches.get(k),
        });
        if let Some(t) = tracked {
            rec.session_id = Some(t.session_id);
            rec.linux_user = Some(t.user);
            rec.tty = t.tty.or(tty);
        } else {
            let policy = WorkerPolicy {
                allowed_paths: a.config.resolver.worker_paths.clone(),
            };
            if let Ok(id) = ancestry::identify(&self.proc_root, fd, &policy, a.landing_uid) {
                rec.session_id = Some(id.worker.session_id.clone());
            }
        }
        a.auditor.record(&rec);
        Response::Ack
    }

    /// Records the end of every switched session whose helper disappeared without
    /// closing it (killed with SIGKILL, crashed). Returns how many.
    pub fn sweep_switches(&self) -> usize {
        let gone = self.switches.sweep(|k| k.alive(&self.proc_root));
        if gone.is_empty() {
            return 0;
        }
        let a = self.active();
        for g in &gone {
            let rec = AuditRecord {
                decision: Decision::SessionClosed,
                session_id: Some(g.switch.session_id.clone()),
                linux_user: Some(g.switch.user.clone()),
                peer_pid: Some(g.helper.pid),
                tty: g.switch.tty.clone(),
                reason: "session ended: the switch helper exited without closing it (killed)"
                    .to_owned(),
                ..AuditRecord::default()
            };
            a.auditor.record(&rec);
        }
        gone.len()
    }

    async fn resolve_and_decide(&self, fd: BorrowedFd<'_>, check: Option<String>) -> Response {
        let a = self.active();
        let mut rec = AuditRecord {
            decision: Decision::Deny,
            ..AuditRecord::default()
        };
        if let Ok(c) = crate::peer::peer_cred(fd) {
            rec.peer_pid = Some(c.pid);
            rec.peer_uid = Some(c.uid);
        }
        let resolved = match self.resolve(&a, fd).await {
            Ok(r) => r,
            Err(Refused {
                refusal,
                session_id,
            }) => {
                rec.session_id = session_id;
                return self.deny(&a, rec, refusal);
            }
        };
        rec.session_id = Some(resolved.ident.worker.session_id.clone());
        rec.owner_arn = Some(resolved.owner_arn.clone());
        rec.source = Some(resolved.source.to_string());
        let principal = match owner::parse(&resolved.owner_arn) {
            Ok(p) => p,
            Err(e) => return self.deny(&a, rec, Refusal::Denied(e.to_string())),
        };
        rec.account_id = Some(principal.account.clone());
        rec.permission_set = principal.permission_set.clone();
        rec.principal = principal.name().map(str::to_string);
        rec.principal_kind = Some(principal.kind.as_str().to_string());
        // The user database is read once, below (existence and uid 0), not also by
        // the rules.
        let verdict = rules::decide_with(&a.config, &principal, &|_| None);
        if let Some((n, line)) = verdict.rule() {
            rec.rule = Some(n);
            rec.rule_line = Some(line);
        }
        let (user, groups, rule) = match verdict {
            Verdict::Deny { reason, .. } => return self.deny(&a, rec, Refusal::Denied(reason)),
            Verdict::Allow {
                rule,
                line,
                user,
                groups,
                ..
            } => (user, groups, format!("rule {rule} (line {line})")),
        };
        rec.linux_user = Some(user.clone());
        // The account must exist and must not be root, whatever the rules say.
        match nix::unistd::User::from_name(&user) {
            Ok(Some(u)) if u.uid.as_raw() == 0 => {
                return self.deny(
                    &a,
                    rec,
                    Refusal::Denied(format!("`{user}` is uid 0: never allowed")),
                );
            }
            Ok(Some(_)) => {}
            Ok(None) => {
                return self.deny(
                    &a,
                    rec,
                    Refusal::Denied(format!(
                        "the Linux account `{user}` does not exist on this host"
                    )),
                );
            }
            Err(e) => {
                return self.deny(
                    &a,
                    rec,
                    Refusal::Failed(format!("cannot look up `{user}`: {e}")),
                );
            }
        }
        if let Some(asked) = &check
            && *asked != user
        {
            let reason = format!("this session maps to `{user}`, not `{}`", sanitize(asked));
            return self.deny(&a, rec, Refusal::Denied(reason));
        }
        // The peer may have exited (and its pid been reused) while we waited on AWS.
        if !ancestry::worker_alive(&self.proc_root, &resolved.ident.worker)
            || crate::peer::starttime(&self.proc_root, resolved.ident.peer.pid).ok()
                != Some(resolved.ident.peer_starttime)
        {
            return self.deny(
                &a,
                rec,
                Refusal::Denied("the session ended while it was being resolved".into()),
            );
        }
        let helper = ProcessKey {
            pid: resolved.ident.peer.pid,
            starttime: resolved.ident.peer_starttime,
        };
        self.switches
            .allowed(helper, &resolved.ident.worker.session_id, &user);
        // One allow record per switch: the account step's re-check (Check) that
        // confirms the same answer is not a new decision.
        if check.is_none() {
            // From now on, what the helper starts is its own doing: the guard lets its
            // descendants live only if they started after this point (whatever the
            // landing shell forked before exec'ing the helper does not).
            if let Some(g) = self.guard.get() {
                g.admit_helper(helper.pid, helper.starttime);
            }
            rec.decision = Decision::Allow;
            rec.reason = format!("{rule} of {}", a.config.path.display());
            self.counters.allowed.fetch_add(1, Ordering::Relaxed);
            a.auditor.record(&rec);
        }
        Response::Allow(Allow {
            user,
            groups,
            session_id: resolved.ident.worker.session_id.clone(),
            owner: resolved.owner_arn,
            rule,
        })
    }

    fn deny(&self, a: &Active, mut rec: AuditRecord, refusal: Refusal) -> Response {
        let reason = match refusal {
            Refusal::Failed(reason) => {
                rec.decision = Decision::Error;
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                reason
            }
            Refusal::Denied(reason) => {
                self.counters.denied.fetch_add(1, Ordering::Relaxed);
                reason
            }
        };
        rec.reason = reason.clone();
        a.auditor.record(&rec);
        Response::Deny { reason }
    }

    /// Peer → worker → owner.
    async fn resolve(&self, a: &Active, fd: BorrowedFd<'_>) -> Result<Resolved, Refused> {
        let policy = WorkerPolicy {
            allowed_paths: a.config.resolver.worker_paths.clone(),
        };
        let ident =
            ancestry::identify(&self.proc_root, fd, &policy, a.landing_uid).map_err(|e| {
                Refused {
                    refusal: Refusal::Denied(e.to_string()),
                    session_id: None,
                }
            })?;
        let sid = ident.worker.session_id.clone();
        let fail = |refusal: Refusal| Refused {
            refusal,
            session_id: Some(sid.clone()),
        };
        if let Some(iid) = &ident.worker.instance_id
            && *iid != self.instance_id
        {
            return Err(fail(Refusal::Denied(format!(
                "session {sid} belongs to instance {iid}, not {}",
                self.instance_id
            ))));
        }
        let cfg = &a.config;
        let from_state =
            || agent_state::read(&cfg.resolver.agent_state_dir, &self.instance_id, &sid);
        let (owner_arn, source) = match cfg.resolver.source {
            Source::AgentState => match from_state() {
                Ok(s) => (
                    self.state_owner(cfg, s)
                        .map_err(|r| fail(Refusal::Denied(r)))?,
                    "agent-state",
                ),
                Err(e) => {
                    return Err(fail(Refusal::Failed(format!(
                        "cannot read the agent's state for session {sid}: {e}"
                    ))));
                }
            },
            Source::AgentStateThenApi => match from_state() {
                Ok(s) => (
                    self.state_owner(cfg, s)
                        .map_err(|r| fail(Refusal::Denied(r)))?,
                    "agent-state",
                ),
                Err(
                    AgentStateError::Missing
                    | AgentStateError::Unreadable(_)
                    | AgentStateError::Torn,
                ) => (self.api_owner(a, &sid).await.map_err(fail)?, "api"),
                Err(e) => {
                    return Err(fail(Refusal::Denied(format!(
                        "agent state for session {sid}: {e}"
                    ))));
                }
            },
            Source::Api => (self.api_owner(a, &sid).await.map_err(fail)?, "api"),
        };
        if let Ok(mut w) = self.workers.lock() {
            w.insert(sid.clone(), (ident.worker.pid, ident.worker.starttime));
        }
        Ok(Resolved {
            ident,
            owner_arn,
            source,
        })
    }

    fn state_owner(&self, cfg: &Config, s: agent_state::AgentSession) -> Result<String, String> {
        if let Some(doc) = &s.document_name
            && !cfg.resolver.allowed_documents.iter().any(|d| d == doc)
        {
            return Err(format!(
                "sessions started with document {} may not switch accounts",
                sanitize(doc)
            ));
        }
        Ok(s.owner)
    }

    async fn api_owner(&self, a: &Active, sid: &str) -> Result<String, Refusal> {
        let Some(lookup) = &a.lookup else {
            return Err(Refusal::Failed(
                "the SSM API is not configured as a source".into(),
            ));
        };
        match lookup.lookup(sid).await {
            Ok(info) => Ok(info.owner),
            // AWS could not answer: no decision was made.
            Err(
                e @ (LookupError::AccessDenied(_)
                | LookupError::Throttled
                | LookupError::Upstream(_)
                | LookupError::NotListed),
            ) => Err(Refusal::Failed(e.to_string())),
            // AWS answered, and what it said refuses the switch.
            Err(
                e @ (LookupError::WrongTarget { .. }
                | LookupError::NotConnected { .. }
                | LookupError::DocumentNotAllowed { .. }),
            ) => Err(Refusal::Denied(e.to_string())),
        }
    }
}

/// Builds the reloadable parts from a validated config. On reload, `previous`
/// lends what the change does not touch: the SDK client with its owner cache when
/// the source and AWS settings are the same, the auditor when `[audit]` is.
pub async fn activate(
    config: Config,
    instance_id: &str,
    previous: Option<&Active>,
) -> Result<Active, String> {
    let landing_uid = match nix::unistd::User::from_name(&config.landing_user) {
        Ok(Some(u)) => u.uid.as_raw(),
        Ok(None) => {
            return Err(format!(
                "landing user `{}` does not exist",
                config.landing_user
            ));
        }
        Err(e) => {
            return Err(format!(
                "cannot look up landing user `{}`: {e}",
                config.landing_user
            ));
        }
    };
    if landing_uid == 0 {
        return Err(format!("landing user `{}` is uid 0", config.landing_user));
    }
    let reusable_lookup = previous.and_then(|old| {
        let same = old.config.resolver.source == config.resolver.source
            && api_settings(&old.config, instance_id) == api_settings(&config, instance_id);
        if same { old.lookup.clone() } else { None }
    });
    let lookup = match (config.resolver.source, reusable_lookup) {
        (Source::AgentState, _) => None,
        (_, Some(l)) => Some(l),
        (Source::Api | Source::AgentStateThenApi, None) => {
            Some(SessionLookup::new(api_settings(&config, instance_id)).await)
        }
    };
    let auditor = match previous {
        Some(old) if old.config.audit == config.audit => Arc::clone(&old.auditor),
        _ => Arc::new(Auditor::new(
            config.audit.journald,
            config.audit.file.clone(),
        )),
    };
    Ok(Active {
        config: Arc::new(config),
        lookup,
        auditor,
        landing_uid,
    })
}

/// The DescribeSessions client's settings from the config.
pub fn api_settings(config: &Config, instance_id: &str) -> ApiSettings {
    ApiSettings {
        region: config.aws.region.clone(),
        endpoint_url: config.aws.endpoint_url.clone(),
        instance_id: instance_id.to_string(),
        deadline: config.resolver.deadline,
        connect_timeout: config.aws.connect_timeout,
        attempt_timeout: config.aws.attempt_timeout,
        allowed_documents: config.resolver.allowed_documents.clone(),
        credentials: None,
    }
}

/// Text from a client made safe for one log line: control and invisible characters
/// escaped ([`ssm_runas_protocol::text`]), at most 200 characters of it.
pub fn sanitize(s: &str) -> String {
    ssm_runas_protocol::text::escape_max(s, 200)
}
