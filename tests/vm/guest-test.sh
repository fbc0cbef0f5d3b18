#!/bin/sh
# Runs as root inside the VM (tests/vm/run.sh boots it; guest-runner.sh starts
# this): what a person and an administrator do with the package on a real
# Debian 12 host with systemd as PID 1. Install the .deb, configure it against
# the fake SSM endpoint on the host, reload good and bad files, play sessions
# through the fake worker (installed where the agent's worker lives), read the
# audit records back from journald, upgrade with a session open, purge; then the
# .rpm's scriptlets. Prints one line per check; exits 0 when all passed.
#
# Usage: sh guest-test.sh INPUT-DIR   (the input disk: packages, fake-worker, env.sh)
set -u
IN="${1:-/mnt/in}"
# shellcheck source=/dev/null
. "$IN/env.sh"

passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok   $*"; }
bad() { failed=$((failed + 1)); echo "FAIL $*"; }
check() { # check DESCRIPTION COMMAND...
    what="$1"; shift
    if "$@"; then ok "$what"; else bad "$what"; fi
}
expect_eq() { # expect_eq DESCRIPTION GOT WANT
    if [ "$2" = "$3" ]; then ok "$1 ($2)"; else bad "$1: expected '$3', got '$2'"; fi
}
step() { echo; echo "== $* (guest uptime $(cut -d' ' -f1 /proc/uptime) s)"; }
uptime_s() { cut -d. -f1 /proc/uptime; }
perms() { stat -c '%a %U %G' "$1" 2>/dev/null || echo missing; }
absent() { if [ -e "$1" ] || [ -L "$1" ]; then bad "$1 is left behind"; else ok "$1 is gone"; fi; }
# wait_until SECS COMMAND...: polls every 0.2 s
wait_until() {
    limit=$(($(uptime_s) + $1)); shift
    while ! "$@"; do
        [ "$(uptime_s)" -ge "$limit" ] && return 1
        sleep 0.2
    done
}

UNIT=ssm-runasd.service
HELPER=/usr/libexec/ssm-runas/ssm-runas-login
CONF=/etc/ssm-runas/config.toml
T=/run/vm-test
mkdir -p "$T"
sid_of() { awk -v n="$1" '$1 == n { print $2 }' "$IN/sessions.txt"; }
main_pid() { systemctl show -p MainPID --value "$UNIT"; }
is_active() { [ "$(systemctl is-active "$UNIT")" = active ]; }
unit_journal() { journalctl -b -u "$UNIT" --no-pager -o cat; }
# mark: a journal cursor (journalctl --after-cursor=...)
mark() { journalctl -n 0 --show-cursor | sed -n 's/^-- cursor: //p'; }
status_field() { ssm-runas status | sed -n "s/^$1  *//p"; }

