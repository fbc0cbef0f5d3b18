//! Shadowed rules: a rule that can never match because an earlier rule matches
//! every owner it would.
//!
//! Comparing every rule with every earlier one is quadratic (a fleet configuration
//! of 3,000 rules took seconds). Instead the earlier rules are indexed by what they
//! require of each condition, and a rule is compared only with the earlier rules
//! that could cover it in its most selective condition: those without that
//! condition, those with the same text, and (for a literal name) the globs whose
//! fixed start is a start of it. Typical rule sets need about one comparison per
//! rule. A pathological one (thousands of globs starting with `*` against literal
//! names) is cut off after [`BUDGET`] comparisons, with a warning saying where.
#![forbid(unsafe_code)]

use std::collections::HashMap;

use super::{Conditions, KindSel, Rule};
use crate::glob;

/// The most rule-to-rule comparisons one check makes.
pub const BUDGET: usize = 200_000;

/// What the check found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Report {
    /// `(later, earlier)` positions in the rule list: `earlier` is the first rule
    /// that matches every owner `later` would.
    pub shadowed: Vec<(usize, usize)>,
    /// Rule-to-rule comparisons made.
    pub comparisons: usize,
    /// The position of the first rule not checked, when [`BUDGET`] ran out.
    pub stopped_at: Option<usize>,
}

/// Earlier rules by what one glob-capable condition (role, principal) requires.
#[derive(Default)]
struct TextIndex<'a> {
    /// Rules without the condition.
    any: Vec<usize>,
    /// Rules by the condition's exact text (a literal name, or a glob's own text).
    exact: HashMap<&'a str, Vec<usize>>,
    /// Glob rules by the glob's fixed start (the text before its first `*`).
    globs: HashMap<&'a str, Vec<usize>>,
    /// The distinct lengths (bytes) of those fixed starts.
    glob_starts: Vec<usize>,
}

impl<'a> TextIndex<'a> {
    fn insert(&mut self, i: usize, cond: Option<&'a str>) {
        match cond {
            None => self.any.push(i),
            Some(t) => {
                self.exact.entry(t).or_default().push(i);
                if let Some(star) = t.find('*') {
                    let start = &t[..star];
                    self.globs.entry(start).or_default().push(i);
                    if !self.glob_starts.contains(&star) {
                        self.glob_starts.push(star);
                    }
                }
            }
        }
    }

    /// The lists holding every earlier rule whose condition may cover `value`.
    fn candidates(&self, value: Option<&str>) -> Vec<&[usize]> {
        let mut out: Vec<&[usize]> = vec![&self.any];
        let Some(v) = value else { return out };
        if let Some(l) = self.exact.get(v) {
            out.push(l);
        }
        // A glob covers a different text only when that text is a literal it matches.
        if !glob::is_glob(v) {
            for &n in &self.glob_starts {
                if let Some(l) = v.get(..n).and_then(|start| self.globs.get(start)) {
                    out.push(l);
                }
            }
        }
        out
    }
}

/// Earlier rules by what one exact-valued condition (permission set, account) requires.
#[derive(Default)]
struct ExactIndex<'a> {
    any: Vec<usize>,
    by: HashMap<&'a str, Vec<usize>>,
}

impl<'a> ExactIndex<'a> {
    fn insert(&mut self, i: usize, values: Option<&'a [String]>) {
        match values {
            None => self.any.push(i),
            Some(vs) => {
                for v in vs {
                    let l = self.by.entry(v.as_str()).or_default();
                    // An account listed twice in one rule is indexed once.
                    if l.last() != Some(&i) {
                        l.push(i);
                    }
                }
            }
        }
    }

    /// Earlier rules that may cover a rule requiring one of `values` (all of which an
    /// earlier rule must allow): any one value's list is enough; the shortest is used.
    fn candidates(&self, values: Option<&[String]>) -> Vec<&[usize]> {
        let mut out: Vec<&[usize]> = vec![&self.any];
        if let Some(vs) = values {
            if vs.is_empty() {
                // Every list allows all of nothing (never in a valid configuration).
                out.extend(self.by.values().map(Vec::as_slice));
                return out;
            }
            let shortest = vs
                .iter()
                .map(|v| self.by.get(v.as_str()).map(Vec::as_slice).unwrap_or(&[]))
                .min_by_key(|l| l.len());
            if let Some(l) = shortest {
                out.push(l);
            }
        }
        out
    }
}

fn size(lists: &[&[usize]]) -> usize {
    lists.iter().map(|l| l.len()).sum()
}

/// Finds every shadowed rule, with the first earlier rule that shadows it.
pub fn check(rules: &[Rule]) -> Report {
    let mut report = Report::default();
    let mut permission_set = ExactIndex::default();
    let mut account = ExactIndex::default();
    let mut role = TextIndex::default();
    let mut principal = TextIndex::default();
    for (j, later) in rules.iter().enumerate() {
        let w = &later.when;
        let ps = w.permission_set.as_ref().map(std::slice::from_ref);
        let options = [
            permission_set.candidates(ps),
            account.candidates(w.account.as_deref()),
            role.candidates(w.role.as_deref()),
            principal.candidates(w.principal.as_deref()),
        ];
        // Any earlier rule that covers this one is in every option: use the smallest.
        let chosen = options
            .iter()
            .min_by_key(|o| size(o))
            .map_or(&[][..], Vec::as_slice);
        let mut candidates: Vec<usize> = chosen.iter().flat_map(|l| l.iter().copied()).collect();
        candidates.sort_unstable();
        candidates.dedup();
        for i in candidates {
            if report.comparisons == BUDGET {
                report.stopped_at = Some(j);
                return report;
            }
            report.comparisons += 1;
            if let Some(earlier) = rules.get(i)
                && covers(&earlier.when, w)
            {
                report.shadowed.push((j, i));
                break;
            }
        }
        permission_set.insert(j, ps);
        account.insert(j, w.account.as_deref());
        role.insert(j, w.role.as_deref());
        principal.insert(j, w.principal.as_deref());
    }
    report
}

/// Whether every owner matching `later` also matches `earlier` (conservative: may
/// answer false when it is true, never true when it is false).
pub fn covers(earlier: &Conditions, later: &Conditions) -> bool {
    let ps = match &earlier.permission_set {
        None => true,
        Some(p) => later.permission_set.as_ref() == Some(p),
    };
    let role = match &earlier.role {
        None => true,
        Some(g) => later
            .role
            .as_ref()
            .is_some_and(|r| r == g || (!glob::is_glob(r) && glob::matches(g, r))),
    };
    let account = match &earlier.account {
        None => true,
        Some(a) => later
            .account
            .as_ref()
            .is_some_and(|b| b.iter().all(|x| a.contains(x))),
    };
    let principal = match &earlier.principal {
        None => true,
        Some(g) => later
            .principal
            .as_ref()
            .is_some_and(|r| r == g || (!glob::is_glob(r) && glob::matches(g, r))),
    };
    let kind = match earlier.kind {
        None => true,
        Some(k) => later.kind == Some(k) || (k == KindSel::Idc && later.permission_set.is_some()),
    };
    ps && role && account && principal && kind
}

#[cfg(test)]
mod tests;
