#!/bin/sh
# Installs what tests/vm/run.sh needs on a Debian 12 host, as root: QEMU from
# bookworm-backports (the machine's qemu-utils already comes from there; newer
# QEMU takes the disk serials tests/vm/run.sh uses), debootstrap, socat (one
# connection to the fake SSM endpoint per guest connection) and e2fsprogs.
set -eu
export DEBIAN_FRONTEND=noninteractive
if ! grep -rqs '^[^#]*bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
    # The same mirror apt uses here for bookworm, with the backports suite.
    mirror=${VM_MIRROR:-$(sh "$(dirname "$0")/mirror.sh")}
    printf 'Types: deb\nURIs: %s\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
        "$mirror" > /etc/apt/sources.list.d/bookworm-backports.sources
    apt-get update -q
fi
apt-get install -y -q --no-install-recommends debootstrap socat e2fsprogs
apt-get install -y -q --no-install-recommends -t bookworm-backports qemu-system-x86
