//! The landing guard end to end: a profile line discarded by a Ctrl-C must not leave
//! a shell as the landing user, and no landing-user process lives outside a
//! session. Real daemon (with its guard), real helper and PAM module, pty worker.
//! Root only.
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ssm_runas_tests::daemon_env::{Daemon, Switch, World, require_root};
use ssm_runas_tests::harness::{PtySession, printed_line, processes_of, wait_until};

const LINE: &str = "ssm-runas: this session did not switch accounts and is being closed";

fn config(sw: &Switch, w: &World, mode: &str) -> String {
    sw.config(w, mode, "").replace(
        &format!("mode = \"{mode}\""),
        &format!("mode = \"{mode}\"\ngrace_secs = 1"),
    )
}

#[test]
#[ignore = "needs root"]
fn a_ctrl_c_that_discards_the_profile_line_does_not_leave_a_landing_shell() {
    require_root();
    let w = World::new();
    let sw = Switch::install(&w);
    let d = Daemon::start(&w, &config(&sw, &w, "enforce")).unwrap_or_else(|e| panic!("{e}"));
    w.add_session("alice-0a1b2c3d4e5f60718", "ReadOnly", "alice");
    // The profile line, then in the same burst a Ctrl-C (the tty discards the unread
    // line) and commands the person typed.
    let profile = format!("{}\n\x03id -un; sleep 30 &", sw.profile());
    let t0 = Instant::now();
    let mut s = PtySession::spawn(
        &sw.pty_worker,
        "alice-0a1b2c3d4e5f60718",
        &w.landing.name,
        Some(&profile),
        None,
    )
    .expect("fake worker");
    let out = s
        .read_until(LINE, Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", s.output(), d.log()));
    let closed = s.wait_exit(Duration::from_secs(5)).expect("wait");
    let took = t0.elapsed();
    assert!(closed.is_some(), "the session stayed open:\n{out}");
    // grace 1 s (+1 s allowed by the issue).
    assert!(took < Duration::from_secs(3), "took {took:?}");
    assert!(
        wait_until(Duration::from_secs(2), || processes_of(w.landing.uid)
            .is_empty()),
        "landing processes left: {:?}",
        processes_of(w.landing.uid)
    );
    let rec = w
        .wait_audit(
            |r| r["SSM_RUNAS_DECISION"] == "guard-kill",
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no guard-kill record: {:?}", w.audit()));
    assert_eq!(
        rec["SSM_RUNAS_SESSION_ID"], "alice-0a1b2c3d4e5f60718",
        "{rec}"
    );
    // Either the shell outlived its grace, or it started a command first.
    let reason = rec["SSM_RUNAS_REASON"].as_str().unwrap_or("");
    assert!(
        reason.contains("did not exec the switch helper")
            || reason.contains("did not switch accounts"),
        "{rec}"
    );
    // Whatever the shell got to run died with it: no `sleep 30` is left (above).
}

#[test]
#[ignore = "needs root"]
fn landing_processes_outside_a_session_are_killed_or_recorded() {
    require_root();
    let w = World::new();
    let sw = Switch::install(&w);
    let su = |w: &World| {
        Command::new("su")
            .args(["-s", "/bin/sh", &w.landing.name, "-c", "exec sleep 60"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("su")
    };
    {
        let _d = Daemon::start(&w, &config(&sw, &w, "audit")).unwrap_or_else(|e| panic!("{e}"));
        let mut child = su(&w);
        let rec = w
            .wait_audit(
                |r| r["SSM_RUNAS_DECISION"] == "guard-audit",
                Duration::from_secs(5),
            )
            .unwrap_or_else(|| panic!("no guard-audit record: {:?}", w.audit()));
        assert!(
            rec["SSM_RUNAS_REASON"]
                .as_str()
                .unwrap_or("")
                .contains("outside any SSM session"),
            "{rec}"
        );
        assert!(
            child.try_wait().expect("try_wait").is_none(),
            "audit mode killed it"
        );
        assert!(!processes_of(w.landing.uid).is_empty());
        let _ = child.kill();
        let _ = child.wait();
        ssm_runas_tests::daemon_env::kill_uid(w.landing.uid);
    }
    let _d = Daemon::start(&w, &config(&sw, &w, "enforce")).unwrap_or_else(|e| panic!("{e}"));
    let mut child = su(&w);
    assert!(
        wait_until(Duration::from_secs(3), || processes_of(w.landing.uid)
            .is_empty()),
        "enforce mode left {:?}",
        processes_of(w.landing.uid)
    );
    let _ = child.wait();
    let rec = w
        .wait_audit(
            |r| r["SSM_RUNAS_DECISION"] == "guard-kill",
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no guard-kill record: {:?}", w.audit()));
    assert!(
        rec["SSM_RUNAS_REASON"]
            .as_str()
            .unwrap_or("")
            .contains("sleep"),
        "{rec}"
    );
}

#[test]
#[ignore = "needs root"]
fn a_switched_session_is_left_alone() {
    require_root();
    let w = World::new();
    let sw = Switch::install(&w);
    let _d = Daemon::start(&w, &config(&sw, &w, "enforce")).unwrap_or_else(|e| panic!("{e}"));
    w.add_session("bob-0a1b2c3d4e5f60718", "ReadOnly", "bob");
    let mut s = sw.session(&w, "bob-0a1b2c3d4e5f60718");
    // Well past the 1 s grace: the helper (setuid, real uid = landing) and the mapped
    // shell keep running.
    std::thread::sleep(Duration::from_secs(3));
    let end = Instant::now() + Duration::from_secs(10);
    let mut answered = false;
    while Instant::now() < end && !answered {
        s.send("id -un; echo \"st\"\"ill-here\"\n").expect("type");
        answered = s
            .read_until("still-here\r\n", Duration::from_secs(1))
            .is_ok();
    }
    assert!(answered, "{}", s.output());
    assert!(
        printed_line(&s.output(), &w.readonly.name),
        "{}",
        s.output()
    );
    assert!(!s.output().contains(LINE));
    assert!(
        w.audit()
            .iter()
            .all(|r| r["SSM_RUNAS_DECISION"] != "guard-kill"),
        "{:?}",
        w.audit()
    );
}
