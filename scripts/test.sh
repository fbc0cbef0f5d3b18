#!/bin/sh
# The test command (README): builds the workspace once, then runs every test.
# Run as root on Debian: the end-to-end tests create users, install a setuid
# helper and a PAM service in temporary places, and remove them again.
set -eu
cd "$(dirname "$0")/.."
if [ "$(id -u)" -ne 0 ]; then
    echo "scripts/test.sh: run as root (the end-to-end tests create users and PAM services)" >&2
    exit 2
fi
scripts/deps.sh
# One build of everything (binaries, the PAM module's .so, test targets); the test
# run below reuses it.
cargo build --workspace --all-targets --locked
# Root-only tests are marked #[ignore = "needs root"] (a run without root lists them
# as ignored); this script runs as root, so it includes them.
cargo test --workspace --locked -- --include-ignored
