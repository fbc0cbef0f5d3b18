//! ssm-runasd end to end: the real daemon, the real aws-sdk-ssm client over HTTP to
//! the fake SSM endpoint, real processes in a stand-in worker's tree, the setuid
//! test client speaking the real protocol over the real socket. Root only.
use std::process::Command;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;
use ssm_runas_tests::daemon_env::{Daemon, INSTANCE, World, install, json_of, require_root};
use ssm_runas_tests::fake_ssm::{FakeSession, Fault};

fn start(world: &World, extra: &str) -> Daemon {
    let d = Daemon::start(world, &world.config(extra))
        .unwrap_or_else(|e| panic!("daemon did not start: {e}"));
    world.settle();
    d
}

#[test]
#[ignore = "needs root"]
fn one_person_two_permission_sets_two_accounts() {
    require_root();
    let w = World::new();
    let d = start(&w, "");
    w.add_session(
        "alice@example.com-0a1b2c3d4e5f60718",
        "ReadOnly",
        "alice@example.com",
    );
    w.add_session(
        "alice@example.com-abcdefghijklmnopqrstuvwxyz",
        "Admin",
        "alice@example.com",
    );
    let ro = w.in_session(
        &w.worker,
        "alice@example.com-0a1b2c3d4e5f60718",
        w.landing.uid,
        w.landing.gid,
        &["resolve"],
    );
    let ad = w.in_session(
        &w.worker,
        "alice@example.com-abcdefghijklmnopqrstuvwxyz",
        w.landing.uid,
        w.landing.gid,
        &["resolve"],
    );
    assert_eq!(ro["answer"], "allow", "{ro}\n{}", d.log());
    assert_eq!(ro["user"], w.readonly.name.as_str());
    assert_eq!(ro["session_id"], "alice@example.com-0a1b2c3d4e5f60718");
    assert_eq!(ad["answer"], "allow", "{ad}");
    assert_eq!(ad["user"], w.admin.name.as_str());
    assert_eq!(ad["groups"], serde_json::json!(["adm"]));
    assert!(
        ad["rule"]
            .as_str()
            .unwrap_or("")
            .starts_with("rule 3 (line"),
        "{ad}"
    );

    // `account` re-checks; asking for another account is refused.
    let ok = w.in_session(
        &w.worker,
        "alice@example.com-0a1b2c3d4e5f60718",
        w.landing.uid,
        w.landing.gid,
        &["check", &w.readonly.name],
    );
    assert_eq!(ok["answer"], "allow", "{ok}");
    let no = w.in_session(
        &w.worker,
        "alice@example.com-0a1b2c3d4e5f60718",
        w.landing.uid,
        w.landing.gid,
        &["check", &w.admin.name],
    );
    assert_eq!(no["answer"], "deny", "{no}");

    // The audit trail names the person, the permission set and the account.
    let rec = w
        .wait_audit(
            |r| r["SSM_RUNAS_DECISION"] == "allow" && r["SSM_RUNAS_PERMISSION_SET"] == "Admin",
            Duration::from_secs(5),
        )
        .expect("an allow record for Admin");
    assert_eq!(
        rec["SSM_RUNAS_SESSION_ID"],
        "alice@example.com-abcdefghijklmnopqrstuvwxyz"
    );
    assert_eq!(rec["SSM_RUNAS_PRINCIPAL"], "alice@example.com");
    assert_eq!(rec["SSM_RUNAS_ACCOUNT_ID"], "111122223333");
    assert_eq!(rec["SSM_RUNAS_LINUX_USER"], w.admin.name.as_str());
    assert_eq!(rec["SSM_RUNAS_RULE"], 3);
    assert!(rec["SSM_RUNAS_PEER_PID"].as_i64().unwrap_or(0) > 0);
    // The owner is cached: two lookups for two sessions, none for the re-checks.
    assert_eq!(w.fake.calls(), 2, "{:?}", w.fake.requests());
}

