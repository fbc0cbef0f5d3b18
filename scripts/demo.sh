#!/bin/sh
# The README's main command: a local demonstration of ssm-runas's mapping. Builds the
# admin CLI, validates packaging/config.example.toml and explains, for one example
# session owner per rule, which Linux account it maps to and why.
set -eu
cd "$(dirname "$0")/.."
cargo build --quiet --locked -p ssm-runas-daemon --bin ssm-runas
bin="${CARGO_TARGET_DIR:-target}/debug/ssm-runas"
conf=packaging/config.example.toml
echo "== ssm-runas check-config --config $conf"
"$bin" check-config --config "$conf"
for owner in \
    "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_ReadOnly_0123456789abcdef/alice@example.com" \
    "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com" \
    "arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_ReadOnly_0123456789abcdef/mallory@example.com" \
    "arn:aws:sts::111122223333:assumed-role/ci-deployer/github-run-4711" \
    "arn:aws:iam::111122223333:user/breakglass" \
    "arn:aws:sts::444455556666:assumed-role/AWSReservedSSO_AdministratorAccess_0123456789abcdef/alice@example.com"
do
    echo
    echo "== ssm-runas explain $owner"
    status=0
    "$bin" explain --config "$conf" "$owner" || status=$?
    echo "(exit status $status)"
done
