//! `[[rule]]` tables: each checked, every problem collected.
#![forbid(unsafe_code)]

use serde::Deserialize;
use toml::Spanned;

use super::{Conditions, Diagnostic, KindSel, LinuxUser, Outcome, Rule, Source_, q};
use crate::glob;
use crate::username;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRule {
    permission_set: Option<Spanned<String>>,
    role: Option<Spanned<String>>,
    account: Option<Vec<Spanned<String>>>,
    principal: Option<Spanned<String>>,
    kind: Option<Spanned<String>>,
    linux_user: Option<Spanned<String>>,
    deny: Option<Spanned<String>>,
    groups: Option<Vec<Spanned<String>>>,
    create: Option<bool>,
}

/// Checks every rule; problems go to `errors` and `warnings`, and only rules
/// without errors are returned.
pub(super) fn parse_all(
    src: &Source_<'_>,
    raw: &[Spanned<RawRule>],
    landing_user: &str,
    uid_of: &dyn Fn(&str) -> Option<u32>,
    errors: &mut Vec<Diagnostic>,
    warnings: &mut Vec<Diagnostic>,
) -> Vec<Rule> {
    let mut rules = Vec::new();
    for (i, spanned) in raw.iter().enumerate() {
        let header = src.span(spanned.span(), "");
        let r = spanned.get_ref();
        let number = i + 1;
        let mut when = Conditions::default();
        if let Some(p) = &r.permission_set {
            let v = p.get_ref();
            let qv = q(v);
            if !is_iam_name(v, 32) {
                errors.push(src.span(p.span(), format!("permission_set `{qv}` is not a permission set name (1-32 characters of letters, digits and +=,.@_-)")));
            }
            when.permission_set = Some(v.clone());
        }
        if let Some(p) = &r.role {
            let v = p.get_ref();
            let qv = q(v);
            if let Err(e) = glob::validate(v) {
                errors.push(src.span(p.span(), format!("role `{qv}`: {e}")));
            } else if !v.chars().all(|c| c == '*' || is_iam_char(c)) || v.is_empty() || v.len() > 64
            {
                errors.push(src.span(
                    p.span(),
                    format!("role `{qv}` is not an IAM role name or a glob of one"),
                ));
            }
            when.role = Some(v.clone());
        }
        if let Some(list) = &r.account {
            if list.is_empty() {
                errors.push(src.span(
                    spanned.span(),
                    format!("rule {number}: `account` is an empty list and can never match"),
                ));
            }
            let mut accounts = Vec::new();
            for a in list {
                let v = a.get_ref();
                let qv = q(v);
                if v.len() != 12 || !v.bytes().all(|b| b.is_ascii_digit()) {
                    errors.push(src.span(
                        a.span(),
                        format!("account `{qv}` is not a 12-digit AWS account id"),
                    ));
                }
                accounts.push(v.clone());
            }
            when.account = Some(accounts);
        }
        if let Some(p) = &r.principal {
            let v = p.get_ref();
            let qv = q(v);
            if let Err(e) = glob::validate(v) {
                errors.push(src.span(p.span(), format!("principal `{qv}`: {e}")));
            } else if v.is_empty() || v.len() > 128 {
                errors.push(src.span(
                    p.span(),
                    format!("principal `{qv}` must be 1-128 characters"),
                ));
            }
            when.principal = Some(v.clone());
        }
        if let Some(k) = &r.kind {
            match KindSel::parse(k.get_ref()) {
                Some(sel) => when.kind = Some(sel),
                None => errors.push(src.span(
                    k.span(),
                    format!("kind `{}` is not one of `idc`, `assumed-role`, `iam-user`, `federated-user`", q(k.get_ref())),
                )),
            }
        }
        if when.permission_set.is_some()
            && let Some(k) = when.kind
            && k != KindSel::Idc
        {
            errors.push(src.span(spanned.span(), format!("rule {number}: `permission_set` only matches kind `idc`, but kind is `{}`: the rule can never match", k.as_str())));
        }

        let outcome = match (&r.linux_user, &r.deny) {
            (Some(_), Some(d)) => {
                errors.push(src.span(
                    d.span(),
                    format!("rule {number}: give either `linux_user` or `deny`, not both"),
                ));
                None
            }
            (None, None) => {
                errors.push(src.span(
                    spanned.span(),
                    format!("rule {number}: needs `linux_user = \"…\"` or `deny = \"message\"`"),
                ));
                None
            }
            (None, Some(d)) => {
                if r.groups.is_some() || r.create.is_some() {
                    errors.push(src.span(
                        d.span(),
                        format!(
                            "rule {number}: `groups` and `create` make no sense on a `deny` rule"
                        ),
                    ));
                }
                let m = d.get_ref().trim();
                if m.is_empty() || m.len() > 200 || m.chars().any(|c| c.is_control()) {
                    errors.push(src.span(
                        d.span(),
                        format!(
                            "rule {number}: the deny message must be one line of 1-200 characters"
                        ),
                    ));
                }
                Some(Outcome::Deny {
                    message: m.to_string(),
                })
            }
            (Some(u), None) => {
                let v = u.get_ref();
                let linux_user = match check_linux_user(v, landing_user, uid_of) {
                    Ok(lu) => Some(lu),
                    Err(e) => {
                        errors.push(src.span(u.span(), format!("rule {number}: {e}")));
                        None
                    }
                };
                let mut groups = Vec::new();
                for g in r.groups.iter().flatten() {
                    let gv = g.get_ref();
                    let qgv = q(gv);
                    if !is_group_name(gv) {
                        errors
                            .push(src.span(g.span(), format!("`{qgv}` is not a valid group name")));
                    } else if gv == "root" {
                        errors.push(src.span(g.span(), "group `root` is never granted"));
                    }
                    if groups.contains(gv) {
                        warnings.push(src.span(g.span(), format!("group `{qgv}` is listed twice")));
                    } else {
                        groups.push(gv.clone());
                    }
                }
                linux_user.map(|linux_user| Outcome::Map {
                    linux_user,
                    groups,
                    create: r.create.unwrap_or(false),
                })
            }
        };
        if let Some(outcome) = outcome {
            rules.push(Rule {
                number,
                line: header.line,
                when,
                outcome,
            });
        }
    }
    rules
}

