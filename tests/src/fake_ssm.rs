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
const MAX_HEAD: usize = 64 * 1024;
const MAX_BODY: usize = 1024 * 1024;
/// The filter keys DescribeSessions knows (`SessionFilterKey`).
const FILTER_KEYS: [&str; 7] = [
    "InvokedAfter",
    "InvokedBefore",
    "Target",
    "Owner",
    "Status",
    "SessionId",
    "AccessType",
];
const ACCESS_DENIED_MESSAGE: &str = "User: arn:aws:sts::111122223333:assumed-role/ssm-runas-instance-role/i-0123456789abcdef0 is not authorized to perform: ssm:DescribeSessions on resource: arn:aws:ssm:us-east-1:111122223333:* because no identity-based policy allows the ssm:DescribeSessions action";

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

struct Shared {
    state: Mutex<State>,
    stop: AtomicBool,
    conns: Mutex<HashMap<u64, TcpStream>>,
    next_id: AtomicU64,
}

struct State {
    /// Sessions in the wire shape, keyed by position; ids are unique.
    sessions: Vec<Value>,
    /// SessionId → the call number (of all DescribeSessions calls ever) after which it shows.
    hidden_until: HashMap<String, usize>,
    latency: Duration,
    fail_queue: VecDeque<Fault>,
    fail_always: Option<Fault>,
    page_size: usize,
    calls: usize,
    total_calls: usize,
    requests: Vec<Value>,
    sts_calls: usize,
    imds_calls: usize,
    caller_arn: String,
    instance_id: String,
    region: String,
    token_secret: u64,
    imds_token: String,
    access_keys: Vec<String>,
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

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn now_epoch() -> f64 {
    let d = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    // Millisecond precision, like the service.
    (d.as_millis() as f64) / 1000.0
}

fn is_history_status(s: &str) -> bool {
    matches!(s, "Terminated" | "Failed")
}

fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    for conn in listener.incoming() {
        if shared.stop.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = conn else { continue };
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.conns).insert(id, clone);
        }
        let sh = Arc::clone(&shared);
        let spawned = thread::Builder::new()
            .name("fake-ssm-conn".into())
            .spawn(move || {
                let _ = serve_connection(stream, &sh);
                lock(&sh.conns).remove(&id);
            });
        if spawned.is_err() {
            lock(&shared.conns).remove(&id);
        }
    }
}

struct Request {
    method: String,
    path: String,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    close: bool,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    close: bool,
}

fn serve_connection(stream: TcpStream, shared: &Shared) -> io::Result<()> {
    let mut writer = stream.try_clone()?;
    let mut reader = BufReader::new(stream);
    loop {
        if shared.stop.load(Ordering::SeqCst) {
            return Ok(());
        }
        let Some(req) = read_request(&mut reader, &mut writer)? else {
            return Ok(());
        };
        let mut resp = handle(shared, &req);
        if req.close {
            resp.close = true;
        }
        write_response(&mut writer, &resp)?;
        if resp.close {
            let _ = writer.shutdown(Shutdown::Both);
            return Ok(());
        }
    }
}

fn bad(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_string())
}

