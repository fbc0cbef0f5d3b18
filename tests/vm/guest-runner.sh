#!/bin/sh
# Runs inside the VM (started by the image's vm-runner.service from the input
# disk): waits until the boot is finished, runs guest-test.sh as root, then
# writes its output, exit status, the journal and the failed units as one tar
# stream to the output disk (virtio serial ssmvm-out) and powers off.
in=/mnt/in
out=/run/vm-out
mkdir -p "$out"

# `running` or `degraded`; either way the test runs, and the failed units are
# part of the results.
state=$(timeout 300 systemctl is-system-running --wait 2>&1)
echo "$state" > "$out/system-state"
echo "vm: boot finished ($state) after $(cut -d' ' -f1 /proc/uptime) s" > /dev/console

# The test's output goes to the results and, line by line, to the console (the
# host shows the console while the test runs).
(
    cd /tmp && sh "$in/guest-test.sh" "$in" 2>&1
    echo $? > "$out/status"
) | tee "$out/stdout" > /dev/console

journalctl -b --no-pager -o short-precise > "$out/journal.txt" 2>&1
systemctl list-units --failed --all --no-legend --plain > "$out/failed-units" 2>&1
cut -d' ' -f1 /proc/uptime > "$out/uptime"

dev=/dev/disk/by-id/virtio-ssmvm-out
if [ -b "$dev" ]; then
    tar -C "$out" -cf "$dev" . && sync
else
    echo "vm: no output disk $dev" > /dev/console
fi
systemctl poweroff