#[test]
#[ignore = "needs root"]
fn denials_carry_a_reason_for_the_person() {
    require_root();
    let w = World::new();
    let d = start(&w, "");
    w.add_session("mallory-0a1b2c3d4e5f60718", "Admin", "mallory");
    w.add_session("bob-0a1b2c3d4e5f60718", "Billing", "bob@example.com");
    let m = w.in_session(
        &w.worker,
        "mallory-0a1b2c3d4e5f60718",
        w.landing.uid,
        w.landing.gid,
        &["resolve"],
    );
    assert_eq!(
        m,
        serde_json::json!({"answer": "deny", "reason": "Your access is suspended"}),
        "{}",
        d.log()
    );
    let b = w.in_session(
        &w.worker,
        "bob-0a1b2c3d4e5f60718",
        w.landing.uid,
        w.landing.gid,
        &["resolve"],
    );
    assert_eq!(b["answer"], "deny");
    assert_eq!(
        b["reason"],
        "no rule maps bob@example.com with permission set Billing in account 111122223333 to a Linux account"
    );
    let rec = w
        .wait_audit(
            |r| r["SSM_RUNAS_DECISION"] == "deny" && r["SSM_RUNAS_PRINCIPAL"] == "mallory",
            Duration::from_secs(5),
        )
        .expect("deny record");
    assert_eq!(rec["SSM_RUNAS_RULE"], 1);
    assert_eq!(rec["SSM_RUNAS_REASON"], "Your access is suspended");
}

#[test]
#[ignore = "needs root"]
fn spoofed_and_out_of_session_callers_are_refused() {
    require_root();
    let w = World::new();
    let d = start(&w, "");
    let sid = "alice-0a1b2c3d4e5f60718";
    w.add_session(sid, "ReadOnly", "alice");

    // Outside any session: the landing user runs the probe directly.
    let out = Command::new("setpriv")
        .args([
            "--reuid",
            &w.landing.uid.to_string(),
            "--regid",
            &w.landing.gid.to_string(),
            "--clear-groups",
            "--",
        ])
        .arg(&w.probe)
        .arg(w.socket())
        .arg("resolve")
        .output()
        .expect("setpriv");
    let v = json_of(out);
    assert_eq!(v["answer"], "deny", "{v}\n{}", d.log());
    assert!(
        v["reason"]
            .as_str()
            .unwrap_or("")
            .contains("not in an SSM session"),
        "{v}"
    );

    // The right worker, but the caller is not the landing user.
    let v = w.in_session(&w.worker, sid, w.readonly.uid, w.readonly.gid, &["resolve"]);
    assert_eq!(v["answer"], "deny", "{v}");
    assert!(
        v["reason"].as_str().unwrap_or("").contains("landing user"),
        "{v}"
    );

    // A process named like the worker, with its argv, but not root.
    let fake_named = w.dir.path().join("landing-owned/ssm-session-worker");
    install(&w.worker, &fake_named, 0o755, None);
    let as_landing = w.worker_command(&fake_named, sid, w.landing.uid, w.landing.gid, &["resolve"]);
    let out = Command::new("setpriv")
        .args([
            "--reuid",
            &w.landing.uid.to_string(),
            "--regid",
            &w.landing.gid.to_string(),
            "--clear-groups",
            "--",
        ])
        .arg(as_landing.get_program())
        .args(as_landing.get_args())
        .envs(as_landing.get_envs().filter_map(|(k, v)| v.map(|v| (k, v))))
        .output()
        .expect("run");
    let v = json_of(out);
    assert_eq!(v["answer"], "deny", "{v}");
    assert!(
        v["reason"]
            .as_str()
            .unwrap_or("")
            .contains("looks like a session worker but is not one"),
        "{v}"
    );

    // A root process named like the worker, from a path that is not allowed.
    let v = w.in_session(&fake_named, sid, w.landing.uid, w.landing.gid, &["resolve"]);
    assert_eq!(v["answer"], "deny", "{v}");
    assert!(
        v["reason"]
            .as_str()
            .unwrap_or("")
            .contains("looks like a session worker but is not one"),
        "{v}"
    );

    // The landing user (through a setuid client, like the helper) may not read status.
    let v = w.in_session(&w.worker, sid, w.landing.uid, w.landing.gid, &["status"]);
    assert_eq!(
        v,
        serde_json::json!({"answer": "error", "reason": "status is for root only"})
    );

    // None of the refused callers made the daemon ask AWS; only the guard's prefetch
    // of the one real worker (started for the wrong-user and status cases) did.
    let asked: Vec<String> = w
        .fake
        .requests()
        .iter()
        .filter_map(|r| r["Filters"][0]["value"].as_str().map(str::to_string))
        .collect();
    assert!(asked.iter().all(|v| v == sid), "{asked:?}");
    assert!(w.fake.calls() <= 1, "{}", w.fake.calls());
    // Each is in the audit trail.
    let denials = w
        .audit()
        .iter()
        .filter(|r| r["SSM_RUNAS_DECISION"] == "deny")
        .count();
    assert_eq!(denials, 4);
}