/// Reads one request; `None` on a clean end of the connection.
fn read_request(
    reader: &mut BufReader<TcpStream>,
    writer: &mut TcpStream,
) -> io::Result<Option<Request>> {
    let mut head_len = 0usize;
    let mut line = String::new();
    // Skip stray empty lines between requests (allowed by RFC 9112).
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        if n == 0 {
            return Ok(None);
        }
        head_len += n;
        if !line.trim().is_empty() {
            break;
        }
        if head_len > MAX_HEAD {
            return Err(bad("request head too large"));
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let path = parts.next().unwrap_or_default().to_string();
    let version = parts.next().unwrap_or_default().to_string();
    let mut headers = Vec::new();
    loop {
        line.clear();
        let n = reader.read_line(&mut line)?;
        if n == 0 {
            return Err(bad("connection closed inside the request head"));
        }
        head_len += n;
        if head_len > MAX_HEAD {
            return Err(bad("request head too large"));
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            break;
        }
        if let Some((k, v)) = l.split_once(':') {
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
    }
    let mut req = Request {
        method,
        path,
        headers,
        body: Vec::new(),
        close: version == "HTTP/1.0",
    };
    if let Some(c) = req.header("connection") {
        if c.eq_ignore_ascii_case("close") {
            req.close = true;
        } else if c.eq_ignore_ascii_case("keep-alive") {
            req.close = false;
        }
    }
    if req
        .header("expect")
        .is_some_and(|e| e.eq_ignore_ascii_case("100-continue"))
    {
        writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")?;
        writer.flush()?;
    }
    let chunked = req
        .header("transfer-encoding")
        .is_some_and(|t| t.to_ascii_lowercase().contains("chunked"));
    if chunked {
        req.body = read_chunked(reader)?;
    } else if let Some(cl) = req.header("content-length") {
        let n: usize = cl.parse().map_err(|_| bad("bad Content-Length"))?;
        if n > MAX_BODY {
            return Err(bad("body too large"));
        }
        let mut body = vec![0u8; n];
        reader.read_exact(&mut body)?;
        req.body = body;
    }
    Ok(Some(req))
}

fn read_chunked(reader: &mut BufReader<TcpStream>) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(bad("connection closed inside a chunked body"));
        }
        let size_hex = line.trim().split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_hex, 16).map_err(|_| bad("bad chunk size"))?;
        if size == 0 {
            // Trailers up to the empty line.
            loop {
                line.clear();
                if reader.read_line(&mut line)? == 0 || line.trim().is_empty() {
                    return Ok(body);
                }
            }
        }
        if body.len() + size > MAX_BODY {
            return Err(bad("body too large"));
        }
        let start = body.len();
        body.resize(start + size, 0);
        reader.read_exact(&mut body[start..])?;
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf)?;
    }
}

fn write_response(w: &mut TcpStream, r: &Response) -> io::Result<()> {
    let reason = match r.status {
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        500 => "Internal Server Error",
        _ => "Status",
    };
    let mut head = format!("HTTP/1.1 {} {}\r\n", r.status, reason);
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("Content-Length: {}\r\n", r.body.len()));
    head.push_str(&format!("Date: {}\r\n", http_date(SystemTime::now())));
    if r.close {
        head.push_str("Connection: close\r\n");
    }
    head.push_str("\r\n");
    let mut out = head.into_bytes();
    out.extend_from_slice(&r.body);
    w.write_all(&out)?;
    w.flush()
}

fn request_id(shared: &Shared) -> String {
    let n = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let secret = lock(&shared.state).token_secret;
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        (secret >> 32) as u32,
        (secret & 0xffff) as u16,
        n & 0xfff,
        (n >> 12) & 0xfff,
        n
    )
}

fn json_ok(shared: &Shared, body: &Value) -> Response {
    Response {
        status: 200,
        headers: vec![
            ("x-amzn-RequestId".into(), request_id(shared)),
            ("Content-Type".into(), "application/x-amz-json-1.1".into()),
        ],
        body: body.to_string().into_bytes(),
        close: false,
    }
}

/// An AWS JSON 1.1 error as in the fixtures: `__type` in the body and a Coral-style
/// `x-amzn-ErrorType` header, connection closed.
fn json_error(shared: &Shared, status: u16, code: &str, msg_key: &str, msg: &str) -> Response {
    let ns = match code {
        "ThrottlingException" => "com.amazon.coral.availability",
        "AccessDeniedException" | "MissingAuthenticationTokenException" => {
            "com.amazon.coral.service"
        }
        _ => "com.amazonaws.ssm",
    };
    // Built by hand to keep the fixtures' member order (`__type` first).
    let body = format!(
        "{{\"__type\":{},\"{msg_key}\":{}}}",
        json!(code),
        json!(msg)
    );
    Response {
        status,
        headers: vec![
            ("x-amzn-RequestId".into(), request_id(shared)),
            (
                "x-amzn-ErrorType".into(),
                format!("{code}:http://internal.amazon.com/coral/{ns}/"),
            ),
            ("Content-Type".into(), "application/x-amz-json-1.1".into()),
        ],
        body: body.into_bytes(),
        close: true,
    }
}

fn validation(shared: &Shared, msg: &str) -> Response {
    json_error(shared, 400, "ValidationException", "message", msg)
}

fn plain(status: u16, ctype: &str, body: &str, close: bool) -> Response {
    Response {
        status,
        headers: vec![("Content-Type".into(), ctype.into())],
        body: body.as_bytes().to_vec(),
        close,
    }
}

