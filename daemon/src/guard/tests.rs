//! The guard's decisions on a fake `/proc`.

use super::connector::{self, Event};
use super::engine::*;
use super::handle::*;
use super::*;

use std::sync::atomic::AtomicUsize;

const SID: &str = "alice@example.com-0a1b2c3d4e5f6a7b8";
const LANDING: u32 = 1001;
const HZ: u64 = 100;

/// A fake `/proc` (and a helper file) in a temporary directory, removed on drop.
struct FakeProc {
    dir: PathBuf,
    root: PathBuf,
    helper: PathBuf,
}

struct P<'a> {
    pid: i32,
    ppid: i32,
    sid: i32,
    uid: (u32, u32),
    exe: &'a str,
    argv: &'a [&'a str],
    start: u64,
}

impl FakeProc {
    fn new(name: &str) -> FakeProc {
        let dir = std::env::temp_dir().join(format!(
            "ssm-runas-guard-unit-{}-{name}",
            std::process::id()
        ));
        let _ = fs::remove_dir_all(&dir);
        let root = dir.join("proc");
        fs::create_dir_all(&root).unwrap();
        let helper = dir.join("ssm-runas-login");
        fs::write(&helper, "helper").unwrap();
        let fp = FakeProc { dir, root, helper };
        // init, the agent and the worker (root), as on a real instance.
        fp.add(P {
            pid: 1,
            ppid: 0,
            sid: 1,
            uid: (0, 0),
            exe: "/usr/lib/systemd/systemd",
            argv: &["/sbin/init"],
            start: 1,
        });
        fp.add(P {
            pid: 100,
            ppid: 1,
            sid: 100,
            uid: (0, 0),
            exe: "/usr/bin/amazon-ssm-agent",
            argv: &["/usr/bin/amazon-ssm-agent"],
            start: 10,
        });
        fp.add(P {
            pid: 300,
            ppid: 100,
            sid: 100,
            uid: (0, 0),
            exe: "/usr/bin/ssm-session-worker",
            argv: &["/usr/bin/ssm-session-worker", SID],
            start: 1000,
        });
        fp
    }

    fn add(&self, p: P<'_>) {
        let d = self.root.join(p.pid.to_string());
        fs::create_dir_all(&d).unwrap();
        let name = p.exe.rsplit('/').next().unwrap();
        fs::write(
            d.join("stat"),
            format!(
                "{} ({name}) S {} {} {} 34816 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 {} 1000 10 0 0 0 0 0 0 0 0 0 0 0 0 17 3 0 0 0 0 0\n",
                p.pid, p.ppid, p.sid, p.sid, p.start
            ),
        )
        .unwrap();
        fs::write(
            d.join("status"),
            format!(
                "Name:\t{name}\nPid:\t{}\nPPid:\t{}\nUid:\t{}\t{}\t{}\t{}\n",
                p.pid, p.ppid, p.uid.0, p.uid.1, p.uid.1, p.uid.1
            ),
        )
        .unwrap();
        let mut cmdline = Vec::new();
        for a in p.argv {
            cmdline.extend_from_slice(a.as_bytes());
            cmdline.push(0);
        }
        fs::write(d.join("cmdline"), cmdline).unwrap();
        fs::write(d.join("comm"), format!("{name}\n")).unwrap();
        let _ = fs::remove_file(d.join("exe"));
        std::os::unix::fs::symlink(p.exe, d.join("exe")).unwrap();
    }

    fn engine(&self, mode: GuardMode, seen: Arc<AtomicUsize>) -> (Engine, PathBuf) {
        let audit = self.dir.join("audit.jsonl");
        let s = GuardSettings {
            mode,
            grace: Duration::from_secs(3),
            scan_interval: Duration::from_millis(200),
            helper_path: self.helper.clone(),
            landing_uid: LANDING,
            worker_policy: WorkerPolicy::standard(),
            proc_root: self.root.clone(),
        };
        let inner = Arc::new(Inner {
            settings: Mutex::new((0, s.clone())),
            auditor: Mutex::new(Arc::new(Auditor::new(false, Some(audit.clone())))),
            on_worker: Arc::new(move |w: &Worker| {
                assert_eq!(w.session_id, SID);
                seen.fetch_add(1, Ordering::SeqCst);
            }),
            kills: AtomicU64::new(0),
            want: Method::ProcScan,
            method: Mutex::new(Method::ProcScan),
            admitted: Mutex::new(HashMap::new()),
        });
        let mut e = Engine::new(s, inner, false);
        e.hz = HZ;
        (e, audit)
    }
}

