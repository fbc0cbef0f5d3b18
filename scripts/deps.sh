#!/bin/sh
# Installs the Debian packages ssm-runas's build and tests need (run as root).
# Used by scripts/test.sh, scripts/demo.sh and .ci/run.
set -eu
PKGS="build-essential pkg-config libpam0g-dev libpam-modules libpam-runtime pamtester passwd util-linux procps systemd"
missing=""
for p in $PKGS; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "scripts/deps.sh: installing:$missing" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    # shellcheck disable=SC2086 # word splitting of the fixed package list is intended
    apt-get install -y -q --no-install-recommends $missing
fi