fn handle(shared: &Shared, req: &Request) -> Response {
    let latency = lock(&shared.state).latency;
    if !latency.is_zero() {
        thread::sleep(latency);
    }
    if req.path.starts_with("/latest/") {
        return handle_imds(shared, req);
    }
    if req.method != "POST" {
        return plain(405, "text/plain", "method not allowed", true);
    }
    let access_key = req.header("authorization").and_then(|a| {
        let cred = a.split("Credential=").nth(1)?;
        Some(cred.split('/').next()?.to_string())
    });
    if let Some(target) = req.header("x-amz-target") {
        let Some(key) = access_key else {
            return json_error(
                shared,
                400,
                "MissingAuthenticationTokenException",
                "message",
                "Missing Authentication Token",
            );
        };
        lock(&shared.state).access_keys.push(key);
        if target == "AmazonSSM.DescribeSessions" {
            return describe_sessions(shared, &req.body);
        }
        return json_error(shared, 400, "UnknownOperationException", "message", "");
    }
    let form = String::from_utf8_lossy(&req.body).to_string();
    let params: HashMap<String, String> = form
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    if params.get("Action").map(String::as_str) == Some("GetCallerIdentity") {
        let Some(key) = access_key else {
            return sts_error(
                shared,
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            );
        };
        let mut st = lock(&shared.state);
        st.access_keys.push(key);
        st.sts_calls += 1;
        let arn = st.caller_arn.clone();
        drop(st);
        let account = arn.split(':').nth(4).unwrap_or_default().to_string();
        let body = format!(
            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <GetCallerIdentityResult>\n    <Arn>{}</Arn>\n    <UserId>AROAEXAMPLEFAKESSM:{}</UserId>\n    <Account>{}</Account>\n  </GetCallerIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</GetCallerIdentityResponse>\n",
            xml_escape(&arn),
            xml_escape(arn.rsplit('/').next().unwrap_or_default()),
            xml_escape(&account),
            request_id(shared)
        );
        return Response {
            status: 200,
            headers: vec![
                ("x-amzn-RequestId".into(), request_id(shared)),
                ("Content-Type".into(), "text/xml".into()),
            ],
            body: body.into_bytes(),
            close: false,
        };
    }
    sts_error(
        shared,
        "InvalidAction",
        "Could not find operation for this request",
    )
}