# --- Sessions through the fake worker -------------------------------------------------
# The fake worker behaves like the agent's ssm-session-worker (root, argv[1] =
# SessionId, `sh` as the landing user on a new pty, the profile line typed in).
# Each session's input is a fifo held open on a file descriptor of this shell;
# its pty output goes to $T/NAME.out.
open_session() { # NAME FD [noprofile]
    rm -f "$T/$1.in" "$T/$1.out"
    mkfifo "$T/$1.in"
    if [ "${3:-}" = noprofile ]; then
        FAKE_WORKER_LANDING=ssm-landing /usr/bin/ssm-session-worker "$(sid_of "$1")" \
            < "$T/$1.in" > "$T/$1.out" 2> "$T/$1.err" &
    else
        FAKE_WORKER_LANDING=ssm-landing FAKE_WORKER_PROFILE="exec $HELPER" \
            /usr/bin/ssm-session-worker "$(sid_of "$1")" \
            < "$T/$1.in" > "$T/$1.out" 2> "$T/$1.err" &
    fi
    eval "pid_$1=$!"
    eval "exec $2> \"$T/$1.in\""
}
# The session's output as text: no carriage returns, no terminal escapes.
screen() { tr -d '\r' < "$T/$1.out" | sed 's/\x1b\[[?0-9;]*[A-Za-z]//g'; }
has_text() { screen "$1" | grep -qF -- "$2"; }
# value NAME KEY: the last "KEY=value" line the session printed
value() { screen "$1" | sed -n "s/^$2=//p" | tail -n 1; }
worker_alive() { eval "kill -0 \"\$pid_$1\"" 2>/dev/null; }
worker_gone() { ! worker_alive "$1"; }
# Waits for the mapped shell: input typed while the helper switches is flushed on
# purpose (it must never run as anyone), so the probe is typed again until it runs.
await_shell() { # NAME FD
    n=0
    while [ $n -lt 30 ]; do
        printf 'echo "RE""ADY=%s"\n' "$n" >&"$2"
        if wait_until 3 has_text "$1" "READY="; then return 0; fi
        worker_alive "$1" || return 1
        n=$((n + 1))
    done
    return 1
}
run_in() { # NAME FD COMMAND MARKER: types COMMAND once, waits for MARKER=done
    printf '%s; echo "%s""=done"\n' "$3" "$4" >&"$2"
    wait_until 60 has_text "$1" "$4=done"
}
close_session() { # NAME FD
    printf 'exit\n' >&"$2" 2>/dev/null
    eval "exec $2>&-"
    wait_until 30 worker_gone "$1"
}
# After a failed check: end whatever a session left running, so that the steps
# after it still test something (and purge can delete the landing account).
sweep() {
    for n in $(awk '!/^#/ && NF { print $1 }' "$IN/sessions.txt"); do
        if eval "[ -n \"\${pid_$n:-}\" ]" && worker_alive "$n"; then
            echo "    (cleanup: ending the leftover session $n)"
            eval "kill \"\$pid_$n\"" 2>/dev/null
            wait_until 10 worker_gone "$n" || eval "kill -9 \"\$pid_$n\"" 2>/dev/null
        fi
    done
    if pgrep -u ssm-landing >/dev/null 2>&1; then
        echo "    (cleanup: killing leftover landing-user processes: $(pgrep -d' ' -u ssm-landing))"
        pkill -KILL -u ssm-landing
    fi
}
landing_processes() { pgrep -u ssm-landing >/dev/null; }
no_landing_processes() { ! landing_processes; }
# journal records of the daemon's unit, as JSON lines, filtered by fields
records() { journalctl -b --no-pager -o json "_SYSTEMD_UNIT=$UNIT" "$@"; }
record_has() { # DESCRIPTION 'FIELD=VALUE...' '"FIELD":"value"'...
    what="$1"; filter="$2"; shift 2
    # shellcheck disable=SC2086 # the filter is a list of FIELD=VALUE words
    recs=$(records $filter)
    if [ -z "$recs" ]; then bad "$what: no record with $filter"; return; fi
    for want in "$@"; do
        if ! echo "$recs" | grep -qF -- "$want"; then
            bad "$what: no $want in $(echo "$recs" | head -n 1)"
            return
        fi
    done
    ok "$what"
}

# Lines of the unit's journal that look like the sandbox refused something. The
# one expected: the landing guard's process-event connector needs CAP_NET_ADMIN,
# which the unit leaves out on purpose (the guard scans /proc instead).
denials() {
    { unit_journal; journalctl -b -k --no-pager -o cat; } |
        grep -E 'Operation not permitted|Permission denied|Read-only file system|EPERM|EACCES|EROFS|seccomp|audit: type=1326|apparmor="DENIED"' |
        grep -vF 'landing guard: process events are not available (Operation not permitted'
}