impl Drop for FakeProc {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
    }
}

fn reason(c: &Class) -> (&str, Option<&str>) {
    match c {
        Class::Violation(v) => (
            v.reason.as_str(),
            v.worker.as_ref().map(|w| w.session_id.as_str()),
        ),
        other => panic!("expected a violation, got {other:?}"),
    }
}

#[test]
fn the_landing_shell_is_allowed_only_during_its_grace() {
    let fp = FakeProc::new("grace");
    fp.add(P {
        pid: 400,
        ppid: 300,
        sid: 400,
        uid: (LANDING, LANDING),
        exe: "/usr/bin/dash",
        argv: &["sh"],
        start: 2000,
    });
    let seen = Arc::new(AtomicUsize::new(0));
    let (mut e, _) = fp.engine(GuardMode::Audit, Arc::clone(&seen));
    // 3 s at 100 Hz: allowed until tick 2300.
    assert!(matches!(
        e.classify(400, LANDING, 2299),
        Class::Grace { until: 2300 }
    ));
    let late = e.classify(400, LANDING, 2300);
    assert_eq!(
        reason(&late),
        (
            "landing shell did not exec the switch helper within 3 s",
            Some(SID)
        )
    );
    // The worker was verified twice but announced once.
    assert_eq!(seen.load(Ordering::SeqCst), 1);
}

#[test]
fn the_helper_is_allowed_and_anything_a_shell_starts_is_not() {
    let fp = FakeProc::new("helper");
    let helper = fp.helper.to_str().unwrap().to_owned();
    fp.add(P {
        pid: 400,
        ppid: 300,
        sid: 400,
        uid: (LANDING, 0),
        exe: &helper,
        argv: &[&helper],
        start: 2000,
    });
    fp.add(P {
        pid: 500,
        ppid: 400,
        sid: 400,
        uid: (LANDING, 0),
        exe: &helper,
        argv: &[&helper],
        start: 2001,
    });
    fp.add(P {
        pid: 401,
        ppid: 300,
        sid: 401,
        uid: (LANDING, LANDING),
        exe: "/usr/bin/dash",
        argv: &["sh"],
        start: 2000,
    });
    fp.add(P {
        pid: 402,
        ppid: 401,
        sid: 401,
        uid: (LANDING, LANDING),
        exe: "/usr/bin/sleep",
        argv: &["sleep", "60"],
        start: 2001,
    });
    let (mut e, _) = fp.engine(GuardMode::Audit, Arc::new(AtomicUsize::new(0)));
    // The helper, and its child before it changes uid: allowed however old.
    assert!(matches!(e.classify(400, LANDING, 99_999), Class::Helper));
    assert!(matches!(e.classify(500, LANDING, 99_999), Class::Helper));
    // What the helper's branch started before the daemon allowed it vouches for
    // nothing: a job the landing shell forked just before exec'ing the helper.
    fp.add(P {
        pid: 502,
        ppid: 400,
        sid: 400,
        uid: (LANDING, LANDING),
        exe: "/usr/bin/sleep",
        argv: &["sleep", "600"],
        start: 2000,
    });
    assert!(matches!(
        e.classify(502, LANDING, 2003),
        Class::Violation(_)
    ));
    lock(&e.inner.admitted).insert(400, (2000, 2001));
    // A PAM module's helper program started by the helper keeps its real uid.
    fp.add(P {
        pid: 501,
        ppid: 500,
        sid: 400,
        uid: (LANDING, 0),
        exe: "/usr/sbin/mkhomedir_helper",
        argv: &["/usr/sbin/mkhomedir_helper", "bob"],
        start: 2002,
    });
    assert!(matches!(e.classify(501, LANDING, 99_999), Class::Helper));
    // Still not the job forked before the allow, nor what it forks later.
    assert!(matches!(
        e.classify(502, LANDING, 2003),
        Class::Violation(_)
    ));
    fp.add(P {
        pid: 503,
        ppid: 502,
        sid: 400,
        uid: (LANDING, LANDING),
        exe: "/usr/bin/cat",
        argv: &["cat"],
        start: 2005,
    });
    assert!(matches!(
        e.classify(503, LANDING, 2006),
        Class::Violation(_)
    ));
    // A helper that was allowed once, then its pid reused: vouches for nothing.
    lock(&e.inner.admitted).insert(400, (1999, 2001));
    assert!(matches!(
        e.classify(501, LANDING, 99_999),
        Class::Violation(_)
    ));
    lock(&e.inner.admitted).insert(400, (2000, 2001));
    // A command started by a shell in its grace: not allowed, even right away.
    let c = e.classify(402, LANDING, 2002);
    assert_eq!(
        reason(&c),
        (
            "landing-user command started in a session that did not switch accounts",
            Some(SID)
        )
    );
    // The same path name, but another file (e.g. bind-mounted elsewhere): not the helper.
    let other = fp.dir.join("elsewhere");
    fs::write(&other, "x").unwrap();
    let d = fp.root.join("400");
    fs::remove_file(d.join("exe")).unwrap();
    std::os::unix::fs::symlink(&other, d.join("exe")).unwrap();
    assert!(!e.is_helper(400));
}

