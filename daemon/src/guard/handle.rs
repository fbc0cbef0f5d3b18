//! The running guard: its thread, its handle, and what the daemon tells it.

use super::connector::Connector;
use super::engine::Engine;
use super::*;

pub(super) struct Inner {
    pub(super) settings: Mutex<(u64, GuardSettings)>,
    pub(super) auditor: Mutex<Arc<Auditor>>,
    pub(super) on_worker: OnWorker,
    pub(super) kills: AtomicU64,
    pub(super) want: Method,
    pub(super) method: Mutex<Method>,
    /// Helpers the daemon allowed to switch: pid → (start time, tick of the allow).
    pub(super) admitted: Mutex<HashMap<i32, (u64, u64)>>,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Inner {
    pub(super) fn auditor(&self) -> Arc<Auditor> {
        Arc::clone(&lock(&self.auditor))
    }
    pub(super) fn settings(&self) -> (u64, GuardSettings) {
        lock(&self.settings).clone()
    }
}

pub(super) struct Running {
    pub(super) stop: io::PipeWriter,
    pub(super) thread: JoinHandle<()>,
}

/// The running guard. Dropping it (or [`GuardHandle::stop`]) ends its thread.
pub struct GuardHandle {
    pub(super) inner: Arc<Inner>,
    pub(super) running: Mutex<Option<Running>>,
}

impl fmt::Debug for GuardHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GuardHandle")
            .field("mode", &self.mode())
            .field("method", &self.method())
            .field("kills", &self.kills())
            .finish()
    }
}

/// Starts the guard (nothing runs in mode `off`). It tries process events first and falls
/// back to the `/proc` scan when the connector cannot be opened; see [`GuardHandle::method`].
/// `on_worker` is called from the guard's thread once for each new verified session
/// worker (the daemon uses it to prefetch the session's owner); it must not block.
pub fn spawn(settings: GuardSettings, auditor: Arc<Auditor>, on_worker: OnWorker) -> GuardHandle {
    spawn_with_method(settings, auditor, on_worker, Method::ProcConnector)
}

/// [`spawn`], choosing the method: `ProcScan` never opens the connector (tests, or hosts
/// where process events misbehave); `ProcConnector` tries it and falls back to the scan.
pub fn spawn_with_method(
    settings: GuardSettings,
    auditor: Arc<Auditor>,
    on_worker: OnWorker,
    method: Method,
) -> GuardHandle {
    let handle = GuardHandle {
        inner: Arc::new(Inner {
            settings: Mutex::new((0, settings.clone())),
            auditor: Mutex::new(auditor),
            on_worker,
            kills: AtomicU64::new(0),
            want: method,
            method: Mutex::new(method),
            admitted: Mutex::new(HashMap::new()),
        }),
        running: Mutex::new(None),
    };
    if settings.mode != GuardMode::Off {
        handle.start();
    }
    handle
}

impl GuardHandle {
    pub(super) fn start(&self) {
        let mut running = lock(&self.running);
        if running.is_some() {
            return;
        }
        let connector = match self.inner.want {
            Method::ProcConnector => match Connector::open() {
                Ok(c) => Some(c),
                Err(e) => {
                    tracing::warn!(
                        "landing guard: process events are not available ({e}); scanning /proc instead"
                    );
                    None
                }
            },
            Method::ProcScan => None,
        };
        *lock(&self.inner.method) = if connector.is_some() {
            Method::ProcConnector
        } else {
            Method::ProcScan
        };
        let (reader, writer) = match io::pipe() {
            Ok(p) => p,
            Err(e) => {
                tracing::error!("landing guard: cannot start: {e}");
                return;
            }
        };
        let inner = Arc::clone(&self.inner);
        let spawned = std::thread::Builder::new()
            .name("landing-guard".into())
            .spawn(move || run(inner, connector, reader));
        match spawned {
            Ok(thread) => {
                *running = Some(Running {
                    stop: writer,
                    thread,
                })
            }
            Err(e) => tracing::error!("landing guard: cannot start its thread: {e}"),
        }
    }

    pub(super) fn stop_thread(&self) {
        let r = lock(&self.running).take();
        if let Some(Running { stop, thread }) = r {
            drop(stop);
            let _ = thread.join();
        }
    }

    /// How the running guard learns of processes (when off: how it last did, or would).
    pub fn method(&self) -> Method {
        *lock(&self.inner.method)
    }

