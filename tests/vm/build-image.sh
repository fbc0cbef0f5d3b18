#!/bin/sh
# Builds the Debian 12 VM image tests/vm/run.sh boots: a debootstrap minbase root
# with systemd as PID 1, the cloud kernel, everything the guest test needs
# (installed now, because the guest has no network but the fake SSM endpoint),
# and a runner unit that hands the boot to the input disk. No loop devices, no
# root filesystem mounts: the ext4 image is made with `mke2fs -d`.
#
# Usage: tests/vm/build-image.sh OUTDIR
#   Writes OUTDIR/root.img (ext4, label ssmvm-root), OUTDIR/vmlinuz and
#   OUTDIR/initrd.img. Run as root. VM_MIRROR overrides the Debian mirror.
#
# tests/vm/run.sh caches the result under a hash of this file: every change
# here (the package list included) builds a new image.
set -eu

out="${1:?usage: tests/vm/build-image.sh OUTDIR}"
mirror="${VM_MIRROR:-$(sh "$(dirname "$0")/mirror.sh")}"

# What the guest needs beyond minbase, and why:
#   systemd-sysv           systemd as PID 1 (/sbin/init)
#   udev                   /dev/disk/by-label for the root, input and output disks
#   dbus, libpam-systemd   logind, and pam_systemd in common-session (EC2's Debian
#                          images have both; without them no logind session)
#   linux-image-cloud-amd64  the kernel (virtio, no 9p), booted with -kernel/-initrd
#   procps, iproute2       ps/pgrep/ss for the test and for a person looking around
#   rpm                    runs the .rpm's scriptlets in this Debian guest
# The package's own dependencies (passwd, libpam-modules, libpam-runtime, libc6,
# libpam0g) are all in minbase, so `apt-get install ./ssm-runas_*.deb` is offline.
packages=systemd-sysv,udev,dbus,libpam-systemd,linux-image-cloud-amd64,procps,iproute2,rpm

say() { echo "build-image: $*" >&2; }

[ "$(id -u)" -eq 0 ] || { say "run as root (debootstrap)"; exit 2; }
for tool in debootstrap mke2fs dpkg-deb; do
    command -v "$tool" >/dev/null 2>&1 || { say "$tool is missing (apt-get install debootstrap e2fsprogs)"; exit 2; }
done

mkdir -p "$out"
work=$(mktemp -d "${TMPDIR:-/var/tmp}/ssm-runas-vm-build.XXXXXX")
trap 'rm -rf "$work"' EXIT
root="$work/root"

say "debootstrap bookworm (minbase) from $mirror"
debootstrap --variant=minbase --include="$packages" bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1 ||
    { tail -n 30 "$work/debootstrap.log" >&2; say "debootstrap failed"; exit 1; }

say "configuring the root"
echo ssmvm > "$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tssmvm\n' > "$root/etc/hosts"
# Extra disks shift device names: mount everything by label.
printf 'LABEL=ssmvm-root\t/\text4\tdefaults\t0\t1\n' > "$root/etc/fstab"

# minbase has no DHCP client: systemd-networkd on the user-mode network.
mkdir -p "$root/etc/systemd/network"
cat > "$root/etc/systemd/network/10-vm.network" <<'EOF'
[Match]
Name=en* eth*

[Network]
DHCP=ipv4
EOF
chroot "$root" systemctl enable systemd-networkd.service >/dev/null 2>&1

# Nothing but the test may run on a schedule: the timers would wake up apt and
# friends in the middle of a run (and cost CPU under emulation).
for t in apt-daily.timer apt-daily-upgrade.timer e2scrub_all.timer fstrim.timer; do
    chroot "$root" systemctl mask "$t" >/dev/null 2>&1 || true
