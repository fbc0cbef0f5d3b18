//! The guard's decisions: what one landing-uid process is, and what is done about it.

use super::connector::Event;
use super::handle::{Inner, lock};
use super::*;

/// What one landing-uid process is.
#[derive(Debug)]
pub(super) enum Class {
    /// Nothing to do (gone, a zombie, or it changed while being read).
    Ignore,
    /// The switch helper.
    Helper,
    /// A direct child of a worker within its grace: re-check at `until` (ticks).
    Grace { until: u64 },
    /// Not allowed.
    Violation(Violation),
}

#[derive(Debug)]
pub(super) struct Violation {
    pub(super) pid: i32,
    pub(super) ruid: u32,
    pub(super) stat: Stat,
    /// The verified worker it runs under, if any.
    pub(super) worker: Option<Worker>,
    pub(super) reason: String,
    pub(super) command: String,
}

/// What one violation is recorded as, so it is recorded once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(super) enum Key {
    /// Everything under one SSM session worker.
    Session(i32, u64),
    /// A process group led by a landing-user process (outside any session).
    Group(i32, u64),
    /// A single process (outside any session).
    Process(i32, u64),
}

/// What the guard last read about a process.
///
/// Reading `/proc/<pid>/status` costs tens of microseconds per process; `stat(2)` of the
/// `/proc/<pid>` directory a few. The directory's inode changes when the pid is reused
/// and its owner is the process's effective uid (root while it is not dumpable), so a
/// scan without process events re-reads the uids only when either changed. A process
/// that makes itself non-dumpable keeps a root-owned directory and is found by the full
/// re-read every [`CACHE_REFRESH_SCAN`] (and by the session sweep of any violation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Known {
    pub(super) landing: bool,
    pub(super) dir: Option<(u64, u32)>,
}

pub(super) fn dir_identity(proc_root: &Path, pid: i32) -> Option<(u64, u32)> {
    let m = fs::symlink_metadata(proc_root.join(pid.to_string())).ok()?;
    Some((m.ino(), m.uid()))
}

/// State of the guard's thread.
pub(super) struct Engine {
    pub(super) s: GuardSettings,
    pub(super) inner: Arc<Inner>,
    pub(super) hz: u64,
    pub(super) me: i32,
    /// Whether process events keep `known` accurate between scans.
    pub(super) events: bool,
    /// pid → what was last read about it.
    pub(super) known: HashMap<i32, Known>,
    /// Landing shells in their grace: pid → (start time, end of grace), in ticks.
    pub(super) grace: HashMap<i32, (u64, u64)>,
    /// Verified workers by pid.
    pub(super) workers: HashMap<i32, Worker>,
    /// Violations recorded, with the scan generation that last saw them.
    pub(super) recorded: HashMap<Key, u64>,
    /// Processes sent SIGKILL (pid, start time): until they are gone, they may still be
    /// seen — reparented, so looking like a new violation — and must not be recorded again.
    pub(super) killed: HashSet<(i32, u64)>,
    pub(super) generation: u64,
    pub(super) last_refresh: Instant,
}

impl Engine {
    pub(super) fn new(s: GuardSettings, inner: Arc<Inner>, events: bool) -> Engine {
        Engine {
            s,
            inner,
            hz: clock_ticks_per_sec(),
            me: i32::try_from(std::process::id()).unwrap_or(0),
            events,
            known: HashMap::new(),
            grace: HashMap::new(),
            workers: HashMap::new(),
            recorded: HashMap::new(),
            killed: HashSet::new(),
            generation: 0,
            last_refresh: Instant::now(),
        }
    }

    pub(super) fn now(&self) -> u64 {
        boottime_ticks(self.hz)
    }

    pub(super) fn apply(&mut self, s: GuardSettings) {
        if s.landing_uid != self.s.landing_uid
            || s.worker_policy != self.s.worker_policy
            || s.proc_root != self.s.proc_root
        {
            self.known.clear();
            self.workers.clear();
            self.grace.clear();
        }
        if s.mode != self.s.mode {
            // What audit mode recorded, enforce mode acts on and records again.
            self.recorded.clear();
        }
        self.s = s;
    }