step "the network: only the fake SSM endpoint is reachable"
can_connect() { timeout 5 bash -c "exec 3<>/dev/tcp/$1/$2" 2>/dev/null; }
fake_host=$(echo "$FAKE_URL" | sed 's|http://\([^:]*\):.*|\1|')
fake_port=$(echo "$FAKE_URL" | sed 's|.*:\([0-9]*\)$|\1|')
check "the fake SSM endpoint $fake_host:$fake_port answers" can_connect "$fake_host" "$fake_port"
check "instance metadata (169.254.169.254:80) is unreachable" sh -c '! timeout 5 bash -c "exec 3<>/dev/tcp/169.254.169.254/80" 2>/dev/null'
# Only QEMU's own addresses are probed: with restrict=on nothing leaves the emulator,
# and the test never aims at an address outside this machine's test network.
check "the host, through QEMU's gateway (10.0.2.2:22), is unreachable" sh -c '! timeout 5 bash -c "exec 3<>/dev/tcp/10.0.2.2/22" 2>/dev/null'

step "apt-get install ./$DEB (offline: the dependencies are in the image)"
cp "$IN/$DEB" "$IN/$UPGRADE_DEB" /tmp/ && chmod 0644 "/tmp/$DEB" "/tmp/$UPGRADE_DEB"
m=$(mark)
if (cd /tmp && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "./$DEB") > "$T/apt-install.log" 2>&1; then
    ok "apt-get install ./$DEB"
else
    bad "apt-get install ./$DEB:"; cat "$T/apt-install.log"
fi
check "dpkg: ssm-runas is installed" sh -c "dpkg-query -W -f='\${Status}' ssm-runas | grep -q 'install ok installed'"
expect_eq "the helper is root:ssm-landing 4750" "$(perms "$HELPER")" "4750 root ssm-landing"
check "the unit is enabled" systemctl -q is-enabled "$UNIT"
# As shipped (no [aws] instance_id) the daemon asks instance metadata, which the
# restricted network does not reach: it must say so and be restarted, not hang.
check "as shipped, without instance metadata, the daemon says what to set" \
    wait_until 60 sh -c "journalctl -u $UNIT -o cat --after-cursor='$m' | grep -q 'set \[aws\] instance_id'"
check "... and systemd keeps restarting it (Restart=on-failure)" \
    wait_until 30 sh -c "[ \"\$(systemctl show -p NRestarts --value $UNIT)\" -ge 1 ]"

step "configuration for this host (the fake SSM endpoint on the host)"
# The accounts sessions map to, made by the administrator (`create = true`,
# accounts on first use, is not in this version).
useradd -m -s /bin/bash readonly
useradd -m -s /bin/bash bob
# On EC2 the credentials come from the instance role; here a drop-in gives the
# daemon the fake's test keys and keeps the SDK away from instance metadata.
mkdir -p /etc/systemd/system/$UNIT.d
cat > /etc/systemd/system/$UNIT.d/vm-test.conf <<'EOF'
[Service]
Environment=AWS_ACCESS_KEY_ID=AKIDVMTESTVMTEST AWS_SECRET_ACCESS_KEY=vm-test-secret AWS_EC2_METADATA_DISABLED=true
EOF
rules='[[rule]]
principal = "mallory@example.com"
deny = "Your access is suspended"

[[rule]]
permission_set = "ReadOnly"
linux_user = "readonly"

[[rule]]
permission_set = "Admin"
linux_user = "{user}"
'
write_conf() { # TEXT
    printf '%s' "$1" > "$CONF.new" && chmod 0640 "$CONF.new" && mv "$CONF.new" "$CONF"
}
good_conf="landing_user = \"ssm-landing\"
strip_domain = \"example.com\"

[aws]
region = \"us-east-1\"
endpoint_url = \"$FAKE_URL\"
instance_id = \"$INSTANCE\"

$rules"
write_conf "$good_conf"
check "ssm-runas check-config accepts it" sh -c 'ssm-runas check-config >/dev/null'
systemctl daemon-reload
check "systemctl restart $UNIT (Type=notify: returns once it listens)" systemctl restart "$UNIT"
check "$UNIT is active" is_active

