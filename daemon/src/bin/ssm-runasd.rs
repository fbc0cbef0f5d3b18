//! `ssm-runasd`: answers the PAM module's question "which Linux account may the
//! process at the other end of this socket become, and why".
#![forbid(unsafe_code)]
// Product code never panics on purpose: errors are values (tests may unwrap).
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ssm_runas::config::{self, Config};
use ssm_runas::service::{self, AwsHealth, Service};
use ssm_runas::{aws_api, guard, login_records, server};
use tokio::signal::unix::{SignalKind, signal};

/// How often the daemon looks for switched sessions whose helper vanished without
/// closing them (one `/proc/<pid>/stat` read per live switched session).
const SWITCH_SWEEP: Duration = Duration::from_secs(1);
/// Cached owners of ended sessions are dropped every this many sweeps (30 s).
const PRUNE_EVERY: u64 = 30;

/// The ssm-runas daemon: maps AWS SSM Session Manager sessions to Linux accounts.
#[derive(Parser)]
#[command(
    name = "ssm-runasd",
    version,
    about,
    long_about = "The ssm-runas daemon. It listens on a Unix socket (default \
/run/ssm-runas/ssm-runasd.sock) for the PAM module pam_ssm_runas.so, identifies the asking \
process from the kernel, finds the SSM session it belongs to and the IAM principal that \
started it, applies the rules of the configuration and answers with the Linux account (or \
why not). Every decision is an audit record in journald.\n\n\
It runs in the foreground; under systemd it is the ssm-runasd.service (Type=notify). \
SIGHUP reloads the configuration (an invalid one is refused and the old stays in force); \
SIGTERM finishes requests in flight and exits.",
    after_help = "Example:\n  ssm-runasd --config /etc/ssm-runas/config.toml\n\nSee also: ssm-runas(1), ssm-runas.toml(5)."
)]
struct Args {
    /// Configuration file.
    #[arg(long, value_name = "PATH", default_value = config::DEFAULT_PATH)]
    config: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    init_logging();
    let loaded = match config::load(&args.config) {
        Ok(l) => l,
        Err(e) => {
            for d in &e.0 {
                tracing::error!("{d}");
            }
            tracing::error!("refusing to start with an invalid configuration");
            return ExitCode::from(2);
        }
    };
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    if let Err(e) = trusted_config_file(&args.config) {
        tracing::error!("{e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            tracing::error!("cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(args.config, loaded.config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            ExitCode::from(1)
        }
    }
}

fn init_logging() {
    let under_journal = std::env::var_os("JOURNAL_STREAM").is_some();
    let filter = tracing_subscriber::EnvFilter::try_from_env("SSM_RUNAS_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_ansi(false);
    // journald stamps lines itself.
    let _ = if under_journal {
        builder.without_time().try_init()
    } else {
        builder.try_init()
    };
}

/// The configuration decides who becomes whom: when we run as root, it must be a
/// root-owned file nobody else can write (ARCHITECTURE.md §5).
fn trusted_config_file(path: &std::path::Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    if !nix::unistd::geteuid().is_root() {
        return Ok(());
    }
    let m = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if m.uid() != 0 || m.mode() & 0o022 != 0 {
        return Err(format!(
            "{}: must be owned by root and not writable by group or others (is uid {}, mode {:o})",
            path.display(),
            m.uid(),
            m.mode() & 0o7777
        ));
    }
    Ok(())
}

async fn run(config_path: PathBuf, config: Config) -> Result<(), String> {
    let instance_id = match &config.aws.instance_id {
        Some(i) => i.clone(),
        None => aws_api::instance_id_from_imds().await.map_err(|e| {
            format!("cannot learn this instance's id from instance metadata ({e}); set [aws] instance_id")
        })?,
    };
    let socket = config.daemon.socket.clone();
    let max_connections = config.daemon.max_connections;
    let client_timeout = config.daemon.client_timeout;
    let active = service::activate(config, &instance_id, None).await?;
    let service = Arc::new(Service::new(active, instance_id.clone()));

    let mut hup = signal(SignalKind::hangup()).map_err(|e| e.to_string())?;
    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;

    let listener =
        server::bind(&socket).map_err(|e| format!("cannot listen on {}: {e}", socket.display()))?;
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let serving = tokio::spawn(server::serve(
        listener,
        Arc::clone(&service),
        max_connections,
        client_timeout,
        stop_rx,
    ));
    {
        let a = service.active();
        tracing::info!(
            "listening on {}: instance {instance_id}, source {}, landing user {}, {} rules",
            socket.display(),
            a.config.resolver.source.as_str(),
            a.config.landing_user,
            a.config.rules.len()
        );
    }
    notify(&[libsystemd::daemon::NotifyState::Ready]);

    start_guard(&service);
    tokio::spawn(check_aws(Arc::clone(&service)));
    let pruner = {
        let service = Arc::clone(&service);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWITCH_SWEEP);
            let mut n_ticks: u64 = 0;
            loop {
                tick.tick().await;
                n_ticks += 1;
                let closed = service.sweep_switches();
                if closed > 0 {
                    tracing::info!("recorded the end of {closed} sessions whose helper vanished");
                }
                if n_ticks.is_multiple_of(PRUNE_EVERY) {
                    let n = service.prune();
                    if n > 0 {
                        tracing::debug!("forgot {n} ended sessions");
                    }
                }
            }
        })
    };
    // Login records whose session is gone (the agent SIGKILLed the helper).
    let sweeper = tokio::spawn(async move {
        let mut tick = tokio::time::interval(login_records::SWEEP_INTERVAL);
        loop {
            tick.tick().await;
            let _ = tokio::task::spawn_blocking(login_records::sweep).await;
        }
    });

    loop {
        tokio::select! {
            _ = hup.recv() => {
                notify(&[libsystemd::daemon::NotifyState::Reloading]);
                reload(&service, &config_path, &instance_id).await;
                notify(&[libsystemd::daemon::NotifyState::Ready]);
            }
            _ = term.recv() => break,
            _ = int.recv() => break,
        }
    }
    tracing::info!("stopping: finishing requests in flight");

    notify(&[libsystemd::daemon::NotifyState::Stopping]);
    let _ = stop_tx.send(true);
    pruner.abort();
    sweeper.abort();
    let grace = service.active().config.resolver.deadline + client_timeout;
    if tokio::time::timeout(grace, serving).await.is_err() {
        tracing::warn!(
            "requests still in flight after {} s; exiting anyway",
            grace.as_secs()
        );
    }
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

