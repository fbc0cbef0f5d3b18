#!/bin/sh
# Package test: builds the ssm-runas .deb and .rpm from the debug build the other
# tests use (scripts/package.sh --profile dev), lints both (lintian, rpmlint), checks
# the unit (systemd-analyze verify/security), then installs the .deb on this machine
# and checks owners and modes, the landing user, the shipped configuration, an
# upgrade that keeps a modified configuration, remove and purge. Also lints the
# CloudFormation template (cfn-lint).
#
# Run as root on Debian, on a machine without a real ssm-runas installation (it
# refuses otherwise). The daemon is never started: a policy-rc.d denies service
# actions while the test runs. Everything is removed again on exit.
#
# Usage: scripts/test-packages.sh [--no-build]   (--no-build: the debug build exists)
set -eu
cd "$(dirname "$0")/.."
start=$(date +%s)
build_arg=""
[ "${1:-}" = "--no-build" ] && build_arg="--no-build"

say() { echo "test-packages: $*"; }
die() { echo "test-packages: FAIL: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (installs the .deb on this machine)"
command -v dpkg >/dev/null 2>&1 || die "needs a Debian system (dpkg)"

# --- Tools --------------------------------------------------------------------
missing=""
for p in lintian rpmlint rpm man-db binutils; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    say "installing:$missing"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    # shellcheck disable=SC2086 # the fixed package list is meant to split
    apt-get install -y -q --no-install-recommends $missing >/dev/null
fi
if ! command -v cfn-lint >/dev/null 2>&1; then
    say "installing cfn-lint (pip)"
    pip3 install -q cfn-lint || python3 -m pip install -q --break-system-packages cfn-lint
fi
for tool in cargo-deb cargo-generate-rpm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        say "installing cargo-deb and cargo-generate-rpm"
        # Some of their dependencies carry a rust-toolchain file naming an old
        # toolchain; build them with the one in use instead.
        tc=$(rustup show active-toolchain 2>/dev/null | cut -d' ' -f1 || true)
        if [ -n "$tc" ] && [ -z "${RUSTUP_TOOLCHAIN:-}" ]; then
            RUSTUP_TOOLCHAIN="$tc" cargo install --locked cargo-deb cargo-generate-rpm
        else
            cargo install --locked cargo-deb cargo-generate-rpm
        fi
        break
    fi
done

# --- Do not clobber a real installation ------------------------------------------
if dpkg-query -W -f='${Status}' ssm-runas 2>/dev/null | grep -qv "not-installed"; then
    die "the package ssm-runas is installed on this machine; refusing to replace it"
fi
getent passwd ssm-landing >/dev/null && die "an account ssm-landing exists; refusing to touch it"
getent group ssm-landing >/dev/null && die "a group ssm-landing exists; refusing to touch it"
for p in /etc/ssm-runas /etc/pam.d/ssm-runas /home/ssm-landing /usr/sbin/ssm-runasd /usr/libexec/ssm-runas; do
    [ -e "$p" ] && die "$p exists; refusing to overwrite a real installation"
done

# --- Clean up whatever happens ----------------------------------------------------
policy_made=no
cleanup() {
    status=$?
    if dpkg-query -W -f='${Status}' ssm-runas 2>/dev/null | grep -qv "not-installed"; then
        dpkg --purge ssm-runas >/dev/null 2>&1 || true
    fi
    if [ "$(getent passwd ssm-landing | cut -d: -f5)" = "ssm-runas landing user" ]; then
        userdel ssm-landing 2>/dev/null || true
        rm -rf /home/ssm-landing
    fi
    dpkg-statoverride --remove /usr/libexec/ssm-runas/ssm-runas-login >/dev/null 2>&1 || true
    [ "$policy_made" = yes ] && rm -f /usr/sbin/policy-rc.d
    rm -f "${actions:-}" "${policy:-}"
    exit $status
}
trap cleanup EXIT
trap 'exit 130' INT TERM

passed=0
failed=0
ok() { passed=$((passed + 1)); }
bad() { failed=$((failed + 1)); echo "test-packages: FAIL: $*" >&2; }
check() { # check DESCRIPTION COMMAND...
    what="$1"; shift
    if "$@"; then ok; else bad "$what"; fi
}
# mode owner group of a path, as stat prints them
perms() { stat -c '%a %U %G' "$1" 2>/dev/null || echo "missing"; }
expect_perms() { # PATH "MODE OWNER GROUP"
    got=$(perms "$1")
    if [ "$got" = "$2" ]; then ok; else bad "$1: expected $2, found $got"; fi
}
absent() { if [ -e "$1" ] || [ -L "$1" ]; then bad "$1 still exists"; else ok; fi; }

# --- Build ------------------------------------------------------------------------
say "building the packages from the debug build"
pkgs=$(scripts/package.sh --profile dev $build_arg) || die "scripts/package.sh failed"
deb=$(echo "$pkgs" | grep '\.deb$')
rpm=$(echo "$pkgs" | grep '\.rpm$')
say "built $deb"
say "built $rpm"
t_build=$(date +%s)

# Every warning left must be explained in packaging/README.md.
justified() { # TAG
    if grep -q -- "\`$1\`" packaging/README.md; then ok; else bad "lint warning $1 is not justified in packaging/README.md"; fi
}

# --- lintian ------------------------------------------------------------------------
say "lintian $deb"
lint_out=$(lintian --allow-root "$deb" 2>&1) || true
[ -n "$lint_out" ] && echo "$lint_out"
if echo "$lint_out" | grep -q '^E: '; then bad "lintian reports errors"; else ok; fi
for tag in $(echo "$lint_out" | sed -n 's/^W: [^:]*: \([^ ]*\).*/\1/p' | sort -u); do
    justified "$tag"
done

# --- rpmlint ------------------------------------------------------------------------
say "rpmlint $rpm"
rpmlint_out=$(rpmlint -c packaging/rpmlint.toml "$rpm" 2>&1) || true
echo "$rpmlint_out" | grep -E ': [EW]: |packages and' || true
if echo "$rpmlint_out" | grep -q ': E: '; then bad "rpmlint reports errors"; else ok; fi
for tag in $(echo "$rpmlint_out" | sed -n 's/^[^ ]*: W: \([^ ]*\).*/\1/p' | sort -u); do
    justified "$tag"
done

# --- The RPM's contents ---------------------------------------------------------------
rpm_files=$(rpm -qp --qf '[%{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILEFLAGS:fflags} %{FILENAMES}\n]' "$rpm" 2>/dev/null)
rpm_has() { # "PERMS USER GROUP FLAGS PATH"
    if echo "$rpm_files" | grep -qxF -- "$1"; then ok; else bad "rpm: no entry '$1'"; fi
}
rpm_has "-rwxr-xr-x root root  /usr/sbin/ssm-runasd"
rpm_has "-rwxr-xr-x root root  /usr/bin/ssm-runas"
rpm_has "-rwsr-x--- root ssm-landing  /usr/libexec/ssm-runas/ssm-runas-login"
rpm_has "-rwxr-xr-x root root  /usr/lib64/security/pam_ssm_runas.so"
rpm_has "-rw-r----- root root cn /etc/ssm-runas/config.toml"
rpm_has "-rw-r--r-- root root cn /etc/pam.d/ssm-runas"
rpm_has "-rw-r--r-- root root  /usr/lib/systemd/system/ssm-runasd.service"
for page in man1/ssm-runas.1 man5/ssm-runas.toml.5 man8/ssm-runasd.8 man8/pam_ssm_runas.8 man8/ssm-runas-login.8; do
    rpm_has "-rw-r--r-- root root d /usr/share/man/$page.gz"
done
for f in packaging/rpm/*.sh packaging/debian/postinst packaging/debian/prerm packaging/debian/postrm; do
    check "$f is valid sh" sh -n "$f"
done
rpm_scripts=$(rpm -qp --scripts "$rpm" 2>/dev/null)
for want in "useradd -r -g ssm-landing" "systemctl --no-reload preset ssm-runasd.service" \
    "systemctl try-restart ssm-runasd.service" "disable --now ssm-runasd.service"; do
    if echo "$rpm_scripts" | grep -qF -- "$want"; then ok; else bad "rpm scriptlets lack: $want"; fi
done

# --- CloudFormation -----------------------------------------------------------------
say "cfn-lint packaging/cloudformation/session-preferences.yaml"
check "cfn-lint packaging/cloudformation/session-preferences.yaml" \
    cfn-lint packaging/cloudformation/session-preferences.yaml

# --- Install ------------------------------------------------------------------------
# No service is started or stopped while we install: deny every action (only
# deb-systemd-invoke asks, and only where systemd runs).
# Our policy-rc.d denies every service action and records what was asked for.
actions=$(mktemp)
policy=$(mktemp)
printf '#!/bin/sh\n# scripts/test-packages.sh: no service actions during the package test\necho "$*" >> %s\nexit 101\n' \
    "$actions" > "$policy"
chmod 0755 "$policy"
if [ ! -e /usr/sbin/policy-rc.d ]; then
    cp "$policy" /usr/sbin/policy-rc.d
    policy_made=yes
fi
# dpkg runs in a private mount namespace where our policy-rc.d is bind-mounted
# over any existing one and, where systemd does not run (containers, CI), a
# /run/systemd/system exists: the maintainer scripts then ask for start/restart/
# stop as on a real host, and policy-rc.d denies and records it. Nobody else sees
# either mount.
# shellcheck disable=SC2016 # expanded by the inner shell
ns_setup='set -e
if [ ! -d /run/systemd/system ]; then
    mkdir -p /run/systemd; mount -t tmpfs tmpfs /run/systemd; mkdir /run/systemd/system
fi
mount --bind "$0" /usr/sbin/policy-rc.d'
use_ns=no
if unshare --mount --propagation private sh -c "$ns_setup" "$policy" 2>/dev/null; then
    use_ns=yes
fi
run_dpkg() {
    if [ "$use_ns" = yes ]; then
        unshare --mount --propagation private sh -c "$ns_setup
exec dpkg \"\$@\"" "$policy" "$@" </dev/null
    else
        dpkg "$@" </dev/null
    fi
}
# expect_action ACTION: the last service request was "ssm-runasd.service ACTION"
expect_action() {
    if [ "$use_ns" != yes ] && { [ "$policy_made" != yes ] || [ ! -d /run/systemd/system ]; }; then
        say "skipped: service $1 check (cannot observe service actions here)"
        return
    fi
    last=$(tail -n 1 "$actions" 2>/dev/null)
    if [ "$last" = "ssm-runasd.service $1" ]; then ok; else bad "expected the service to be asked to $1, last request: '${last:-none}'"; fi
    : > "$actions"
}
say "dpkg --install $deb"
run_dpkg --install "$deb" || die "dpkg --install failed"
expect_action start

check "package state is installed" sh -c "dpkg-query -W -f='\${Status}' ssm-runas | grep -q 'install ok installed'"
expect_perms /usr/sbin/ssm-runasd "755 root root"
expect_perms /usr/bin/ssm-runas "755 root root"
expect_perms /usr/libexec/ssm-runas/ssm-runas-login "4750 root ssm-landing"
check "dpkg-statoverride for the helper" sh -c \
    "dpkg-statoverride --list /usr/libexec/ssm-runas/ssm-runas-login | grep -qx 'root ssm-landing 4750 /usr/libexec/ssm-runas/ssm-runas-login'"
expect_perms /usr/lib/x86_64-linux-gnu/security/pam_ssm_runas.so "644 root root"
expect_perms /etc/pam.d/ssm-runas "644 root root"
expect_perms /etc/ssm-runas/config.toml "640 root root"
expect_perms /lib/systemd/system/ssm-runasd.service "644 root root"
for page in man1/ssm-runas.1 man5/ssm-runas.toml.5 man8/ssm-runasd.8 man8/pam_ssm_runas.8 man8/ssm-runas-login.8; do
    check "/usr/share/man/$page.gz is a gzip'd page" sh -c "gzip -dc /usr/share/man/$page.gz | head -n 3 | grep -q '^.TH '"
done
check "/usr/share/doc/ssm-runas/deployment.md" test -s /usr/share/doc/ssm-runas/deployment.md
conffiles=$(dpkg-query -W -f='${Conffiles}\n' ssm-runas)
for f in /etc/ssm-runas/config.toml /etc/pam.d/ssm-runas; do
    if echo "$conffiles" | grep -q " $f "; then ok; else bad "$f is not a conffile"; fi
done

# The landing user.
entry=$(getent passwd ssm-landing || true)
if [ -n "$entry" ]; then ok; else bad "no account ssm-landing"; fi
uid=$(echo "$entry" | cut -d: -f3)
gid=$(echo "$entry" | cut -d: -f4)
check "ssm-landing is not uid 0" test "${uid:-0}" -ne 0
check "ssm-landing is a system account (uid < 1000)" test "${uid:-1000}" -lt 1000
check "ssm-landing's shell is /usr/sbin/nologin" test "$(echo "$entry" | cut -d: -f7)" = /usr/sbin/nologin
check "ssm-landing's home is /home/ssm-landing" test "$(echo "$entry" | cut -d: -f6)" = /home/ssm-landing
check "ssm-landing's primary group is ssm-landing" test "$(getent group "${gid:-x}" | cut -d: -f1)" = ssm-landing
check "ssm-landing has no supplementary groups" test "$(id -G ssm-landing 2>/dev/null)" = "$gid"
pw=$(getent shadow ssm-landing | cut -d: -f2)
case "$pw" in
    '!'*|'*'*) ok ;;
    *) bad "ssm-landing has a usable password field: '$pw'" ;;
esac
expect_perms /home/ssm-landing "750 root ssm-landing"
check "the unit is enabled (multi-user.target.wants)" \
    test -L /etc/systemd/system/multi-user.target.wants/ssm-runasd.service

# The helper as installed: others cannot run it; the landing user can, and it
# gets as far as the packaged PAM stack and module, which find no daemon (it is
# never started here) and refuse with one line.
if getent passwd nobody >/dev/null; then
    nobody_err=$(runuser -u nobody -- /usr/libexec/ssm-runas/ssm-runas-login </dev/null 2>&1 >/dev/null || true)
    case "$nobody_err" in
        *"Permission denied"*) ok ;;
        *) bad "others must not be able to run the helper; as nobody it said: $nobody_err" ;;
    esac
fi
helper_rc=0
helper_err=$(runuser -u ssm-landing -- /usr/libexec/ssm-runas/ssm-runas-login </dev/null 2>&1 >/dev/null) || helper_rc=$?
check "the landing user's helper run fails without a daemon (exit $helper_rc)" test "$helper_rc" -ne 0
case "$helper_err" in
    *"ssm-runas: the ssm-runas daemon is not running"*) ok ;;
    *) bad "the helper, run by ssm-landing, should reach pam_ssm_runas and report the missing daemon; it said: $helper_err" ;;
esac

# The shipped configuration is valid, for the installed CLI.
check "ssm-runas check-config accepts the shipped configuration" \
    sh -c '/usr/bin/ssm-runas check-config >/dev/null'

# The unit, now that its binaries and man pages are installed.
verify_err=$(systemd-analyze verify /lib/systemd/system/ssm-runasd.service 2>&1 >/dev/null || true)
if [ -z "$verify_err" ]; then ok; else bad "systemd-analyze verify: $verify_err"; fi
exposure=$(systemd-analyze security --offline=yes /lib/systemd/system/ssm-runasd.service 2>/dev/null |
    sed -n 's/.*Overall exposure level for ssm-runasd.service: \([0-9.]*\).*/\1/p')
say "systemd-analyze security: exposure ${exposure:-unknown}"
check "exposure ${exposure:-unknown} <= 3.0" awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 3.0) }'