#[test]
fn processes_outside_a_session_or_under_an_impostor_are_violations() {
    let fp = FakeProc::new("outside");
    fp.add(P {
        pid: 600,
        ppid: 1,
        sid: 600,
        uid: (LANDING, LANDING),
        exe: "/usr/bin/sleep",
        argv: &["sleep", "60"],
        start: 5,
    });
    // A landing-owned "worker" at the right path: not root, so not a worker.
    fp.add(P {
        pid: 700,
        ppid: 1,
        sid: 700,
        uid: (LANDING, LANDING),
        exe: "/usr/bin/ssm-session-worker",
        argv: &["/usr/bin/ssm-session-worker", SID],
        start: 5,
    });
    fp.add(P {
        pid: 701,
        ppid: 700,
        sid: 701,
        uid: (LANDING, LANDING),
        exe: "/usr/bin/dash",
        argv: &["sh"],
        start: 6,
    });
    // A root worker-named process at a path that is not allowed.
    fp.add(P {
        pid: 800,
        ppid: 1,
        sid: 800,
        uid: (0, 0),
        exe: "/tmp/ssm-session-worker",
        argv: &["/tmp/ssm-session-worker", SID],
        start: 5,
    });
    fp.add(P {
        pid: 801,
        ppid: 800,
        sid: 801,
        uid: (LANDING, LANDING),
        exe: "/usr/bin/dash",
        argv: &["sh"],
        start: 6,
    });
    let seen = Arc::new(AtomicUsize::new(0));
    let (mut e, _) = fp.engine(GuardMode::Audit, Arc::clone(&seen));
    let c = e.classify(600, LANDING, 10);
    assert_eq!(
        reason(&c),
        ("landing-user process outside any SSM session", None)
    );
    for pid in [701, 801] {
        let c = e.classify(pid, LANDING, 10);
        let (why, sid) = reason(&c);
        assert!(
            why.contains("claims to be a session worker but is not one"),
            "{why}"
        );
        assert_eq!(sid, None);
    }
    assert_eq!(seen.load(Ordering::SeqCst), 0);
}

