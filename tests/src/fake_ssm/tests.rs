//! The fake against the wire formats it imitates.

use super::describe::*;
use super::http::*;
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
    let text =
        include_str!("../../fixtures/describe-sessions/describe-sessions-target-mixed-owners.json");
    for s in parse_sessions_file(text).unwrap() {
        fake.add_session_json(s);
    }
}

#[test]
fn target_filter_lists_active_sessions_newest_first_like_the_fixture() {
    let fake = FakeSsm::start();
    fixture_sessions(&fake);
    let req = include_str!(
        "../../fixtures/describe-sessions/request-describe-sessions-target-filter.json"
    );
    let (status, _, body) = raw(fake.addr(), &ssm_req(req));
    assert_eq!(status, 200);
    let want: Value = serde_json::from_str(include_str!(
        "../../fixtures/describe-sessions/describe-sessions-target-mixed-owners.json"
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
    let r1 = include_str!("../../fixtures/describe-sessions/request-describe-sessions-page1.json");
    let (s1, _, b1) = raw(fake.addr(), &ssm_req(r1));
    assert_eq!(s1, 200);
    let p1: Value = serde_json::from_str(&b1).unwrap();
    let want1: Value = serde_json::from_str(include_str!(
        "../../fixtures/describe-sessions/describe-sessions-page1.json"
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
        "../../fixtures/describe-sessions/describe-sessions-page2.json"
    ))
    .unwrap();
    assert_eq!(p2, want2);
    // The fixture's own token is not one this server issued.
    let r3 = include_str!("../../fixtures/describe-sessions/request-describe-sessions-page2.json");
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
            "../../fixtures/describe-sessions/describe-sessions-error-invalid-filter-key.json"
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
                "../../fixtures/describe-sessions/describe-sessions-error-throttling.json"
            )
        )
    );
    let (s, _, b) = raw(fake.addr(), &ssm_req(r#"{"State":"Active"}"#));
    assert_eq!(
        (s, b.as_str()),
        (
            500,
            include_str!(
                "../../fixtures/describe-sessions/describe-sessions-error-internal-server-error.json"
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
