//! Who owns a session, asked of SSM: `DescribeSessions` with batching, single-flight,
//! retries with backoff inside one deadline, and a cache of owners.
//!
//! How a lookup runs:
//! - A cached answer (owners never change) is returned without a call, until
//!   [`SessionLookup::forget`].
//! - Otherwise the session joins the set of unresolved sessions. One background task per
//!   [`SessionLookup`] works through that set: with a single session it asks
//!   `State=Active` + `SessionId=<id>`; with several it asks once with
//!   `Target=<instance id>` (every page) and answers them all from that. Concurrent
//!   lookups of the same session wait for the same answer (single flight).
//! - Not listed yet, throttling, 5xx, timeouts and unreadable answers are retried with
//!   exponential backoff and jitter; `AccessDeniedException` and other answers that
//!   cannot change by themselves are not. Each lookup gives up at its deadline with the
//!   error that explains why (not listed, throttled, upstream failure).
//! - A listed session is only accepted when its `Target` is this instance, its `Status`
//!   is `Connected`/`Connecting`, and its `DocumentName` (when SSM gives one) is allowed.
//!
//! The SDK's own retries are switched off for `DescribeSessions`, so the backoff here is
//! the only one and the call counters are exact.
#![forbid(unsafe_code)]

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_sdk_ssm::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_ssm::types::{Session, SessionFilter, SessionFilterKey, SessionState};
use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{Notify, oneshot};
use tokio::time::Instant;

/// First retry delay; doubled per attempt up to [`BACKOFF_CAP`], with jitter.
const BACKOFF_BASE: Duration = Duration::from_millis(100);
const BACKOFF_CAP: Duration = Duration::from_secs(2);
/// Smallest gap between the starts of two queries, so that a stream of lookups (each one
/// a new connection from a session) cannot turn into a stream of API calls: SSM throttles
/// per account and region, shared by the whole fleet.
/// 150 ms keeps a burst of 200 session starts within one second to about 7 calls
/// (benchmark "AWS call economy"), at most 150 ms added to a lookup that just
/// missed a query, which prefetching mostly hides.
const MIN_QUERY_INTERVAL: Duration = Duration::from_millis(150);
/// `MaxResults` for the batched `Target` query (the API maximum).
const TARGET_PAGE: i32 = 200;
/// Safety stop when following `NextToken`s.
const MAX_PAGES: usize = 50;
/// Bound on cached owners; the oldest goes first when the daemon forgets to `forget`.
const CACHE_MAX: usize = 4096;
/// The SessionId length limit of the API.
const SESSION_ID_MAX: usize = 96;

/// How to reach SSM and what to accept.
#[derive(Clone, Debug, PartialEq)]
pub struct ApiSettings {
    /// `None`: the SDK's default region chain (environment, profile, IMDS).
    pub region: Option<String>,
    /// `None`: the regional AWS endpoint. Set for tests, demos or VPC endpoints.
    pub endpoint_url: Option<String>,
    /// This instance; sessions on another target are refused.
    pub instance_id: String,
    /// Overall time one lookup may take, retries included (default 10 s).
    pub deadline: Duration,
    /// TCP/TLS connect timeout per attempt (default 2 s).
    pub connect_timeout: Duration,
    /// Time one HTTP attempt may take (default 3 s).
    pub attempt_timeout: Duration,
    /// Session documents accepted when SSM names one. Empty: no restriction.
    pub allowed_documents: Vec<String>,
    /// Static `(access key id, secret access key)`, for tests and demos only. `None`: the
    /// SDK's default credential chain (instance profile through IMDS on EC2).
    pub credentials: Option<(String, String)>,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            region: None,
            endpoint_url: None,
            instance_id: String::new(),
            deadline: Duration::from_secs(ssm_runas_protocol::DEFAULT_RESOLVE_DEADLINE_SECS),
            connect_timeout: Duration::from_secs(2),
            attempt_timeout: Duration::from_secs(3),
            allowed_documents: Vec::new(),
            credentials: None,
        }
    }
}

/// What SSM says about an accepted session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub session_id: String,
    /// The owner ARN, unparsed.
    pub owner: String,
    pub target: String,
    pub status: String,
    pub document_name: Option<String>,
}

