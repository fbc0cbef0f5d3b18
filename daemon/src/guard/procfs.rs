//! The `/proc` readers the guard uses.

use super::*;

/// The fields of `/proc/<pid>/stat` the guard uses (shared with the peer checks).
pub(super) type Stat = crate::peer::ProcStat;

/// Reads `/proc/<pid>/stat` through [`crate::peer::stat`], which never fails on the
/// bytes a process may put in its own name, so no process can hide from the guard.
pub(super) fn read_stat(proc_root: &Path, pid: i32) -> Option<Stat> {
    crate::peer::stat(proc_root, pid).ok()
}

pub(super) fn read_exe(proc_root: &Path, pid: i32) -> Option<String> {
    fs::read_link(proc_root.join(pid.to_string()).join("exe"))
        .ok()
        .map(|p| String::from_utf8_lossy(p.as_os_str().as_bytes()).into_owned())
}

pub(super) fn read_argv(proc_root: &Path, pid: i32) -> Vec<Vec<u8>> {
    let Ok(c) = fs::read(proc_root.join(pid.to_string()).join("cmdline")) else {
        return Vec::new();
    };
    let body = c.strip_suffix(b"\0").unwrap_or(&c);
    if body.is_empty() {
        return Vec::new();
    }
    body.split(|&b| b == 0).map(<[u8]>::to_vec).collect()
}

/// The command line as one printable, bounded line (for audit reasons). Set by the
/// process itself: informative only.
pub(super) fn command_of(proc_root: &Path, pid: i32) -> String {
    let mut argv = read_argv(proc_root, pid);
    // In the middle of an exec the new command line is briefly empty.
    for _ in 0..5 {
        if !argv.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
        argv = read_argv(proc_root, pid);
    }
    let text = if argv.is_empty() {
        let comm = fs::read(proc_root.join(pid.to_string()).join("comm")).unwrap_or_default();
        format!("[{}]", String::from_utf8_lossy(comm.trim_ascii_end()))
    } else {
        argv.iter()
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    };
    // A process names itself: escaped like every other quoted input (no fake lines,
    // no bidi reordering), and bounded.
    ssm_runas_protocol::text::escape_max(&text, MAX_COMMAND_CHARS)
}

/// Lists the numeric entries of the proc root.
pub(super) fn list_pids(proc_root: &Path) -> Vec<i32> {
    let Ok(rd) = fs::read_dir(proc_root) else {
        return Vec::new();
    };
    rd.filter_map(|e| {
        let e = e.ok()?;
        let name = e.file_name();
        let s = name.to_str()?;
        if !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse::<i32>().ok().filter(|p| *p > 0)
    })
    .collect()
}

/// Checks that `pid` is a session worker: root, an allowed executable, a well-formed
/// SessionId as `argv[1]` (and at most an instance id after it). Same rules as
/// [`ancestry::find_worker`] applies to the worker it finds.
pub(super) fn verify_worker(proc_root: &Path, pid: i32, policy: &WorkerPolicy) -> Option<Worker> {
    let before = read_stat(proc_root, pid)?;
    if before.exited() || peer::uids(proc_root, pid).ok()? != (0, 0) {
        return None;
    }
    let exe = read_exe(proc_root, pid)?;
    let exe = policy.allowed_exe(&exe)?.to_owned();
    let argv = read_argv(proc_root, pid);
    if argv.len() < 2 || argv.len() > 3 {
        return None;
    }
    let session_id = std::str::from_utf8(&argv[1])
        .ok()
        .filter(|s| is_session_id(s))?;
    let instance_id = match argv.get(2) {
        None => None,
        Some(a) => Some(std::str::from_utf8(a).ok().filter(|s| is_instance_id(s))?),
    };
    // Everything read belongs to the same process only if it is still there.
    let after = read_stat(proc_root, pid)?;
    if after.starttime != before.starttime || after.exited() {
        return None;
    }
    Some(Worker {
        pid,
        starttime: before.starttime,
        session_id: session_id.to_owned(),
        instance_id: instance_id.map(str::to_owned),
        exe: PathBuf::from(exe),
    })
}
