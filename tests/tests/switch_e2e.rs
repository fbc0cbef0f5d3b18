//! A simulated SSM session really changes Linux account: the real daemon (SDK to
//! the fake SSM over HTTP), the real PAM module loaded by the real setuid helper
//! through the packaged Debian PAM stack, a fake worker that behaves like the
//! agent's (root, allowed path, argv[1] = SessionId, `sh` as the landing user on a
//! new pty, the profile line typed in). Root only.
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ssm_runas_tests::daemon_env::{Daemon, Switch, World, install, require_root};
use ssm_runas_tests::fake_ssm::Fault;
use ssm_runas_tests::harness::{printed_line, processes_of};

fn world_config(sw: &Switch, w: &World) -> String {
    // The whole product: the landing guard enforces.
    sw.config(w, "enforce", "")
}

fn no_landing_processes(w: &World, within: Duration) -> bool {
    let end = Instant::now() + within;
    loop {
        if processes_of(w.landing.uid).is_empty() {
            return true;
        }
        if Instant::now() > end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
#[ignore = "needs root"]
fn one_person_two_permission_sets_land_as_two_accounts() {
    require_root();
    let w = World::new();
    let sw = Switch::install(&w);
    let d = Daemon::start(&w, &world_config(&sw, &w)).unwrap_or_else(|e| panic!("{e}"));
    for (sid, set, user) in [
        (
            "alice@example.com-0a1b2c3d4e5f60718",
            "ReadOnly",
            &w.readonly,
        ),
        (
            "alice@example.com-abcdefghijklmnopqrstuvwxyz",
            "Admin",
            &w.admin,
        ),
    ] {
        w.add_session(sid, set, "alice@example.com");
        let mut s = sw.session(&w, sid);
        let out = s.run("id -un; echo HOME=$HOME; echo LOGINUID=$(cat /proc/self/loginuid); echo SID=$SSM_SESSION_ID",
            "a",
        );
        assert!(printed_line(&out, &user.name), "{set}: {out}\n{}", d.log());
        assert!(
            out.contains(&format!("HOME=/home/{}\r\n", user.name)),
            "{out}"
        );
        assert!(out.contains(&format!("LOGINUID={}\r\n", user.uid)), "{out}");
        assert!(out.contains(&format!("SID={sid}\r\n")), "{out}");
        s.send("exit\n").expect("exit");
        assert!(
            s.wait_exit(Duration::from_secs(10))
                .expect("wait")
                .is_some(),
            "session did not end"
        );
    }
    assert!(no_landing_processes(&w, Duration::from_secs(5)));
    // The daemon heard about both sessions opening and closing.
    let opened = w
        .audit()
        .iter()
        .filter(|r| r["SSM_RUNAS_DECISION"] == "session-opened")
        .count();
    assert_eq!(opened, 2, "{:?}", w.audit());
    // One allow record per switch (the account step's re-check is not another).
    let allows = w
        .audit()
        .iter()
        .filter(|r| r["SSM_RUNAS_DECISION"] == "allow")
        .count();
    assert_eq!(allows, 2, "{:?}", w.audit());
}

#[test]
#[ignore = "needs root"]
fn a_denied_permission_set_prints_the_reason_and_ends_the_session() {
    require_root();
    let w = World::new();
    let sw = Switch::install(&w);
    let d = Daemon::start(&w, &world_config(&sw, &w)).unwrap_or_else(|e| panic!("{e}"));
    w.add_session("mallory-0a1b2c3d4e5f60718", "Admin", "mallory");
    let mut s = sw.session(&w, "mallory-0a1b2c3d4e5f60718");
    let out = s
        .read_until("Your access is suspended", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}\n{}", s.output(), d.log()));
    assert!(out.contains("ssm-runas: "), "{out}");
    assert!(
        s.wait_exit(Duration::from_secs(10))
            .expect("wait")
            .is_some(),
        "the session stayed open:\n{}",
        s.output()
    );
    assert!(
        no_landing_processes(&w, Duration::from_secs(5)),
        "a landing process is left"
    );
}

#[test]
#[ignore = "needs root"]
fn daemon_down_or_aws_failing_ends_the_session_with_a_clear_line() {
    require_root();
    let w = World::new();
    let sw = Switch::install(&w);
    // No daemon at all.
    let t0 = Instant::now();
    let mut s = sw.session(&w, "alice-0a1b2c3d4e5f60718");
    let out = s
        .read_until("ssm-runas: ", Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", s.output()));
    assert!(
        s.wait_exit(Duration::from_secs(20))
            .expect("wait")
            .is_some()
    );
    assert!(
        t0.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t0.elapsed()
    );
    assert!(
        s.output().to_lowercase().contains("daemon") || out.contains("ssm-runasd"),
        "{}",
        s.output()
    );

    // A daemon whose AWS answers only errors: a line within the deadline (3 s here).
    let _d = Daemon::start(&w, &world_config(&sw, &w)).unwrap_or_else(|e| panic!("{e}"));
    w.add_session("alice-0a1b2c3d4e5f60718", "ReadOnly", "alice");
    w.fake.fail_always(Some(Fault::Throttling));
    let t0 = Instant::now();
    let mut s = sw.session(&w, "alice-0a1b2c3d4e5f60718");
    s.read_until("ssm-runas: ", Duration::from_secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", s.output()));
    assert!(
        s.wait_exit(Duration::from_secs(20))
            .expect("wait")
            .is_some()
    );
    let took = t0.elapsed();
    assert!(took < Duration::from_secs(8), "took {took:?}");
    assert!(s.output().contains("throttling"), "{}", s.output());
    assert!(no_landing_processes(&w, Duration::from_secs(5)));
}

#[test]
#[ignore = "needs root"]
fn the_helper_outside_a_session_or_outside_the_landing_group_is_refused() {
    require_root();
    let w = World::new();
    let sw = Switch::install(&w);
    // The guard only records here: in enforce mode it may kill `setpriv` the moment it
    // takes the landing uid (a landing process outside any session), before it execs
    // the helper whose own refusal this test reads.
    let _d = Daemon::start(&w, &sw.config(&w, "audit", "")).unwrap_or_else(|e| panic!("{e}"));
    let as_user = |uid: u32, gid: u32| {
        Command::new("setpriv")
            .args([
                "--reuid",
                &uid.to_string(),
                "--regid",
                &gid.to_string(),
                "--clear-groups",
                "--",
            ])
            .arg(&sw.helper)
            .args(["-c", "id -un"])
            .output()
            .expect("setpriv")
    };
    // The landing user, but no SSM session above it.
    let out = as_user(w.landing.uid, w.landing.gid);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("ssm-runas: ") && err.contains("not in an SSM session"),
        "{err}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&w.readonly.name));
    // Another user: the helper (mode 4750, landing group) is not theirs to run. `su`
    // starts it as that user's "shell" (no shell in between), so the kernel's exec
    // permission check decides. (setpriv is not used here: on this machine it could
    // exec a mode-0700 root file after dropping to another uid, which a login never
    // can; the daemon's wrong-user check is tested in tests/daemon.rs.)
    let out = Command::new("su")
        .arg(&w.readonly.name)
        .arg("-s")
        .arg(&sw.helper)
        .args(["-c", "id -un"])
        .output()
        .expect("su");
    assert_eq!(out.status.code(), Some(126), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
        "{out:?}"
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&w.readonly.name));
}

#[test]
#[ignore = "needs root"]
fn keystrokes_typed_before_the_switch_never_run() {
    require_root();
    let w = World::new();
    let sw = Switch::install(&w);
    let _d = Daemon::start(&w, &world_config(&sw, &w)).unwrap_or_else(|e| panic!("{e}"));
    // Slow AWS, so the keystrokes certainly arrive while the helper is switching.
    w.fake.set_latency(Duration::from_millis(500));
    w.add_session("alice-0a1b2c3d4e5f60718", "ReadOnly", "alice");
    let marker = w.dir.path().join("typed-ahead");
    let mut s = sw.session(&w, "alice-0a1b2c3d4e5f60718");
    // Right behind the profile line, before the shell has processed it.
    s.send(&format!("touch {}\n", marker.display()))
        .expect("type");
    let out = s.run("id -un", "k");
    assert!(printed_line(&out, &w.readonly.name), "{out}");
    s.send("exit\n").expect("exit");
    let _ = s.wait_exit(Duration::from_secs(10));
    assert!(!marker.exists(), "typed-ahead input ran:\n{}", s.output());
}

#[test]
#[ignore = "needs root"]
fn pamtester_in_a_session_against_the_real_daemon() {
    require_root();
    let Ok(pamtester) = which("pamtester") else {
        eprintln!("pamtester_in_a_session_against_the_real_daemon: skipped (no pamtester)");
        return;
    };
    let w = World::new();
    let sw = Switch::install(&w);
    let _d = Daemon::start(&w, &world_config(&sw, &w)).unwrap_or_else(|e| panic!("{e}"));
    // pamtester, setuid root like the helper, run by the landing user in a session.
    let pt = w.dir.path().join("libexec/pamtester");
    install(&pamtester, &pt, 0o4755, Some(0));
    w.add_session("alice-0a1b2c3d4e5f60718", "ReadOnly", "alice");
    w.add_session("mallory-0a1b2c3d4e5f60718", "Admin", "mallory");
    let pam = |sid: &str, user: &str| {
        let mut cmd = w.worker_command(&w.worker, sid, w.landing.uid, w.landing.gid, &[]);
        // mini-worker runs MINI_WORKER_CMD: replace the probe by pamtester.
        let argv = vec![
            pt.display().to_string(),
            "-v".into(),
            "ssm-runas".into(),
            user.to_string(),
            "authenticate".into(),
            "acct_mgmt".into(),
        ];
        cmd.env(
            "MINI_WORKER_CMD",
            serde_json::to_string(&argv).unwrap_or_default(),
        );
        cmd.output().expect("pamtester")
    };
    let ok = pam("alice-0a1b2c3d4e5f60718", &w.readonly.name);
    assert!(ok.status.success(), "{ok:?}");
    let wrong = pam("alice-0a1b2c3d4e5f60718", &w.admin.name);
    assert!(!wrong.status.success(), "{wrong:?}");
    let denied = pam("mallory-0a1b2c3d4e5f60718", &w.admin.name);
    assert!(!denied.status.success());
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&denied.stdout),
        String::from_utf8_lossy(&denied.stderr)
    );
    assert!(text.contains("Your access is suspended"), "{text}");
}

fn which(name: &str) -> Result<PathBuf, ()> {
    ["/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        .iter()
        .map(|d| Path::new(d).join(name))
        .find(|p| p.exists())
        .ok_or(())
}