#[test]
#[ignore = "needs root"]
fn a_session_of_another_instance_or_not_connected_is_denied() {
    require_root();
    let w = World::new();
    let _d = start(&w, "");
    let owner =
        "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_ReadOnly_0123456789abcdef/alice";
    w.fake.add_session(FakeSession::connected(
        "alice-111111111111111111",
        "i-0fedcba9876543210",
        owner,
    ));
    let mut ended = FakeSession::connected("alice-222222222222222222", INSTANCE, owner);
    ended.status = "Disconnected".into();
    w.fake.add_session(ended);
    let v = w.in_session(
        &w.worker,
        "alice-111111111111111111",
        w.landing.uid,
        w.landing.gid,
        &["resolve"],
    );
    assert_eq!(v["answer"], "deny", "{v}");
    assert!(
        v["reason"]
            .as_str()
            .unwrap_or("")
            .contains("i-0fedcba9876543210"),
        "{v}"
    );
    let v = w.in_session(
        &w.worker,
        "alice-222222222222222222",
        w.landing.uid,
        w.landing.gid,
        &["resolve"],
    );
    assert_eq!(v["answer"], "deny", "{v}");
}

#[test]
#[ignore = "needs root"]
fn upstream_failures_deny_within_the_deadline_and_show_in_status() {
    require_root();
    let w = World::new();
    let d = start(&w, "");
    w.add_session("alice-0a1b2c3d4e5f60718", "ReadOnly", "alice");
    w.fake.fail_always(Some(Fault::Internal500));
    let t0 = Instant::now();
    let v = w.in_session(
        &w.worker,
        "alice-0a1b2c3d4e5f60718",
        w.landing.uid,
        w.landing.gid,
        &["resolve"],
    );
    let took = t0.elapsed();
    assert_eq!(v["answer"], "deny", "{v}\n{}", d.log());
    // deadline_secs = 3 in the test config; the PAM side waits 15 s.
    assert!(took < Duration::from_secs(6), "took {took:?}");
    assert!(w.fake.calls() >= 2, "retried: {}", w.fake.calls());

    w.fake.fail_always(Some(Fault::AccessDenied));
    w.fake.reset_counts();
    let v = w.in_session(
        &w.worker,
        "alice-0a1b2c3d4e5f60718",
        w.landing.uid,
        w.landing.gid,
        &["resolve"],
    );
    assert_eq!(v["answer"], "deny");
    assert!(
        v["reason"]
            .as_str()
            .unwrap_or("")
            .contains("ssm:DescribeSessions"),
        "{v}"
    );
    assert_eq!(w.fake.calls(), 1, "AccessDenied is not retried");

    let st = Command::new(ssm_runas_tests::daemon_env::built("ssm-runas"))
        .args(["status", "--json", "--socket"])
        .arg(w.socket())
        .output()
        .expect("status");
    let s: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap_or_default();
    // Upstream failures are errors, not policy denials.
    assert_eq!(
        (s["denied"].as_u64(), s["errors"].as_u64()),
        (Some(0), Some(2)),
        "{s}"
    );
    assert!(s["api_calls"].as_u64().unwrap_or(0) >= 3, "{s}");
    assert!(
        s["last_aws_error"]
            .as_str()
            .unwrap_or("")
            .contains("lacks the ssm:DescribeSessions permission"),
        "{s}"
    );
    assert_eq!(s["instance_id"], INSTANCE);
    assert_eq!(
        s["aws_identity"],
        ssm_runas_tests::fake_ssm::DEFAULT_CALLER_ARN,
        "{s}"
    );
}

