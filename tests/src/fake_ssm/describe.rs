//! `DescribeSessions`: filters, states, paging tokens and dates, as SSM answers them.

use super::*;

pub(super) fn describe_sessions(shared: &Shared, body: &[u8]) -> Response {
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

pub(super) fn encode_token(offset: usize, tag: u64) -> String {
    format!("AAEAA{tag:016x}{offset:08x}==")
}

pub(super) fn decode_token(t: &str, tag: u64) -> Option<usize> {
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

pub(super) fn filter_matches(s: &Value, key: &str, value: &str) -> bool {
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
pub(super) fn parse_iso8601(s: &str) -> Option<f64> {
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
pub(super) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// Inverse of [`days_from_civil`].
pub(super) fn civil_from_days(z: i64) -> (i64, u32, u32) {
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
