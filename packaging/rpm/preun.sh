# %preun of ssm-runas (RPM): as %systemd_preun, stop and disable on erase only.
if [ "$1" -eq 0 ]; then
    systemctl --no-reload disable --now ssm-runasd.service >/dev/null 2>&1 || :
fi
exit 0
