#!/bin/sh
# Prints the Debian mirror this machine's apt already uses for bookworm (deb822
# .sources files first, then sources.list), so the VM test reaches the package
# registry exactly as the host is set up to and names no mirror of its own.
set -eu
for f in /etc/apt/sources.list.d/*.sources; do
    [ -e "$f" ] || continue
    # One stanza per blank-line-separated block: its URIs where Suites has bookworm.
    uri=$(awk '
        /^[[:space:]]*$/ { if (u != "" && s ~ /(^| )bookworm( |$)/) { print u; exit } u = ""; s = ""; next }
        /^URIs:/ { u = $2 }
        /^Suites:/ { $1 = ""; s = $0 }
        END { if (u != "" && s ~ /(^| )bookworm( |$)/) print u }
    ' "$f" | head -n 1)
    if [ -n "$uri" ]; then
        echo "$uri"
        exit 0
    fi
done
if [ -e /etc/apt/sources.list ]; then
    uri=$(awk '$1 == "deb" && $3 == "bookworm" { print $2; exit }' /etc/apt/sources.list)
    if [ -n "$uri" ]; then
        echo "$uri"
        exit 0
    fi
fi
echo "tests/vm/mirror.sh: no bookworm source in /etc/apt; set VM_MIRROR" >&2
exit 1