step "systemctl status of every ssm-runas unit"
units=$(systemctl list-units --all --no-legend --plain 'ssm-runas*' | awk '{ print $1 }')
echo "units: $units"
for u in $units; do
    systemctl status --no-pager --lines=0 "$u" | sed 's/^/    /'
    expect_eq "$u is active" "$(systemctl is-active "$u")" active
done
check "ssm-runas status reaches the daemon" sh -c 'ssm-runas status > /run/vm-test/status.txt'
sed 's/^/    /' "$T/status.txt"
# The daemon asks STS and probes DescribeSessions once it listens, in the background.
wait_until 30 sh -c "ssm-runas status | grep -q '^describe-sessions  *allowed'"
expect_eq "status: aws identity (from the fake STS)" "$(status_field 'aws identity')" \
    "arn:aws:sts::111122223333:assumed-role/ssm-runas-instance-role/i-0123456789abcdef0"
expect_eq "status: describe-sessions" "$(status_field describe-sessions)" allowed
guard_method=$(status_field 'landing guard')
echo "    the landing guard under the real unit: $guard_method"
case "$guard_method" in
    enforce*) ok "status: the landing guard enforces" ;;
    *) bad "status: landing guard is '$guard_method'" ;;
esac

step "systemctl reload: a good file applies, a bad one is refused and the old one stays"
pid_before=$(main_pid)
write_conf "$good_conf
[[rule]]
permission_set = \"Billing\"
linux_user = \"readonly\"
"
check "systemctl reload with a good file" systemctl reload "$UNIT"
expect_eq "status: the new file's rule count" "$(status_field rules)" 4
expect_eq "the daemon was not restarted" "$(main_pid)" "$pid_before"
write_conf "$good_conf
[[rule]
permission_set = \"Broken\"
"
reload_err=$(systemctl reload "$UNIT" 2>&1)
reload_rc=$?
check "systemctl reload with a bad file fails (exit $reload_rc)" test "$reload_rc" -ne 0
echo "    $reload_err" | head -n 2
expect_eq "status: the old configuration stays in force" "$(status_field rules)" 4
check "$UNIT is still active" is_active
# The daemon's own check, when the signal comes without ExecReload's check-config.
m=$(mark)
systemctl kill -s HUP --kill-who=main "$UNIT"
check "SIGHUP with a bad file: the daemon refuses it itself" \
    wait_until 20 sh -c "journalctl -u $UNIT -o cat --after-cursor='$m' | grep -q 'reload refused'"
expect_eq "status: still the old configuration" "$(status_field rules)" 4
expect_eq "the daemon was not restarted" "$(main_pid)" "$pid_before"
write_conf "$good_conf"
check "systemctl reload back to the first file" systemctl reload "$UNIT"
expect_eq "status: rule count" "$(status_field rules)" 3

step "sessions: the fake worker where the agent's worker lives"
install -m 0755 "$IN/fake-worker" /usr/bin/ssm-session-worker
ro_uid=$(id -u readonly)

echo "-- an allowed session (alice, ReadOnly -> readonly)"
open_session alice 7
if await_shell alice 7; then
    ok "alice's session reaches a shell"
    run_in alice 7 'echo "WHO=$(id -un)"; echo "UID=$(id -u)"; echo "LOGINUID=$(cat /proc/self/loginuid)"; echo "XDG=$XDG_SESSION_ID"; echo "CG=$(cat /proc/self/cgroup)"; echo "HOMEDIR=$HOME"' a1 ||
        bad "alice: no answer"
    expect_eq "alice lands as readonly" "$(value alice WHO)" readonly
    expect_eq "alice's uid" "$(value alice UID)" "$ro_uid"
    expect_eq "alice's loginuid (pam_loginuid)" "$(value alice LOGINUID)" "$ro_uid"
    expect_eq "alice's HOME" "$(value alice HOMEDIR)" /home/readonly
    xdg=$(value alice XDG)
    echo "    cgroup: $(value alice CG)"
    case "$(value alice CG)" in
        *"/user.slice/user-$ro_uid.slice/session-"*.scope) ok "alice's shell is in a logind session scope" ;;
        *) bad "alice's shell is not in a session scope: $(value alice CG)" ;;
    esac
    loginctl list-sessions --no-legend | sed 's/^/    /'
    if [ -n "$xdg" ]; then
        expect_eq "loginctl: session $xdg belongs to readonly" "$(loginctl show-session "$xdg" -p Name --value)" readonly
        expect_eq "loginctl: session $xdg's PAM service" "$(loginctl show-session "$xdg" -p Service --value)" ssm-runas
        expect_eq "loginctl: session $xdg is active" "$(loginctl show-session "$xdg" -p State --value)" active
    else
        bad "alice's shell has no XDG_SESSION_ID (pam_systemd)"
    fi
    check "alice's session closes" close_session alice 7
    [ -n "$xdg" ] && check "loginctl: session $xdg is gone or closing" \
        wait_until 20 sh -c "[ \"\$(loginctl show-session $xdg -p State --value 2>/dev/null)\" != active ]"
