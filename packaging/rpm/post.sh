# %post of ssm-runas (RPM).
# The agent sets HOME=/home/<user>, so the landing home must exist. It belongs
# to root and the landing user may only enter it.
if [ ! -e /home/ssm-landing ]; then
    install -d -o root -g ssm-landing -m 0750 /home/ssm-landing || :
fi
# As %systemd_post, then start on first install: the 80-ssm-runas.preset shipped
# with the package enables the unit (an administrator's preset file can say
# otherwise). Upgrades restart in %postun.
if [ "$1" -eq 1 ]; then
    systemctl --no-reload preset ssm-runasd.service >/dev/null 2>&1 || :
    if [ -d /run/systemd/system ]; then
        systemctl daemon-reload >/dev/null 2>&1 || :
        if systemctl --quiet is-enabled ssm-runasd.service 2>/dev/null; then
            systemctl start ssm-runasd.service >/dev/null 2>&1 || :
        fi
    fi
fi
exit 0