fn sts_error(shared: &Shared, code: &str, msg: &str) -> Response {
    let rid = request_id(shared);
    let body = format!(
        "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">\n  <Error>\n    <Type>Sender</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
        xml_escape(code),
        xml_escape(msg),
        rid
    );
    Response {
        status: 400,
        headers: vec![
            ("x-amzn-RequestId".into(), rid),
            ("Content-Type".into(), "text/xml".into()),
        ],
        body: body.into_bytes(),
        close: true,
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn handle_imds(shared: &Shared, req: &Request) -> Response {
    let mut st = lock(&shared.state);
    st.imds_calls += 1;
    if req.path == "/latest/api/token" {
        if req.method != "PUT" {
            return plain(405, "text/plain", "", false);
        }
        let Some(ttl) = req.header("x-aws-ec2-metadata-token-ttl-seconds") else {
            return plain(400, "text/plain", "", false);
        };
        let ttl = ttl.to_string();
        let mut r = plain(200, "text/plain", &st.imds_token, false);
        r.headers
            .push(("x-aws-ec2-metadata-token-ttl-seconds".into(), ttl));
        return r;
    }
    if req.method != "GET" {
        return plain(405, "text/plain", "", false);
    }
    if req.header("x-aws-ec2-metadata-token") != Some(st.imds_token.as_str()) {
        return plain(401, "text/plain", "", false);
    }
    match req.path.as_str() {
        "/latest/meta-data/instance-id" => plain(200, "text/plain", &st.instance_id, false),
        "/latest/meta-data/placement/region" => plain(200, "text/plain", &st.region, false),
        _ => plain(404, "text/plain", "", false),
    }
}

fn describe_sessions(shared: &Shared, body: &[u8]) -> Response {
    let parsed: Result<Value, _> = serde_json::from_slice(body);
    let (fault, visible, page_cap, secret) = {
        let mut st = lock(&shared.state);
        st.calls += 1;
        st.total_calls += 1;
        st.requests.push(match &parsed {
            Ok(v) => v.clone(),
            Err(_) => Value::String(String::from_utf8_lossy(body).into_owned()),
        });
        let fault = st.fail_queue.pop_front().or(st.fail_always);
        let call_no = st.total_calls;
        let visible: Vec<Value> = st
            .sessions
            .iter()
            .filter(|s| {
                let id = s.get("SessionId").and_then(Value::as_str).unwrap_or("");
                st.hidden_until.get(id).is_none_or(|&until| call_no > until)
            })
            .cloned()
            .collect();
        (fault, visible, st.page_size, st.token_secret)
    };
    if let Some(f) = fault {
        return match f {
            Fault::Throttling => json_error(
                shared,
                400,
                "ThrottlingException",
                "message",
                "Rate exceeded",
            ),
            Fault::Internal500 => json_error(
                shared,
                500,
                "InternalServerError",
                "Message",
                "An internal error occurred while processing the request.",
            ),
            Fault::AccessDenied => json_error(
                shared,
                400,
                "AccessDeniedException",
                "Message",
                ACCESS_DENIED_MESSAGE,
            ),
            Fault::Malformed => Response {
                status: 200,
                headers: vec![
                    ("x-amzn-RequestId".into(), request_id(shared)),
                    ("Content-Type".into(), "application/x-amz-json-1.1".into()),
                ],
                body: b"<html><body>\x00\x01 not json {\"Sessions\":[{\"Sess".to_vec(),
                close: false,
            },
        };
    }
    let Ok(req) = parsed else {
        return json_error(
            shared,
            400,
            "SerializationException",
            "Message",
            "Start of structure or map found where not expected.",
        );
    };
    let Some(obj) = req.as_object() else {
        return json_error(shared, 400, "SerializationException", "Message", "");
    };
    let state = match obj.get("State") {
        Some(Value::String(s)) if s == "Active" || s == "History" => s.clone(),
        Some(Value::String(s)) => {
            return validation(
                shared,
                &format!(
                    "1 validation error detected: Value '{s}' at 'state' failed to satisfy constraint: Member must satisfy enum value set: [Active, History]"
                ),
            );
        }
        Some(_) => return json_error(shared, 400, "SerializationException", "Message", ""),
        None => {
            return validation(
                shared,
                "1 validation error detected: Value null at 'state' failed to satisfy constraint: Member must not be null",
            );
        }
    };
    let max_results = match obj.get("MaxResults") {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_i64() {
            Some(n) if (1..=200).contains(&n) => Some(n as usize),
            Some(n) => {
                return validation(
                    shared,
                    &format!(
                        "1 validation error detected: Value '{n}' at 'maxResults' failed to satisfy constraint: Member must have value {} 200",
                        if n < 1 {
                            "greater than or equal to 1, less than or equal to"
                        } else {
                            "less than or equal to"
                        }
                    ),
                );
            }
            None => return json_error(shared, 400, "SerializationException", "Message", ""),
        },
    };
    let mut filters: Vec<(String, String)> = Vec::new();
    match obj.get("Filters") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) => {
            if items.is_empty() || items.len() > 6 {
                return validation(
                    shared,
                    "1 validation error detected: Value at 'filters' failed to satisfy constraint: Member must have length less than or equal to 6 and greater than or equal to 1",
                );
            }
            for it in items {
                let key = it.get("key").and_then(Value::as_str);
                let value = it.get("value").and_then(Value::as_str);
                let (Some(key), Some(value)) = (key, value) else {
                    return validation(
                        shared,
                        "1 validation error detected: Value null at 'filters.member.key' failed to satisfy constraint: Member must not be null",
                    );
                };
                if !FILTER_KEYS.contains(&key) {
                    return json_error(
                        shared,
                        400,
                        "InvalidFilterKey",
                        "Message",
                        "The specified filter key is not valid.",
                    );
                }
                if value.is_empty() || value.chars().count() > 400 {
                    return validation(
                        shared,
                        "1 validation error detected: Value at 'filters.member.value' failed to satisfy constraint: Member must have length less than or equal to 400 and greater than or equal to 1",
                    );
                }
                if matches!(key, "InvokedAfter" | "InvokedBefore") && parse_iso8601(value).is_none()
                {
                    return validation(
                        shared,
                        "1 validation error detected: filter value for InvokedAfter/InvokedBefore must be a date-time such as 2018-08-29T00:00:00Z",
                    );
                }
                filters.push((key.to_string(), value.to_string()));
            }
        }
        Some(_) => return json_error(shared, 400, "SerializationException", "Message", ""),
    };
    // The token binds the offset to this query (state + filters), like an opaque
    // service token that is only good for the query that produced it.
    let mut h = DefaultHasher::new();
    (secret, &state, &filters).hash(&mut h);
    let query_tag = h.finish();
    let offset = match obj.get("NextToken") {
        None | Some(Value::Null) => 0,
        Some(Value::String(t)) => match decode_token(t, query_tag) {
            Some(o) => o,
            None => {
                return json_error(
                    shared,
                    400,
                    "InvalidNextToken",
                    "Message",
                    "The specified token is not valid.",
                );
            }
        },
        Some(_) => return json_error(shared, 400, "SerializationException", "Message", ""),
    };
    let mut matching: Vec<Value> = visible
        .into_iter()
        .filter(|s| {
            let status = s.get("Status").and_then(Value::as_str).unwrap_or("");
            (state == "History") == is_history_status(status)
        })
        .filter(|s| filters.iter().all(|(k, v)| filter_matches(s, k, v)))
        .collect();
    // Newest first, like the service.
    matching.sort_by(|a, b| {
        let sa = a.get("StartDate").and_then(Value::as_f64).unwrap_or(0.0);
        let sb = b.get("StartDate").and_then(Value::as_f64).unwrap_or(0.0);
        sb.total_cmp(&sa)
    });
    let per_page = max_results.unwrap_or(page_cap).min(page_cap).max(1);
    let page: Vec<Value> = matching
        .iter()
        .skip(offset)
        .take(per_page)
        .cloned()
        .collect();
    let mut out = Map::new();
    out.insert("Sessions".into(), Value::Array(page));
    let next = offset + per_page;
    if next < matching.len() {
        out.insert("NextToken".into(), json!(encode_token(next, query_tag)));
    }
    json_ok(shared, &Value::Object(out))
}