else
    bad "alice's session never reached a shell:"; screen alice | tail -n 20
fi

sweep
echo "-- an allowed session mapped by name (bob, Admin -> {user} = bob)"
open_session bob 7
if await_shell bob 7; then
    run_in bob 7 'echo "WHO=$(id -un)"; echo "LOGINUID=$(cat /proc/self/loginuid)"' b1 || bad "bob: no answer"
    expect_eq "bob lands as bob" "$(value bob WHO)" bob
    expect_eq "bob's loginuid" "$(value bob LOGINUID)" "$(id -u bob)"
    check "bob's session closes" close_session bob 7
else
    bad "bob's session never reached a shell:"; screen bob | tail -n 20; unit_journal | tail -n 20
fi

sweep
echo "-- a denied session (mallory)"
open_session mallory 7
check "mallory sees the rule's line" wait_until 60 has_text mallory "Your access is suspended"
check "mallory's session ends" wait_until 30 worker_gone mallory
exec 7>&-
screen mallory | grep -F 'ssm-runas' | sed 's/^/    /'
check "no landing-user process is left" wait_until 10 no_landing_processes

sweep
echo "-- the landing guard: a session whose profile line never runs"
t0=$(uptime_s)
open_session guard 7 noprofile
check "the guard's line reaches the terminal" \
    wait_until 60 has_text guard "ssm-runas: this session did not switch accounts and is being closed"
check "the guard closes the session" wait_until 30 worker_gone guard
echo "    closed after about $(($(uptime_s) - t0)) s (grace_secs 3)"
exec 7>&-
check "no landing-user process is left" wait_until 10 no_landing_processes
sweep
echo "-- the landing guard with process events (the unit's documented drop-in adds CAP_NET_ADMIN)"
cat > /etc/systemd/system/$UNIT.d/vm-events.conf <<'EOF2'
[Service]
CapabilityBoundingSet=CAP_NET_ADMIN
EOF2
systemctl daemon-reload
check "systemctl restart with CAP_NET_ADMIN" systemctl restart "$UNIT"
events_method=$(status_field 'landing guard')
echo "    the landing guard with the drop-in: $events_method"
case "$events_method" in
    *"process events"*) ok "status: the guard uses process events" ;;
    *) bad "status: with CAP_NET_ADMIN the guard still says '$events_method'" ;;
esac
t0=$(uptime_s)
open_session guard2 7 noprofile
check "the guard's line reaches the terminal" \
    wait_until 60 has_text guard2 "ssm-runas: this session did not switch accounts and is being closed"
check "the guard closes the session" wait_until 30 worker_gone guard2
echo "    closed after about $(($(uptime_s) - t0)) s"
exec 7>&-
check "no landing-user process is left" wait_until 10 no_landing_processes
check "status: guard kills >= 1 ($(status_field 'guard kills'))" test "$(status_field 'guard kills')" -ge 1

