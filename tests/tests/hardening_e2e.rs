//! What a hostile landing shell tried and must not get (issue 10): code that keeps
//! running after its main thread exited, signals to other sessions' helpers, and a
//! process forked just before `exec` of the helper that would live on inside the
//! switched session. Real daemon with its guard, real setuid helper and PAM module,
//! fake agent worker on a real pty. Root only.
use std::path::PathBuf;
use std::time::{Duration, Instant};

use ssm_runas_tests::daemon_env::{Daemon, Switch, World, built, install, require_root};
use ssm_runas_tests::harness::{PtySession, printed_line, processes_of, wait_until};

fn config(sw: &Switch, w: &World) -> String {
    sw.config(w, "enforce", "")
        .replace("mode = \"enforce\"", "mode = \"enforce\"\ngrace_secs = 1")
}

/// A landing shell with no profile line typed: what a person has in the seconds before
/// the profile runs, or after winning the Ctrl-C race.
fn landing_shell(sw: &Switch, w: &World, sid: &str) -> PtySession {
    PtySession::spawn(&sw.pty_worker, sid, &w.landing.name, None, None).expect("fake worker")
}

/// The `comm` of every process whose real uid is `uid`.
fn commands_of(uid: u32) -> Vec<String> {
    processes_of(uid)
        .into_iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).ok())
        .map(|c| c.trim_end().to_owned())
        .collect()
}