/// Why a lookup gave no owner. `Display` is one line meant for a person.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LookupError {
    /// SSM did not list the session as Active within the deadline.
    NotListed,
    /// The instance's credentials may not call `ssm:DescribeSessions`; AWS's message.
    AccessDenied(String),
    /// SSM kept throttling until the deadline.
    Throttled,
    /// Any other failure talking to SSM (5xx, timeouts, unreadable answers, ...).
    Upstream(String),
    /// The session belongs to another instance.
    WrongTarget { target: String },
    /// The session is listed but neither Connected nor Connecting.
    NotConnected { status: String },
    /// The session runs a document that is not allowed.
    DocumentNotAllowed { document: String },
}

impl fmt::Display for LookupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LookupError::NotListed => {
                write!(
                    f,
                    "SSM does not list this session as active (yet); try again"
                )
            }
            LookupError::AccessDenied(msg) => write!(
                f,
                "this instance's role lacks the ssm:DescribeSessions permission: {}",
                one_line(msg)
            ),
            LookupError::Throttled => {
                write!(f, "SSM is throttling DescribeSessions; try again shortly")
            }
            LookupError::Upstream(msg) => write!(f, "asking SSM failed: {}", one_line(msg)),
            LookupError::WrongTarget { target } => write!(
                f,
                "the session belongs to {}, not to this instance",
                one_line(target)
            ),
            LookupError::NotConnected { status } => {
                write!(f, "the session is {}, not connected", one_line(status))
            }
            LookupError::DocumentNotAllowed { document } => write!(
                f,
                "session document {} is not allowed here",
                one_line(document)
            ),
        }
    }
}

impl std::error::Error for LookupError {}

impl LookupError {
    /// Whether waiting and asking again can change the answer.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            LookupError::NotListed | LookupError::Throttled | LookupError::Upstream(_)
        )
    }
}

/// Printable, single-line, bounded text (AWS messages and ARNs go to a terminal and
/// logs): control and invisible characters escaped, cut after 400 characters.
fn one_line(s: &str) -> String {
    ssm_runas_protocol::text::escape_max(s, 400)
}

type Reply = oneshot::Sender<Result<SessionInfo, LookupError>>;

struct Pending {
    waiters: Vec<Reply>,
    /// Whether a query has started since this session joined.
    queried: bool,
    /// What the latest completed query said about this session.
    last: Option<LookupError>,
}

struct State {
    cache: HashMap<String, (SessionInfo, u64)>,
    cache_seq: u64,
    pending: HashMap<String, Pending>,
    driver_running: bool,
    last_error: Option<String>,
}

struct Inner {
    ssm: aws_sdk_ssm::Client,
    sts: aws_sdk_sts::Client,
    instance_id: String,
    deadline: Duration,
    allowed_documents: Vec<String>,
    state: Mutex<State>,
    wake: Notify,
    api_calls: AtomicU64,
}

/// Resolves SessionIds to owners through `DescribeSessions`. Cheap to clone.
#[derive(Clone)]
pub struct SessionLookup {
    inner: Arc<Inner>,
}

impl fmt::Debug for SessionLookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SessionLookup")
            .field("instance_id", &self.inner.instance_id)
            .field("cache_size", &self.cache_size())
            .field("api_calls", &self.api_calls())
            .finish()
    }
}