rm -f /etc/systemd/system/$UNIT.d/vm-events.conf
systemctl daemon-reload
check "systemctl restart without the drop-in" systemctl restart "$UNIT"

sweep
step "audit records in journald (journalctl -o json, filtered by their fields)"
alice_sid=$(sid_of alice)
record_has "allow for alice" "SSM_RUNAS_DECISION=allow SSM_RUNAS_SESSION_ID=$alice_sid" \
    '"SSM_RUNAS_LINUX_USER":"readonly"' '"SSM_RUNAS_PERMISSION_SET":"ReadOnly"' \
    '"SSM_RUNAS_PRINCIPAL":"alice@example.com"' '"SSM_RUNAS_ACCOUNT_ID":"111122223333"' \
    '"MESSAGE_ID":"698ec4fa86e2498ca42765ab09034648"' '"SYSLOG_IDENTIFIER":"ssm-runasd"' '"PRIORITY":"6"'
record_has "session-opened for alice" "SSM_RUNAS_DECISION=session-opened SSM_RUNAS_SESSION_ID=$alice_sid" \
    '"SSM_RUNAS_LINUX_USER":"readonly"'
record_has "session-closed for alice" "SSM_RUNAS_DECISION=session-closed SSM_RUNAS_SESSION_ID=$alice_sid"
record_has "allow for bob" "SSM_RUNAS_DECISION=allow SSM_RUNAS_SESSION_ID=$(sid_of bob)" \
    '"SSM_RUNAS_LINUX_USER":"bob"' '"SSM_RUNAS_PERMISSION_SET":"Admin"'
record_has "deny for mallory" "SSM_RUNAS_DECISION=deny SSM_RUNAS_SESSION_ID=$(sid_of mallory)" \
    '"SSM_RUNAS_REASON":"Your access is suspended"' '"SSM_RUNAS_RULE":"1"' '"PRIORITY":"4"'
record_has "guard-kill for the guard session" "SSM_RUNAS_DECISION=guard-kill SSM_RUNAS_SESSION_ID=$(sid_of guard)" \
    '"PRIORITY":"4"'
echo "    records: $(records MESSAGE_ID=698ec4fa86e2498ca42765ab09034648 | wc -l)"
journalctl -b --no-pager -o cat "_SYSTEMD_UNIT=$UNIT" MESSAGE_ID=698ec4fa86e2498ca42765ab09034648 | sed 's/^/    /'

sweep
step "upgrade to $UPGRADE_VERSION with a session open"
open_session carol 8
if await_shell carol 8; then
    run_in carol 8 'echo "WHO=$(id -un)"' c1
    expect_eq "carol lands as readonly" "$(value carol WHO)" readonly
    # A plain restart first (same binaries), to tell it apart from the upgrade.
    check "systemctl restart with a session open" systemctl restart "$UNIT"
    sleep 5
    check "carol's session survived the restart" worker_alive carol
    run_in carol 8 'echo "RESTARTED=$(id -un)"' c0
    expect_eq "carol's shell works after the restart, as readonly" "$(value carol RESTARTED)" readonly
    pid_before=$(main_pid)
    if (cd /tmp && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "./$UPGRADE_DEB") > "$T/apt-upgrade.log" 2>&1; then
        ok "apt-get install ./$UPGRADE_DEB"
    else
        bad "apt-get install ./$UPGRADE_DEB:"; cat "$T/apt-upgrade.log"
    fi
    expect_eq "dpkg: the new version" "$(dpkg-query -W -f='${Version}' ssm-runas)" "$UPGRADE_VERSION"
    check "the daemon was restarted" test "$(main_pid)" != "$pid_before"
    check "$UNIT is active after the upgrade" is_active
    check "the upgrade kept the configuration" grep -qF 'linux_user = "{user}"' "$CONF"
    expect_eq "the helper is still root:ssm-landing 4750" "$(perms "$HELPER")" "4750 root ssm-landing"
    # The guard's first scan after the restart must recognise the running helper,
    # whose file dpkg has replaced (and stripped of its setuid bit before unlinking).
    sleep 5
    check "carol's session survived the upgrade" worker_alive carol
    run_in carol 8 'echo "AFTER=$(id -un)"' c2
    expect_eq "carol's shell still works, as readonly" "$(value carol AFTER)" readonly
    echo "-- a new session after the upgrade (dave)"
    open_session dave 7
    if await_shell dave 7; then
        run_in dave 7 'echo "WHO=$(id -un)"' d1
        expect_eq "dave lands as readonly" "$(value dave WHO)" readonly
        check "dave's session closes" close_session dave 7
    else
        bad "dave's session never reached a shell:"; screen dave | tail -n 20
    fi
    check "carol's session closes" close_session carol 8