#[test]
#[ignore = "needs root"]
fn concurrent_sessions_share_lookups() {
    require_root();
    let w = World::new();
    let d = start(&w, "");
    // Wait for the start-up probe calls, then count only ours.
    w.fake.set_latency(Duration::from_millis(300));
    for i in 0..8 {
        w.add_session(
            &format!("person{i}-0a1b2c3d4e5f60718"),
            "ReadOnly",
            &format!("person{i}"),
        );
    }
    w.fake.reset_counts();
    std::thread::scope(|s| {
        let mut hs = Vec::new();
        for i in 0..8 {
            for _ in 0..2 {
                let w = &w;
                hs.push(s.spawn(move || {
                    w.in_session(
                        &w.worker,
                        &format!("person{i}-0a1b2c3d4e5f60718"),
                        w.landing.uid,
                        w.landing.gid,
                        &["resolve"],
                    )
                }));
            }
        }
        for h in hs {
            let v = h.join().expect("thread");
            assert_eq!(v["answer"], "allow", "{v}");
        }
    });
    // 16 requests for 8 sessions: a few batched Target queries, not 16 (or 8) calls.
    assert!(
        w.fake.calls() <= 4,
        "{} calls: {:?}\n{}",
        w.fake.calls(),
        w.fake.requests(),
        d.log()
    );
}

#[test]
#[ignore = "needs root"]
fn bad_clients_are_dropped_without_delaying_others() {
    require_root();
    let w = World::new();
    let d = start(&w, "");
    let sock = w.socket();
    // A silent client and an oversized frame.
    let silent = std::os::unix::net::UnixStream::connect(&sock).expect("connect");
    let big = Command::new(&w.probe)
        .arg(&sock)
        .args(["raw", "7fffffff"])
        .output()
        .expect("probe");
    assert!(
        String::from_utf8_lossy(&big.stdout).contains("raw_reply_len"),
        "{big:?}"
    );
    let garbage = Command::new(&w.probe)
        .arg(&sock)
        .args(["raw", "00000005deadbeef00"])
        .output()
        .expect("probe");
    assert!(garbage.status.success());
    let t0 = Instant::now();
    let st = Command::new(ssm_runas_tests::daemon_env::built("ssm-runas"))
        .args(["status", "--json", "--socket"])
        .arg(&sock)
        .output()
        .expect("status");
    assert!(st.status.success(), "{st:?}\n{}", d.log());
    assert!(
        t0.elapsed() < Duration::from_secs(1),
        "status waited {:?}",
        t0.elapsed()
    );
    drop(silent);
}