impl SessionLookup {
    /// Builds the SDK clients. With `region: None` the region comes from the default chain
    /// (which may ask IMDS); with `credentials: None` so do the credentials.
    pub async fn new(settings: ApiSettings) -> SessionLookup {
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(settings.connect_timeout)
            .operation_attempt_timeout(settings.attempt_timeout)
            .operation_timeout(settings.deadline)
            .build();
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .timeout_config(timeouts)
            .retry_config(RetryConfig::disabled());
        if let Some(region) = &settings.region {
            loader = loader.region(aws_config::Region::new(region.clone()));
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url.clone());
        }
        if let Some((key, secret)) = &settings.credentials {
            loader = loader.credentials_provider(aws_sdk_ssm::config::Credentials::new(
                key.clone(),
                secret.clone(),
                None,
                None,
                "ssm-runas-settings",
            ));
        }
        let conf = loader.load().await;
        let ssm = aws_sdk_ssm::Client::new(&conf);
        // GetCallerIdentity is a diagnostic: let the SDK retry it the usual way.
        let sts = aws_sdk_sts::Client::from_conf(
            aws_sdk_sts::config::Builder::from(&conf)
                .retry_config(RetryConfig::standard())
                .build(),
        );
        SessionLookup {
            inner: Arc::new(Inner {
                ssm,
                sts,
                instance_id: settings.instance_id,
                deadline: settings.deadline,
                allowed_documents: settings.allowed_documents,
                state: Mutex::new(State {
                    cache: HashMap::new(),
                    cache_seq: 0,
                    pending: HashMap::new(),
                    driver_running: false,
                    last_error: None,
                }),
                wake: Notify::new(),
                api_calls: AtomicU64::new(0),
            }),
        }
    }

    /// The owner and details of an active session on this instance.
    pub async fn lookup(&self, session_id: &str) -> Result<SessionInfo, LookupError> {
        if session_id.is_empty()
            || session_id.chars().count() > SESSION_ID_MAX
            || session_id.chars().any(char::is_control)
        {
            return Err(LookupError::Upstream(
                "refusing to ask SSM about a malformed SessionId".into(),
            ));
        }
        let deadline = Instant::now() + self.inner.deadline;
        let (tx, rx) = oneshot::channel();
        let start_driver = {
            let mut st = self.inner.lock();
            if let Some((info, _)) = st.cache.get(session_id) {
                return Ok(info.clone());
            }
            st.pending
                .entry(session_id.to_string())
                .or_insert_with(|| Pending {
                    waiters: Vec::new(),
                    queried: false,
                    last: None,
                })
                .waiters
                .push(tx);
            !std::mem::replace(&mut st.driver_running, true)
        };
        if start_driver {
            tokio::spawn(drive(Arc::clone(&self.inner)));
        } else {
            self.inner.wake.notify_one();
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => Err(LookupError::Upstream("the lookup task ended".into())),
            Err(_) => {
                let mut st = self.inner.lock();
                let err = st
                    .pending
                    .get(session_id)
                    .and_then(|p| p.last.clone())
                    .unwrap_or_else(|| {
                        LookupError::Upstream(format!(
                            "no answer from SSM within {:.1}s",
                            self.inner.deadline.as_secs_f64()
                        ))
                    });
                st.last_error = Some(format!("lookup of {}: {err}", one_line(session_id)));
                Err(err)
            }
        }
    }

    /// Drops a cached owner (the daemon calls it when the session's worker is gone).
    pub fn forget(&self, session_id: &str) {
        self.inner.lock().cache.remove(session_id);
    }

    /// Number of cached owners.
    pub fn cache_size(&self) -> usize {
        self.inner.lock().cache.len()
    }

    /// `DescribeSessions` HTTP calls made (each page counts).
    pub fn api_calls(&self) -> u64 {
        self.inner.api_calls.load(Ordering::Relaxed)
    }

    /// The most recent failure: a failed call, or a lookup that gave up. Not cleared by
    /// later successes.
    pub fn last_error(&self) -> Option<String> {
        self.inner.lock().last_error.clone()
    }

    /// The ARN of the credentials in use (STS `GetCallerIdentity`).
    pub async fn caller_identity(&self) -> Result<String, String> {
        match self.inner.sts.get_caller_identity().send().await {
            Ok(out) => out
                .arn()
                .map(str::to_string)
                .ok_or_else(|| "STS GetCallerIdentity answered without an ARN".to_string()),
            Err(e) => Err(match e.code() {
                Some(code) => format!(
                    "STS GetCallerIdentity failed: {code}: {}",
                    one_line(e.message().unwrap_or(""))
                ),
                None => format!(
                    "STS GetCallerIdentity failed: {}",
                    one_line(&DisplayErrorContext(&e).to_string())
                ),
            }),
        }
    }

    /// One cheap call (`Target` filter, `MaxResults` 1, no retry) to check that the
    /// credentials may call `ssm:DescribeSessions`.
    pub async fn probe_describe_sessions(&self) -> Result<(), LookupError> {
        self.inner
            .describe(target_filter(&self.inner.instance_id)?, Some(1), false)
            .await
            .map(|_| ())
            .map_err(|(e, _)| e)
    }
}

/// Resolves the instance id from IMDSv2 (`AWS_EC2_METADATA_SERVICE_ENDPOINT` is honoured).
pub async fn instance_id_from_imds() -> Result<String, String> {
    let client = imds_builder().build();
    instance_id_with(client).await
}