else
    bad "carol's session never reached a shell:"; screen carol | tail -n 20
fi

sweep
step "the sandbox under the real unit"
found=$(denials)
if [ -z "$found" ]; then
    ok "no sandbox denials in the journal"
else
    bad "sandbox denials in the journal:"; echo "$found" | sed 's/^/    /'
fi
echo "-- systemd-analyze security $UNIT"
systemd-analyze security --no-pager "$UNIT" > "$T/security.txt" 2>&1
grep -v '^  *✓\|^✓' "$T/security.txt" | sed 's/^/    /'
exposure=$(sed -n "s/.*Overall exposure level for $UNIT: \([0-9.]*\).*/\1/p" "$T/security.txt")
echo "    EXPOSURE=$exposure"
check "exposure ${exposure:-unknown} <= 3.0" awk -v e="${exposure:-99}" 'BEGIN { exit !(e <= 3.0) }'
echo "-- the unit's journal"
unit_journal | sed 's/^/    /'

sweep
step "apt-get purge ssm-runas"
if DEBIAN_FRONTEND=noninteractive apt-get purge -y -q ssm-runas > "$T/apt-purge.log" 2>&1; then
    ok "apt-get purge ssm-runas"
else
    bad "apt-get purge:"; cat "$T/apt-purge.log"
fi
check "no ssm-runasd process" sh -c '! pgrep -x ssm-runasd >/dev/null'
check "systemd no longer knows the unit" sh -c "! systemctl cat $UNIT >/dev/null 2>&1 || [ \"\$(systemctl show -p LoadState --value $UNIT)\" != loaded ]"
for p in /usr/sbin/ssm-runasd /usr/bin/ssm-runas /usr/libexec/ssm-runas \
    /usr/lib/x86_64-linux-gnu/security/pam_ssm_runas.so /lib/systemd/system/$UNIT \
    /etc/ssm-runas /etc/pam.d/ssm-runas /home/ssm-landing /run/ssm-runas \
    /etc/systemd/system/multi-user.target.wants/$UNIT \
    /var/lib/systemd/deb-systemd-helper-enabled/$UNIT.dsh-also \
    /var/lib/systemd/deb-systemd-helper-masked/$UNIT /usr/share/doc/ssm-runas; do
    absent "$p"
done
check "the account ssm-landing is gone" sh -c '! getent passwd ssm-landing >/dev/null'
check "the group ssm-landing is gone" sh -c '! getent group ssm-landing >/dev/null'
check "no statoverride is left" sh -c "! dpkg-statoverride --list | grep -q ssm-runas"
# What stays, by design: accounts sessions mapped to, the audit
# records in the journal, the administrator's drop-in, the logs directory.
check "the accounts sessions mapped to stay" sh -c 'getent passwd readonly >/dev/null && getent passwd bob >/dev/null'
check "the audit records stay in the journal" sh -c "[ \$(journalctl -b -o json MESSAGE_ID=698ec4fa86e2498ca42765ab09034648 | wc -l) -ge 6 ]"
echo "    left on purpose: $(ls -d /var/log/ssm-runas /etc/systemd/system/$UNIT.d 2>/dev/null | tr '\n' ' ')"
rm -rf /etc/systemd/system/$UNIT.d /var/log/ssm-runas
systemctl daemon-reload

