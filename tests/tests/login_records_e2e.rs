//! A switched session is visible to the host's own tools: `who` lists the mapped
//! account on the session's pty with a host that names the session, `last` shows
//! it logged in and then closed, `lastlog` has the time, and the pty belongs to
//! the account for the session. However the session ends — `exit`, the worker
//! killed, or the helper and shell killed outright — the record is closed within
//! seconds. A denied session writes no record. Root only; the real utmp, wtmp and
//! lastlog, with the tests' records removed again (`login_files`).
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::process::Command;
use std::time::Duration;

use ssm_runas_tests::daemon_env::{Daemon, Switch, World, require_root};
use ssm_runas_tests::harness::{PtySession, printed_line, wait_until};
use ssm_runas_tests::login_files::{self, UTMP, WTMP};

const SID: &str = "alice@example.com-0a1b2c3d4e5f60718";
/// The person's name starts the session id, so the host is just the session.
const HOST: &str = "ssm:alice@example.com-0a1b2c3d4e5f60718";

fn tool(cmd: &str, args: &[&str]) -> String {
    let out = Command::new(cmd).args(args).output().expect(cmd);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Whether utmp holds an open (`USER_PROCESS`) entry of `user` on `line`.
/// (`who` alone is not proof: coreutils hides entries whose pid is gone; `w`
/// and `last` do not.)
fn open_in_utmp(user: &str, line: &str) -> bool {
    login_files::records(UTMP)
        .iter()
        .any(|r| r.is_login() && r.user == user && r.line == line)
}

/// `who`'s line for `user` on `line`, if any.
fn who(user: &str, line: &str) -> Option<String> {
    tool("who", &[])
        .lines()
        .find(|l| l.split_whitespace().take(2).eq([user, line]))
        .map(str::to_owned)
}

/// The newest `last` line of `user`, with full names and hosts.
fn last(user: &str) -> String {
    tool("last", &["-w", "-n", "1", user])
        .lines()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// Closed the way `last` shows a finished login: a logout time and a duration.
/// (util-linux 2.38 prints "still running" for a logout in the very second
/// `last` runs, so callers wait a moment.)
fn closed(line: &str) -> bool {
    !line.contains("still logged in") && !line.contains("gone - no logout") && line.contains(" - ")
}

struct Setup {
    w: World,
    sw: Switch,
    d: Daemon,
}

fn setup() -> Setup {
    let w = World::new();
    let sw = Switch::install(&w);
    let d = Daemon::start(&w, &sw.config(&w, "enforce", "")).unwrap_or_else(|e| panic!("{e}"));
    w.add_session(SID, "ReadOnly", "alice@example.com");
    Setup { w, sw, d }
}

/// Starts the session and returns it with its pty (`pts/N`), the shell's pid
/// and the helper's pid.
fn open(t: &Setup) -> (PtySession, String, i32, i32) {
    let mut s = t.sw.session(&t.w, SID);
    let out = s.run("echo TTY=$(tty) SH=$$ HELPER=$PPID", "o");
    let words: Vec<&str> = out
        .split("\r\n")
        .filter(|l| l.starts_with("TTY="))
        .last()
        .unwrap_or_else(|| panic!("{out}\n{}", t.d.log()))
        .split(' ')
        .collect();
    let tty = words[0].trim_start_matches("TTY=/dev/").to_string();
    let sh = words[1].trim_start_matches("SH=").parse().expect("pid");
    let helper = words[2].trim_start_matches("HELPER=").parse().expect("pid");
    (s, tty, sh, helper)
}

#[test]
#[ignore = "needs root"]
fn who_last_and_lastlog_see_the_session_and_the_pty_is_the_accounts() {
    require_root();
    let t = setup();
    let user = &t.w.readonly;
    let (mut s, tty, sh, _) = open(&t);

    let seen = who(&user.name, &tty).unwrap_or_else(|| {
        panic!(
            "who does not list {} on {tty}:\n{}",
            user.name,
            tool("who", &[])
        )
    });
    assert!(seen.contains(&format!("({HOST})")), "{seen}");
    let now = last(&user.name);
    assert!(
        now.contains(&tty) && now.contains(HOST) && now.contains("still logged in"),
        "{now}"
    );
    let record = login_files::records(UTMP)
        .into_iter()
        .find(|r| r.is_login() && r.user == user.name)
        .expect("utmp entry");
    assert_eq!(record.pid, sh, "ut_pid is the shell's");

    let (time, line, host) = login_files::lastlog(user.uid).expect("lastlog entry");
    assert_eq!((line.as_str(), host.as_str()), (tty.as_str(), HOST));
    let age = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
        .abs_diff(u64::from(time));
    assert!(age < 60, "lastlog time is {age} s off");
    let shown = tool("lastlog", &["-u", &user.name]);
    assert!(
        shown.contains(&tty) && !shown.contains("Never logged in"),
        "{shown}"
    );

    // The pty is the account's, group tty, 0620; `mesg` agrees.
    let dev = format!("/dev/{tty}");
    let meta = std::fs::metadata(&dev).expect("stat pty");
    let tty_gid = nix::unistd::Group::from_name("tty")
        .ok()
        .flatten()
        .map_or(user.gid, |g| g.gid.as_raw());
    assert_eq!(
        (meta.uid(), meta.gid(), meta.mode() & 0o777),
        (user.uid, tty_gid, 0o620)
    );
    let out = s.run("mesg", "m");
    assert!(out.contains("is y"), "{out}");
    // Kept open to see the pty after the session (the worker ends once the
    // last descriptor of the pty is closed).
    let held = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(&dev)
        .expect("open pty");

    s.send("exit\n").expect("exit");
    assert!(
        wait_until(Duration::from_secs(10), || who(&user.name, &tty).is_none()
            && !open_in_utmp(&user.name, &tty)),
        "the session is still listed after exit"
    );
    assert!(
        wait_until(Duration::from_secs(3), || closed(&last(&user.name))),
        "{}",
        last(&user.name)
    );
    assert!(last(&user.name).contains(&tty));
    assert!(
        wait_until(Duration::from_secs(5), || held
            .metadata()
            .is_ok_and(|m| m.uid() == 0)),
        "the pty was not handed back to root"
    );
    drop(held);
    assert!(
        s.wait_exit(Duration::from_secs(10))
            .expect("wait")
            .is_some(),
        "session did not end"
    );
    // One login and one logout record on that line in wtmp.
    let wtmp: Vec<_> = login_files::records(WTMP)
        .into_iter()
        .filter(|r| r.line == tty && r.pid == sh)
        .collect();
    assert_eq!(wtmp.len(), 2, "{wtmp:?}");
    assert!(wtmp[0].is_login() && !wtmp[1].is_login(), "{wtmp:?}");
    // The audit trail's session records name the same line, so the two join.
    for decision in ["session-opened", "session-closed"] {
        let rec =
            t.w.wait_audit(
                |r| r["SSM_RUNAS_DECISION"] == decision && r["SSM_RUNAS_SESSION_ID"] == SID,
                Duration::from_secs(5),
            )
            .unwrap_or_else(|| panic!("no {decision} record: {:?}", t.w.audit()));
        assert_eq!(rec["SSM_RUNAS_TTY"], tty.as_str(), "{rec}");
    }
}

#[test]
#[ignore = "needs root"]
fn a_killed_worker_closes_the_record_within_seconds() {
    require_root();
    let t = setup();
    let user = &t.w.readonly;
    let (mut s, tty, _, _) = open(&t);
    assert!(who(&user.name, &tty).is_some(), "{}", tool("who", &[]));
    let _ = nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(s.pid() as i32),
        nix::sys::signal::Signal::SIGKILL,
    );
    let _ = s.wait_exit(Duration::from_secs(5));
    assert!(
        wait_until(Duration::from_secs(5), || !open_in_utmp(&user.name, &tty)),
        "the utmp entry is still open"
    );
    assert!(
        wait_until(Duration::from_secs(3), || closed(&last(&user.name))),
        "{}",
        last(&user.name)
    );
}

#[test]
#[ignore = "needs root"]
fn when_nothing_of_the_session_survives_the_daemon_closes_the_record() {
    require_root();
    let t = setup();
    let user = &t.w.readonly;
    let (_s, tty, sh, helper) = open(&t);
    assert!(who(&user.name, &tty).is_some(), "{}", tool("who", &[]));
    // TerminateSession SIGKILLs the helper; the shell dies with it, and nothing
    // is left to write the logout record.
    for pid in [helper, sh] {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert!(
        wait_until(Duration::from_secs(6), || !open_in_utmp(&user.name, &tty)),
        "a ghost is left in utmp:\n{:?}\n{}",
        login_files::records(UTMP),
        t.d.log()
    );
    assert!(
        wait_until(Duration::from_secs(3), || closed(&last(&user.name))),
        "{}",
        last(&user.name)
    );
    assert!(
        t.d.log().contains("closed the login record of"),
        "{}",
        t.d.log()
    );
}

#[test]
#[ignore = "needs root"]
fn only_the_sessions_own_pty_is_given_away_or_recorded() {
    require_root();
    let t = setup();
    let user = &t.w.readonly;
    // The caller decides what fd 0 is: here /dev/tty, which every user of the
    // host needs to stay root's and 0666.
    let before = std::fs::metadata("/dev/tty").expect("stat /dev/tty");
    let profile = format!("{} </dev/tty", t.sw.profile());
    let mut s = PtySession::spawn(
        &t.sw.pty_worker,
        SID,
        &t.w.landing.name,
        Some(&profile),
        None,
    )
    .expect("fake worker");
    let out = s.run("id -un", "d");
    assert!(printed_line(&out, &user.name), "{out}");
    let during = std::fs::metadata("/dev/tty").expect("stat /dev/tty");
    assert_eq!(
        (during.uid(), during.gid(), during.mode()),
        (before.uid(), before.gid(), before.mode())
    );
    assert!(
        !login_files::records(UTMP)
            .iter()
            .any(|r| r.user == user.name),
        "{:?}",
        login_files::records(UTMP)
    );
    s.send("exit\n").expect("exit");
    let _ = s.wait_exit(Duration::from_secs(10));
}

#[test]
#[ignore = "needs root"]
fn a_denied_session_writes_no_login_record() {
    require_root();
    let t = setup();
    let before = login_files::records(WTMP).len();
    t.w.add_session("mallory-0a1b2c3d4e5f60718", "Admin", "mallory");
    let mut s = t.sw.session(&t.w, "mallory-0a1b2c3d4e5f60718");
    s.read_until("Your access is suspended", Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", t.d.log()));
    assert!(
        s.wait_exit(Duration::from_secs(10))
            .expect("wait")
            .is_some()
    );
    let names = [&t.w.landing.name, &t.w.readonly.name, &t.w.admin.name];
    let mine = |r: &login_files::Record| names.contains(&&r.user) || r.host.contains("mallory");
    let wtmp = login_files::records(WTMP);
    assert!(
        !wtmp.iter().skip(before).any(mine),
        "{:?}",
        &wtmp[before.min(wtmp.len())..]
    );
    assert!(!login_files::records(UTMP).iter().any(mine));
    for u in [&t.w.landing, &t.w.admin] {
        assert_eq!(login_files::lastlog(u.uid), None, "{}", u.name);
    }
}
