# %pre of ssm-runas (RPM): the landing account must exist before the files are
# laid down, because the switch helper is installed root:ssm-landing 4750.
# A system account with no password (locked), no supplementary groups and no
# login shell; the SSM agent starts `sh` itself whatever the shell is. The
# GECOS field marks it as ours: %postun deletes only an account carrying it.
getent group ssm-landing >/dev/null || groupadd -r ssm-landing
getent passwd ssm-landing >/dev/null || \
    useradd -r -g ssm-landing -d /home/ssm-landing -M -s /usr/sbin/nologin \
        -c "ssm-runas landing user" ssm-landing
exit 0