step "the .rpm's scriptlets (rpm --force-debian in this Debian guest)"
RPMQ="rpm --nodeps --force-debian"
echo "-- install (%pre, %post)"
m=$(mark)
if $RPMQ -i "$IN/$RPM" > "$T/rpm-install.log" 2>&1; then ok "rpm -i"; else bad "rpm -i:"; cat "$T/rpm-install.log"; fi
entry=$(getent passwd ssm-landing)
check "%pre: the account ssm-landing (system, nologin, our GECOS)" sh -c \
    "echo '$entry' | grep -q '^ssm-landing:x:[0-9]*:[0-9]*:ssm-runas landing user:/home/ssm-landing:/usr/sbin/nologin\$'"
expect_eq "the helper, laid down after %pre, is root:ssm-landing 4750" "$(perms "$HELPER")" "4750 root ssm-landing"
expect_eq "%post: /home/ssm-landing" "$(perms /home/ssm-landing)" "750 root ssm-landing"
check "%post: the preset enabled the unit" systemctl -q is-enabled "$UNIT"
check "%post: the daemon was started (it fails without instance metadata, as for the .deb)" \
    wait_until 60 sh -c "journalctl -u $UNIT -o cat --after-cursor='$m' | grep -q 'set \[aws\] instance_id'"
echo "-- configure, then upgrade (rpm -U of the same package: %pre 2, %post 2, %preun 1, %postun 1)"
mkdir -p /etc/systemd/system/$UNIT.d
cat > /etc/systemd/system/$UNIT.d/vm-test.conf <<'EOF'
[Service]
Environment=AWS_ACCESS_KEY_ID=AKIDVMTESTVMTEST AWS_SECRET_ACCESS_KEY=vm-test-secret AWS_EC2_METADATA_DISABLED=true
EOF
write_conf "$good_conf"
systemctl daemon-reload
check "the rpm-installed unit starts with a good configuration" systemctl restart "$UNIT"
pid_before=$(main_pid)
if $RPMQ -U --replacepkgs "$IN/$RPM" > "$T/rpm-upgrade.log" 2>&1; then ok "rpm -U"; else bad "rpm -U:"; cat "$T/rpm-upgrade.log"; fi
check "%postun: try-restart restarted the daemon" sh -c "[ \"\$(systemctl show -p MainPID --value $UNIT)\" != '$pid_before' ]"
check "$UNIT is active after the upgrade" is_active
check "%config(noreplace): the configuration stays" grep -qF 'linux_user = "{user}"' "$CONF"
echo "-- erase (%preun, %postun)"
if $RPMQ -e ssm-runas > "$T/rpm-erase.log" 2>&1; then ok "rpm -e"; else bad "rpm -e:"; cat "$T/rpm-erase.log"; fi
check "%preun: no ssm-runasd process" sh -c '! pgrep -x ssm-runasd >/dev/null'
absent /etc/systemd/system/multi-user.target.wants/$UNIT
check "%postun: the account ssm-landing is gone" sh -c '! getent passwd ssm-landing >/dev/null'
check "%postun: the group ssm-landing is gone" sh -c '! getent group ssm-landing >/dev/null'
for p in /home/ssm-landing /usr/libexec/ssm-runas /usr/sbin/ssm-runasd /usr/share/doc/ssm-runas \
    /usr/lib/systemd/system/$UNIT /usr/lib/systemd/system-preset/80-ssm-runas.preset; do
    absent "$p"
done
check "the modified configuration is kept as config.toml.rpmsave" test -f "$CONF.rpmsave"
echo "    left: $(ls -d /etc/ssm-runas/* /usr/lib64/security 2>/dev/null | tr '\n' ' ')"
rm -rf /etc/systemd/system/$UNIT.d /etc/ssm-runas

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
