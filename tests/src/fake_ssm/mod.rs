//! A local stand-in for the AWS endpoints the daemon talks to, good enough for the real
//! `aws-sdk-ssm` / `aws-sdk-sts` clients pointed at it with `endpoint_url`.
//!
//! One plain-HTTP/1.1 listener on `127.0.0.1:<ephemeral>` answers:
//! - SSM `DescribeSessions` (AWS JSON 1.1, `X-Amz-Target: AmazonSSM.DescribeSessions`), with
//!   the request validation, filters, pagination and error shapes of
//!   `tests/fixtures/describe-sessions/README.md`;
//! - STS `GetCallerIdentity` (AWS query protocol, form-encoded body, XML answer);
//! - IMDSv2 `PUT /latest/api/token`, `GET /latest/meta-data/instance-id` and
//!   `GET /latest/meta-data/placement/region`, so `AWS_EC2_METADATA_SERVICE_ENDPOINT` can
//!   point at it too.
//!
//! Connections are kept alive (the SDK reuses them); request bodies may come with
//! `Content-Length` or `Transfer-Encoding: chunked`. Error responses carry
//! `Connection: close` and close the connection, as in the fixtures' raw responses.
//! Requests must be signed (an `Authorization` header), otherwise the fake answers
//! `MissingAuthenticationTokenException` like AWS does.
//!
//! Test knobs: sessions that appear only after some queries, latency, injected faults,
//! a server-side page size cap, and counters of what was asked.

use serde_json::{Map, Value, json};
use std::collections::hash_map::DefaultHasher;
use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::{self, JoinHandle};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The owner ARN used throughout the fixtures.
pub const FIXTURE_OWNER: &str = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_DevOps_0123456789abcdef/alice@example.com";
/// The instance id used throughout the fixtures.
pub const FIXTURE_INSTANCE: &str = "i-0123456789abcdef0";
/// What `GetCallerIdentity` answers unless [`FakeSsm::set_caller_arn`] changes it.
pub const DEFAULT_CALLER_ARN: &str =
    "arn:aws:sts::111122223333:assumed-role/ssm-runas-instance-role/i-0123456789abcdef0";

/// Largest request head (request line + headers) and body the fake accepts.
pub(super) const MAX_HEAD: usize = 64 * 1024;
pub(super) const MAX_BODY: usize = 1024 * 1024;
/// The filter keys DescribeSessions knows (`SessionFilterKey`).
pub(super) const FILTER_KEYS: [&str; 7] = [
    "InvokedAfter",
    "InvokedBefore",
    "Target",
    "Owner",
    "Status",
    "SessionId",
    "AccessType",
];
pub(super) const ACCESS_DENIED_MESSAGE: &str = "User: arn:aws:sts::111122223333:assumed-role/ssm-runas-instance-role/i-0123456789abcdef0 is not authorized to perform: ssm:DescribeSessions on resource: arn:aws:ssm:us-east-1:111122223333:* because no identity-based policy allows the ssm:DescribeSessions action";

/// One session as the fake lists it. Serialized in the wire shape of the fixtures
/// (`OutputUrl: {}`, `MaxSessionDuration: "60"`, `AccessType: "Standard"`).
#[derive(Clone, Debug)]
pub struct FakeSession {
    pub session_id: String,
    pub target: String,
    pub owner: String,
    /// `Connected`, `Connecting`, `Disconnected`, `Terminated`, `Terminating` or `Failed`.
    pub status: String,
    pub document_name: Option<String>,
    /// Epoch seconds.
    pub start_date: f64,
}

impl FakeSession {
    /// A Connected `SSM-SessionManagerRunShell` session started now.
    pub fn connected(session_id: &str, target: &str, owner: &str) -> FakeSession {
        FakeSession {
            session_id: session_id.to_string(),
            target: target.to_string(),
            owner: owner.to_string(),
            status: "Connected".to_string(),
            document_name: Some("SSM-SessionManagerRunShell".to_string()),
            start_date: now_epoch(),
        }
    }