# --- Upgrade keeps a modified configuration ---------------------------------------
echo "# test-packages: local change $$" >> /etc/ssm-runas/config.toml
say "dpkg --install $deb (again: upgrade)"
run_dpkg --install "$deb" || die "reinstalling (upgrade) failed"
expect_action restart
check "the upgrade kept the modified configuration" grep -q "# test-packages: local change $$" /etc/ssm-runas/config.toml
expect_perms /etc/ssm-runas/config.toml "640 root root"
expect_perms /usr/libexec/ssm-runas/ssm-runas-login "4750 root ssm-landing"
check "still one ssm-landing account" test "$(getent passwd ssm-landing | cut -d: -f3)" = "$uid"

# --- Remove: files go, configuration stays ---------------------------------------
say "dpkg --remove ssm-runas"
run_dpkg --remove ssm-runas || die "dpkg --remove failed"
expect_action stop
for p in /usr/sbin/ssm-runasd /usr/bin/ssm-runas /usr/libexec/ssm-runas/ssm-runas-login \
    /usr/libexec/ssm-runas /usr/lib/x86_64-linux-gnu/security/pam_ssm_runas.so \
    /lib/systemd/system/ssm-runasd.service /usr/share/man/man8/ssm-runasd.8.gz /usr/share/doc/ssm-runas; do
    absent "$p"
