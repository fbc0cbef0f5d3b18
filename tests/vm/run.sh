#!/bin/sh
# The package on a real system: boots a Debian 12 VM (systemd as PID 1, QEMU with
# software emulation) with the ssm-runas .deb and .rpm, the fake session worker
# and tests/vm/guest-test.sh on an input disk, and runs that test inside as root.
# The guest's only network peer is the fake SSM endpoint, which runs here on the
# host (fake-ssm on 127.0.0.1, reached through a QEMU guestfwd; restrict=on cuts
# off everything else, instance metadata included).
#
# The image (tests/vm/build-image.sh) is built once and cached under
# $SSM_RUNAS_VM_CACHE (default /var/cache/ssm-runas-vm), keyed by a hash of the
# build script; each run boots it with a throw-away snapshot.
#
# Usage: tests/vm/run.sh [--deb FILE] [--rpm FILE] [--timeout SECS] [--results DIR]
#   --deb, --rpm   the packages (default: scripts/package.sh --profile dev --no-build,
#                  i.e. the debug build CI's scripts/test-packages.sh packages)
#   --timeout      for the whole VM run, boot included (default 1200)
#   --results      where the guest's stdout, status, journal, failed units and the
#                  console go (default <cargo target dir>/vm-results)
# Exits with the guest test's status: 0 passed, 1 failed, 124 timed out, 2 setup.
#
# Needs root, qemu-system-x86 (bookworm-backports), debootstrap, socat, e2fsprogs,
# and the workspace's debug build (fake-ssm, fake-worker: scripts/test.sh builds it).
set -eu
cd "$(dirname "$0")/../.."
start=$(date +%s)

deb=""
rpm=""
timeout_secs=1200
results=""
while [ $# -gt 0 ]; do
    case "$1" in
        --deb) deb="${2:?--deb needs a file}"; shift 2 ;;
        --rpm) rpm="${2:?--rpm needs a file}"; shift 2 ;;
        --timeout) timeout_secs="${2:?--timeout needs seconds}"; shift 2 ;;
        --results) results="${2:?--results needs a directory}"; shift 2 ;;
        -h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "tests/vm/run.sh: unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
done

say() { echo "vm: $*"; }
die() { echo "vm: $*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || die "run as root (debootstrap, and the image cache in /var/cache)"
for tool in qemu-system-x86_64 debootstrap mke2fs socat dpkg-deb timeout tar sha256sum; do
    command -v "$tool" >/dev/null 2>&1 ||
        die "$tool is missing: apt-get install -t bookworm-backports qemu-system-x86; apt-get install debootstrap socat e2fsprogs"
done
case "$timeout_secs" in ''|*[!0-9]*) die "--timeout must be a number of seconds" ;; esac