async fn reload(service: &Service, path: &std::path::Path, instance_id: &str) {
    let loaded = match config::load(path) {
        Ok(l) => l,
        Err(e) => {
            for d in &e.0 {
                tracing::error!("{d}");
            }
            tracing::error!("reload refused: the configuration in force is unchanged");
            return;
        }
    };
    if let Err(e) = trusted_config_file(path) {
        tracing::error!("{e}; reload refused: the configuration in force is unchanged");
        return;
    }
    for w in &loaded.warnings {
        tracing::warn!("{w}");
    }
    let old = service.active();
    if loaded.config.daemon.socket != old.config.daemon.socket {
        tracing::warn!("[daemon] socket changed: takes effect on restart");
    }
    let active = service::activate(loaded.config, instance_id, Some(&old)).await;
    match active {
        Ok(a) => {
            tracing::info!(
                "configuration reloaded from {}: {} rules, source {}, landing guard {}",
                path.display(),
                a.config.rules.len(),
                a.config.resolver.source.as_str(),
                a.config.guard.mode.as_str()
            );
            if let Some(g) = service.guard.get() {
                g.update(guard::GuardSettings::new(
                    &a.config.guard,
                    a.landing_uid,
                    &a.config.resolver.worker_paths,
                ));
                g.set_auditor(Arc::clone(&a.auditor));
            }
            service.replace(a);
        }
        Err(e) => tracing::error!("reload refused: {e}; the configuration in force is unchanged"),
    }
}

/// Starts the landing guard; new session workers it sees are prefetched.
fn start_guard(service: &Arc<Service>) {
    let a = service.active();
    let rt = tokio::runtime::Handle::current();
    let svc = Arc::clone(service);
    let on_worker: guard::OnWorker = Arc::new(move |w: &ssm_runas::ancestry::Worker| {
        let (svc, w) = (Arc::clone(&svc), w.clone());
        rt.spawn(async move { svc.prefetch(&w).await });
    });
    let g = guard::spawn(
        guard::GuardSettings::new(
            &a.config.guard,
            a.landing_uid,
            &a.config.resolver.worker_paths,
        ),
        Arc::clone(&a.auditor),
        on_worker,
    );
    tracing::info!(
        "landing guard: {}, {}",
        a.config.guard.mode.as_str(),
        g.describe()
    );
    let _ = service.guard.set(g);
}

/// Logs who we are in AWS and whether DescribeSessions is allowed, so a missing
/// instance-role permission shows before the first person is refused.
async fn check_aws(service: Arc<Service>) {
    let a = service.active();
    let Some(lookup) = a.lookup.clone() else {
        return;
    };
    let identity = match lookup.caller_identity().await {
        Ok(arn) => {
            tracing::info!("AWS identity: {arn}");
            Some(arn)
        }
        Err(e) => {
            tracing::warn!("cannot learn the AWS identity (sts:GetCallerIdentity): {e}");
            None
        }
    };
    let allowed = match lookup.probe_describe_sessions().await {
        Ok(()) => {
            tracing::info!("ssm:DescribeSessions is allowed");
            Some(true)
        }
        Err(aws_api::LookupError::AccessDenied(m)) => {
            tracing::error!(
                "ssm:DescribeSessions is DENIED ({m}): add it to the instance role, or every session will be refused"
            );
            Some(false)
        }
        Err(e) => {
            tracing::warn!("could not check ssm:DescribeSessions: {e}");
            None
        }
    };
    service.set_health(AwsHealth {
        identity,
        describe_sessions_allowed: allowed,
    });
}

fn notify(state: &[libsystemd::daemon::NotifyState]) {
    if std::env::var_os("NOTIFY_SOCKET").is_some()
        && let Err(e) = libsystemd::daemon::notify(false, state)
    {
        tracing::warn!("sd_notify failed: {e}");
    }
}