done
check "remove keeps the configuration" test -f /etc/ssm-runas/config.toml
check "remove drops the helper's statoverride" sh -c \
    '! dpkg-statoverride --list /usr/libexec/ssm-runas/ssm-runas-login >/dev/null'

# --- Purge: nothing left -------------------------------------------------------------
say "dpkg --purge ssm-runas"
run_dpkg --purge ssm-runas || die "dpkg --purge failed"
check "package state is not-installed" sh -c \
    "! dpkg-query -W -f='\${Status}' ssm-runas 2>/dev/null | grep -qv not-installed"
for p in /etc/ssm-runas /etc/pam.d/ssm-runas /home/ssm-landing \
    /etc/systemd/system/multi-user.target.wants/ssm-runasd.service \
    /etc/systemd/system/ssm-runasd.service \
    /var/lib/systemd/deb-systemd-helper-enabled/ssm-runasd.service.dsh-also \
    /var/lib/systemd/deb-systemd-helper-enabled/multi-user.target.wants/ssm-runasd.service \
    /var/lib/systemd/deb-systemd-helper-masked/ssm-runasd.service; do
    absent "$p"
done
check "purge deletes the account ssm-landing" sh -c '! getent passwd ssm-landing >/dev/null'
check "purge deletes the group ssm-landing" sh -c '! getent group ssm-landing >/dev/null'

end=$(date +%s)
say "took $((end - start)) s (build and packaging $((t_build - start)) s)"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