target=$(cargo metadata --format-version 1 --no-deps --locked |
    sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
[ -n "$target" ] || die "cannot find cargo's target directory"
for bin in fake-ssm fake-worker; do
    [ -x "$target/debug/$bin" ] || die "$target/debug/$bin is missing: cargo build -p ssm-runas-tests --bins"
done

# --- The packages ----------------------------------------------------------------
if [ -z "$deb" ] || [ -z "$rpm" ]; then
    say "packaging the debug build (scripts/package.sh --profile dev --no-build)"
    pkgs=$(scripts/package.sh --profile dev --no-build) || die "scripts/package.sh failed"
    [ -n "$deb" ] || deb=$(echo "$pkgs" | grep '\.deb$')
    [ -n "$rpm" ] || rpm=$(echo "$pkgs" | grep '\.rpm$')
fi
[ -f "$deb" ] || die "no such .deb: $deb"
[ -f "$rpm" ] || die "no such .rpm: $rpm"

# --- The image (cached) -------------------------------------------------------------
cache_root="${SSM_RUNAS_VM_CACHE:-/var/cache/ssm-runas-vm}"
key=$(cat tests/vm/build-image.sh | sha256sum | cut -c1-16)
image="$cache_root/$key"
mkdir -p "$cache_root"
t_image=0
(
    # One builder at a time; a second run waits and then uses the result.
    flock 9
    if [ ! -f "$image/root.img" ]; then
        # Images of older build scripts are of no further use.
        find "$cache_root" -mindepth 1 -maxdepth 1 -type d ! -name "$key" -exec rm -rf {} +
        say "building the image $key (once; cached in $cache_root)"
        tests/vm/build-image.sh "$image.tmp"
        rm -rf "$image"
        mv "$image.tmp" "$image"
    fi
) 9>"$cache_root/.lock" || die "building the image failed"
t_image=$(($(date +%s) - start))
say "image $image (ready after ${t_image} s)"

# --- The input disk ---------------------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/var/tmp}/ssm-runas-vm.XXXXXX")
fake_pid=""
vm_pid=""
cleanup() {
    # timeout(1) passes the signal on to QEMU.
    [ -n "$vm_pid" ] && kill "$vm_pid" 2>/dev/null && wait "$vm_pid" 2>/dev/null
    [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

in="$work/in"
mkdir -p "$in"
cp tests/vm/guest-runner.sh tests/vm/guest-test.sh tests/vm/sessions.txt "$in/"
cp "$deb" "$rpm" "$in/"
install -m 0755 "$target/debug/fake-worker" "$in/fake-worker"
# The upgrade: the same package with a higher version (postinst/prerm run as for
# any upgrade; the binaries are the same, the restart is what is tested).
version=$(dpkg-deb -f "$deb" Version)
dpkg-deb -R "$deb" "$work/up"
sed -i "s/^Version: .*/Version: ${version}+vmtest1/" "$work/up/DEBIAN/control"
dpkg-deb -Zgzip -b "$work/up" "$in/upgrade_$(basename "$deb")" >/dev/null
rm -rf "$work/up"
guest_port=8080
cat > "$in/env.sh" <<EOF
# Written by tests/vm/run.sh.
FAKE_URL=http://10.0.2.100:$guest_port
INSTANCE=i-0123456789abcdef0
DEB=$(basename "$deb")
UPGRADE_DEB=upgrade_$(basename "$deb")
UPGRADE_VERSION=${version}+vmtest1
RPM=$(basename "$rpm")
EOF
mke2fs -q -t ext4 -L ssmvm-in -d "$in" "$work/in.img" 256M >/dev/null
# The guest writes a tar stream of its results to this blank disk.
truncate -s 64M "$work/out.img"

# --- The fake SSM endpoint ------------------------------------------------------------
now=$(date +%s)
{
    echo "["
    sep=""
    grep -v '^#' tests/vm/sessions.txt | while read -r _ sid set person; do
        [ -n "$sid" ] || continue
        printf '%s{"SessionId":"%s","Target":"i-0123456789abcdef0","Status":"Connected","StartDate":%s,"DocumentName":"SSM-SessionManagerRunShell","Owner":"arn:aws:sts::111122223333:assumed-role/AWSReservedSSO_%s_0123456789abcdef/%s","OutputUrl":{},"MaxSessionDuration":"60","AccessType":"Standard"}\n' \
            "$sep" "$sid" "$now" "$set" "$person"
        sep=","
    done
    echo "]"
} > "$work/sessions.json"
"$target/debug/fake-ssm" --listen 127.0.0.1:0 --sessions "$work/sessions.json" \
    --instance-id i-0123456789abcdef0 > "$work/fake-ssm.out" 2>&1 &
fake_pid=$!
port=""
for _ in $(seq 1 100); do
    port=$(sed -n 's|^listening on http://127\.0\.0\.1:\([0-9]*\).*|\1|p' "$work/fake-ssm.out" 2>/dev/null || true)
    [ -n "$port" ] && break
    sleep 0.1
done
[ -n "$port" ] || { cat "$work/fake-ssm.out" >&2; die "fake-ssm did not start"; }
say "fake SSM endpoint on 127.0.0.1:$port (the guest's $(sed -n 's/^FAKE_URL=//p' "$in/env.sh"))"

# --- Boot -----------------------------------------------------------------------------
results="${results:-$target/vm-results}"
rm -rf "$results"
mkdir -p "$results"
say "booting (TCG, 2 vCPUs; timeout ${timeout_secs} s); the guest's console: $results/console.log"
t_boot=$(date +%s)
rc=0
# restrict=on: no route out of the guest at all; the one guestfwd connects the
# guest's 10.0.2.100:8080 to the fake, one socat per connection.
timeout --kill-after=10 "$timeout_secs" qemu-system-x86_64 \
    -machine q35 -accel tcg -cpu max -smp 2 -m 1024 \
    -nodefaults -no-user-config -display none -no-reboot \
    -serial "file:$results/console.log" \
    -kernel "$image/vmlinuz" -initrd "$image/initrd.img" \
    -append "console=ttyS0 root=LABEL=ssmvm-root rw quiet systemd.show_status=0 net.ifnames=0" \
    -drive "if=none,id=root,file=$image/root.img,format=raw,snapshot=on" \
    -device virtio-blk-pci,drive=root,serial=ssmvm-root \
    -drive "if=none,id=in,file=$work/in.img,format=raw,readonly=on" \
    -device virtio-blk-pci,drive=in,serial=ssmvm-in \
    -drive "if=none,id=out,file=$work/out.img,format=raw" \
    -device virtio-blk-pci,drive=out,serial=ssmvm-out \
    -netdev "user,id=net0,restrict=on,guestfwd=tcp:10.0.2.100:$guest_port-cmd:socat STDIO TCP:127.0.0.1:$port" \
    -device virtio-net-pci,netdev=net0 \
    -device virtio-rng-pci &
vm_pid=$!
wait "$vm_pid" || rc=$?
vm_pid=""
t_end=$(date +%s)

tar -xf "$work/out.img" -C "$results" 2>/dev/null || true
if [ -f "$results/stdout" ]; then
    cat "$results/stdout"
else
    say "no results from the guest; the end of its console:"
    tail -n 40 "$results/console.log" 2>/dev/null || true
fi
if [ -s "$results/failed-units" ]; then
    say "failed units in the guest:"
    cat "$results/failed-units"
fi
say "image ${t_image} s, boot and test $((t_end - t_boot)) s (guest uptime at the end $(cat "$results/uptime" 2>/dev/null || echo '?') s), total $((t_end - start)) s"
say "results in $results (stdout, status, journal.txt, failed-units, console.log)"

if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
    say "TIMEOUT after ${timeout_secs} s"
    exit 124
fi
[ "$rc" -eq 0 ] || { say "qemu failed (exit $rc)"; exit 1; }
status=$(cat "$results/status" 2>/dev/null || echo "")
case "$status" in
    0) say "PASS"; exit 0 ;;
    '') say "FAIL: the guest test left no exit status"; exit 1 ;;
    *) say "FAIL: the guest test exited $status"; exit "$status" ;;
esac
