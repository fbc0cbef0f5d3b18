use super::*;
use crate::config::{LinuxUser, Outcome};
use proptest::prelude::*;

fn rule(i: usize, when: Conditions) -> Rule {
    Rule {
        number: i + 1,
        line: 2 + 3 * i,
        when,
        outcome: Outcome::Map {
            linux_user: LinuxUser::Literal(format!("u{i}")),
            groups: Vec::new(),
            create: false,
        },
    }
}

fn principal(p: String) -> Conditions {
    Conditions {
        principal: Some(p),
        ..Conditions::default()
    }
}

/// What comparing every rule with every earlier one finds (the old way).
fn every_pair(rules: &[Rule]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    for (j, later) in rules.iter().enumerate() {
        if let Some(i) = rules[..j].iter().position(|e| covers(&e.when, &later.when)) {
            out.push((j, i));
        }
    }
    out
}

const PREFIX_LEN: usize = 120;

#[test]
fn three_thousand_globs_with_a_shared_long_prefix_need_no_pairwise_work() {
    // The rule set that took 3.2 s: comparing every pair is 4.5 million comparisons
    // of 120-character texts.
    let prefix = "p".repeat(PREFIX_LEN);
    let rules: Vec<Rule> = (0..3000)
        .map(|i| rule(i, principal(format!("{prefix}{i}*"))))
        .collect();
    let r = check(&rules);
    assert_eq!(r.shadowed, []);
    assert_eq!(r.stopped_at, None);
    assert!(
        r.comparisons <= rules.len(),
        "{} comparisons",
        r.comparisons
    );
}

#[test]
fn three_thousand_mixed_globs_and_names_need_about_one_comparison_each() {
    let prefix = "p".repeat(PREFIX_LEN);
    // Globs and literal names; every tenth name starts like the glob before it, so
    // it is shadowed.
    let rules: Vec<Rule> = (0..3000)
        .map(|i| {
            let p = match i % 10 {
                0 | 2 | 4 | 6 | 8 => format!("{prefix}{i:04}*"),
                9 => format!("{prefix}{:04}x", i - 1),
                _ => format!("{prefix}{i:04}x"),
            };
            rule(i, principal(p))
        })
        .collect();
    let r = check(&rules);
    assert_eq!(r.stopped_at, None);
    let want: Vec<(usize, usize)> = (0..3000)
        .filter(|j| j % 10 == 9)
        .map(|j| (j, j - 1))
        .collect();
    assert_eq!(r.shadowed, want);
    assert!(
        r.comparisons <= 3 * rules.len(),
        "{} comparisons",
        r.comparisons
    );
}

#[test]
fn three_thousand_rules_by_account_need_no_pairwise_work() {
    let rules: Vec<Rule> = (0..3000)
        .map(|i| {
            rule(
                i,
                Conditions {
                    account: Some(vec![format!("{:012}", i / 2)]),
                    role: Some(if i % 2 == 0 {
                        "Admin*".into()
                    } else {
                        "AdminRole".into()
                    }),
                    ..Conditions::default()
                },
            )
        })
        .collect();
    let r = check(&rules);
    // Each odd rule (a role the even rule's glob matches, same account) is shadowed.
    let want: Vec<(usize, usize)> = (1..3000).step_by(2).map(|j| (j, j - 1)).collect();
    assert_eq!(r.shadowed, want);
    assert!(
        r.comparisons <= rules.len(),
        "{} comparisons",
        r.comparisons
    );
}

#[test]
fn a_pathological_rule_set_is_cut_off_at_the_budget() {
    // Globs that start with `*` are candidates for every literal name.
    let mut rules: Vec<Rule> = (0..700)
        .map(|i| rule(i, principal(format!("*x{i}"))))
        .collect();
    rules.extend((700..1400).map(|i| rule(i, principal(format!("y{i}")))));
    let r = check(&rules);
    assert_eq!(r.comparisons, BUDGET);
    let stopped = r.stopped_at.unwrap_or(0);
    assert!((700..1400).contains(&stopped), "{stopped}");
    assert_eq!(r.shadowed, []);
}

fn conditions() -> impl Strategy<Value = Conditions> {
    let text = prop::option::of(prop::sample::select(vec![
        "a", "ab", "b", "a*", "*b", "*", "a*b", "ab*", "ba",
    ]));
    let accounts = prop::option::of(prop::collection::vec(
        prop::sample::select(vec!["111111111111", "222222222222", "333333333333"]),
        1..3,
    ));
    let kinds = prop::option::of(prop::sample::select(vec![
        KindSel::Idc,
        KindSel::AssumedRole,
        KindSel::IamUser,
    ]));
    let sets = prop::option::of(prop::sample::select(vec!["Dev", "Ops"]));
    (sets, text.clone(), accounts, text, kinds).prop_map(|(ps, role, acc, pr, kind)| Conditions {
        permission_set: ps.map(str::to_string),
        role: role.map(str::to_string),
        account: acc.map(|a| a.into_iter().map(str::to_string).collect()),
        principal: pr.map(str::to_string),
        kind,
    })
}

proptest! {
    #[test]
    fn finds_exactly_what_comparing_every_pair_finds(
        when in prop::collection::vec(conditions(), 0..40)
    ) {
        let rules: Vec<Rule> = when.into_iter().enumerate().map(|(i, c)| rule(i, c)).collect();
        let r = check(&rules);
        prop_assert_eq!(r.stopped_at, None);
        prop_assert_eq!(r.shadowed, every_pair(&rules));
    }
}