#[test]
#[ignore = "needs root"]
fn a_landing_process_whose_main_thread_exited_is_still_closed() {
    require_root();
    let w = World::new();
    let sw = Switch::install(&w);
    let d = Daemon::start(&w, &config(&sw, &w)).unwrap_or_else(|e| panic!("{e}"));
    let tool: PathBuf = w.dir.path().join("bin/zombie-leader");
    install(&built("zombie-leader"), &tool, 0o755, None);
    w.add_session("mallory-0a1b2c3d4e5f60718", "Admin", "mallory");
    let mut s = landing_shell(&sw, &w, "mallory-0a1b2c3d4e5f60718");
    // The landing shell becomes a process whose leader is a zombie while a thread runs.
    s.send(&format!("exec {} 60\n", tool.display()))
        .expect("type");
    s.read_until("zombie-leader: thread alive", Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", s.output()));
    let leader_is_zombie = || {
        processes_of(w.landing.uid).iter().any(|p| {
            std::fs::read_to_string(format!("/proc/{p}/stat")).is_ok_and(|st| {
                st.rsplit_once(')')
                    .is_some_and(|(_, r)| r.starts_with(" Z"))
            })
        })
    };
    assert!(
        wait_until(Duration::from_millis(800), leader_is_zombie),
        "the leader did not become a zombie: {:?}",
        commands_of(w.landing.uid)
    );
    // Grace is 1 s: the guard must close the session although the leader says `Z`.
    let closed = s.wait_exit(Duration::from_secs(5)).expect("wait");
    assert!(
        closed.is_some(),
        "the thread kept running as the landing user:\n{}\n{}",
        s.output(),
        d.log()
    );
    assert!(
        wait_until(Duration::from_secs(3), || processes_of(w.landing.uid)
            .is_empty()),
        "landing processes left: {:?}",
        commands_of(w.landing.uid)
    );
    let rec = w
        .wait_audit(
            |r| r["SSM_RUNAS_DECISION"] == "guard-kill",
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no guard-kill record: {:?}", w.audit()));
    assert_eq!(
        rec["SSM_RUNAS_SESSION_ID"], "mallory-0a1b2c3d4e5f60718",
        "{rec}"
    );
}

#[test]
#[ignore = "needs root"]
fn a_denied_session_cannot_signal_another_sessions_helper() {
    require_root();
    let w = World::new();
    let sw = Switch::install(&w);
    let d = Daemon::start(&w, &config(&sw, &w)).unwrap_or_else(|e| panic!("{e}"));
    w.add_session("alice-0a1b2c3d4e5f60718", "ReadOnly", "alice");
    w.add_session("mallory-0a1b2c3d4e5f60718", "Admin", "mallory");
    let mut alice = sw.session(&w, "alice-0a1b2c3d4e5f60718");
    let out = alice.run("id -un", "a");
    assert!(printed_line(&out, &w.readonly.name), "{out}\n{}", d.log());
    // The denied person's landing shell signals everything the landing user may signal
    // (shell builtins: nothing forks for the guard to see).
    let mut mallory = landing_shell(&sw, &w, "mallory-0a1b2c3d4e5f60718");
    mallory
        .send("kill -TERM -1; kill -STOP -1; kill -KILL -1; echo \"sig\"\"nalled\"\n")
        .expect("type");
    mallory
        .read_until("signalled\r\n", Duration::from_secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", mallory.output()));
    // Alice's session goes on: her shell answers, and ends normally with status 0.
    assert!(
        alice
            .wait_exit(Duration::from_millis(300))
            .expect("wait")
            .is_none(),
        "the denied session's signals ended alice's session:\n{}",
        alice.output()
    );
    let out = alice.run("echo \"st\"\"ill-\"$(id -un)", "b");
    assert!(
        out.contains(&format!("still-{}\r\n", w.readonly.name)),
        "{out}"
    );
    alice.send("exit 0\n").expect("exit");
    let status = alice
        .wait_exit(Duration::from_secs(10))
        .expect("wait")
        .unwrap_or_else(|| panic!("alice's session did not end:\n{}", alice.output()));
    assert_eq!(
        status.code(),
        Some(0),
        "alice's session ended with {status}:\n{}",
        alice.output()
    );
    // Closed normally: the daemon heard her session close.
    assert!(
        w.wait_audit(
            |r| r["SSM_RUNAS_DECISION"] == "session-closed"
                && r["SSM_RUNAS_SESSION_ID"] == "alice-0a1b2c3d4e5f60718",
            Duration::from_secs(5),
        )
        .is_some(),
        "{:?}",
        w.audit()
    );
    // The denied shell itself is closed by the guard.
    assert!(
        mallory
            .wait_exit(Duration::from_secs(5))
            .expect("wait")
            .is_some()
    );
}

#[test]
#[ignore = "needs root"]
fn a_process_forked_just_before_exec_does_not_live_in_the_switched_session() {
    require_root();
    let w = World::new();
    let sw = Switch::install(&w);
    let d = Daemon::start(&w, &config(&sw, &w)).unwrap_or_else(|e| panic!("{e}"));
    w.add_session("alice-0a1b2c3d4e5f60718", "ReadOnly", "alice");
    let mut s = landing_shell(&sw, &w, "alice-0a1b2c3d4e5f60718");
    // A background job on the same line as the profile's exec becomes the helper's
    // child.
    s.send(&format!("sleep 600 & {}\n", sw.profile()))
        .expect("type");
    // Either the guard closes the whole session (it saw a landing command started by
    // the landing shell), or the helper kills its pre-existing child and switches.
    let line = "id -un; echo \"c\"\"-done\"\n";
    let end = Instant::now() + Duration::from_secs(20);
    let mut switched = None;
    while Instant::now() < end && switched.is_none() {
        if s.wait_exit(Duration::from_millis(10))
            .expect("wait")
            .is_some()
        {
            break;
        }
        let _ = s.send(line);
        switched = s.read_until("c-done\r\n", Duration::from_secs(1)).ok();
    }
    let Some(out) = switched else {
        assert!(
            s.wait_exit(Duration::from_secs(5)).expect("wait").is_some(),
            "neither switched nor closed:\n{}",
            s.output()
        );
        assert!(
            w.audit()
                .iter()
                .any(|r| r["SSM_RUNAS_DECISION"] == "guard-kill"),
            "the session ended without a guard record:\n{}\n{:?}",
            s.output(),
            w.audit()
        );
        assert!(
            wait_until(Duration::from_secs(2), || processes_of(w.landing.uid)
                .is_empty()),
            "{:?}",
            commands_of(w.landing.uid)
        );
        return;
    };
    assert!(printed_line(&out, &w.readonly.name), "{out}");
    // The mapped shell runs: the background job must already be gone.
    assert!(
        !commands_of(w.landing.uid).iter().any(|c| c == "sleep"),
        "a landing process lives in the switched session: {:?}\n{}",
        commands_of(w.landing.uid),
        d.log()
    );
    s.send("exit\n").expect("exit");
    assert!(
        s.wait_exit(Duration::from_secs(10))
            .expect("wait")
            .is_some()
    );
}

#[test]
#[ignore = "needs root"]
fn a_helper_killed_with_sigkill_still_gets_its_session_closed_record() {
    require_root();
    let w = World::new();
    let sw = Switch::install(&w);
    let d = Daemon::start(&w, &config(&sw, &w)).unwrap_or_else(|e| panic!("{e}"));
    w.add_session("alice-0a1b2c3d4e5f60718", "ReadOnly", "alice");
    let mut s = sw.session(&w, "alice-0a1b2c3d4e5f60718");
    let out = s.run("id -un", "k");
    assert!(printed_line(&out, &w.readonly.name), "{out}\n{}", d.log());
    // The worker's direct child is the landing shell that exec'd the helper.
    let worker = s.pid();
    let children = std::fs::read_to_string(format!("/proc/{worker}/task/{worker}/children"))
        .expect("children of the worker");
    let helper: i32 = children
        .split_whitespace()
        .next()
        .and_then(|p| p.parse().ok())
        .expect("the helper");
    let comm = std::fs::read_to_string(format!("/proc/{helper}/comm")).unwrap_or_default();
    assert_eq!(comm.trim_end(), "ssm-runas-login");
    // As root could (the agent's TerminateSession kills only its direct child).
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(helper),
        nix::sys::signal::Signal::SIGKILL,
    )
    .expect("kill");
    let rec = w
        .wait_audit(
            |r| {
                r["SSM_RUNAS_DECISION"] == "session-closed"
                    && r["SSM_RUNAS_SESSION_ID"] == "alice-0a1b2c3d4e5f60718"
            },
            Duration::from_secs(5),
        )
        .unwrap_or_else(|| panic!("no session-closed record: {:?}\n{}", w.audit(), d.log()));
    assert_eq!(
        rec["SSM_RUNAS_LINUX_USER"],
        w.readonly.name.as_str(),
        "{rec}"
    );
    assert!(
        rec["SSM_RUNAS_REASON"]
            .as_str()
            .unwrap_or("")
            .contains("without closing it"),
        "{rec}"
    );
    let _ = s.wait_exit(Duration::from_secs(5));
}
