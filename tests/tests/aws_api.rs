//! The daemon's DescribeSessions client (`ssm_runas::aws_api`) driven through the real
//! aws-sdk-ssm / aws-sdk-sts over HTTP against [`FakeSsm`]; call counts come from the fake.

use serde_json::{Value, json};
use ssm_runas::aws_api::{
    ApiSettings, LookupError, SessionLookup, instance_id_from_imds, instance_id_from_imds_at,
};
use ssm_runas_tests::fake_ssm::{
    DEFAULT_CALLER_ARN, FIXTURE_INSTANCE, FIXTURE_OWNER, FakeSession, FakeSsm, Fault,
};
use std::time::{Duration, Instant};

const KEY_ID: &str = "AKIDFAKESSMTEST00001";
/// Allowed lateness of an answer past its deadline.
const SLACK: Duration = Duration::from_millis(400);

fn settings(fake: &FakeSsm, deadline: Duration) -> ApiSettings {
    ApiSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(fake.url()),
        instance_id: FIXTURE_INSTANCE.into(),
        deadline,
        connect_timeout: Duration::from_secs(1),
        attempt_timeout: Duration::from_secs(2),
        allowed_documents: vec![
            "SSM-SessionManagerRunShell".into(),
            "AWS-StartInteractiveCommand".into(),
        ],
        credentials: Some((KEY_ID.into(), "fake-secret-key".into())),
    }
}

async fn lookup_for(fake: &FakeSsm, deadline: Duration) -> SessionLookup {
    SessionLookup::new(settings(fake, deadline)).await
}

fn session(id: &str) -> FakeSession {
    FakeSession::connected(id, FIXTURE_INSTANCE, FIXTURE_OWNER)
}