/// [`instance_id_from_imds`] against an explicit IMDS endpoint (tests, demos).
pub async fn instance_id_from_imds_at(endpoint: &str) -> Result<String, String> {
    let builder = imds_builder()
        .endpoint(endpoint)
        .map_err(|e| format!("bad IMDS endpoint {}: {e}", one_line(endpoint)))?;
    instance_id_with(builder.build()).await
}

fn imds_builder() -> aws_config::imds::client::Builder {
    aws_config::imds::Client::builder()
        .connect_timeout(Duration::from_secs(1))
        .read_timeout(Duration::from_secs(2))
        .max_attempts(2)
}

async fn instance_id_with(client: aws_config::imds::Client) -> Result<String, String> {
    let id: String = client
        .get("/latest/meta-data/instance-id")
        .await
        .map_err(|e| {
            format!(
                "cannot read the instance id from IMDS: {}",
                one_line(&DisplayErrorContext(&e).to_string())
            )
        })?
        .into();
    let id = id.trim().to_string();
    let well_formed = id
        .strip_prefix("i-")
        .or_else(|| id.strip_prefix("mi-"))
        .is_some_and(|rest| {
            (8..=32).contains(&rest.len()) && rest.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if well_formed {
        Ok(id)
    } else {
        Err(format!(
            "IMDS answered an instance id that is not well-formed: {:?}",
            one_line(&id)
        ))
    }
}

fn target_filter(instance_id: &str) -> Result<SessionFilter, LookupError> {
    filter(SessionFilterKey::TargetId, instance_id)
}

fn filter(key: SessionFilterKey, value: &str) -> Result<SessionFilter, LookupError> {
    SessionFilter::builder()
        .key(key)
        .value(value)
        .build()
        .map_err(|e| LookupError::Upstream(format!("cannot build the filter: {e}")))
}

/// Delay before retry `attempt` (0-based): doubling from [`BACKOFF_BASE`] up to
/// [`BACKOFF_CAP`], with "equal jitter" (uniform in [d/2, d]).
fn backoff(attempt: u32) -> Duration {
    let d = BACKOFF_BASE
        .saturating_mul(1u32 << attempt.min(16))
        .min(BACKOFF_CAP);
    let ms = d.as_millis() as u64;
    Duration::from_millis(rand::random_range(ms / 2..=ms.max(1)))
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn record_error(&self, msg: String) {
        self.lock().last_error = Some(msg);
    }

    /// One `DescribeSessions` query (State=Active, one filter), following `NextToken` when
    /// `all_pages`. The error comes with whether retrying could help.
    async fn describe(
        &self,
        filter: SessionFilter,
        max_results: Option<i32>,
        all_pages: bool,
    ) -> Result<Vec<Session>, (LookupError, bool)> {
        match self.describe_pages(filter, max_results, all_pages).await {
            (sessions, None) => Ok(sessions),
            (_, Some(failure)) => Err(failure),
        }
    }

    /// Like [`Inner::describe`], but keeps the sessions of the pages read before a
    /// later page failed, so they need not be asked for again.
    async fn describe_pages(
        &self,
        filter: SessionFilter,
        max_results: Option<i32>,
        all_pages: bool,
    ) -> (Vec<Session>, Option<(LookupError, bool)>) {
        let mut sessions = Vec::new();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            self.api_calls.fetch_add(1, Ordering::Relaxed);
            let out = self
                .ssm
                .describe_sessions()
                .state(SessionState::Active)
                .filters(filter.clone())
                .set_max_results(max_results)
                .set_next_token(token.take())
                .send()
                .await;
            match out {
                Ok(page) => {
                    sessions.extend(page.sessions().iter().cloned());
                    match page.next_token() {
                        Some(t) if all_pages && !t.is_empty() => token = Some(t.to_string()),
                        _ => return (sessions, None),
                    }
                }
                Err(e) => {
                    let (err, retry) = classify(&e);
                    tracing::debug!(error = %err, retry, "DescribeSessions failed");
                    self.record_error(format!("DescribeSessions: {err}"));
                    return (sessions, Some((err, retry)));
                }
            }
        }
        (sessions, None)
    }

    /// Whether a listed session is acceptable, and what it says.
    fn evaluate(&self, s: &Session) -> Result<SessionInfo, LookupError> {
        let target = s.target().unwrap_or_default();
        if target != self.instance_id {
            return Err(LookupError::WrongTarget {
                target: target.to_string(),
            });
        }
        let status = s.status().map(|st| st.as_str()).unwrap_or_default();
        if !matches!(status, "Connected" | "Connecting") {
            return Err(LookupError::NotConnected {
                status: status.to_string(),
            });
        }
        let document_name = s.document_name().map(str::to_string);
        if let Some(doc) = &document_name
            && !self.allowed_documents.is_empty()
            && !self.allowed_documents.iter().any(|a| a == doc)
        {
            return Err(LookupError::DocumentNotAllowed {
                document: doc.clone(),
            });
        }
        let owner = s.owner().unwrap_or_default();
        if owner.is_empty() {
            return Err(LookupError::Upstream(
                "SSM listed the session without an Owner".into(),
            ));
        }
        Ok(SessionInfo {
            session_id: s.session_id().unwrap_or_default().to_string(),
            owner: owner.to_string(),
            target: target.to_string(),
            status: status.to_string(),
            document_name,
        })
    }

    /// Answers every waiter of `id` and removes it from the pending set.
    fn settle(st: &mut State, id: &str, answer: Result<SessionInfo, LookupError>) {
        let Some(p) = st.pending.remove(id) else {
            return;
        };
        if let Ok(info) = &answer {
            st.cache_seq += 1;
            let seq = st.cache_seq;
            st.cache.insert(id.to_string(), (info.clone(), seq));
            if st.cache.len() > CACHE_MAX
                && let Some(oldest) = st
                    .cache
                    .iter()
                    .min_by_key(|(_, (_, s))| *s)
                    .map(|(k, _)| k.clone())
            {
                st.cache.remove(&oldest);
            }
        }
        for w in p.waiters {
            let _ = w.send(answer.clone());
        }
    }
}

/// Drops sessions nobody waits for any more; returns (nothing left, some not yet queried).
fn prune(st: &mut State) -> (bool, bool) {
    st.pending.retain(|_, p| {
        p.waiters.retain(|w| !w.is_closed());
        !p.waiters.is_empty()
    });
    let fresh = st.pending.values().any(|p| !p.queried);
    (st.pending.is_empty(), fresh)
}

/// Clears `driver_running` if the driver ends abnormally (a panic, or its runtime
/// shutting down), so that the next lookup starts a new one instead of waiting forever.
struct DriverGuard {
    inner: Arc<Inner>,
    armed: bool,
}

impl Drop for DriverGuard {
    fn drop(&mut self) {
        if self.armed {
            self.inner.lock().driver_running = false;
        }
    }
}

/// The background task that works through the pending sessions until none is left.
async fn drive(inner: Arc<Inner>) {
    let mut guard = DriverGuard {
        inner: Arc::clone(&inner),
        armed: true,
    };
    // Let lookups started in the same instant join the first query.
    tokio::task::yield_now().await;
    let mut attempt: u32 = 0;
    let mut last_start: Option<Instant> = None;
    let mut throttled = false;
    loop {
        // However lookups arrive, queries start at most every MIN_QUERY_INTERVAL.
        if let Some(t) = last_start {
            tokio::time::sleep_until(t + MIN_QUERY_INTERVAL).await;
        }
        let ids: Vec<String> = {
            let mut st = inner.lock();
            let (empty, fresh) = prune(&mut st);
            if empty {
                st.driver_running = false;
                guard.armed = false;
                return;
            }
            // A new session resets the backoff, unless SSM is throttling us: then
            // newcomers wait for the backoff too (they join the next query anyway).
            if fresh && !throttled {
                attempt = 0;
            }
            for p in st.pending.values_mut() {
                p.queried = true;
            }
            st.pending.keys().cloned().collect()
        };
        last_start = Some(Instant::now());
        let (sessions, failure) = match ids.as_slice() {
            [one] => match filter(SessionFilterKey::SessionId, one) {
                Ok(f) => inner.describe_pages(f, None, true).await,
                Err(e) => (Vec::new(), Some((e, false))),
            },
            _ => match target_filter(&inner.instance_id) {
                Ok(f) => inner.describe_pages(f, Some(TARGET_PAGE), true).await,
                Err(e) => (Vec::new(), Some((e, false))),
            },
        };
        {
            let mut st = inner.lock();
            // Sessions listed in the pages read are answered, even when a later page
            // failed, and also those that joined while the query ran.
            let all: Vec<String> = st.pending.keys().cloned().collect();
            for id in &all {
                if let Some(s) = sessions
                    .iter()
                    .find(|s| s.session_id() == Some(id.as_str()))
                {
                    let answer = inner.evaluate(s);
                    Inner::settle(&mut st, id, answer);
                }
            }
            match failure {
                None => {
                    throttled = false;
                    // Only the ones asked about count as not listed.
                    for id in &ids {
                        if let Some(p) = st.pending.get_mut(id) {
                            p.last = Some(LookupError::NotListed);
                        }
                    }
                }
                Some((err, false)) => {
                    // Denied or misconfigured: the same for every session.
                    let all: Vec<String> = st.pending.keys().cloned().collect();
                    for id in &all {
                        Inner::settle(&mut st, id, Err(err.clone()));
                    }
                }
                Some((err, true)) => {
                    throttled = err == LookupError::Throttled;
                    for id in &ids {
                        if let Some(p) = st.pending.get_mut(id) {
                            p.last = Some(err.clone());
                        }
                    }
                }
            }
        }
        // Back off before asking again, unless a session arrived that has not been
        // asked about yet.
        let until = Instant::now() + backoff(attempt);
        attempt = attempt.saturating_add(1);
        loop {
            {
                let mut st = inner.lock();
                let (empty, fresh) = prune(&mut st);
                if empty || (fresh && !throttled) {
                    break;
                }
            }
            tokio::select! {
                () = tokio::time::sleep_until(until) => break,
                () = inner.wake.notified() => {}
            }
        }
    }
}

/// Maps an SDK failure to a [`LookupError`] and whether retrying could help.
fn classify<E>(e: &SdkError<E, aws_sdk_ssm::config::http::HttpResponse>) -> (LookupError, bool)
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match e {
        SdkError::ServiceError(se) => {
            let err = se.err();
            let status = se.raw().status().as_u16();
            let msg = one_line(err.message().unwrap_or(""));
            match err.code() {
                Some("AccessDeniedException" | "AccessDenied") => (
                    LookupError::AccessDenied(if msg.is_empty() {
                        "AccessDeniedException for ssm:DescribeSessions".into()
                    } else {
                        msg
                    }),
                    false,
                ),
                Some(
                    "ThrottlingException"
                    | "Throttling"
                    | "ThrottledException"
                    | "RequestThrottled"
                    | "RequestThrottledException"
                    | "TooManyRequestsException"
                    | "RequestLimitExceeded",
                ) => (LookupError::Throttled, true),
                // Credentials or requests that are wrong stay wrong.
                Some(
                    code @ ("UnrecognizedClientException"
                    | "InvalidSignatureException"
                    | "IncompleteSignature"
                    | "MissingAuthenticationTokenException"
                    | "InvalidClientTokenId"
                    | "ExpiredTokenException"
                    | "InvalidFilterKey"
                    | "InvalidNextToken"
                    | "ValidationException"
                    | "SerializationException"),
                ) => (LookupError::Upstream(format!("{code}: {msg}")), false),
                Some(code) => (
                    LookupError::Upstream(format!("{code} (HTTP {status}): {msg}")),
                    true,
                ),
                None => (
                    LookupError::Upstream(format!(
                        "unreadable DescribeSessions answer (HTTP {status})"
                    )),
                    true,
                ),
            }
        }
        SdkError::TimeoutError(_) => (
            LookupError::Upstream("DescribeSessions timed out".into()),
            true,
        ),
        SdkError::ResponseError(_) => (
            LookupError::Upstream("unreadable DescribeSessions answer".into()),
            true,
        ),
        other => (
            LookupError::Upstream(one_line(&DisplayErrorContext(other).to_string())),
            true,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        for _ in 0..50 {
            let b0 = backoff(0);
            assert!(b0 >= Duration::from_millis(50) && b0 <= Duration::from_millis(100));
            let b3 = backoff(3);
            assert!(b3 >= Duration::from_millis(400) && b3 <= Duration::from_millis(800));
            assert!(backoff(40) <= BACKOFF_CAP);
        }
    }

    #[test]
    fn errors_read_as_one_line_and_name_the_permission() {
        let e = LookupError::AccessDenied("User: x\nis not authorized".into());
        let s = e.to_string();
        assert!(s.contains("ssm:DescribeSessions"));
        assert!(!s.contains('\n'));
        assert!(
            !LookupError::WrongTarget {
                target: "i-1".into()
            }
            .is_retryable()
        );
        assert!(LookupError::Throttled.is_retryable());
    }
}
