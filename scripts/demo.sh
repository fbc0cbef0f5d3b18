#!/bin/sh
# The README's main command: a local end-to-end demonstration, as root on Debian.
# Builds the workspace, validates packaging/config.example.toml, then runs
# ssm-runas-demo: a fake SSM endpoint, the real daemon, PAM module and setuid switch
# helper, and one simulated Session Manager session per example rule, showing the
# account each lands as and its audit record. Everything it creates is removed.
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/demo.sh: run as root (the demo creates accounts and a PAM service, then removes them)" >&2
    exit 2
fi
scripts/deps.sh
cargo build --quiet --locked --workspace
target="${CARGO_TARGET_DIR:-target}/debug"
echo "== ssm-runas check-config --config packaging/config.example.toml"
"$target/ssm-runas" check-config --config packaging/config.example.toml
echo
echo "== ssm-runas explain (dry run of one owner, no daemon needed)"
"$target/ssm-runas" explain --config packaging/config.example.toml \
    "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com"
echo
exec "$target/ssm-runas-demo"