#[test]
#[ignore = "needs root"]
fn idle_connections_do_not_hold_up_a_decision() {
    require_root();
    let w = World::new();
    let d = start(&w, "");
    let sock = w.socket();
    // Far more silent connections than the daemon's 64 decision slots, each held open
    // for the whole client timeout (2 s in the test config).
    let silent: Vec<_> = (0..200)
        .map(|_| std::os::unix::net::UnixStream::connect(&sock).expect("connect"))
        .collect();
    let t0 = Instant::now();
    let st = Command::new(ssm_runas_tests::daemon_env::built("ssm-runas"))
        .args(["status", "--json", "--socket"])
        .arg(&sock)
        .output()
        .expect("status");
    let waited = t0.elapsed();
    assert!(st.status.success(), "{st:?}\n{}", d.log());
    assert!(
        waited < Duration::from_secs(1),
        "status waited {waited:?} behind idle connections"
    );
    drop(silent);
}

#[test]
#[ignore = "needs root"]
fn reload_keeps_the_old_config_when_the_new_one_is_invalid() {
    require_root();
    let w = World::new();
    let mut d = start(&w, "");
    let rules = || {
        let st = Command::new(ssm_runas_tests::daemon_env::built("ssm-runas"))
            .args(["status", "--json", "--socket"])
            .arg(w.socket())
            .output()
            .expect("status");
        serde_json::from_slice::<serde_json::Value>(&st.stdout).unwrap_or_default()["rules"].clone()
    };
    assert_eq!(rules(), 3);
    std::fs::write(&d.config, "landing_user = \"x\"\n[[rule]]\nbogus = 1\n").expect("write");
    d.signal(Signal::SIGHUP);
    d.wait_notify("READY=1", Duration::from_secs(5))
        .expect("ready after reload");
    assert_eq!(rules(), 3);
    assert!(
        d.log().contains("config.toml:3:1: unknown field `bogus`"),
        "{}",
        d.log()
    );
    assert!(d.log().contains("reload refused"), "{}", d.log());

    std::fs::write(
        &d.config,
        w.config("[[rule]]\nkind = \"iam-user\"\nlinux_user = \"nobody\"\n"),
    )
    .expect("write");
    d.signal(Signal::SIGHUP);
    d.wait_notify("READY=1", Duration::from_secs(5))
        .expect("ready after reload");
    assert_eq!(rules(), 4);
    // SIGTERM: clean exit, socket removed.
    let log = d.stop_and_log();
    assert!(!w.socket().exists(), "{log}");
    assert!(log.contains("stopping"), "{log}");
}

#[test]
#[ignore = "needs root"]
fn the_session_ending_mid_request_is_denied() {
    require_root();
    let w = World::new();
    let _d = start(&w, "");
    w.add_session("alice-0a1b2c3d4e5f60718", "ReadOnly", "alice");
    w.fake.set_latency(Duration::from_millis(800));
    let mut worker = w
        .worker_command(
            &w.worker,
            "alice-0a1b2c3d4e5f60718",
            w.landing.uid,
            w.landing.gid,
            &["resolve"],
        )
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("worker");
    std::thread::sleep(Duration::from_millis(300));
    // The session ends (the agent kills the worker's tree) while AWS is answering.
    ssm_runas_tests::daemon_env::kill_uid(w.landing.uid);
    let _ = worker.kill();
    let _ = worker.wait();
    let rec = w
        .wait_audit(
            |r| r["SSM_RUNAS_SESSION_ID"] == "alice-0a1b2c3d4e5f60718",
            Duration::from_secs(5),
        )
        .expect("a record for the session");
    assert_eq!(rec["SSM_RUNAS_DECISION"], "deny", "{rec}");
    assert_eq!(
        rec["SSM_RUNAS_REASON"],
        "the session ended while it was being resolved"
    );
}

