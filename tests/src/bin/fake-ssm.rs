//! `fake-ssm`: the test suite's fake SSM/STS/IMDS endpoint as a standalone server, for
//! demos and manual runs against `ssm-runasd` (point its `endpoint_url` here).

use ssm_runas_tests::fake_ssm::{FakeSsm, parse_sessions_file};
use std::io::Write;
use std::process::ExitCode;

const HELP: &str = "\
fake-ssm: a local stand-in for AWS SSM DescribeSessions, STS GetCallerIdentity and IMDSv2

Usage: fake-ssm [--listen ADDR] [--sessions FILE.json] [--instance-id ID] [--caller-arn ARN]

Options:
  --listen ADDR        address to listen on (default 127.0.0.1:0, an ephemeral port)
  --sessions FILE      JSON array of sessions in the DescribeSessions wire shape
                       (SessionId, Target, Status, StartDate, DocumentName, Owner, ...);
                       a whole response {\"Sessions\":[...]} is accepted too
  --instance-id ID     what IMDS answers for meta-data/instance-id (default i-0123456789abcdef0)
  --caller-arn ARN     what STS GetCallerIdentity answers
  -h, --help           this text

Prints one line `listening on http://HOST:PORT` on stdout once ready, then serves plain
HTTP until killed. Requests must be SigV4-signed (any credentials are accepted), e.g.
AWS_ACCESS_KEY_ID=AKIDEXAMPLE AWS_SECRET_ACCESS_KEY=x aws --endpoint-url URL ssm describe-sessions --state Active
";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fake-ssm: {e}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut listen = "127.0.0.1:0".to_string();
    let mut sessions: Option<String> = None;
    let mut instance_id: Option<String> = None;
    let mut caller_arn: Option<String> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| {
            args.next()
                .ok_or_else(|| format!("{name} needs a value (see --help)"))
        };
        match a.as_str() {
            "-h" | "--help" => {
                print!("{HELP}");
                return Ok(());
            }
            "--listen" => listen = value("--listen")?,
            "--sessions" => sessions = Some(value("--sessions")?),
            "--instance-id" => instance_id = Some(value("--instance-id")?),
            "--caller-arn" => caller_arn = Some(value("--caller-arn")?),
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }
    let fake = FakeSsm::start_on(&listen).map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    if let Some(path) = sessions {
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("cannot read {path}: {e}"))?;
        for s in parse_sessions_file(&text).map_err(|e| format!("{path}: {e}"))? {
            fake.add_session_json(s);
        }
    }
    if let Some(id) = instance_id {
        fake.set_instance_id(&id);
    }
    if let Some(arn) = caller_arn {
        fake.set_caller_arn(&arn);
    }
    let mut out = std::io::stdout().lock();
    writeln!(out, "listening on {}", fake.url())
        .and_then(|()| out.flush())
        .map_err(|e| format!("cannot write to stdout: {e}"))?;
    drop(out);
    loop {
        std::thread::park();
    }
}