    /// `process events (proc connector) and a /proc scan every 200 ms`, or
    /// `/proc scan every 200 ms`, or `off`.
    pub fn describe(&self) -> String {
        let (_, s) = self.inner.settings();
        if s.mode == GuardMode::Off || lock(&self.running).is_none() {
            return "off".to_owned();
        }
        let every = human(s.scan_interval());
        match self.method() {
            Method::ProcConnector => {
                format!("{} and a /proc scan every {every}", Method::ProcConnector)
            }
            Method::ProcScan => format!("/proc scan every {every}"),
        }
    }

    /// The mode in force.
    pub fn mode(&self) -> GuardMode {
        self.inner.settings().1.mode
    }

    /// Puts new settings in force (on configuration reload): starts or stops the thread
    /// when the mode changes to or from `off`.
    pub fn update(&self, s: GuardSettings) {
        let off = s.mode == GuardMode::Off;
        {
            let mut g = lock(&self.inner.settings);
            g.0 += 1;
            g.1 = s;
        }
        if off {
            self.stop_thread();
        } else {
            self.start();
        }
    }

    /// Sends later audit records to another auditor (on reload, when `[audit]` changed).
    pub fn set_auditor(&self, auditor: Arc<Auditor>) {
        *lock(&self.inner.auditor) = auditor;
    }

    /// The daemon allowed the helper `pid` (started at `starttime`) to switch: from now
    /// on, and only from now on, what it starts is its own doing. A descendant of the
    /// helper whose branch began before this (a job the landing shell forked just before
    /// exec'ing the helper, and whatever that job forks later) stays a violation.
    pub fn admit_helper(&self, pid: i32, starttime: u64) {
        let now = boottime_ticks(clock_ticks_per_sec());
        lock(&self.inner.admitted)
            .entry(pid)
            .and_modify(|e| {
                if e.0 != starttime {
                    *e = (starttime, now);
                }
            })
            .or_insert((starttime, now));
    }

    /// How many violations were enforced (killed) since the start.
    pub fn kills(&self) -> u64 {
        self.inner.kills.load(Ordering::Relaxed)
    }

    /// Ends the guard's thread.
    pub fn stop(self) {
        self.stop_thread();
    }
}

impl Drop for GuardHandle {
    fn drop(&mut self) {
        self.stop_thread();
    }
}

pub(super) fn until_ms(deadline: Instant) -> u16 {
    let d = deadline.saturating_duration_since(Instant::now());
    u16::try_from(d.as_micros().div_ceil(1000).min(60_000)).unwrap_or(60_000)
}

pub(super) fn run(inner: Arc<Inner>, connector: Option<Connector>, stop: io::PipeReader) {
    let (mut version, settings) = inner.settings();
    let mut engine = Engine::new(settings, Arc::clone(&inner), connector.is_some());
    engine.full_scan();
    let mut next_scan = Instant::now() + engine.s.scan_interval();
    let mut events = Vec::new();
    loop {
        let (v, s) = inner.settings();
        if v != version {
            version = v;
            engine.apply(s);
            engine.full_scan();
            next_scan = Instant::now() + engine.s.scan_interval();
        }
        let deadline = match engine.next_grace_end() {
            Some(g) if g < next_scan => g,
            _ => next_scan,
        };
        let timeout = PollTimeout::from(until_ms(deadline));
        let mut fds = vec![PollFd::new(stop.as_fd(), PollFlags::POLLIN)];
        if let Some(c) = &connector {
            fds.push(PollFd::new(c.fd(), PollFlags::POLLIN));
        }
        let ready = poll(&mut fds, timeout);
        let stop_ready = fds[0].revents().is_some_and(|r| !r.is_empty());
        let events_ready = fds
            .get(1)
            .and_then(PollFd::revents)
            .is_some_and(|r| !r.is_empty());
        if stop_ready {
            return;
        }
        if let Err(e) = ready
            && e != nix::errno::Errno::EINTR
        {
            tracing::error!("landing guard: poll failed: {e}");
            std::thread::sleep(engine.s.scan_interval());
        }
        if events_ready && let Some(c) = &connector {
            events.clear();
            let lost = c.drain(&mut events).is_err();
            for e in events.drain(..) {
                engine.on_event(e);
            }
            if lost {
                // Events were dropped: nothing cached can be trusted.
                engine.known.clear();
                engine.full_scan();
                next_scan = Instant::now() + engine.s.scan_interval();
            }
        }
        engine.expire_graces();
        if Instant::now() >= next_scan {
            engine.full_scan();
            next_scan = Instant::now() + engine.s.scan_interval();
        }
    }
}