#[test]
#[ignore = "needs root"]
fn audit_records_reach_a_real_journald() {
    require_root();
    if !ssm_runas_tests::journal::available() {
        eprintln!("audit_records_reach_a_real_journald: skipped (no systemd-journald)");
        return;
    }
    let journal = ssm_runas_tests::journal::PrivateJournal::start().expect("journald");
    let w = World::new();
    let config = w.config("").replace("journald = false", "journald = true");
    let d = Daemon::start_in(&w, &config, Some(&journal)).unwrap_or_else(|e| panic!("{e}"));
    w.settle();
    w.add_session("dave-0a1b2c3d4e5f60718", "ReadOnly", "dave@example.com");
    w.add_session("mallory-0a1b2c3d4e5f60718", "ReadOnly", "mallory");
    let v = w.in_session(
        &w.worker,
        "dave-0a1b2c3d4e5f60718",
        w.landing.uid,
        w.landing.gid,
        &["resolve"],
    );
    assert_eq!(v["answer"], "allow", "{v}\n{}", d.log());
    let v = w.in_session(
        &w.worker,
        "mallory-0a1b2c3d4e5f60718",
        w.landing.uid,
        w.landing.gid,
        &["resolve"],
    );
    assert_eq!(v["answer"], "deny", "{v}");
    use ssm_runas_tests::journal::field;
    let allow = journal
        .wait_for(
            |r| field(r, "SSM_RUNAS_SESSION_ID").as_deref() == Some("dave-0a1b2c3d4e5f60718"),
            Duration::from_secs(10),
        )
        .expect("allow record in journald");
    assert_eq!(
        field(&allow, "SSM_RUNAS_DECISION").as_deref(),
        Some("allow")
    );
    assert_eq!(
        field(&allow, "SSM_RUNAS_PERMISSION_SET").as_deref(),
        Some("ReadOnly")
    );
    assert_eq!(
        field(&allow, "SSM_RUNAS_PRINCIPAL").as_deref(),
        Some("dave@example.com")
    );
    assert_eq!(
        field(&allow, "SSM_RUNAS_ACCOUNT_ID").as_deref(),
        Some("111122223333")
    );
    assert_eq!(
        field(&allow, "SSM_RUNAS_LINUX_USER").as_deref(),
        Some(w.readonly.name.as_str())
    );
    assert_eq!(field(&allow, "SSM_RUNAS_RULE").as_deref(), Some("2"));
    assert_eq!(
        field(&allow, "MESSAGE_ID").as_deref(),
        Some(ssm_runas::audit::MESSAGE_ID)
    );
    assert_eq!(
        field(&allow, "_PID").and_then(|p| p.parse::<u32>().ok()),
        Some(d.child.id())
    );
    let deny = journal
        .wait_for(
            |r| field(r, "SSM_RUNAS_SESSION_ID").as_deref() == Some("mallory-0a1b2c3d4e5f60718"),
            Duration::from_secs(10),
        )
        .expect("deny record in journald");
    assert_eq!(field(&deny, "SSM_RUNAS_DECISION").as_deref(), Some("deny"));
    assert_eq!(
        field(&deny, "SSM_RUNAS_REASON").as_deref(),
        Some("Your access is suspended")
    );
    // Audit records are not mixed into the operational log, and vice versa.
    assert!(!d.log().contains("SSM_RUNAS_"), "{}", d.log());
}