    pub(super) fn real_proc(&self) -> bool {
        self.s.proc_root == Path::new("/proc")
    }

    /// A worker is verified once per (pid, start time); the first time, `on_worker` runs.
    pub(super) fn note_worker(&mut self, w: Worker) -> Worker {
        if let Some(old) = self.workers.get(&w.pid)
            && old.starttime == w.starttime
        {
            return old.clone();
        }
        let cb = self.inner.on_worker.clone();
        let arg = w.clone();
        // The callback belongs to the daemon; a panic in it must not end the guard.
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| cb(&arg)));
        self.workers.insert(w.pid, w.clone());
        w
    }

    /// The verified worker at `pid`, if it is one.
    pub(super) fn worker_at(&mut self, pid: i32) -> Option<Worker> {
        self.worker_at_depth(pid, 0)
    }

    pub(super) fn worker_at_depth(&mut self, pid: i32, depth: u8) -> Option<Worker> {
        if pid <= 1 {
            return None;
        }
        let proc_root = self.s.proc_root.clone();
        let st = read_stat(&proc_root, pid)?;
        // What makes a worker (root, an allowed executable) is read afresh every time: an
        // exec keeps the pid and the start time, not the identity.
        if st.exited() || peer::uids(&proc_root, pid).ok()? != (0, 0) {
            return None;
        }
        let exe = read_exe(&proc_root, pid)?;
        let exe = PathBuf::from(self.s.worker_policy.allowed_exe(&exe)?);
        if let Some(w) = self.workers.get(&pid)
            && w.starttime == st.starttime
            && w.exe == exe
        {
            return Some(w.clone());
        }
        let w = verify_worker(&proc_root, pid, &self.s.worker_policy)?;
        // A worker's fork child, before it execs the shell, is a copy of the worker with
        // the worker as its parent: not a new worker.
        if depth == 0
            && self
                .worker_at_depth(st.ppid, 1)
                .is_some_and(|p| p.session_id == w.session_id)
        {
            return None;
        }
        Some(self.note_worker(w))
    }

    /// A root process that just exec'd (or that a scan finds) may be a new worker.
    pub(super) fn maybe_worker(&mut self, pid: i32) {
        let Some(exe) = read_exe(&self.s.proc_root, pid) else {
            return;
        };
        if self.s.worker_policy.allowed_exe(&exe).is_some() {
            let _ = self.worker_at(pid);
        }
    }

    /// Whether `pid` runs the installed switch helper.
    pub(super) fn is_helper(&self, pid: i32) -> bool {
        let exe_link = self.s.proc_root.join(pid.to_string()).join("exe");
        let Some(text) = read_exe(&self.s.proc_root, pid) else {
            return false;
        };
        // `metadata` follows the magic link to the file the process really runs.
        let Ok(exe) = fs::metadata(&exe_link) else {
            return false;
        };
        let helper = self.s.helper_path.as_os_str().as_bytes();
        if text.as_bytes() == helper {
            return fs::metadata(&self.s.helper_path)
                .is_ok_and(|h| h.dev() == exe.dev() && h.ino() == exe.ino());
        }
        // After a package upgrade a running helper's file is deleted; only root can delete
        // it. dpkg first strips the setuid bit of a file it replaces (so no hard link
        // keeps a setuid copy), so the file's mode no longer tells: the process does. A
        // landing-user process runs with effective uid 0 only by exec'ing a setuid-root
        // file, and the only such file that was ever at the helper's path is the helper.
        text.as_bytes().strip_suffix(DELETED_SUFFIX.as_bytes()) == Some(helper)
            && exe.uid() == 0
            && exe.nlink() == 0
            && (exe.mode() & 0o4000 != 0
                || peer::uids(&self.s.proc_root, pid).is_ok_and(|(_, euid)| euid == 0))
    }

    /// Whether `pid` (started at `start`, child of `ppid`) descends from a running switch
    /// helper **through a child the helper started after the daemon allowed it** (see
    /// [`GuardHandle::admit_helper`]). The helper is setuid root, so the landing user can
    /// neither trace it nor become its child: what it starts once allowed is its own doing
    /// (PAM modules' helper programs, such as `mkhomedir_helper`, inherit its real uid, the
    /// landing user's). What the landing shell forked before it exec'd the helper is the
    /// helper's child too, but older than the allow: not the helper's doing. A helper the
    /// daemon has not allowed (yet) vouches for nothing.
    pub(super) fn under_helper(&self, pid: i32, start: u64, mut ppid: i32) -> bool {
        // The branch below the helper starts with its direct child.
        let (mut child, mut child_start) = (pid, start);
        for _ in 0..ancestry::MAX_DEPTH {
            if ppid <= 1 {
                return false;
            }
            let Some(parent) = read_stat(&self.s.proc_root, ppid) else {
                return false;
            };
            let admitted = lock(&self.inner.admitted)
                .get(&ppid)
                .copied()
                .filter(|(helper_start, _)| *helper_start == parent.starttime);
            // The nearest helper the daemon allowed decides; a helper-program copy of
            // it in between (its fork child before exec) is just part of the branch.
            if let Some((_, at)) = admitted
                && self.is_helper(ppid)
            {
                return child != ppid && child_start >= at;
            }
            (child, child_start) = (ppid, parent.starttime);
            ppid = parent.ppid;
        }
        false
    }

    pub(super) fn classify(&mut self, pid: i32, ruid: u32, now: u64) -> Class {
        if self.is_helper(pid) {
            return Class::Helper;
        }
        let proc_root = self.s.proc_root.clone();
        let Some(st) = read_stat(&proc_root, pid) else {
            return Class::Ignore;
        };
        if st.exited() {
            return Class::Ignore;
        }
        if self.under_helper(pid, st.starttime, st.ppid) {
            return Class::Helper;
        }
        let violation = |worker: Option<Worker>, reason: String| {
            Class::Violation(Violation {
                pid,
                ruid,
                stat: st,
                worker,
                reason,
                command: command_of(&proc_root, pid),
            })
        };
        if let Some(w) = self.worker_at(st.ppid) {
            // The parent link read before checking the worker must still hold.
            if read_stat(&proc_root, pid).is_none_or(|s| s != st) {
                return Class::Ignore;
            }
            let until = st
                .starttime
                .saturating_add(duration_to_ticks(self.s.grace, self.hz));
            if now < until {
                return Class::Grace { until };
            }
            let reason = format!(
                "landing shell did not exec the switch helper within {}",
                human(self.s.grace)
            );
            return violation(Some(w), reason);
        }
        match ancestry::find_worker(&proc_root, pid, &self.s.worker_policy) {
            Ok(w) => {
                let w = self.note_worker(w);
                violation(
                    Some(w),
                    "landing-user command started in a session that did not switch accounts"
                        .to_owned(),
                )
            }
            Err(AncestryError::Gone) => Class::Ignore,
            Err(AncestryError::NotInSession) => violation(
                None,
                "landing-user process outside any SSM session".to_owned(),
            ),
            Err(AncestryError::NotAWorker { pid: fake, why }) => violation(
                None,
                format!(
                    "landing-user process under process {fake}, which claims to be a session worker but is not one: {why}"
                ),
            ),
            Err(e) => violation(
                None,
                format!("landing-user process that cannot be tied to an SSM session: {e}"),
            ),
        }
    }

    /// Looks at one process: remembers whether it is a landing process, and acts.
    /// `may_be_worker`: it just exec'd, or a scan found it (not a fork: a worker's fork
    /// child is a copy of the worker).
    pub(super) fn check_pid(&mut self, pid: i32, may_be_worker: bool) {
        if pid <= 1 || pid == self.me {
            return;
        }
        // The directory first: if the uids change after it, so does its owner.
        let dir = if self.events {
            None
        } else {
            dir_identity(&self.s.proc_root, pid)
        };
        let Ok((ruid, euid)) = peer::uids(&self.s.proc_root, pid) else {
            self.forget(pid);
            return;
        };
        let l = self.s.landing_uid;
        let landing = ruid == l || euid == l;
        self.known.insert(pid, Known { landing, dir });
        if !landing {
            self.grace.remove(&pid);
            if ruid == 0 && euid == 0 && may_be_worker {
                self.maybe_worker(pid);
            }
            return;
        }
        let now = self.now();
        match self.classify(pid, ruid, now) {
            Class::Ignore | Class::Helper => {
                self.grace.remove(&pid);
            }
            Class::Grace { until } => {
                let start = read_stat(&self.s.proc_root, pid).map_or(0, |s| s.starttime);
                self.grace.insert(pid, (start, until));
            }
            Class::Violation(v) => {
                self.grace.remove(&pid);
                self.act(v);
            }
        }
    }

    pub(super) fn forget(&mut self, pid: i32) {
        self.known.remove(&pid);
        self.grace.remove(&pid);
        self.workers.remove(&pid);
    }

    pub(super) fn key_of(&self, v: &Violation) -> Key {
        if let Some(w) = &v.worker {
            return Key::Session(w.pid, w.starttime);
        }
        match self.landing_group_leader(v) {
            Some(start) => Key::Group(v.stat.pgrp, start),
            None => Key::Process(v.pid, v.stat.starttime),
        }
    }

    /// The start time of the violator's process-group leader when that leader is a
    /// landing-user process.
    pub(super) fn landing_group_leader(&self, v: &Violation) -> Option<u64> {
        let pg = v.stat.pgrp;
        if pg <= 1 {
            return None;
        }
        let (r, e) = peer::uids(&self.s.proc_root, pg).ok()?;
        if r != self.s.landing_uid && e != self.s.landing_uid {
            return None;
        }
        Some(read_stat(&self.s.proc_root, pg)?.starttime)
    }

    pub(super) fn act(&mut self, v: Violation) {
        let key = self.key_of(&v);
        let first = self.recorded.insert(key, self.generation).is_none()
            && !self.killed.contains(&(v.pid, v.stat.starttime));
        let decision = match self.s.mode {
            GuardMode::Off => return,
            GuardMode::Audit => Decision::GuardAudit,
            GuardMode::Enforce => {
                self.enforce(&v, first);
                Decision::GuardKill
            }
        };
        if !first {
            return;
        }
        let mut r = AuditRecord::new(decision);
        r.session_id = v.worker.as_ref().map(|w| w.session_id.clone());
        r.peer_pid = Some(v.pid);
        r.peer_uid = Some(v.ruid);
        r.reason = format!("{}: {}", v.reason, v.command);
        self.inner.auditor().record(&r);
        // Counted once recorded, so a count always has its record.
        if decision == Decision::GuardKill {
            self.inner.kills.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Writes the terminal line (first time only) and SIGKILLs the violator and, under a
    /// session worker, every non-root process of its session, its process group and the
    /// worker's subtree; outside any session, its process group when a landing-user process
    /// leads it. Never a process whose real uid is 0.
    pub(super) fn enforce(&mut self, v: &Violation, first: bool) {
        let proc_root = &self.s.proc_root;
        let mut targets: Vec<(i32, u64, Stat)> = vec![(v.pid, v.stat.starttime, v.stat)];
        let sweep_sid = v.worker.is_some() && v.stat.sid > 1;
        let sweep_pgrp =
            v.stat.pgrp > 1 && (v.worker.is_some() || self.landing_group_leader(v).is_some());
        if sweep_sid || sweep_pgrp || v.worker.is_some() {
            let all: Vec<(i32, Stat)> = list_pids(proc_root)
                .into_iter()
                .filter_map(|p| Some((p, read_stat(proc_root, p)?)))
                .collect();
            let parent: HashMap<i32, i32> = all.iter().map(|(p, s)| (*p, s.ppid)).collect();
            let under_worker = |mut p: i32| {
                let Some(w) = &v.worker else { return false };
                for _ in 0..ancestry::MAX_DEPTH {
                    match parent.get(&p) {
                        Some(&pp) if pp == w.pid => return true,
                        Some(&pp) if pp > 1 => p = pp,
                        _ => return false,
                    }
                }
                false
            };
            for (p, s) in &all {
                if *p == v.pid || *p <= 1 || *p == self.me || s.exited() {
                    continue;
                }
                let hit = (sweep_sid && s.sid == v.stat.sid)
                    || (sweep_pgrp && s.pgrp == v.stat.pgrp)
                    || under_worker(*p);
                if hit {
                    targets.push((*p, s.starttime, *s));
                }
            }
        }
        // Never a root process (the worker, the agent, anything of root's).
        targets.retain(|(p, _, _)| peer::uids(proc_root, *p).is_ok_and(|(r, _)| r != 0));
        if !self.real_proc() {
            return;
        }
        if first {
            // Inside a session, freeze it first, so nothing it runs gets ahead of the
            // kill; then the line, and a moment for the agent to read it: a session
            // whose processes die hangs up its terminal, and what the agent has not
            // read by then is lost. Not outside a session: the parent may be root's
            // and react to a stopped child (`su` stops itself, then never reaps the
            // killed child).
            let in_session = v.worker.is_some();
            if in_session {
                for (p, start, _) in &targets {
                    signal_exact(proc_root, *p, *start, libc::SIGSTOP);
                }
            }
            let told = targets
                .iter()
                .any(|(p, _, s)| write_terminal(proc_root, *p, s));
            if told && in_session {
                std::thread::sleep(TERMINAL_LINE_GRACE);
            }
        }
        for (p, start, _) in &targets {
            if kill_exact(proc_root, *p, *start) {
                self.killed.insert((*p, *start));
            }
        }
    }

    /// Looks at every process. With events, processes known not to be landing-user
    /// processes are not re-read.
    pub(super) fn full_scan(&mut self) {
        self.generation += 1;
        let refresh = if self.events {
            CACHE_REFRESH_EVENTS
        } else {
            CACHE_REFRESH_SCAN
        };
        if self.last_refresh.elapsed() >= refresh {
            self.known.clear();
            self.last_refresh = Instant::now();
        }
        let pids = list_pids(&self.s.proc_root);
        let present: HashSet<i32> = pids.iter().copied().collect();
        self.known.retain(|p, _| present.contains(p));
        self.grace.retain(|p, _| present.contains(p));
        self.workers.retain(|p, _| present.contains(p));
        lock(&self.inner.admitted).retain(|p, _| present.contains(p));
        for pid in pids {
            match self.known.get(&pid) {
                Some(k) if k.landing => {}
                // Process events report every change of a known process.
                Some(_) if self.events => continue,
                Some(k) if k.dir.is_some() && k.dir == dir_identity(&self.s.proc_root, pid) => {
                    continue;
                }
                _ => {}
            }
            self.check_pid(pid, true);
        }
        // A violation no scan sees any more has ended; forget it.
        let g = self.generation;
        self.recorded.retain(|_, seen| *seen == g);
        self.killed.retain(|(p, _)| present.contains(p));
    }

    /// The next grace period to end, as a wall-clock instant.
    pub(super) fn next_grace_end(&self) -> Option<Instant> {
        let until = self.grace.values().map(|(_, u)| *u).min()?;
        let now = self.now();
        let ticks = until.saturating_sub(now) + 1;
        let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(self.hz.max(1));
        Some(Instant::now() + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)))
    }

    pub(super) fn expire_graces(&mut self) {
        let now = self.now();
        let due: Vec<i32> = self
            .grace
            .iter()
            .filter(|(_, (_, until))| *until <= now)
            .map(|(p, _)| *p)
            .collect();
        for pid in due {
            self.check_pid(pid, false);
        }
    }

    pub(super) fn on_event(&mut self, e: Event) {
        match e {
            Event::Ack { .. } => {}
            Event::Exit(pid) => self.forget(pid),
            Event::Fork(pid) => {
                self.known.remove(&pid);
                self.check_pid(pid, false);
            }
            Event::Exec(pid) | Event::Uid(pid) => {
                self.known.remove(&pid);
                self.workers.remove(&pid);
                self.check_pid(pid, matches!(e, Event::Exec(_)));
            }
        }
    }
}