fn filters_of(req: &Value) -> Vec<(String, String)> {
    req["Filters"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    (
                        f["key"].as_str().unwrap_or("").to_string(),
                        f["value"].as_str().unwrap_or("").to_string(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn finds_the_owner_with_a_session_id_query_over_the_real_sdk() {
    let fake = FakeSsm::start();
    let id = "alice@example.com-0a1b2c3d4e5f6a7b8";
    fake.add_session(session(id));
    fake.add_session(session("bob-0e6d5c4b3a2918f7e"));
    let lookup = lookup_for(&fake, Duration::from_secs(3)).await;

    let info = lookup.lookup(id).await.expect("found");
    assert_eq!(info.session_id, id);
    assert_eq!(info.owner, FIXTURE_OWNER);
    assert_eq!(info.target, FIXTURE_INSTANCE);
    assert_eq!(info.status, "Connected");
    assert_eq!(
        info.document_name.as_deref(),
        Some("SSM-SessionManagerRunShell")
    );

    assert_eq!(fake.calls(), 1);
    assert_eq!(lookup.api_calls(), 1);
    let req = &fake.requests()[0];
    assert_eq!(req["State"], "Active");
    assert_eq!(filters_of(req), vec![("SessionId".into(), id.into())]);
    // The requests were signed with the configured credentials.
    assert_eq!(fake.access_keys(), vec![KEY_ID.to_string()]);
    assert_eq!(lookup.last_error(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn owners_are_cached_until_forgotten() {
    let fake = FakeSsm::start();
    let id = "carol-07e4c1a9b2d3f5e60";
    fake.add_session(session(id));
    let lookup = lookup_for(&fake, Duration::from_secs(3)).await;

    lookup.lookup(id).await.expect("first");
    assert_eq!(lookup.cache_size(), 1);
    // Even when SSM stops listing it, the cached owner answers without a call.
    fake.remove_session(id);
    for _ in 0..5 {
        assert_eq!(
            lookup.lookup(id).await.expect("cached").owner,
            FIXTURE_OWNER
        );
    }
    assert_eq!(fake.calls(), 1);

    lookup.forget(id);
    assert_eq!(lookup.cache_size(), 0);
    fake.add_session(session(id));
    lookup.lookup(id).await.expect("asked again");
    assert_eq!(fake.calls(), 2);
    // Clones share the cache.
    let clone = lookup.clone();
    clone.lookup(id).await.expect("cached in the clone");
    assert_eq!(fake.calls(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_lookups_of_one_session_share_one_call() {
    let fake = FakeSsm::start();
    let id = "dave@example.com-0123456789abcdef0";
    fake.add_session(session(id));
    fake.set_latency(Duration::from_millis(200));
    let lookup = lookup_for(&fake, Duration::from_secs(3)).await;

    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let l = lookup.clone();
            tokio::spawn(async move { l.lookup(id).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.expect("task").expect("found").owner, FIXTURE_OWNER);
    }
    assert_eq!(fake.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_lookups_of_many_sessions_are_batched_into_a_target_query() {
    let fake = FakeSsm::start();
    let ids: Vec<String> = (0..10)
        .map(|i| format!("user{i}-0a1b2c3d4e5f6a7b{i}"))
        .collect();
    for id in &ids {
        fake.add_session(session(id));
    }
    // Sessions of other instances are not this lookup's business.
    fake.add_session(FakeSession::connected(
        "other-0fedcba9876543210",
        "i-0fedcba9876543210",
        FIXTURE_OWNER,
    ));
    let page = 3;
    fake.set_page_size(page);
    fake.set_latency(Duration::from_millis(100));
    let lookup = lookup_for(&fake, Duration::from_secs(3)).await;

    let tasks: Vec<_> = ids
        .iter()
        .cloned()
        .map(|id| {
            let l = lookup.clone();
            tokio::spawn(async move { (l.lookup(&id).await, id) })
        })
        .collect();
    for t in tasks {
        let (res, id) = t.await.expect("task");
        let info = res.expect("found");
        assert_eq!(info.session_id, id);
    }
    let pages = ids.len().div_ceil(page);
    assert!(
        fake.calls() <= 2 + pages,
        "{} calls for {} sessions",
        fake.calls(),
        ids.len()
    );
    let reqs = fake.requests();
    let target_queries: Vec<&Value> = reqs
        .iter()
        .filter(|r| filters_of(r) == vec![("Target".to_string(), FIXTURE_INSTANCE.to_string())])
        .collect();
    assert!(!target_queries.is_empty(), "no Target query in {reqs:?}");
    // All pages were read: the last Target query carries a NextToken.
    assert!(target_queries.iter().any(|r| r.get("NextToken").is_some()));
    assert_eq!(lookup.cache_size(), ids.len());
    assert_eq!(lookup.api_calls(), fake.calls() as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sessions_arriving_during_a_query_are_answered_by_one_target_query() {
    let fake = FakeSsm::start();
    let ids: Vec<String> = (0..10)
        .map(|i| format!("sam{i}-0123456789abcdef{i}"))
        .collect();
    for id in &ids {
        fake.add_session(session(id));
    }
    fake.set_page_size(4);
    fake.set_latency(Duration::from_millis(300));
    let lookup = lookup_for(&fake, Duration::from_secs(5)).await;

    let first = {
        let l = lookup.clone();
        let id = ids[0].clone();
        tokio::spawn(async move { l.lookup(&id).await })
    };
    // The first lookup's SessionId query is in flight when the others start.
    tokio::time::sleep(Duration::from_millis(100)).await;
    let rest: Vec<_> = ids[1..]
        .iter()
        .cloned()
        .map(|id| {
            let l = lookup.clone();
            tokio::spawn(async move { l.lookup(&id).await })
        })
        .collect();
    first.await.expect("task").expect("first found");
    for t in rest {
        t.await.expect("task").expect("found");
    }
    let reqs = fake.requests();
    assert_eq!(
        filters_of(&reqs[0]),
        vec![("SessionId".to_string(), ids[0].clone())]
    );
    // Then one Target query, all of its pages (10 sessions, 4 per page).
    assert_eq!(fake.calls(), 1 + 3, "{reqs:?}");
    for r in &reqs[1..] {
        assert_eq!(
            filters_of(r),
            vec![("Target".to_string(), FIXTURE_INSTANCE.to_string())]
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_listed_late_is_found_after_retries() {
    let fake = FakeSsm::start();
    let id = "erin-0aa1bb2cc3dd4ee5f";
    fake.add_session(session(id));
    fake.appear_after(id, 3);
    let lookup = lookup_for(&fake, Duration::from_secs(3)).await;

    let started = Instant::now();
    let info = lookup.lookup(id).await.expect("found on the 4th query");
    assert_eq!(info.owner, FIXTURE_OWNER);
    assert_eq!(fake.calls(), 4);
    // Backoff: ≥100 ms (the minimum query interval), 100–200 ms, 200–400 ms.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(350), "{took:?}: no backoff?");
    assert!(took < Duration::from_millis(1500), "{took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_never_listed_fails_at_the_deadline() {
    let fake = FakeSsm::start();
    let deadline = Duration::from_secs(1);
    let lookup = lookup_for(&fake, deadline).await;

    let started = Instant::now();
    let err = lookup
        .lookup("ghost-0123456789abcdef0")
        .await
        .expect_err("never listed");
    let took = started.elapsed();
    assert_eq!(err, LookupError::NotListed);
    assert!(took >= deadline && took <= deadline + SLACK, "{took:?}");
    // Retried, but with backoff rather than in a tight loop.
    assert!((3..=10).contains(&fake.calls()), "{} calls", fake.calls());
    assert!(lookup.last_error().is_some_and(|e| e.contains("ghost")));
    assert_eq!(lookup.cache_size(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_is_retried_then_reported_at_the_deadline() {
    let fake = FakeSsm::start();
    let id = "frank-0c9d8e7f6a5b4c3d2";
    fake.add_session(session(id));
    fake.fail_next(2, Fault::Throttling);
    let lookup = lookup_for(&fake, Duration::from_secs(2)).await;
    assert!(lookup.lookup(id).await.is_ok());
    assert_eq!(fake.calls(), 3);
    assert!(
        lookup.last_error().is_some_and(|e| e.contains("throttl")),
        "{:?}",
        lookup.last_error()
    );

    let fake = FakeSsm::start();
    fake.add_session(session(id));
    fake.fail_always(Some(Fault::Throttling));
    let deadline = Duration::from_secs(1);
    let lookup = lookup_for(&fake, deadline).await;
    let started = Instant::now();
    assert_eq!(lookup.lookup(id).await, Err(LookupError::Throttled));
    assert!(started.elapsed() <= deadline + SLACK);
    assert!(fake.calls() >= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_errors_and_garbage_are_retried() {
    let id = "grace-01f2e3d4c5b6a7980";
    for fault in [Fault::Internal500, Fault::Malformed] {
        let fake = FakeSsm::start();
        fake.add_session(session(id));
        fake.fail_next(2, fault);
        let lookup = lookup_for(&fake, Duration::from_secs(2)).await;
        let info = lookup
            .lookup(id)
            .await
            .unwrap_or_else(|e| panic!("not found after {fault:?}: {e}"));
        assert_eq!(info.owner, FIXTURE_OWNER);
        assert_eq!(fake.calls(), 3, "{fault:?}");

        let fake = FakeSsm::start();
        fake.add_session(session(id));
        fake.fail_always(Some(fault));
        let deadline = Duration::from_secs(1);
        let lookup = lookup_for(&fake, deadline).await;
        let started = Instant::now();
        let err = lookup.lookup(id).await.expect_err("always failing");
        assert!(started.elapsed() <= deadline + SLACK);
        assert!(
            matches!(err, LookupError::Upstream(_)),
            "{fault:?}: {err:?}"
        );
        if fault == Fault::Internal500 {
            assert!(err.to_string().contains("InternalServerError"), "{err}");
        }
        assert!(fake.calls() >= 3, "{fault:?}: {}", fake.calls());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_denied_is_reported_at_once_and_names_the_permission() {
    let fake = FakeSsm::start();
    let id = "alice@example.com-0a1b2c3d4e5f6a7b8";
    fake.add_session(session(id));
    fake.fail_always(Some(Fault::AccessDenied));
    let lookup = lookup_for(&fake, Duration::from_secs(3)).await;

    let started = Instant::now();
    let err = lookup.lookup(id).await.expect_err("denied");
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(matches!(err, LookupError::AccessDenied(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("ssm:DescribeSessions"), "{text}");
    assert!(!text.contains('\n'));
    assert_eq!(fake.calls(), 1);
    assert!(
        lookup
            .last_error()
            .is_some_and(|e| e.contains("ssm:DescribeSessions"))
    );

    // The probe sees the same thing.
    fake.reset_counts();
    assert!(matches!(
        lookup.probe_describe_sessions().await,
        Err(LookupError::AccessDenied(_))
    ));
    assert_eq!(fake.calls(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listed_sessions_are_checked_for_target_status_and_document() {
    let fake = FakeSsm::start();
    let lookup = lookup_for(&fake, Duration::from_secs(2)).await;

    let mut other = session("hank-0123456789abcdef1");
    other.target = "i-0fedcba9876543210".into();
    fake.add_session(other);
    assert_eq!(
        lookup.lookup("hank-0123456789abcdef1").await,
        Err(LookupError::WrongTarget {
            target: "i-0fedcba9876543210".into()
        })
    );

    let mut gone = session("ivan-0123456789abcdef2");
    gone.status = "Disconnected".into();
    fake.add_session(gone);
    assert_eq!(
        lookup.lookup("ivan-0123456789abcdef2").await,
        Err(LookupError::NotConnected {
            status: "Disconnected".into()
        })
    );

    let mut port = session("judy-0123456789abcdef3");
    port.document_name = Some("AWS-StartPortForwardingSession".into());
    fake.add_session(port);
    assert_eq!(
        lookup.lookup("judy-0123456789abcdef3").await,
        Err(LookupError::DocumentNotAllowed {
            document: "AWS-StartPortForwardingSession".into()
        })
    );
    // None of these is retried or cached.
    assert_eq!(fake.calls(), 3);
    assert_eq!(lookup.cache_size(), 0);

    let mut connecting = session("kate-0123456789abcdef4");
    connecting.status = "Connecting".into();
    fake.add_session(connecting);
    assert_eq!(
        lookup
            .lookup("kate-0123456789abcdef4")
            .await
            .map(|i| i.status),
        Ok("Connecting".to_string())
    );

    // Older answers without DocumentName are accepted.
    fake.add_session_json(json!({
        "SessionId": "liam-0123456789abcdef5",
        "Target": FIXTURE_INSTANCE,
        "Status": "Connected",
        "StartDate": 1729070043.189,
        "Owner": FIXTURE_OWNER,
        "OutputUrl": {}
    }));
    let info = lookup
        .lookup("liam-0123456789abcdef5")
        .await
        .expect("no document");
    assert_eq!(info.document_name, None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_lookups_cannot_flood_the_api() {
    let fake = FakeSsm::start();
    let id = "olga-0123456789abcdef8";
    let mut gone = session(id);
    gone.status = "Disconnected".into();
    fake.add_session(gone);
    let lookup = lookup_for(&fake, Duration::from_secs(2)).await;

    // A client reconnecting as fast as it can: every answer is final and uncached.
    let started = Instant::now();
    let mut answers = 0u32;
    while started.elapsed() < Duration::from_secs(1) {
        assert!(matches!(
            lookup.lookup(id).await,
            Err(LookupError::NotConnected { .. })
        ));
        answers += 1;
    }
    let elapsed_ms = started.elapsed().as_millis() as usize;
    assert!(answers >= 5);
    assert!(
        fake.calls() <= elapsed_ms / 100 + 1,
        "{} calls in {elapsed_ms} ms",
        fake.calls()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_endpoint_cannot_hold_a_lookup_past_its_deadline() {
    let fake = FakeSsm::start();
    let id = "mia-0123456789abcdef6";
    fake.add_session(session(id));
    fake.set_latency(Duration::from_secs(3));
    let deadline = Duration::from_secs(1);
    let lookup = lookup_for(&fake, deadline).await;

    let started = Instant::now();
    let err = lookup.lookup(id).await.expect_err("too slow");
    let took = started.elapsed();
    assert!(took <= deadline + SLACK, "{took:?}");
    assert!(matches!(err, LookupError::Upstream(_)), "{err:?}");

    // Once the endpoint is quick again, the same lookup object works.
    fake.set_latency(Duration::ZERO);
    let quick = lookup_for(&fake, Duration::from_secs(3)).await;
    assert!(quick.lookup(id).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_abandoned_lookup_does_not_block_later_ones() {
    let fake = FakeSsm::start();
    let id = "noah-0123456789abcdef7";
    fake.add_session(session(id));
    fake.set_latency(Duration::from_millis(300));
    let lookup = lookup_for(&fake, Duration::from_secs(3)).await;
    // The caller goes away mid-query.
    let _ = tokio::time::timeout(Duration::from_millis(50), lookup.lookup(id)).await;
    fake.set_latency(Duration::ZERO);
    let info = lookup.lookup(id).await.expect("found");
    assert_eq!(info.session_id, id);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_and_caller_identity() {
    let fake = FakeSsm::start();
    let lookup = lookup_for(&fake, Duration::from_secs(3)).await;

    lookup.probe_describe_sessions().await.expect("allowed");
    assert_eq!(fake.calls(), 1);
    let req = &fake.requests()[0];
    assert_eq!(req["State"], "Active");
    assert_eq!(req["MaxResults"], 1);
    assert_eq!(
        filters_of(req),
        vec![("Target".into(), FIXTURE_INSTANCE.into())]
    );

    assert_eq!(
        lookup.caller_identity().await.as_deref(),
        Ok(DEFAULT_CALLER_ARN)
    );
    let arn = "arn:aws:sts::111122223333:assumed-role/other-role/i-0123456789abcdef0";
    fake.set_caller_arn(arn);
    assert_eq!(lookup.caller_identity().await.as_deref(), Ok(arn));
    assert_eq!(fake.sts_calls(), 2);

    // An unreachable endpoint is an error, not a hang.
    drop(fake);
    let gone = ApiSettings {
        endpoint_url: Some("http://127.0.0.1:9".into()),
        ..settings(&FakeSsm::start(), Duration::from_secs(1))
    };
    let lookup = SessionLookup::new(gone).await;
    let started = Instant::now();
    assert!(lookup.caller_identity().await.is_err());
    assert!(matches!(
        lookup.probe_describe_sessions().await,
        Err(LookupError::Upstream(_))
    ));
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_id_comes_from_imds() {
    let fake = FakeSsm::start();
    fake.set_instance_id("i-0fedcba9876543210");
    assert_eq!(
        instance_id_from_imds_at(&fake.url()).await.as_deref(),
        Ok("i-0fedcba9876543210")
    );
    // Token first (IMDSv2), then the metadata.
    assert_eq!(fake.imds_calls(), 2);

    fake.set_instance_id("not an instance id");
    assert!(instance_id_from_imds_at(&fake.url()).await.is_err());
}

/// `instance_id_from_imds` honours `AWS_EC2_METADATA_SERVICE_ENDPOINT`. The variable is set
/// for a child copy of this test binary rather than in this multi-threaded process.
#[test]
fn imds_endpoint_comes_from_the_environment() {
    let fake = FakeSsm::start();
    fake.set_instance_id("i-0aaaabbbbccccdddd");
    let exe = std::env::current_exe().expect("test binary");
    let out = std::process::Command::new(exe)
        .args([
            "--exact",
            "imds_child",
            "--ignored",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("AWS_EC2_METADATA_SERVICE_ENDPOINT", fake.url())
        .env_remove("AWS_EC2_METADATA_DISABLED")
        .env("SSM_RUNAS_TEST_IMDS_CHILD", "1")
        .output()
        .expect("run child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("instance-id=i-0aaaabbbbccccdddd"),
        "{stdout}"
    );
    assert_eq!(fake.imds_calls(), 2);
}

#[tokio::test]
#[ignore = "run by imds_endpoint_comes_from_the_environment with the variable set"]
async fn imds_child() {
    if std::env::var_os("SSM_RUNAS_TEST_IMDS_CHILD").is_none() {
        return;
    }
    let id = instance_id_from_imds().await.expect("instance id");
    println!("instance-id={id}");
}

// One thread: both lookups are registered before the lookup driver first runs, so
// the first query is the batched Target query.
#[tokio::test(flavor = "current_thread")]
async fn a_failing_later_page_keeps_the_sessions_of_earlier_pages() {
    let fake = std::sync::Arc::new(FakeSsm::start());
    let (a, b) = ("alice-0a1b2c3d4e5f6a7b8", "bob-0e6d5c4b3a2918f7e");
    fake.add_session(session(a));
    fake.add_session(session(b));
    fake.set_page_size(1);
    fake.set_latency(Duration::from_millis(200));
    let lookup = lookup_for(&fake, Duration::from_secs(5)).await;
    // While the first page (one session) is on its way, make the second page fail.
    let watcher = {
        let fake = std::sync::Arc::clone(&fake);
        std::thread::spawn(move || {
            let end = Instant::now() + Duration::from_secs(3);
            while fake.calls() == 0 && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(5));
            }
            fake.fail_next(1, Fault::Throttling);
        })
    };
    let (ra, rb) = tokio::join!(lookup.lookup(a), lookup.lookup(b));
    let _ = watcher.join();
    assert!(ra.is_ok() && rb.is_ok(), "{ra:?} {rb:?}");
    // Page 1 (Target), page 2 (throttled), then only the session not yet seen, by
    // SessionId — not the whole Target query again.
    let reqs = fake.requests();
    assert_eq!(fake.calls(), 3, "{reqs:?}");
    assert_eq!(filters_of(&reqs[0])[0].0, "Target");
    assert_eq!(filters_of(&reqs[2])[0].0, "SessionId");
}