    /// The session in the DescribeSessions wire shape.
    pub fn to_wire(&self) -> Value {
        let mut m = Map::new();
        m.insert("SessionId".into(), json!(self.session_id));
        m.insert("Target".into(), json!(self.target));
        m.insert("Status".into(), json!(self.status));
        m.insert("StartDate".into(), json!(self.start_date));
        if matches!(self.status.as_str(), "Terminated" | "Failed") {
            m.insert("EndDate".into(), json!(self.start_date + 60.0));
        }
        if let Some(d) = &self.document_name {
            m.insert("DocumentName".into(), json!(d));
        }
        m.insert("Owner".into(), json!(self.owner));
        if !is_history_status(&self.status) {
            m.insert("OutputUrl".into(), json!({}));
        }
        m.insert("MaxSessionDuration".into(), json!("60"));
        m.insert("AccessType".into(), json!("Standard"));
        Value::Object(m)
    }
}

/// How a DescribeSessions call fails when a fault is injected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// 400 `ThrottlingException` "Rate exceeded".
    Throttling,
    /// 500 `InternalServerError`.
    Internal500,
    /// 200 with a body that is not JSON.
    Malformed,
    /// 400 `AccessDeniedException` naming `ssm:DescribeSessions`.
    AccessDenied,
}

/// The running fake. Dropping it stops the server and closes its connections.
pub struct FakeSsm {
    addr: SocketAddr,
    shared: Arc<Shared>,
    acceptor: Option<JoinHandle<()>>,
}

pub(super) struct Shared {
    pub(super) state: Mutex<State>,
    pub(super) stop: AtomicBool,
    pub(super) conns: Mutex<HashMap<u64, TcpStream>>,
    pub(super) next_id: AtomicU64,
}

pub(super) struct State {
    /// Sessions in the wire shape, keyed by position; ids are unique.
    pub(super) sessions: Vec<Value>,
    /// SessionId → the call number (of all DescribeSessions calls ever) after which it shows.
    pub(super) hidden_until: HashMap<String, usize>,
    pub(super) latency: Duration,
    pub(super) fail_queue: VecDeque<Fault>,
    pub(super) fail_always: Option<Fault>,
    pub(super) page_size: usize,
    pub(super) calls: usize,
    pub(super) total_calls: usize,
    pub(super) requests: Vec<Value>,
    pub(super) sts_calls: usize,
    pub(super) imds_calls: usize,
    pub(super) caller_arn: String,
    pub(super) instance_id: String,
    pub(super) region: String,
    pub(super) token_secret: u64,
    pub(super) imds_token: String,
    pub(super) access_keys: Vec<String>,
}

impl FakeSsm {
    /// Starts the fake on `127.0.0.1:<ephemeral>`.
    ///
    /// # Panics
    /// When no local port can be bound (test support: there is no sensible recovery).
    pub fn start() -> FakeSsm {
        match FakeSsm::start_on("127.0.0.1:0") {
            Ok(f) => f,
            Err(e) => panic!("fake SSM: cannot listen on 127.0.0.1:0: {e}"),
        }
    }

