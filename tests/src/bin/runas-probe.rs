//! runas-probe: a test client for ssm-runasd. Installed setuid root in a test
//! directory (like the switch helper, whose PAM module is the daemon's real client),
//! it sends one request and prints the answer as one JSON line.
//!
//! Usage: runas-probe SOCKET resolve|status|check USER|opened USER|closed USER|failed REASON
//!        runas-probe SOCKET raw HEX   (sends raw bytes, for malformed-frame tests)
use std::io::{Read, Write};
use std::process::ExitCode;
use std::time::Duration;

use ssm_runas_protocol::{Request, call};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 3 {
        eprintln!(
            "usage: runas-probe SOCKET resolve|status|check USER|opened USER|closed USER|failed REASON|raw HEX"
        );
        return ExitCode::from(2);
    }
    let socket = std::path::Path::new(&args[1]);
    let arg = || args.get(3).cloned().unwrap_or_default();
    let req = match args[2].as_str() {
        "resolve" => Request::Resolve,
        "status" => Request::Status,
        "check" => Request::Check { user: arg() },
        "opened" => Request::SessionOpened { user: arg() },
        "closed" => Request::SessionClosed { user: arg() },
        "failed" => Request::SwitchFailed { reason: arg() },
        "raw" => {
            let hex = arg();
            let bytes: Vec<u8> = (0..hex.len() / 2)
                .filter_map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).ok())
                .collect();
            let Ok(mut s) = std::os::unix::net::UnixStream::connect(socket) else {
                println!("{{\"error\":\"connect\"}}");
                return ExitCode::from(1);
            };
            let _ = s.set_read_timeout(Some(Duration::from_secs(20)));
            let _ = s.write_all(&bytes);
            let _ = s.shutdown(std::net::Shutdown::Write);
            let mut out = Vec::new();
            let _ = s.read_to_end(&mut out);
            println!("{{\"raw_reply_len\":{}}}", out.len());
            return ExitCode::SUCCESS;
        }
        other => {
            eprintln!("runas-probe: unknown request {other}");
            return ExitCode::from(2);
        }
    };
    match call(socket, &req, Duration::from_secs(20)) {
        Ok(resp) => {
            println!("{}", serde_json::to_string(&resp).unwrap_or_default());
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{}", serde_json::json!({"error": e.to_string()}));
            ExitCode::from(1)
        }
    }
}