fn encode_token(offset: usize, tag: u64) -> String {
    format!("AAEAA{tag:016x}{offset:08x}==")
}

fn decode_token(t: &str, tag: u64) -> Option<usize> {
    let inner = t.strip_prefix("AAEAA")?.strip_suffix("==")?;
    if inner.len() != 24 || !inner.is_ascii() {
        return None;
    }
    let (tag_hex, off_hex) = inner.split_at(16);
    if u64::from_str_radix(tag_hex, 16).ok()? != tag {
        return None;
    }
    usize::from_str_radix(off_hex, 16).ok()
}

fn filter_matches(s: &Value, key: &str, value: &str) -> bool {
    let field = |name: &str| s.get(name).and_then(Value::as_str).unwrap_or("");
    match key {
        "SessionId" => field("SessionId") == value,
        "Target" => field("Target") == value,
        "Owner" => field("Owner") == value,
        "Status" => field("Status") == value,
        "AccessType" => field("AccessType") == value,
        "InvokedAfter" | "InvokedBefore" => {
            let Some(t) = parse_iso8601(value) else {
                return false;
            };
            let start = s.get("StartDate").and_then(Value::as_f64).unwrap_or(0.0);
            if key == "InvokedAfter" {
                start >= t
            } else {
                start <= t
            }
        }
        _ => false,
    }
}