    /// Starts the fake on the given address (`127.0.0.1:0` for an ephemeral port).
    pub fn start_on(listen: &str) -> io::Result<FakeSsm> {
        let listener = TcpListener::bind(listen)?;
        let addr = listener.local_addr()?;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let mut h = DefaultHasher::new();
        (nanos, addr.port(), std::process::id()).hash(&mut h);
        let secret = h.finish();
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                sessions: Vec::new(),
                hidden_until: HashMap::new(),
                latency: Duration::ZERO,
                fail_queue: VecDeque::new(),
                fail_always: None,
                page_size: 200,
                calls: 0,
                total_calls: 0,
                requests: Vec::new(),
                sts_calls: 0,
                imds_calls: 0,
                caller_arn: DEFAULT_CALLER_ARN.to_string(),
                instance_id: FIXTURE_INSTANCE.to_string(),
                region: "us-east-1".to_string(),
                token_secret: secret,
                imds_token: format!("AQAEA{secret:016x}=="),
                access_keys: Vec::new(),
            }),
            stop: AtomicBool::new(false),
            conns: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
        });
        let sh = Arc::clone(&shared);
        let acceptor = thread::Builder::new()
            .name(format!("fake-ssm-{}", addr.port()))
            .spawn(move || accept_loop(listener, sh))?;
        Ok(FakeSsm {
            addr,
            shared,
            acceptor: Some(acceptor),
        })
    }

    /// `http://127.0.0.1:PORT`, for `endpoint_url`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Lists a session (replacing one with the same id).
    pub fn add_session(&self, s: FakeSession) {
        self.add_session_json(s.to_wire());
    }

    /// Lists a session given in the DescribeSessions wire shape (as in the fixtures).
    /// It needs a string `SessionId`; other members are served as given.
    pub fn add_session_json(&self, v: Value) {
        let Some(id) = v
            .get("SessionId")
            .and_then(Value::as_str)
            .map(str::to_string)
        else {
            return;
        };
        let mut st = self.state();
        st.sessions
            .retain(|s| s.get("SessionId").and_then(Value::as_str) != Some(id.as_str()));
        st.sessions.push(v);
    }

    /// Unlists a session.
    pub fn remove_session(&self, id: &str) {
        self.state()
            .sessions
            .retain(|s| s.get("SessionId").and_then(Value::as_str) != Some(id));
    }

    /// Hides the session from the next `n_queries` DescribeSessions calls (counted from now,
    /// every call counts, failed ones included); it shows from call `n_queries + 1` on.
    pub fn appear_after(&self, id: &str, n_queries: usize) {
        let mut st = self.state();
        let until = st.total_calls + n_queries;
        st.hidden_until.insert(id.to_string(), until);
    }

    /// Every answer (DescribeSessions, STS, IMDS) is delayed by `d`.
    pub fn set_latency(&self, d: Duration) {
        self.state().latency = d;
    }

    /// The next `n` DescribeSessions calls fail with `f` (queued after earlier `fail_next`s).
    pub fn fail_next(&self, n: usize, f: Fault) {
        let mut st = self.state();
        for _ in 0..n {
            st.fail_queue.push_back(f);
        }
    }

    /// Every DescribeSessions call fails with `f` (after the queued ones); `None` stops it.
    pub fn fail_always(&self, f: Option<Fault>) {
        self.state().fail_always = f;
    }

    /// Server-side cap on sessions per page (the request's `MaxResults` can only lower it).
    pub fn set_page_size(&self, n: usize) {
        self.state().page_size = n.max(1);
    }

    /// The ARN `GetCallerIdentity` answers.
    pub fn set_caller_arn(&self, arn: &str) {
        self.state().caller_arn = arn.to_string();
    }

    /// The instance id IMDS answers.
    pub fn set_instance_id(&self, id: &str) {
        self.state().instance_id = id.to_string();
    }

    /// DescribeSessions calls received since start or [`FakeSsm::reset_counts`].
    pub fn calls(&self) -> usize {
        self.state().calls
    }

    /// GetCallerIdentity calls received since start or [`FakeSsm::reset_counts`].
    pub fn sts_calls(&self) -> usize {
        self.state().sts_calls
    }

    /// IMDS requests (token and metadata) received since start or [`FakeSsm::reset_counts`].
    pub fn imds_calls(&self) -> usize {
        self.state().imds_calls
    }

    /// The bodies of the DescribeSessions calls, in order (a body that is not JSON is kept
    /// as a JSON string).
    pub fn requests(&self) -> Vec<Value> {
        self.state().requests.clone()
    }

    /// The access key ids of signed SSM/STS requests, in order (from `Authorization`).
    pub fn access_keys(&self) -> Vec<String> {
        self.state().access_keys.clone()
    }

    /// Zeroes the counters and forgets recorded requests (sessions and faults stay).
    pub fn reset_counts(&self) {
        let mut st = self.state();
        st.calls = 0;
        st.sts_calls = 0;
        st.imds_calls = 0;
        st.requests.clear();
        st.access_keys.clear();
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.shared.state)
    }
}

impl Drop for FakeSsm {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        // Wake the blocking accept().
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(h) = self.acceptor.take() {
            let _ = h.join();
        }
        for (_, s) in lock(&self.shared.conns).drain() {
            let _ = s.shutdown(Shutdown::Both);
        }
    }
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

pub(super) fn now_epoch() -> f64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    // Millisecond precision, like the service.
    (d.as_millis() as f64) / 1000.0
}

pub(super) fn is_history_status(s: &str) -> bool {
    matches!(s, "Terminated" | "Failed")
}

mod api;
mod describe;
mod http;
#[cfg(test)]
mod tests;

use api::*;
use describe::*;
use http::*;

pub use describe::parse_sessions_file;