#[test]
fn a_violation_is_recorded_once_per_session_with_its_command() {
    let fp = FakeProc::new("record");
    fp.add(P {
        pid: 400,
        ppid: 300,
        sid: 400,
        uid: (LANDING, LANDING),
        exe: "/usr/bin/dash",
        argv: &["sh"],
        start: 2,
    });
    fp.add(P {
        pid: 401,
        ppid: 400,
        sid: 400,
        uid: (LANDING, LANDING),
        exe: "/usr/bin/sleep",
        argv: &["sleep", "60\n{\"x\":1}"],
        start: 3,
    });
    fp.add(P {
        pid: 900,
        ppid: 100,
        sid: 100,
        uid: (0, 0),
        exe: "/usr/bin/ssm-agent-worker",
        argv: &["ssm-agent-worker"],
        start: 3,
    });
    let (mut e, audit) = fp.engine(GuardMode::Audit, Arc::new(AtomicUsize::new(0)));
    e.full_scan();
    e.full_scan();
    let text = fs::read_to_string(&audit).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert_eq!(lines[0]["SSM_RUNAS_DECISION"], "guard-audit");
    assert_eq!(lines[0]["SSM_RUNAS_SESSION_ID"], SID);
    assert_eq!(lines[0]["SSM_RUNAS_PEER_UID"], LANDING);
    let why = lines[0]["SSM_RUNAS_REASON"].as_str().unwrap();
    assert!(
        why == "landing shell did not exec the switch helper within 3 s: sh"
            || why.starts_with("landing-user command started in a session"),
        "{why}"
    );
    // Nothing was signalled on a fake tree, and audit mode counts no kills.
    assert_eq!(e.inner.kills.load(Ordering::Relaxed), 0);
    // Once the session is gone, a new violation of a new session is recorded again.
    fs::remove_dir_all(fp.root.join("400")).unwrap();
    fs::remove_dir_all(fp.root.join("401")).unwrap();
    e.full_scan();
    fp.add(P {
        pid: 600,
        ppid: 1,
        sid: 600,
        uid: (LANDING, LANDING),
        exe: "/usr/bin/sleep",
        argv: &["sleep"],
        start: 9,
    });
    e.full_scan();
    assert_eq!(fs::read_to_string(&audit).unwrap().lines().count(), 2);
}

#[test]
fn stat_fields_and_terminal_numbers() {
    let st = crate::peer::parse_stat(
        "42 (a) b) (c) S 7 8 9 34817 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 123456 1000",
    )
    .unwrap();
    assert_eq!(
        (st.ppid, st.pgrp, st.sid, st.tty_nr, st.starttime),
        (7, 8, 9, 34817, 123_456)
    );
    // 34817 = major 136, minor 1: /dev/pts/1.
    let tty = |tty_nr: u32| crate::peer::ProcStat { tty_nr, ..st }.tty_device();
    assert_eq!(tty(34817), Some((136, 1)));
    assert!(tty(34817).is_some_and(is_pts));
    assert!(!tty(0x0401).is_some_and(is_pts)); // /dev/tty1
    assert_eq!(tty(0), None);
    assert_eq!(decode_rdev(libc::makedev(136, 300)), (136, 300));
    assert!(crate::peer::parse_stat("42 (sh) S 1 2").is_none());
}

#[test]
fn connector_messages_are_parsed_and_threads_skipped() {
    let mut out = Vec::new();
    let mut buf = connector::fake_event(0x1, &[10, 10, 11, 11]);
    buf.extend(connector::fake_event(0x1, &[10, 10, 12, 11])); // a thread
    buf.extend(connector::fake_event(0x2, &[11, 11]));
    buf.extend(connector::fake_event(0x4, &[13, 11, 1001, 1001]));
    buf.extend(connector::fake_event(0x8000_0000, &[11, 11, 0, 9, 10, 10]));
    buf.extend(connector::fake_event(0x200, &[11, 11])); // comm: ignored
    buf.extend(connector::fake_event(0x0, &[1])); // an answer, errno 1
    connector::parse(&buf, &mut out);
    assert_eq!(
        out,
        [
            Event::Fork(11),
            Event::Exec(11),
            Event::Uid(11),
            Event::Exit(11),
            Event::Ack {
                seq: 0,
                ack: 0,
                err: 1
            }
        ]
    );
    // Truncated input is ignored, not a panic.
    connector::parse(&buf[..30], &mut out);
    assert_eq!(out.len(), 5);
}

#[test]
fn human_durations() {
    assert_eq!(human(Duration::from_secs(3)), "3 s");
    assert_eq!(human(Duration::from_millis(1500)), "1.5 s");
    assert_eq!(human(Duration::from_millis(200)), "200 ms");
    assert_eq!(duration_to_ticks(Duration::from_millis(1001), 100), 101);
}
