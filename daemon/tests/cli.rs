//! The admin CLI run as a real process: output and exit codes.
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn cli() -> Command {
    Command::new(env!("CARGO_BIN_EXE_ssm-runas"))
}

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/config.example.toml")
}

fn run(cmd: &mut Command) -> (i32, String, String) {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run ssm-runas");
    (
        status.code().unwrap_or(-1),
        String::from_utf8_lossy(&stdout).into_owned(),
        String::from_utf8_lossy(&stderr).into_owned(),
    )
}

struct TempFile(PathBuf);
impl TempFile {
    fn new(name: &str, text: &str) -> TempFile {
        let dir = std::env::temp_dir().join(format!("ssm-runas-cli-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("config.toml");
        std::fs::write(&p, text).unwrap();
        TempFile(p)
    }
}
impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(d) = self.0.parent() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}

#[test]
fn check_config_accepts_the_example() {
    let (code, out, err) = run(cli().args(["check-config", "--config"]).arg(example()));
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.ends_with("config.example.toml: OK: 5 rules, landing user ssm-landing, source api\n"),
        "{out}"
    );
    assert_eq!(err, "");
}

#[test]
fn check_config_reports_every_error_and_exits_2() {
    let f = TempFile::new(
        "bad",
        "landing_user = \"ssm-landing\"\n[[rule]]\naccount = [\"1234\"]\nlinux_user = \"root\"\n",
    );
    let (code, out, err) = run(cli().args(["check-config", "--config"]).arg(&f.0));
    assert_eq!(code, 2);
    assert_eq!(out, "");
    let p = f.0.display();
    assert_eq!(
        err,
        format!(
            "{p}:3:12: account `1234` is not a 12-digit AWS account id\n{p}:4:14: rule 1: linux_user `root` is root (uid 0): never allowed\n"
        )
    );
}

#[test]
fn check_config_warns_about_shadowed_rules_but_passes() {
    let f = TempFile::new(
        "shadow",
        "landing_user = \"l\"\n[[rule]]\nlinux_user = \"a\"\n[[rule]]\nkind = \"idc\"\nlinux_user = \"b\"\n",
    );
    let (code, out, err) = run(cli().args(["check-config", "--config"]).arg(&f.0));
    assert_eq!(code, 0);
    assert!(
        out.contains("OK: 2 rules") && out.contains("1 warning"),
        "{out}"
    );
    assert!(
        err.contains(":4:1: warning: rule 2 can never match: rule 1 (line 2)"),
        "{err}"
    );
}

#[test]
fn check_config_on_a_missing_file() {
    let (code, _, err) =
        run(cli().args(["check-config", "--config", "/nonexistent/ssm-runas.toml"]));
    assert_eq!(code, 2);
    assert!(
        err.starts_with("/nonexistent/ssm-runas.toml:1:1: cannot read:"),
        "{err}"
    );
}

#[test]
fn explain_allowed_idc_owner() {
    let arn = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/Alice@example.com";
    let (code, out, err) = run(cli().args(["explain", "--config"]).arg(example()).arg(arn));
    assert_eq!(code, 0, "{out}{err}");
    let want = format!(
        "owner           {arn}
kind            idc
partition       aws
account         111122223333
role            AWSReservedSSO_AdministratorAccess_0123456789abcdef
permission set  AdministratorAccess
name            Alice@example.com
rule            3 (line 106)
decision        allow
linux user      alice
groups          adm
create          yes
"
    );
    assert_eq!(out, want);
}

#[test]
fn explain_json() {
    let arn = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_ReadOnly_fedcba9876543210/bob";
    let (code, out, _) = run(cli()
        .args(["explain", "--json", "--config"])
        .arg(example())
        .arg(arn));
    assert_eq!(code, 0);
    let v: serde_json::Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["decision"], "allow");
    assert_eq!(v["linux_user"], "readonly");
    assert_eq!(v["rule"]["number"], 2);
    assert_eq!(v["principal"]["permission_set"], "ReadOnly");
    assert_eq!(v["principal"]["kind"], "idc");
}