#[test]
#[ignore = "needs root"]
fn agent_state_source_needs_no_api_and_falls_back_when_asked() {
    require_root();
    let w = World::new();
    let state_dir = w.dir.path().join("agent-state");
    let only_state = w.config("").replace(
        "deadline_secs = 3",
        &format!(
            "deadline_secs = 3\nsource = \"agent-state\"\nagent_state_dir = \"{}\"",
            state_dir.display()
        ),
    );
    w.write_agent_state("carol-0a1b2c3d4e5f60718", "Admin", "carol@example.com");
    {
        let d = Daemon::start(&w, &only_state).unwrap_or_else(|e| panic!("{e}"));
        let v = w.in_session(
            &w.worker,
            "carol-0a1b2c3d4e5f60718",
            w.landing.uid,
            w.landing.gid,
            &["resolve"],
        );
        assert_eq!(v["answer"], "allow", "{v}\n{}", d.log());
        assert_eq!(v["user"], w.admin.name.as_str());
        // No state file and no fallback: denied, and SSM was never asked.
        let v = w.in_session(
            &w.worker,
            "erin-0a1b2c3d4e5f60718",
            w.landing.uid,
            w.landing.gid,
            &["resolve"],
        );
        assert_eq!(v["answer"], "deny", "{v}");
        assert!(v["reason"].as_str().unwrap_or("").contains("agent"), "{v}");
        assert_eq!(w.fake.calls(), 0);
        let rec = w
            .wait_audit(
                |r| r["SSM_RUNAS_SESSION_ID"] == "carol-0a1b2c3d4e5f60718",
                Duration::from_secs(5),
            )
            .expect("record");
        assert_eq!(rec["SSM_RUNAS_SOURCE"], "agent-state");
    }
    let with_fallback = only_state.replace("\"agent-state\"", "\"agent-state-then-api\"");
    let _d = Daemon::start(&w, &with_fallback).unwrap_or_else(|e| panic!("{e}"));
    w.settle();
    w.add_session("erin-0a1b2c3d4e5f60718", "ReadOnly", "erin");
    let v = w.in_session(
        &w.worker,
        "erin-0a1b2c3d4e5f60718",
        w.landing.uid,
        w.landing.gid,
        &["resolve"],
    );
    assert_eq!(v["answer"], "allow", "{v}");
    assert_eq!(w.fake.calls(), 1);
    let v = w.in_session(
        &w.worker,
        "carol-0a1b2c3d4e5f60718",
        w.landing.uid,
        w.landing.gid,
        &["resolve"],
    );
    assert_eq!(v["answer"], "allow", "{v}");
    assert_eq!(w.fake.calls(), 1, "the state file answered without the API");
}

#[test]
#[ignore = "needs root"]
fn instance_id_comes_from_instance_metadata_when_not_configured() {
    require_root();
    let w = World::new();
    let config = w
        .config("")
        .replace(&format!("instance_id = \"{INSTANCE}\"\n"), "");
    let url = w.fake.url();
    let d = Daemon::spawn(
        &w,
        &config,
        None,
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &url)],
    )
    .unwrap_or_else(|e| panic!("{e}"));
    assert!(w.fake.imds_calls() > 0);
    assert!(
        d.log().contains(&format!("instance {INSTANCE}")),
        "{}",
        d.log()
    );
    // And without a reachable instance metadata service: a clear refusal to start.
    drop(d);
    let err = Daemon::spawn(
        &w,
        &config,
        None,
        &[("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9")],
    )
    .err()
    .expect("no start without an instance id");
    assert!(err.to_string().contains("set [aws] instance_id"), "{err}");
}

#[test]
#[ignore = "needs root"]
fn sigterm_finishes_requests_in_flight() {
    require_root();
    let w = World::new();
    let mut d = start(&w, "");
    w.add_session("alice-0a1b2c3d4e5f60718", "ReadOnly", "alice");
    w.fake.set_latency(Duration::from_millis(800));
    let asking = std::thread::scope(|s| {
        let h = s.spawn(|| {
            w.in_session(
                &w.worker,
                "alice-0a1b2c3d4e5f60718",
                w.landing.uid,
                w.landing.gid,
                &["resolve"],
            )
        });
        // Let the request reach the daemon and wait on AWS, then stop the daemon.
        let end = Instant::now() + Duration::from_secs(5);
        while w.fake.calls() == 0 && Instant::now() < end {
            std::thread::sleep(Duration::from_millis(10));
        }
        d.signal(Signal::SIGTERM);
        h.join().expect("client")
    });
    assert_eq!(asking["answer"], "allow", "{asking}\n{}", d.log());
    let log = d.stop_and_log();
    assert!(
        log.contains("stopping: finishing requests in flight"),
        "{log}"
    );
    assert!(!w.socket().exists());
}