done
# No login prompts needed: nobody logs in on the console.
chroot "$root" systemctl mask getty@tty1.service serial-getty@ttyS0.service >/dev/null 2>&1 || true
# The guest reaches no mirror. What the package depends on beyond minbase (and
# what a Debian cloud image has anyway) is not installed but served from a local
# repository in the image, so `apt-get install ./ssm-runas_*.deb` resolves the
# package's dependencies as on a real host, offline. A missing Depends shows up
# as a failing daemon in the guest, not as a green test.
repo_packages="ca-certificates"
cp /etc/resolv.conf "$root/etc/resolv.conf"
chroot "$root" apt-get update -q >"$work/apt.log" 2>&1 &&
    # shellcheck disable=SC2086 # a list of names
    chroot "$root" apt-get install -q -y --download-only --no-install-recommends $repo_packages \
        >>"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log" >&2; say "cannot download the local repository's packages"; exit 1; }
: > "$root/etc/resolv.conf"
repo="$root/opt/ssm-runas-vm-repo"
mkdir -p "$repo"
mv "$root"/var/cache/apt/archives/*.deb "$repo/"
# A flat repository's index, as dpkg-scanpackages writes it.
for deb in "$repo"/*.deb; do
    dpkg-deb -f "$deb"
    echo "Filename: ./$(basename "$deb")"
    echo "Size: $(stat -c %s "$deb")"
    echo "SHA256: $(sha256sum "$deb" | cut -d' ' -f1)"
    echo
done > "$repo/Packages"
echo "deb [trusted=yes] file:/opt/ssm-runas-vm-repo ./" > "$root/etc/apt/sources.list"
rm -rf "$root"/var/lib/apt/lists/*
chroot "$root" apt-get update -q >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log" >&2; say "apt-get update of the local repository failed"; exit 1; }

# The runner: once the system is up, the input disk's guest-runner.sh takes over
# (tests/vm/guest-runner.sh: runs the test, writes the results, powers off).
cat > "$root/usr/local/sbin/vm-runner" <<'EOF'
#!/bin/sh
# Hands the booted system to the input disk (see tests/vm/build-image.sh).
mkdir -p /mnt/in
if ! mount -o ro LABEL=ssmvm-in /mnt/in; then
    echo "vm-runner: no input disk (label ssmvm-in)" >&2
    systemctl poweroff
    exit 1
fi
exec /bin/sh /mnt/in/guest-runner.sh
EOF
chmod 0755 "$root/usr/local/sbin/vm-runner"
# Not Type=oneshot: the runner waits for `systemctl is-system-running --wait`,
# which a start job still in progress would never let finish.
cat > "$root/etc/systemd/system/vm-runner.service" <<'EOF'
[Unit]
Description=ssm-runas VM test runner (tests/vm)
After=multi-user.target

[Service]
Type=exec
ExecStart=/usr/local/sbin/vm-runner
StandardOutput=journal+console
StandardError=journal+console

[Install]
WantedBy=multi-user.target
EOF
chroot "$root" systemctl enable vm-runner.service >/dev/null 2>&1

# A small initramfs: the boot only needs the virtio disk driver to find the root
# by label (every driver in it costs seconds of emulated decompression and udev).
printf 'MODULES=list\n' > "$root/etc/initramfs-tools/conf.d/vm.conf"
printf 'virtio_pci\nvirtio_blk\n' >> "$root/etc/initramfs-tools/modules"
chroot "$root" update-initramfs -u -k all >"$work/initramfs.log" 2>&1 ||
    { cat "$work/initramfs.log" >&2; say "update-initramfs failed"; exit 1; }

# Smaller image: no package caches, no docs or man pages.
rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/usr/share/doc/* "$root"/usr/share/man/*

kernel=$(ls "$root"/boot/vmlinuz-* | tail -n 1)
initrd=$(ls "$root"/boot/initrd.img-* | tail -n 1)
[ -f "$kernel" ] && [ -f "$initrd" ] || { say "no kernel or initrd in /boot"; exit 1; }
cp "$kernel" "$work/vmlinuz"
cp "$initrd" "$work/initrd.img"

say "making the ext4 image"
mke2fs -q -t ext4 -L ssmvm-root -d "$root" "$work/root.img" 3G >/dev/null
mv "$work/vmlinuz" "$work/initrd.img" "$work/root.img" "$out/"
say "done: $out"
