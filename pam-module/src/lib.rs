//! pam_ssm_runas.so (skeleton).