#[test]
fn explain_denied_by_rule_and_by_default() {
    let arn = "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_ReadOnly_fedcba9876543210/mallory@example.com";
    let (code, out, _) = run(cli().args(["explain", "--config"]).arg(example()).arg(arn));
    assert_eq!(code, 1);
    assert!(out.contains("rule            1 (line 96)\ndecision        deny\nreason          Your shell access is suspended; ask #security.\n"), "{out}");

    let arn = "arn:aws:sts::444455556666:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com";
    let (code, out, _) = run(cli().args(["explain", "--config"]).arg(example()).arg(arn));
    assert_eq!(code, 1);
    assert!(out.contains("rule            none matched (default: deny)\ndecision        deny\nreason          no rule maps alice@example.com with permission set AdministratorAccess in account 444455556666 to a Linux account\n"), "{out}");
}

#[test]
fn explain_invalid_owner_is_denied() {
    let (code, out, _) = run(cli()
        .args(["explain", "--config"])
        .arg(example())
        .arg("arn:aws:s3:::my-bucket"));
    assert_eq!(code, 1);
    assert!(
        out.contains("decision        deny\nreason          invalid owner ARN"),
        "{out}"
    );
}

#[test]
fn usage_errors_exit_2_and_help_has_examples() {
    let (code, _, err) = run(cli().args(["explain"]));
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = run(cli().args(["frobnicate"]));
    assert_eq!(code, 2, "{err}");
    for sub in ["check-config", "explain", "status"] {
        let (code, out, _) = run(cli().args([sub, "--help"]));
        assert_eq!(code, 0);
        assert!(
            out.contains("Example"),
            "{sub} --help has no example:\n{out}"
        );
    }
}

#[test]
fn status_without_a_daemon_says_so() {
    let (code, _, err) = run(cli().args(["status", "--socket", "/nonexistent/ssm-runasd.sock"]));
    assert_eq!(code, 1);
    assert!(
        err.starts_with("ssm-runas: cannot reach ssm-runasd at /nonexistent/ssm-runasd.sock:"),
        "{err}"
    );
}

#[test]
fn check_config_escapes_quoted_values_and_keeps_one_line_per_error() {
    // A value that would print a fake second diagnostic and clear the screen.
    let f = TempFile::new(
        "escape",
        "landing_user = \"a\\nb\"\n[[rule]]\nlinux_user = \"bob\\nFAKE:1:1: all good\\u001b[2J\"\ngroups = [\"\\u202eadm\"]\n",
    );
    let (code, out, err) = run(cli().args(["check-config", "--config"]).arg(&f.0));
    assert_eq!(code, 2);
    assert_eq!(out, "");
    let p = f.0.display();
    assert_eq!(
        err,
        format!(
            "{p}:1:16: landing_user `a\\nb` is not a valid Linux user name\n\
             {p}:3:14: rule 1: linux_user `bob\\nFAKE:1:1: all good\\u{{1b}}[2J` is not a valid Linux user name (^[a-z_][a-z0-9._-]{{0,31}}$)\n\
             {p}:4:11: `\\u{{202e}}adm` is not a valid group name\n"
        )
    );
}

#[test]
fn explain_escapes_an_owner_it_cannot_parse() {
    let arn = "arn:aws:sts::111122223333:assumed-role/Dev/\u{202e}ecila\n\u{1b}[2Jdecision allow";
    let (code, out, _) = run(cli().args(["explain", "--config"]).arg(example()).arg(arn));
    assert_eq!(code, 1);
    assert!(
        out.starts_with(
            "owner           arn:aws:sts::111122223333:assumed-role/Dev/\\u{202e}ecila\\n\\u{1b}[2Jdecision allow\n"
        ),
        "{out}"
    );
    assert!(
        !out.contains('\u{1b}') && !out.contains('\u{202e}'),
        "{out}"
    );
}
