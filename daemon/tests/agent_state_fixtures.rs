//! Table tests of the agent state reader over every fixture in `tests/fixtures/agent-state/`.
//!
//! Each top-level fixture is copied to `<tmp>/<instance>/document/state/current/<SessionId>`
//! (mode 0600, like the agent writes it); the `tree/` fixture is read where it is.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ssm_runas::agent_state::{AgentSession, AgentStateError, read, read_with};

const IID: &str = "i-0123456789abcdef0";
const DEVOPS_ALICE: &str = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_DevOps_0123456789abcdef/alice@example.com";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/agent-state")
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// A temporary state root, removed on drop.
struct StateRoot(PathBuf);

impl StateRoot {
    fn new(name: &str) -> Self {
        let p = std::env::temp_dir().join(format!(
            "ssm-runas-agent-state-{}-{name}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(p.join(IID).join("document/state/current")).unwrap();
        StateRoot(p)
    }

    fn file(&self, sid: &str) -> PathBuf {
        self.0.join(IID).join("document/state/current").join(sid)
    }

    fn put(&self, sid: &str, content: &[u8]) -> PathBuf {
        let path = self.file(sid);
        std::fs::write(&path, content).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        path
    }

    fn put_fixture(&self, sid: &str, fixture: &str) -> PathBuf {
        self.put(sid, &std::fs::read(fixtures().join(fixture)).unwrap())
    }

    /// Reads with the owner check on when we are root (the copies are then root-owned).
    fn read(&self, sid: &str) -> Result<AgentSession, AgentStateError> {
        read_with(&self.0, IID, sid, is_root())
    }
}

impl Drop for StateRoot {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn ok(
    owner: &str,
    doc: &str,
    run_as: &str,
) -> Result<(String, Option<String>, Option<String>), AgentStateError> {
    Ok((
        owner.to_owned(),
        Some(doc.to_owned()),
        Some(run_as.to_owned()),
    ))
}

#[test]
fn every_top_level_fixture() {
    let cases: [(&str, &str, Result<_, AgentStateError>); 8] = [
        (
            "agent-state-standard-stream.json",
            "alice@example.com-0a1b2c3d4e5f6a7b8",
            ok(DEVOPS_ALICE, "SSM-SessionManagerRunShell", "ssm-landing"),
        ),
        (
            // Raw RunAsUser "" and effective "ssm-landing": the effective one is reported.
            "agent-state-standard-stream-default-runas.json",
            "bob.jones-0e6d5c4b3a2918f7e",
            ok(
                "arn:aws:sts::111122223333:assumed-role/BreakGlassAdmin/bob.jones",
                "SSM-SessionManagerRunShell",
                "ssm-landing",
            ),
        ),
        (
            "agent-state-standard-stream-pending.json",
            "alice@example.com-0a1b2c3d4e5f6a7b8",
            ok(DEVOPS_ALICE, "SSM-SessionManagerRunShell", "ssm-landing"),
        ),
        (
            "agent-state-interactive-commands.json",
            "alice@example.com-0f1e2d3c4b5a69788",
            ok(DEVOPS_ALICE, "AWS-StartInteractiveCommand", "ssm-landing"),
        ),
        (
            "agent-state-port.json",
            "alice@example.com-05a4b3c2d1e0f9a8b",
            ok(
                DEVOPS_ALICE,
                "AWS-StartPortForwardingSession",
                "ssm-landing",
            ),
        ),
        (
            "agent-state-terminate-session.json",
            "alice@example.com-0a1b2c3d4e5f6a7b8",
            Err(AgentStateError::NotASession),
        ),
        (
            "agent-state-torn-write-empty.json",
            "alice@example.com-0a1b2c3d4e5f6a7b8",
            Err(AgentStateError::Torn),
        ),
        (
            "agent-state-torn-write-truncated.json",
            "alice@example.com-0a1b2c3d4e5f6a7b8",
            Err(AgentStateError::Torn),
        ),
    ];
    // Every fixture file is in the table.
    let mut on_disk: Vec<String> = std::fs::read_dir(fixtures())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    on_disk.sort();
    let mut listed: Vec<String> = cases.iter().map(|c| c.0.to_owned()).collect();
    listed.sort();
    assert_eq!(on_disk, listed);

    for (i, (fixture, sid, want)) in cases.into_iter().enumerate() {
        let root = StateRoot::new(&format!("table{i}"));
        root.put_fixture(sid, fixture);
        let got = root.read(sid).map(|s| {
            assert_eq!(s.session_id, sid);
            (s.owner, s.document_name, s.run_as)
        });
        assert_eq!(got, want, "{fixture}");
    }
}

#[test]
fn the_tree_fixture() {
    let state = fixtures().join("tree/var/lib/amazon/ssm");
    // One per current/ file; they match describe-sessions-target-mixed-owners.json.
    let current = [
        (
            "alice@example.com-0a1b2c3d4e5f6a7b8",
            DEVOPS_ALICE,
            "SSM-SessionManagerRunShell",
            "ssm-landing",
        ),
        (
            "alice@example.com-0f1e2d3c4b5a69788",
            DEVOPS_ALICE,
            "AWS-StartInteractiveCommand",
            "ssm-landing",
        ),
        (
            "alice@example.com-05a4b3c2d1e0f9a8b",
            DEVOPS_ALICE,
            "AWS-StartPortForwardingSession",
            "ssm-landing",
        ),
        (
            "bob.jones-0e6d5c4b3a2918f7e",
            "arn:aws:sts::111122223333:assumed-role/BreakGlassAdmin/bob.jones",
            "SSM-SessionManagerRunShell",
            "ssm-landing",
        ),
        (
            "botocore-session-1729069811-0b1c2d3e4f5a6b7c8",
            "arn:aws:sts::111122223333:assumed-role/ci-deployer/botocore-session-1729069811",
            "AWS-StartInteractiveCommand",
            "ssm-landing",
        ),
        (
            "carol-07e4c1a9b2d3f5e60",
            "arn:aws:iam::111122223333:user/ops/carol",
            "SSM-SessionManagerRunShell",
            "carol",
        ),
        (
            "dave@example.com-0123456789abcdef0",
            "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_ReadOnly_fedcba9876543210/dave@example.com",
            "SSM-SessionManagerRunShell",
            "ssm-landing",
        ),
        (
            "erin-0aa1bb2cc3dd4ee5f",
            "arn:aws:sts::111122223333:federated-user/erin",
            "SSM-SessionManagerRunShell",
            "ssm-landing",
        ),
    ];
    let dir = state.join(IID).join("document/state/current");
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut listed: Vec<String> = current.iter().map(|c| c.0.to_owned()).collect();
    listed.sort();
    assert_eq!(names, listed);
    // The checkout may belong to a non-root user on CI: the owner check is covered elsewhere.
    for (sid, owner, doc, run_as) in current {
        let s = read_with(&state, IID, sid, false).unwrap();
        assert_eq!(
            (
                s.session_id.as_str(),
                s.owner.as_str(),
                s.document_name.as_deref(),
                s.run_as.as_deref()
            ),
            (sid, owner, Some(doc), Some(run_as))
        );
    }
    // Sessions that are only pending, or whose file the agent moved to corrupt/, are not
    // running sessions.
    for sid in [
        "alice@example.com-0b0b0b0b0b0b0b0b0",
        "alice@example.com-0e0e0e0e0e0e0e0e0",
    ] {
        assert_eq!(
            read_with(&state, IID, sid, false).unwrap_err(),
            AgentStateError::Missing
        );
    }
    // Another instance's directory.
    assert_eq!(
        read_with(
            &state,
            "i-0fedcba9876543210",
            "erin-0aa1bb2cc3dd4ee5f",
            false
        )
        .unwrap_err(),
        AgentStateError::Missing
    );
}

#[test]
fn a_file_for_another_session_is_a_mismatch() {
    let root = StateRoot::new("mismatch");
    root.put_fixture(
        "alice@example.com-0ffffffffffffffff",
        "agent-state-standard-stream.json",
    );
    assert_eq!(
        root.read("alice@example.com-0ffffffffffffffff")
            .unwrap_err(),
        AgentStateError::Mismatch
    );
}

#[test]
fn an_old_agent_without_session_owner() {
    let sid = "alice@example.com-0a1b2c3d4e5f6a7b8";
    let mut doc: serde_json::Value = serde_json::from_slice(
        &std::fs::read(fixtures().join("agent-state-standard-stream.json")).unwrap(),
    )
    .unwrap();
    doc["DocumentInformation"]
        .as_object_mut()
        .unwrap()
        .remove("SessionOwner");
    doc["InstancePluginsInformation"][0]["Configuration"]
        .as_object_mut()
        .unwrap()
        .remove("SessionOwner");
    let root = StateRoot::new("no-owner");
    root.put(sid, serde_json::to_string_pretty(&doc).unwrap().as_bytes());
    assert_eq!(root.read(sid).unwrap_err(), AgentStateError::NoOwner);
    assert_eq!(
        AgentStateError::NoOwner.to_string(),
        "the agent's state file names no session owner (agent older than 3.0.356.0?)"
    );
}

#[test]
fn a_torn_file_that_the_agent_finishes_is_read() {
    let sid = "alice@example.com-0a1b2c3d4e5f6a7b8";
    let root = StateRoot::new("torn-then-whole");
    let path = root.put_fixture(sid, "agent-state-torn-write-truncated.json");
    let whole = std::fs::read(fixtures().join("agent-state-standard-stream.json")).unwrap();
    let writer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(60));
        // Like the agent: rewrite in place.
        std::fs::write(&path, whole).unwrap();
    });
    let got = root.read(sid);
    writer.join().unwrap();
    assert_eq!(got.unwrap().owner, DEVOPS_ALICE);
}

