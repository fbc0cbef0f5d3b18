# %postun of ssm-runas (RPM).
if [ -d /run/systemd/system ]; then
    systemctl daemon-reload >/dev/null 2>&1 || :
fi
if [ "$1" -ge 1 ]; then
    # Upgrade: as %systemd_postun_with_restart. The configuration is
    # %config(noreplace), so the new daemon reads the administrator's file.
    systemctl try-restart ssm-runasd.service >/dev/null 2>&1 || :
    exit 0
fi
# Erase: RPM has no purge, so remove what %pre/%post created: the landing
# account (only if it carries our GECOS marker) and its root-owned home. A
# modified configuration stays as config.toml.rpmsave. Accounts ssm-runasd created
# or mapped sessions to are never touched, and neither are audit logs.
if [ "$(getent passwd ssm-landing | cut -d: -f5)" = "ssm-runas landing user" ]; then
    if userdel ssm-landing; then
        if [ -d /home/ssm-landing ] && [ ! -L /home/ssm-landing ]; then
            rm -rf --one-file-system /home/ssm-landing
        fi
        if getent group ssm-landing >/dev/null && [ -z "$(getent group ssm-landing | cut -d: -f4)" ]; then
            groupdel ssm-landing || :
        fi
    else
        echo "ssm-runas: could not delete the account ssm-landing (still in use?); delete it by hand" >&2
    fi
fi
# Directories the package's files lived in (RPM does not own them here).
rmdir /etc/ssm-runas /usr/libexec/ssm-runas /usr/share/doc/ssm-runas/examples \
    /usr/share/doc/ssm-runas 2>/dev/null || :
exit 0
