//! Routing a request: the SSM JSON API, STS's query API and IMDSv2, and their error shapes.

use super::*;

pub(super) fn request_id(shared: &Shared) -> String {
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

pub(super) fn json_ok(shared: &Shared, body: &Value) -> Response {
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
pub(super) fn json_error(
    shared: &Shared,
    status: u16,
    code: &str,
    msg_key: &str,
    msg: &str,
) -> Response {
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

pub(super) fn validation(shared: &Shared, msg: &str) -> Response {
    json_error(shared, 400, "ValidationException", "message", msg)
}

pub(super) fn handle(shared: &Shared, req: &Request) -> Response {
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

pub(super) fn sts_error(shared: &Shared, code: &str, msg: &str) -> Response {
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

pub(super) fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

pub(super) fn handle_imds(shared: &Shared, req: &Request) -> Response {
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