/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS[.fff]Z` → epoch seconds.
fn parse_iso8601(s: &str) -> Option<f64> {
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let mut dp = date.split('-');
    let y: i64 = dp.next()?.parse().ok()?;
    let mo: u32 = dp.next()?.parse().ok()?;
    let d: u32 = dp.next()?.parse().ok()?;
    if dp.next().is_some() || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    let mut secs = days_from_civil(y, mo, d) as f64 * 86400.0;
    if let Some(t) = time {
        let t = t.strip_suffix('Z')?;
        let mut tp = t.split(':');
        let h: u32 = tp.next()?.parse().ok()?;
        let mi: u32 = tp.next()?.parse().ok()?;
        let se: f64 = tp.next()?.parse().ok()?;
        if tp.next().is_some() || h > 23 || mi > 59 || !(0.0..61.0).contains(&se) {
            return None;
        }
        secs += f64::from(h * 3600 + mi * 60) + se;
    }
    Some(secs)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Inverse of [`days_from_civil`].
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// RFC 9110 IMF-fixdate, e.g. `Wed, 16 Oct 2024 10:17:30 GMT`.
fn http_date(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let days = secs.div_euclid(86400);
    let rem = secs.rem_euclid(86400);
    let (y, m, d) = civil_from_days(days);
    const WD: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MO: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        WD[days.rem_euclid(7) as usize],
        d,
        MO[(m - 1) as usize],
        y,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60
    )
}

/// Parses a sessions file for [`FakeSsm`]: a JSON array of sessions in the DescribeSessions
/// wire shape, or a whole DescribeSessions response (`{"Sessions":[…]}`, e.g. a fixture).
pub fn parse_sessions_file(text: &str) -> Result<Vec<Value>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let list = match v {
        Value::Array(a) => a,
        Value::Object(mut o) => match o.remove("Sessions") {
            Some(Value::Array(a)) => a,
            _ => return Err("expected a JSON array of sessions or {\"Sessions\":[…]}".into()),
        },
        _ => return Err("expected a JSON array of sessions".into()),
    };
    for (i, s) in list.iter().enumerate() {
        if s.get("SessionId").and_then(Value::as_str).is_none() {
            return Err(format!("session #{i} has no string \"SessionId\""));
        }
    }
    Ok(list)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Sends one raw request on a fresh connection and returns (status, headers, body).
    fn raw(url_addr: SocketAddr, req: &str) -> (u16, String, String) {
        let mut s = TcpStream::connect(url_addr).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut r = BufReader::new(s);
        let mut head = String::new();
        loop {
            let mut l = String::new();
            r.read_line(&mut l).unwrap();
            if l == "\r\n" {
                break;
            }
            head.push_str(&l);
        }
        let status: u16 = head.split_whitespace().nth(1).unwrap().parse().unwrap();
        let cl: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .unwrap()
            .trim()
            .parse()
            .unwrap();
        let mut body = vec![0; cl];
        r.read_exact(&mut body).unwrap();
        (status, head, String::from_utf8(body).unwrap())
    }

    fn ssm_req(body: &str) -> String {
        format!(
            "POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonSSM.DescribeSessions\r\nContent-Type: application/x-amz-json-1.1\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/20240101/us-east-1/ssm/aws4_request, SignedHeaders=host, Signature=00\r\nContent-Length: {}\r\n\r\n{}",
            body.len(),
            body
        )
    }

    fn fixture_sessions(fake: &FakeSsm) {
        let text = include_str!(
            "../fixtures/describe-sessions/describe-sessions-target-mixed-owners.json"
        );
        for s in parse_sessions_file(text).unwrap() {
            fake.add_session_json(s);
        }
    }

    #[test]
    fn target_filter_lists_active_sessions_newest_first_like_the_fixture() {
        let fake = FakeSsm::start();
        fixture_sessions(&fake);
        let req = include_str!(
            "../fixtures/describe-sessions/request-describe-sessions-target-filter.json"
        );
        let (status, _, body) = raw(fake.addr(), &ssm_req(req));
        assert_eq!(status, 200);
        let want: Value = serde_json::from_str(include_str!(
            "../fixtures/describe-sessions/describe-sessions-target-mixed-owners.json"
        ))
        .unwrap();
        let got: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(got, want);
        assert_eq!(fake.calls(), 1);
        assert_eq!(
            fake.requests()[0],
            serde_json::from_str::<Value>(req).unwrap()
        );
    }

    #[test]
    fn owner_filter_pages_like_the_fixtures_and_bad_tokens_are_refused() {
        let fake = FakeSsm::start();
        fixture_sessions(&fake);
        let r1 = include_str!("../fixtures/describe-sessions/request-describe-sessions-page1.json");
        let (s1, _, b1) = raw(fake.addr(), &ssm_req(r1));
        assert_eq!(s1, 200);
        let p1: Value = serde_json::from_str(&b1).unwrap();
        let want1: Value = serde_json::from_str(include_str!(
            "../fixtures/describe-sessions/describe-sessions-page1.json"
        ))
        .unwrap();
        assert_eq!(p1["Sessions"], want1["Sessions"]);
        let token = p1["NextToken"].as_str().unwrap().to_string();
        let mut r2: Value = serde_json::from_str(r1).unwrap();
        r2["NextToken"] = json!(token);
        let (s2, _, b2) = raw(fake.addr(), &ssm_req(&r2.to_string()));
        assert_eq!(s2, 200);
        let p2: Value = serde_json::from_str(&b2).unwrap();
        let want2: Value = serde_json::from_str(include_str!(
            "../fixtures/describe-sessions/describe-sessions-page2.json"
        ))
        .unwrap();
        assert_eq!(p2, want2);
        // The fixture's own token is not one this server issued.
        let r3 = include_str!("../fixtures/describe-sessions/request-describe-sessions-page2.json");
        let (s3, _, b3) = raw(fake.addr(), &ssm_req(r3));
        assert_eq!(s3, 400);
        assert!(b3.contains("\"__type\":\"InvalidNextToken\""), "{b3}");
    }

    #[test]
    fn validation_errors_have_the_fixture_shapes() {
        let fake = FakeSsm::start();
        let (s, head, b) = raw(
            fake.addr(),
            &ssm_req(r#"{"State":"Active","Filters":[{"key":"Colour","value":"x"}]}"#),
        );
        assert_eq!(s, 400);
        assert!(head.contains("Connection: close"));
        assert_eq!(
            b,
            include_str!(
                "../fixtures/describe-sessions/describe-sessions-error-invalid-filter-key.json"
            )
        );
        let (s, _, b) = raw(fake.addr(), &ssm_req(r#"{"Filters":[]}"#));
        assert_eq!(s, 400);
        assert!(b.contains("ValidationException"));
        let (s, _, _) = raw(
            fake.addr(),
            &ssm_req(r#"{"State":"Active","MaxResults":201}"#),
        );
        assert_eq!(s, 400);
        let (s, _, _) = raw(
            fake.addr(),
            &ssm_req(r#"{"State":"Active","MaxResults":0}"#),
        );
        assert_eq!(s, 400);
        // Filter member names are lowercase on the wire.
        let (s, _, _) = raw(
            fake.addr(),
            &ssm_req(r#"{"State":"Active","Filters":[{"Key":"Target","Value":"i-1"}]}"#),
        );
        assert_eq!(s, 400);
    }

    #[test]
    fn faults_have_the_fixture_bodies_and_statuses() {
        let fake = FakeSsm::start();
        fake.fail_next(1, Fault::Throttling);
        fake.fail_next(1, Fault::Internal500);
        let (s, _, b) = raw(fake.addr(), &ssm_req(r#"{"State":"Active"}"#));
        assert_eq!(
            (s, b.as_str()),
            (
                400,
                include_str!(
                    "../fixtures/describe-sessions/describe-sessions-error-throttling.json"
                )
            )
        );
        let (s, _, b) = raw(fake.addr(), &ssm_req(r#"{"State":"Active"}"#));
        assert_eq!(
            (s, b.as_str()),
            (
                500,
                include_str!(
                    "../fixtures/describe-sessions/describe-sessions-error-internal-server-error.json"
                )
            )
        );
        let (s, _, b) = raw(fake.addr(), &ssm_req(r#"{"State":"Active"}"#));
        assert_eq!((s, b.as_str()), (200, "{\"Sessions\":[]}"));
    }

    #[test]
    fn unsigned_requests_are_refused() {
        let fake = FakeSsm::start();
        let body = r#"{"State":"Active"}"#;
        let req = format!(
            "POST / HTTP/1.1\r\nX-Amz-Target: AmazonSSM.DescribeSessions\r\nContent-Length: {}\r\n\r\n{}",
            body.len(),
            body
        );
        let (s, _, b) = raw(fake.addr(), &req);
        assert_eq!(s, 400);
        assert!(b.contains("MissingAuthenticationTokenException"));
    }

    #[test]
    fn chunked_bodies_and_keep_alive_work() {
        let fake = FakeSsm::start();
        fake.add_session(FakeSession::connected("a-1", "i-1", FIXTURE_OWNER));
        let mut s = TcpStream::connect(fake.addr()).unwrap();
        let body = r#"{"State":"Active","Filters":[{"key":"SessionId","value":"a-1"}]}"#;
        let (a, b) = body.split_at(10);
        let req = format!(
            "POST / HTTP/1.1\r\nX-Amz-Target: AmazonSSM.DescribeSessions\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AK/x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{a}\r\n{:x}\r\n{b}\r\n0\r\n\r\n",
            a.len(),
            b.len()
        );
        // Two requests on one connection.
        s.write_all(req.as_bytes()).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut r = BufReader::new(s);
        for _ in 0..2 {
            let mut cl = 0;
            loop {
                let mut l = String::new();
                r.read_line(&mut l).unwrap();
                if let Some(v) = l.strip_prefix("Content-Length: ") {
                    cl = v.trim().parse().unwrap();
                }
                if l == "\r\n" {
                    break;
                }
            }
            let mut b = vec![0; cl];
            r.read_exact(&mut b).unwrap();
            let v: Value = serde_json::from_slice(&b).unwrap();
            assert_eq!(v["Sessions"][0]["SessionId"], "a-1");
        }
        assert_eq!(fake.calls(), 2);
    }

    #[test]
    fn appear_after_hides_for_exactly_n_calls() {
        let fake = FakeSsm::start();
        fake.add_session(FakeSession::connected("late-1", "i-1", FIXTURE_OWNER));
        fake.appear_after("late-1", 2);
        let q = ssm_req(r#"{"State":"Active","Filters":[{"key":"SessionId","value":"late-1"}]}"#);
        for _ in 0..2 {
            let (_, _, b) = raw(fake.addr(), &q);
            assert_eq!(b, "{\"Sessions\":[]}");
        }
        let (_, _, b) = raw(fake.addr(), &q);
        assert!(b.contains("late-1"));
        // History does not list active sessions.
        let (_, _, b) = raw(fake.addr(), &ssm_req(r#"{"State":"History"}"#));
        assert_eq!(b, "{\"Sessions\":[]}");
    }

    #[test]
    fn invoked_after_filters_by_start_date() {
        let fake = FakeSsm::start();
        fixture_sessions(&fake);
        // 1729072000 = 2024-10-16T09:46:40Z
        let (_, _, b) = raw(
            fake.addr(),
            &ssm_req(
                r#"{"State":"Active","Filters":[{"key":"InvokedAfter","value":"2024-10-16T09:46:40Z"}]}"#,
            ),
        );
        let v: Value = serde_json::from_str(&b).unwrap();
        assert_eq!(v["Sessions"].as_array().unwrap().len(), 4);
    }

    #[test]
    fn dates_round_trip() {
        assert_eq!(parse_iso8601("1970-01-01T00:00:00Z"), Some(0.0));
        assert_eq!(parse_iso8601("2024-10-16T10:17:30Z"), Some(1729073850.0));
        assert_eq!(
            http_date(UNIX_EPOCH + Duration::from_secs(1729073850)),
            "Wed, 16 Oct 2024 10:17:30 GMT"
        );
        assert_eq!(parse_iso8601("2024-13-01"), None);
    }

    #[test]
    fn sts_and_imds_answer() {
        let fake = FakeSsm::start();
        let body = "Action=GetCallerIdentity&Version=2011-06-15";
        let req = format!(
            "POST / HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: AWS4-HMAC-SHA256 Credential=AK/x\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        let (s, _, b) = raw(fake.addr(), &req);
        assert_eq!(s, 200);
        assert!(b.contains(&format!("<Arn>{DEFAULT_CALLER_ARN}</Arn>")));
        let (s, _, tok) = raw(
            fake.addr(),
            "PUT /latest/api/token HTTP/1.1\r\nx-aws-ec2-metadata-token-ttl-seconds: 60\r\nContent-Length: 0\r\n\r\n",
        );
        assert_eq!(s, 200);
        let (s, _, id) = raw(
            fake.addr(),
            &format!(
                "GET /latest/meta-data/instance-id HTTP/1.1\r\nx-aws-ec2-metadata-token: {tok}\r\n\r\n"
            ),
        );
        assert_eq!((s, id.as_str()), (200, FIXTURE_INSTANCE));
        let (s, _, _) = raw(
            fake.addr(),
            "GET /latest/meta-data/instance-id HTTP/1.1\r\nx-aws-ec2-metadata-token: wrong\r\n\r\n",
        );
        assert_eq!(s, 401);
    }
}