#[test]
fn missing_and_malformed_ids() {
    let root = StateRoot::new("missing");
    assert_eq!(
        root.read("alice@example.com-0a1b2c3d4e5f6a7b8")
            .unwrap_err(),
        AgentStateError::Missing
    );
    // A directory where the file should be is not a state file.
    std::fs::create_dir(root.file("dir-0a1b")).unwrap();
    assert!(matches!(
        root.read("dir-0a1b"),
        Err(AgentStateError::Untrusted(_))
    ));
    for (iid, sid) in [(IID, ".."), (IID, "a b"), ("i-XYZ", "alice-0a1b")] {
        assert!(
            matches!(
                read_with(&root.0, iid, sid, false),
                Err(AgentStateError::Unreadable(_))
            ),
            "{iid} {sid}"
        );
    }
}

#[test]
fn untrusted_files() {
    let sid = "alice@example.com-0a1b2c3d4e5f6a7b8";
    let root = StateRoot::new("untrusted");
    // A symbolic link, even to a good file.
    let good = root.0.join("good");
    std::fs::copy(fixtures().join("agent-state-standard-stream.json"), &good).unwrap();
    std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::symlink(&good, root.file(sid)).unwrap();
    assert_eq!(
        root.read(sid).unwrap_err(),
        AgentStateError::Untrusted("it is a symbolic link".to_owned())
    );
    std::fs::remove_file(root.file(sid)).unwrap();
    // Group or world writable.
    for mode in [0o620, 0o602, 0o666] {
        let path = root.put_fixture(sid, "agent-state-standard-stream.json");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        match root.read(sid) {
            Err(AgentStateError::Untrusted(why)) => assert!(why.contains("writable"), "{why}"),
            other => panic!("mode {mode:o}: {other:?}"),
        }
    }
    // Owned by someone other than root: only testable as root.
    if is_root() {
        let path = root.put_fixture(sid, "agent-state-standard-stream.json");
        nix::unistd::chown(&path, Some(nix::unistd::Uid::from_raw(65534)), None).unwrap();
        assert_eq!(
            read(&root.0, IID, sid).unwrap_err(),
            AgentStateError::Untrusted("it is owned by uid 65534, not root".to_owned())
        );
        // The test-only variant skips that one check.
        assert_eq!(
            read_with(&root.0, IID, sid, false).unwrap().owner,
            DEVOPS_ALICE
        );
        // Root-owned: the production reader accepts it.
        nix::unistd::chown(&path, Some(nix::unistd::Uid::from_raw(0)), None).unwrap();
        assert_eq!(read(&root.0, IID, sid).unwrap().owner, DEVOPS_ALICE);
    } else {
        eprintln!("note: ownership checks skipped: they need root");
    }
}
