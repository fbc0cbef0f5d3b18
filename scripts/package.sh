#!/bin/sh
# Builds the ssm-runas .deb and .rpm (x86_64) from the metadata in
# daemon/Cargo.toml, with cargo-deb and cargo-generate-rpm:
#   cargo install --locked cargo-deb cargo-generate-rpm
#
# Usage: scripts/package.sh [--profile release|dev] [--no-build] [--out DIR]
#   --profile release  (default) an optimised build, for shipping
#   --profile dev      package the debug build the tests use (no second compile
#                      of the AWS SDK; for CI's package test, not for shipping)
#   --no-build         do not run cargo build (the binaries must exist)
#   --out DIR          where the packages go (default $TARGET/package/out)
#
# Both tools package from one staging directory, $TARGET/package/release/: the
# binaries stripped, the man pages gzip'd. cargo-deb and cargo-generate-rpm read
# the `target/release/` asset paths of the metadata from there (--no-build).
# Prints the two package paths, one per line, on stdout.
set -eu
cd "$(dirname "$0")/.."

profile=release
build=yes
out=""
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile="${2:?--profile needs a value}"; shift 2 ;;
        --no-build) build=no; shift ;;
        --out) out="${2:?--out needs a value}"; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "scripts/package.sh: unknown argument: $1" >&2; exit 2 ;;
    esac
done
case "$profile" in
    release) profile_dir=release ;;
    dev|debug) profile=dev; profile_dir=debug ;;
    *) echo "scripts/package.sh: --profile must be release or dev" >&2; exit 2 ;;
esac

for tool in cargo-deb cargo-generate-rpm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "scripts/package.sh: $tool is missing: cargo install --locked cargo-deb cargo-generate-rpm" >&2
        exit 2
    fi
done
for tool in strip gzip; do
    command -v "$tool" >/dev/null 2>&1 || { echo "scripts/package.sh: $tool is missing" >&2; exit 2; }
done

# The target directory cargo really uses (CARGO_TARGET_DIR, config, wrappers).
target=$(cargo metadata --format-version 1 --no-deps --locked |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$target" ] || { echo "scripts/package.sh: cannot find cargo's target directory" >&2; exit 1; }

if [ "$build" = yes ]; then
    if [ "$profile" = dev ]; then
        # Exactly the build scripts/test.sh makes, so it is reused, not redone.
        cargo build --workspace --all-targets --locked >&2
    else
        cargo build --release --locked -p ssm-runas-daemon -p pam-ssm-runas -p ssm-runas-login >&2
    fi
fi

built="$target/$profile_dir"
stage_root="$target/package"
stage="$stage_root/release"
out="${out:-$stage_root/out}"
rm -rf "$stage"
mkdir -p "$stage/man" "$out"

for bin in ssm-runasd ssm-runas ssm-runas-login; do
    [ -f "$built/$bin" ] || { echo "scripts/package.sh: $built/$bin is missing (build first)" >&2; exit 1; }
    strip --strip-all --remove-section=.comment -o "$stage/$bin" "$built/$bin"
done
[ -f "$built/libpam_ssm_runas.so" ] || { echo "scripts/package.sh: $built/libpam_ssm_runas.so is missing (build first)" >&2; exit 1; }
strip --strip-unneeded --remove-section=.comment -o "$stage/libpam_ssm_runas.so" "$built/libpam_ssm_runas.so"

for page in packaging/man/*.[158]; do
    gzip -9 -n -c "$page" > "$stage/man/$(basename "$page").gz"
done

# Reproducible timestamps: the last commit's, when there is one.
SOURCE_DATE_EPOCH="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}"
export SOURCE_DATE_EPOCH

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n 1)
deb="$out/ssm-runas_${version}-1_amd64.deb"
rpm="$out/ssm-runas-${version}-1.x86_64.rpm"
rm -f "$deb" "$rpm"

# A debug build is for tests: quicker, larger compression.
fast=""
[ "$profile" = dev ] && fast="--fast"
CARGO_TARGET_DIR="$stage_root" cargo deb --package ssm-runas-daemon --no-build --no-strip \
    --locked $fast --output "$deb" >&2
# zstd (the default) takes half a minute on the debug build; gzip a few seconds.
payload=zstd
[ "$profile" = dev ] && payload=gzip
cargo generate-rpm --package daemon --target-dir "$stage_root" --profile release \
    --arch x86_64 --payload-compress "$payload" --output "$rpm" >&2

for f in "$deb" "$rpm"; do
    [ -s "$f" ] || { echo "scripts/package.sh: $f was not made" >&2; exit 1; }
    echo "$f"
done
