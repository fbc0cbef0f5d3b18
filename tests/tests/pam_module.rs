//! `pam_ssm_runas.so` under `pamtester`, and the setuid `ssm-runas-login` under a
//! fake SSM session worker, both against a stub daemon answering protocol frames
//! (the stub cannot check process ancestry; the real daemon's tests do that).
//!
//! Needs root, `pamtester`, and the module and helper built in the same target
//! directory as this test: run `cargo build -p pam-ssm-runas -p ssm-runas-login`
//! (or `cargo build --workspace`) before `cargo test -p ssm-runas-tests`. Without
//! root the tests print a notice and pass; a missing artifact fails them.

use ssm_runas_protocol::{Allow, Request, Response, read_frame, write_frame};
use ssm_runas_tests::harness::{
    PamServiceFile, PtySession, TempDir, TestUser, processes_of, suid_dir,
};
use ssm_runas_tests::login_files::LoginFiles;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const SESSION_ID: &str = "alice@example.com-0a1b2c3d4e5f6a7b8";
const OWNER: &str = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_Admin_0123456789abcdef/alice@example.com";

/// The directory holding this workspace's build outputs (`target/<profile>`).
fn artifact(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binary lives in target/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p pam-ssm-runas -p ssm-runas-login` first",
        path.display()
    );
    path
}

fn module() -> PathBuf {
    artifact("libpam_ssm_runas.so")
}

type Answer = dyn Fn(&Request) -> Option<Response> + Send + Sync;

/// A stand-in for ssm-runasd: answers each request with `answer` (`None`: never answers).
struct StubDaemon {
    _dir: TempDir,
    socket: PathBuf,
    seen: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
}

impl StubDaemon {
    fn start(answer: impl Fn(&Request) -> Option<Response> + Send + Sync + 'static) -> StubDaemon {
        let dir = TempDir::new("ssm-runas-stub").expect("temp dir");
        let socket = dir.path().join("ssm-runasd.sock");
        let listener = UnixListener::bind(&socket).expect("bind stub socket");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let answer: Arc<Answer> = Arc::new(answer);
        let (seen2, stop2) = (Arc::clone(&seen), Arc::clone(&stop));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(mut conn) = conn else { continue };
                let (seen, answer) = (Arc::clone(&seen2), Arc::clone(&answer));
                std::thread::spawn(move || {
                    let Ok(req) = read_frame::<_, Request>(&mut conn) else {
                        return;
                    };
                    seen.lock().unwrap().push(req.clone());
                    match answer(&req) {
                        Some(resp) => {
                            let _ = write_frame(&mut conn, &resp);
                        }
                        None => std::thread::sleep(Duration::from_secs(60)),
                    }
                });
            }
        });
        StubDaemon {
            _dir: dir,
            socket,
            seen,
            stop,
        }
    }

    fn seen(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for StubDaemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::os::unix::net::UnixStream::connect(&self.socket);
    }
}

fn allow(user: &str) -> Response {
    Response::Allow(Allow {
        user: user.into(),
        groups: vec![],
        session_id: SESSION_ID.into(),
        owner: OWNER.into(),
        rule: "rule 1 (test)".into(),
    })
}

/// A daemon that maps the session to `user` and acknowledges everything else.
fn allowing(user: &str) -> StubDaemon {
    let user = user.to_string();
    StubDaemon::start(move |req| match req {
        Request::Resolve => Some(allow(&user)),
        Request::Check { user: u } if *u == user => Some(allow(&user)),
        Request::Check { .. } => Some(Response::Deny {
            reason: "not this account".into(),
        }),
        _ => Some(Response::Ack),
    })
}

fn pamtester(service: &str, user: &str, ops: &[&str]) -> Output {
    let out = Command::new("pamtester")
        .arg("-v")
        .args([service, user])
        .args(ops)
        .output()
        .expect("run pamtester");
    eprintln!(
        "pamtester {service} {user:?} {ops:?}: {}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A unique service name other than `ssm-runas`.
fn other_service() -> String {
    format!("ssm-runas-other-{}", std::process::id())
}

/// Root-only (users, /etc/pam.d): these tests are `#[ignore = "needs root"]`; run as
/// root with `--include-ignored` (scripts/test.sh does).
fn require_root() {
    ssm_runas_tests::harness::require_root();
    assert!(
        Path::new("/usr/bin/pamtester").exists() || Path::new("/bin/pamtester").exists(),
        "pamtester is not installed"
    );
}

#[test]
#[ignore = "needs root"]
fn other_services_get_pam_ignore() {
    require_root();
    let so = module();
    let daemon = allowing("alice");
    let service = format!("{}-a", other_service());
    // If the module said SUCCESS, `sufficient` would end the stack successfully.
    let _f = PamServiceFile::install(
        &service,
        &format!(
            "auth sufficient {} socket={}\nauth required pam_deny.so\n",
            so.display(),
            daemon.socket.display()
        ),
    )
    .unwrap();
    let out = pamtester(&service, "", &["authenticate"]);
    assert!(
        !out.status.success(),
        "the module must not succeed for {service}"
    );
    drop(_f);

    // If the module said anything but SUCCESS or IGNORE, `required` would fail.
    let denying = StubDaemon::start(|_| {
        Some(Response::Deny {
            reason: "no".into(),
        })
    });
    let service = format!("{}-b", other_service());
    let _f = PamServiceFile::install(
        &service,
        &format!(
            "auth required {so} socket={s}\nauth required pam_permit.so\n\
             account required {so} socket={s}\naccount required pam_permit.so\n\
             session required {so} socket={s}\nsession required pam_permit.so\n",
            so = so.display(),
            s = denying.socket.display()
        ),
    )
    .unwrap();
    let out = pamtester(
        &service,
        "nobody",
        &["authenticate", "acct_mgmt", "open_session", "close_session"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(!text(&out).contains("ssm-runas:"), "{}", text(&out));
    // Neither daemon was even asked.
    assert!(daemon.seen().is_empty());
    assert!(denying.seen().is_empty());
}

/// The `ssm-runas` service with the module everywhere, and pam_echo showing PAM_USER.
fn ssm_runas_service(socket: &Path) -> PamServiceFile {
    let so = module();
    PamServiceFile::install(
        "ssm-runas",
        &format!(
            "auth required {so} socket={s}\n\
             auth optional pam_echo.so PAM_USER=%u\n\
             account required {so} socket={s}\n\
             session required {so} socket={s}\n",
            so = so.display(),
            s = socket.display()
        ),
    )
    .unwrap()
}

#[test]
#[ignore = "needs root"]
fn allowed_session_sets_pam_user_and_reports_the_session() {
    require_root();
    let daemon = allowing("alice");
    let _f = ssm_runas_service(&daemon.socket);
    let out = pamtester(
        "ssm-runas",
        "",
        &["authenticate", "acct_mgmt", "open_session", "close_session"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("PAM_USER=alice"), "{}", text(&out));
    assert_eq!(
        daemon.seen(),
        vec![
            Request::Resolve,
            Request::Check {
                user: "alice".into()
            },
            Request::SessionOpened {
                user: "alice".into()
            },
            Request::SessionClosed {
                user: "alice".into()
            },
        ]
    );
}

#[test]
#[ignore = "needs root"]
fn denied_session_fails_with_the_reason() {
    require_root();
    let daemon = StubDaemon::start(|_| {
        Some(Response::Deny {
            reason: "no rule maps permission set ReadOnly".into(),
        })
    });
    let _f = ssm_runas_service(&daemon.socket);
    let out = pamtester("ssm-runas", "", &["authenticate"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("ssm-runas: denied: no rule maps permission set ReadOnly"),
        "{}",
        text(&out)
    );
    // pam_echo (optional) still runs, and shows that PAM_USER stayed unset.
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.lines().any(|l| l == "PAM_USER="), "{stdout}");
}

#[test]
#[ignore = "needs root"]
fn daemon_down_fails_with_a_clear_message() {
    require_root();
    let dir = TempDir::new("ssm-runas-nodaemon").unwrap();
    let _f = ssm_runas_service(&dir.path().join("absent.sock"));
    let out = pamtester("ssm-runas", "", &["authenticate"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("ssm-runas: the ssm-runas daemon is not running"),
        "{}",
        text(&out)
    );
}

#[test]
#[ignore = "needs root"]
fn preset_user_other_than_the_mapped_one_fails() {
    require_root();
    let daemon = allowing("alice");
    let _f = ssm_runas_service(&daemon.socket);
    let out = pamtester("ssm-runas", "root", &["authenticate"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("ssm-runas: this session maps to alice, not root"),
        "{}",
        text(&out)
    );
    // The same user as the mapping is fine.
    let out = pamtester("ssm-runas", "alice", &["authenticate"]);
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
#[ignore = "needs root"]
fn account_step_refuses_another_user() {
    require_root();
    let daemon = allowing("alice");
    let _f = ssm_runas_service(&daemon.socket);
    let out = pamtester("ssm-runas", "bob", &["acct_mgmt"]);
    assert!(!out.status.success());
    assert!(
        text(&out).contains("ssm-runas: denied: not this account"),
        "{}",
        text(&out)
    );
}

// ---------------------------------------------------------------------------
// The setuid helper in a simulated SSM session.

/// The `ssm-runas` service as the helper tests use it: the module in every stack.
fn helper_service(socket: &Path) -> PamServiceFile {
    let so = module();
    PamServiceFile::install(
        "ssm-runas",
        &format!(
            "auth required {so} socket={s}\n\
             account required {so} socket={s}\n\
             session required {so} socket={s}\n",
            so = so.display(),
            s = socket.display()
        ),
    )
    .unwrap()
}

/// The helper installed as in production: root:<landing group>, mode 4750.
fn install_helper(landing: &TestUser) -> (TempDir, PathBuf) {
    let dir = suid_dir().unwrap();
    let helper = dir.path().join("ssm-runas-login");
    std::fs::copy(artifact("ssm-runas-login"), &helper).unwrap();
    std::os::unix::fs::chown(&helper, Some(0), Some(landing.gid)).unwrap();
    std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o4750)).unwrap();
    (dir, helper)
}

fn worker() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_fake-worker"))
}

/// Types `cmd` until its output (which must contain a computed `marker`) shows up:
/// keystrokes sent while the helper is still switching are flushed on purpose.
fn run_in_session(s: &mut PtySession, cmd: &str, marker: &str) -> String {
    for _ in 0..40 {
        s.send(&format!("{cmd}\n")).unwrap();
        if s.read_until(marker, Duration::from_millis(500)).is_ok() {
            return s.output();
        }
    }
    panic!("{marker:?} never appeared; output:\n{}", s.output());
}

#[test]
#[ignore = "needs root"]
fn helper_switches_the_session_into_the_mapped_account() {
    require_root();
    let landing = TestUser::create("land").unwrap();
    let mapped = TestUser::create("mapped").unwrap();
    let daemon = allowing(&mapped.name);
    let _f = helper_service(&daemon.socket);
    let (_dir, helper) = install_helper(&landing);
    // The helper records the login on the pty: removed again on drop.
    let _records = LoginFiles::new(&[(&mapped.name, mapped.uid)]);

    let mut s = PtySession::spawn(worker(), SESSION_ID, &landing.name, None, None).unwrap();
    // The profile line and a keystroke typed in the same burst: the keystroke must
    // not run in the mapped account's shell.
    s.send(&format!("exec {}\necho LEAK-$((40+2))\n", helper.display()))
        .unwrap();
    let out = run_in_session(
        &mut s,
        "echo \"U=$(id -un) R=$(id -ru) S=$SSM_SESSION_ID H=$HOME\"",
        &format!("U={} R={}", mapped.name, mapped.uid),
    );
    assert!(
        out.contains(&format!("S={SESSION_ID} H={}", mapped.home().display())),
        "{out}"
    );
    assert!(!out.contains("LEAK-42"), "typed-ahead input ran:\n{out}");
    eprintln!("session output:\n{out}");
    s.send("exit\n").unwrap();
    let status = s.wait_exit(Duration::from_secs(10)).unwrap();
    assert!(status.is_some(), "session did not end:\n{}", s.output());
    let seen = daemon.seen();
    assert_eq!(seen.first(), Some(&Request::Resolve), "{seen:?}");
    assert!(
        seen.contains(&Request::SessionClosed {
            user: mapped.name.clone()
        }),
        "{seen:?}"
    );
    assert!(
        processes_of(landing.uid).is_empty(),
        "landing processes left"
    );
}

#[test]
#[ignore = "needs root"]
fn helper_denied_ends_the_session_with_one_line() {
    require_root();
    let landing = TestUser::create("land").unwrap();
    let daemon = StubDaemon::start(|_| {
        Some(Response::Deny {
            reason: "no rule maps permission set ReadOnly".into(),
        })
    });
    let _f = helper_service(&daemon.socket);
    let (_dir, helper) = install_helper(&landing);

    let profile = format!("exec {}", helper.display());
    let mut s =
        PtySession::spawn(worker(), SESSION_ID, &landing.name, Some(&profile), None).unwrap();
    let status = s.wait_exit(Duration::from_secs(20)).unwrap();
    let out = s.output();
    assert!(status.is_some(), "session did not end:\n{out}");
    assert!(
        out.contains("ssm-runas: denied: no rule maps permission set ReadOnly"),
        "{out}"
    );
    assert_eq!(out.matches("ssm-runas:").count(), 1, "{out}");
    assert!(
        processes_of(landing.uid).is_empty(),
        "a landing shell is left"
    );
}

#[test]
#[ignore = "needs root"]
fn helper_refuses_to_run_unless_setuid() {
    require_root();
    // Run as root directly (not setuid, real uid 0): refused before PAM.
    let out = Command::new(artifact("ssm-runas-login")).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ssm-runas: this helper is for the landing user, not root\n"
    );
    let out = Command::new(artifact("ssm-runas-login"))
        .arg("root")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).starts_with("ssm-runas: \"root\" is not an option")
    );
}

#[test]
#[ignore = "needs root"]
fn silent_daemon_times_out_with_a_clear_message() {
    require_root();
    // The shortest timeout the module accepts: one second past the daemon's deadline.
    let daemon = StubDaemon::start(|_| None);
    let so = module();
    let _f = PamServiceFile::install(
        "ssm-runas",
        &format!(
            "auth required {} socket={} timeout=11\n",
            so.display(),
            daemon.socket.display()
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = pamtester("ssm-runas", "", &["authenticate"]);
    let took = started.elapsed();
    assert!(!out.status.success());
    assert!(
        text(&out).contains("ssm-runas: no answer from the ssm-runas daemon: timed out"),
        "{}",
        text(&out)
    );
    assert!(
        took >= Duration::from_secs(11) && took < Duration::from_secs(30),
        "{took:?}"
    );
}

#[test]
#[ignore = "needs root"]
fn helper_passes_on_the_exit_status_and_signal_of_the_command() {
    use std::os::unix::process::{CommandExt, ExitStatusExt};
    require_root();
    let landing = TestUser::create("land").unwrap();
    let mapped = TestUser::create("mapped").unwrap();
    let daemon = allowing(&mapped.name);
    let _f = helper_service(&daemon.socket);
    let (_dir, helper) = install_helper(&landing);
    let as_landing = |cmd: &str| {
        Command::new(&helper)
            .args(["-c", cmd])
            .uid(landing.uid)
            .gid(landing.gid)
            .env("LD_PRELOAD", "/nonexistent.so")
            .env("SSM_SESSION_ID", "forged")
            .env("LANG", "../../../tmp/evil")
            .output()
            .unwrap()
    };
    let out = as_landing(
        "echo \"$(id -un) $(id -u) $(id -ru) $PWD $SSM_SESSION_ID ${LD_PRELOAD-unset} ${LANG-unset} $(umask)\"; exit 7",
    );
    assert_eq!(out.status.code(), Some(7), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!(
            "{} {uid} {uid} {} {SESSION_ID} unset unset 0022\n",
            mapped.name,
            mapped.home().display(),
            uid = mapped.uid
        )
    );
    let out = as_landing("kill -TERM $$");
    assert_eq!(out.status.signal(), Some(15), "{}", text(&out));
}

#[test]
#[ignore = "needs root"]
fn terminating_the_session_leaves_no_process_behind() {
    require_root();
    let landing = TestUser::create("land").unwrap();
    let mapped = TestUser::create("mapped").unwrap();
    let daemon = allowing(&mapped.name);
    let _f = helper_service(&daemon.socket);
    let (_dir, helper) = install_helper(&landing);
    // The helper records the login on the pty: removed again on drop.
    let _records = LoginFiles::new(&[(&mapped.name, mapped.uid)]);
    let profile = format!("exec {}", helper.display());
    let mut s =
        PtySession::spawn(worker(), SESSION_ID, &landing.name, Some(&profile), None).unwrap();
    run_in_session(
        &mut s,
        "echo \"U=$(id -un)\"",
        &format!("U={}", mapped.name),
    );
    // What the agent does on TerminateSession: SIGKILL to its child, close the pty.
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(s.pid() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    assert!(s.wait_exit(Duration::from_secs(10)).unwrap().is_some());
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !(processes_of(mapped.uid).is_empty() && processes_of(landing.uid).is_empty()) {
        assert!(
            std::time::Instant::now() < deadline,
            "left behind: mapped {:?}, landing {:?}",
            processes_of(mapped.uid),
            processes_of(landing.uid)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
#[ignore = "needs root"]
fn helper_never_becomes_root_and_reports_a_missing_shell() {
    use std::os::unix::process::CommandExt;
    require_root();
    let landing = TestUser::create("land").unwrap();
    let (_dir, helper) = install_helper(&landing);
    let as_landing = || {
        Command::new(&helper)
            .args(["-c", "id -un"])
            .uid(landing.uid)
            .gid(landing.gid)
            .output()
            .unwrap()
    };

    let daemon = allowing("root");
    let f = helper_service(&daemon.socket);
    let out = as_landing();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ssm-runas: refusing to become root: it has uid 0\n"
    );
    drop(f);

    let broken = TestUser::create_with("badsh", "/nonexistent/shell", &[]).unwrap();
    let daemon = allowing(&broken.name);
    let _f = helper_service(&daemon.socket);
    let out = as_landing();
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "ssm-runas: cannot run the command's shell: No such file or directory (os error 2)\n"
    );
    // The PAM session opened for the account was closed again.
    assert!(
        daemon.seen().contains(&Request::SessionClosed {
            user: broken.name.clone()
        }),
        "{:?}",
        daemon.seen()
    );
}

/// The packaged Debian service file, pointed at the built module and the stub.
#[test]
#[ignore = "needs root"]
fn packaged_debian_service_file_switches() {
    use std::os::unix::process::CommandExt;
    require_root();
    if !Path::new("/etc/pam.d/common-account").exists() {
        eprintln!("skipped: not a Debian-style PAM configuration");
        return;
    }
    let landing = TestUser::create("land").unwrap();
    let mapped = TestUser::create("mapped").unwrap();
    let daemon = allowing(&mapped.name);
    let packaged =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/pam.d/ssm-runas.debian");
    let contents = std::fs::read_to_string(packaged).unwrap().replace(
        "pam_ssm_runas.so",
        &format!("{} socket={}", module().display(), daemon.socket.display()),
    );
    let _f = PamServiceFile::install("ssm-runas", &contents).unwrap();
    let (_dir, helper) = install_helper(&landing);
    let out = Command::new(&helper)
        .args(["-c", "echo \"U=$(id -un) S=$SSM_SESSION_ID\""])
        .uid(landing.uid)
        .gid(landing.gid)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("U={} S={SESSION_ID}\n", mapped.name)
    );
    assert_eq!(
        daemon.seen(),
        vec![
            Request::Resolve,
            Request::Check {
                user: mapped.name.clone()
            },
            Request::SessionOpened {
                user: mapped.name.clone()
            },
            Request::SessionClosed {
                user: mapped.name.clone()
            },
        ]
    );
}

#[test]
#[ignore = "needs root"]
fn ctrl_c_while_the_helper_waits_does_not_break_the_switch() {
    require_root();
    let landing = TestUser::create("land").unwrap();
    let mapped = TestUser::create("mapped").unwrap();
    let user = mapped.name.clone();
    // A slow first lookup, as when the daemon asks AWS.
    let daemon = StubDaemon::start(move |req| match req {
        Request::Resolve => {
            std::thread::sleep(Duration::from_millis(1500));
            Some(allow(&user))
        }
        Request::Check { .. } => Some(allow(&user)),
        _ => Some(Response::Ack),
    });
    let _f = helper_service(&daemon.socket);
    let (_dir, helper) = install_helper(&landing);
    // The helper records the login on the pty: removed again on drop.
    let _records = LoginFiles::new(&[(&mapped.name, mapped.uid)]);
    let profile = format!("exec {}", helper.display());
    let mut s =
        PtySession::spawn(worker(), SESSION_ID, &landing.name, Some(&profile), None).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while daemon.seen().is_empty() {
        assert!(std::time::Instant::now() < deadline, "{}", s.output());
        std::thread::sleep(Duration::from_millis(20));
    }
    // The helper is waiting for the daemon: Ctrl-C and a command typed meanwhile.
    s.send("\x03").unwrap();
    s.send("echo LEAK-$((40+2))\n").unwrap();
    let out = run_in_session(
        &mut s,
        "echo \"U=$(id -un)\"",
        &format!("U={}", mapped.name),
    );
    assert!(!out.contains("LEAK-42"), "{out}");
    assert!(!out.contains("ssm-runas:"), "{out}");
}
