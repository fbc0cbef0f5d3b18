//! ssm-runas-login: the setuid switch helper (skeleton).
fn main() {
    std::process::exit(1);
}