fn is_iam_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "+=,.@_-".contains(c)
}

fn is_iam_name(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.chars().all(is_iam_char)
}

/// Group names as shadow-utils accepts them (conservatively).
pub fn is_group_name(s: &str) -> bool {
    username::is_valid(s)
}

fn check_linux_user(
    v: &str,
    landing_user: &str,
    uid_of: &dyn Fn(&str) -> Option<u32>,
) -> Result<LinuxUser, String> {
    let qv = q(v);
    if v.contains("{user}") {
        let rest = v.replace("{user}", "");
        if rest.contains('{') || rest.contains('}') {
            return Err(format!(
                "linux_user `{qv}`: the only placeholder is `{{user}}`"
            ));
        }
        if v.matches("{user}").count() > 1 {
            return Err(format!("linux_user `{qv}`: `{{user}}` may appear once"));
        }
        // The fixed parts must themselves be legal in a user name.
        let probe = v.replace("{user}", "a");
        if !username::is_valid(&probe) {
            return Err(format!(
                "linux_user `{qv}`: the text around `{{user}}` must be lower-case letters, digits, `.`, `_` or `-`, starting with a letter or `_`"
            ));
        }
        return Ok(LinuxUser::Template(v.to_string()));
    }
    if v.contains('{') || v.contains('}') {
        return Err(format!(
            "linux_user `{qv}`: the only placeholder is `{{user}}`"
        ));
    }
    if !username::is_valid(v) {
        return Err(format!(
            "linux_user `{qv}` is not a valid Linux user name (^[a-z_][a-z0-9._-]{{0,31}}$)"
        ));
    }
    if v == "root" || uid_of(v) == Some(0) {
        return Err(format!("linux_user `{qv}` is root (uid 0): never allowed"));
    }
    if v == landing_user {
        return Err(format!(
            "linux_user `{qv}` is the landing user: sessions would never leave it"
        ));
    }
    Ok(LinuxUser::Literal(v.to_string()))
}
