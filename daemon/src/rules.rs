//! Which Linux account a principal maps to: the first matching `[[rule]]` wins; an
//! owner no rule matches is denied.
#![forbid(unsafe_code)]

use ssm_runas_protocol::text::{escape, escape_ascii};

use crate::config::{Conditions, Config, LinuxUser, Outcome};
use crate::glob;
use crate::owner::{Kind, Principal};
use crate::username;

/// The result of applying the rules to one principal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Switch to `user`.
    Allow {
        /// The rule's number (1-based).
        rule: usize,
        /// The line of its `[[rule]]` header.
        line: usize,
        /// The Linux account.
        user: String,
        /// Its supplementary groups.
        groups: Vec<String>,
        /// Whether the account is created on first use.
        create: bool,
    },
    /// Refuse.
    Deny {
        /// The rule that denied, as (number, line); `None` when no rule matched.
        rule: Option<(usize, usize)>,
        /// One line meant for the person.
        reason: String,
    },
}

impl Verdict {
    /// `(number, line)` of the deciding rule, if any.
    pub fn rule(&self) -> Option<(usize, usize)> {
        match self {
            Verdict::Allow { rule, line, .. } => Some((*rule, *line)),
            Verdict::Deny { rule, .. } => *rule,
        }
    }
}

/// Whether every condition of a rule holds for `p`.
pub fn matches(c: &Conditions, p: &Principal) -> bool {
    if let Some(ps) = &c.permission_set
        && (p.kind != Kind::Idc || p.permission_set.as_deref() != Some(ps.as_str()))
    {
        return false;
    }
    if let Some(g) = &c.role {
        match &p.role_name {
            Some(r) if glob::matches(g, r) => {}
            _ => return false,
        }
    }
    if let Some(accounts) = &c.account
        && !accounts.contains(&p.account)
    {
        return false;
    }
    if let Some(g) = &c.principal {
        match p.name() {
            Some(n) if glob::matches(g, n) => {}
            _ => return false,
        }
    }
    if let Some(k) = c.kind
        && !k.selects(p.kind)
    {
        return false;
    }
    true
}

/// Applies the rules, looking accounts up in the system's user database.
pub fn decide(cfg: &Config, p: &Principal) -> Verdict {
    decide_with(cfg, p, &crate::config::system_uid)
}

/// [`decide`] with an explicit user lookup (for tests).
pub fn decide_with(cfg: &Config, p: &Principal, uid_of: &dyn Fn(&str) -> Option<u32>) -> Verdict {
    // An IAM role or group ARN is not who starts a session: never map it, whatever
    // a catch-all rule says.
    if p.kind == Kind::Other {
        return Verdict::Deny {
            rule: None,
            reason: format!("{} is not a session principal", escape_ascii(&p.arn)),
        };
    }
    let Some(rule) = cfg.rules.iter().find(|r| matches(&r.when, p)) else {
        return Verdict::Deny {
            rule: None,
            reason: format!("no rule maps {} to a Linux account", describe(p)),
        };
    };
    let at = Some((rule.number, rule.line));
    match &rule.outcome {
        Outcome::Deny { message } => Verdict::Deny {
            rule: at,
            reason: message.clone(),
        },
        Outcome::Map {
            linux_user,
            groups,
            create,
        } => {
            let user = match linux_user {
                LinuxUser::Literal(u) => u.clone(),
                LinuxUser::Template(t) => {
                    let Some(name) = p.name() else {
                        return Verdict::Deny {
                            rule: at,
                            reason: format!("{} has no user name for `{}`", describe(p), escape(t)),
                        };
                    };
                    match username::expand(t, name, cfg.strip_domain.as_deref()) {
                        Ok(u) => u,
                        Err(e) => {
                            return Verdict::Deny {
                                rule: at,
                                reason: format!("no Linux account for {}: {e}", describe(p)),
                            };
                        }
                    }
                }
            };
            if user == "root" || uid_of(&user) == Some(0) {
                return Verdict::Deny {
                    rule: at,
                    reason: format!(
                        "rule {} maps to `{user}`, which is root: never allowed",
                        rule.number
                    ),
                };
            }
            if user == cfg.landing_user {
                return Verdict::Deny {
                    rule: at,
                    reason: format!("rule {} maps to the landing user `{user}`", rule.number),
                };
            }
            Verdict::Allow {
                rule: rule.number,
                line: rule.line,
                user,
                groups: groups.clone(),
                create: *create,
            }
        }
    }
}

/// A short description of a principal for messages: who, as what, where. The
/// names are escaped ([`escape_ascii`]): the owner parser accepts ASCII only, and if
/// that ever changed a look-alike or a bidi override would still show.
pub fn describe(p: &Principal) -> String {
    let who = escape_ascii(p.name().unwrap_or("(no name)"));
    let account = escape_ascii(&p.account);
    match p.kind {
        Kind::Idc => format!(
            "{who} with permission set {} in account {account}",
            escape_ascii(p.permission_set.as_deref().unwrap_or("?")),
        ),
        Kind::AssumedRole => format!(
            "{who} in role {} in account {account}",
            escape_ascii(p.role_name.as_deref().unwrap_or("?")),
        ),
        Kind::IamUser => format!("IAM user {who} in account {account}"),
        Kind::FederatedUser => format!("federated user {who} in account {account}"),
        Kind::Root => format!("the root user of account {account}"),
        Kind::Other => format!("{} (not a session principal)", escape_ascii(&p.arn)),
    }
}

#[cfg(test)]
mod tests;
