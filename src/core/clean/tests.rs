use super::*;

fn templates() -> Templates {
    Templates {
        pr_tag: "pr-{pr}-{short_sha}".into(),
        branch_tag: "{branch}-{short_sha}".into(),
        tree_tag: "tree-{tree}".into(),
        sha_length: 7,
        sanitize: Sanitize::Strict,
    }
}

const HEX64: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

#[test]
fn tags_are_read_through_our_templates_pr_tag_first() {
    let t = templates();
    let subject = format!("sha256:{HEX64}");
    let cases: Vec<(String, Recognised)> = vec![
        (
            "pr-12-abc1234".into(),
            Recognised::Pr {
                number: 12,
                sha: Some("abc1234".into()),
            },
        ),
        (
            "feature-x-abc1234".into(),
            Recognised::Branch {
                names: vec!["feature-x".into()],
            },
        ),
        (
            "main-0000000".into(),
            Recognised::Branch {
                names: vec!["main".into()],
            },
        ),
        (format!("tree-{}", &HEX64[..40]), Recognised::Tree),
        (format!("tree-{}", &HEX64[..16]), Recognised::Tree),
        (
            format!("sha256-{HEX64}.sig"),
            Recognised::Referrer {
                subject: subject.clone(),
            },
        ),
        (format!("sha256-{HEX64}"), Recognised::Referrer { subject }),
        ("v1.0".into(), Recognised::Unrecognised),
        ("latest".into(), Recognised::Unrecognised),
        // upper-case hex is not a short SHA we render
        ("main-ABC1234".into(), Recognised::Unrecognised),
        (
            "pr-012-abc1234".into(),
            Recognised::Branch {
                names: vec!["pr-012".into()],
            },
        ),
        ("pr-12-abc123".into(), Recognised::Unrecognised),
        (format!("sha256-{HEX64}.foo"), Recognised::Unrecognised),
    ];
    for (tag, want) in cases {
        assert_eq!(recognise(&tag, &t), want, "{tag}");
    }
}

#[test]
fn other_templates_are_read_too() {
    let t = Templates {
        pr_tag: "pr{pr}.{sha}".into(),
        branch_tag: "{branch}{run_number}".into(),
        sha_length: 7,
        ..templates()
    };
    let sha = "a".repeat(40);
    assert_eq!(
        recognise(&format!("pr7.{sha}"), &t),
        Recognised::Pr {
            number: 7,
            sha: Some(sha)
        }
    );
    // `{branch}` may split more than one way: every reading is kept
    assert_eq!(
        recognise("x12", &t),
        Recognised::Branch {
            names: vec!["x".into(), "x1".into()]
        }
    );
    // a 16-hex `{tree}` tag is a tree tag even when `{short_sha}` is 16 long: never a branch
    let t16 = Templates {
        sha_length: 16,
        ..templates()
    };
    assert_eq!(recognise("tree-0123456789abcdef", &t16), Recognised::Tree);
    // `{name}` cannot be read back: nothing matches
    let t = Templates {
        pr_tag: "{name}-pr-{pr}".into(),
        ..templates()
    };
    assert_eq!(recognise("api-pr-3", &t), Recognised::Unrecognised);
}

#[test]
fn clean_after_is_zero_or_a_number_with_a_unit() {
    for (s, want) in [
        ("0", Ok(0)),
        ("30m", Ok(1800)),
        ("24h", Ok(86_400)),
        (" 7d ", Ok(604_800)),
        ("0h", Ok(0)),
    ] {
        assert_eq!(parse_clean_after(s), want, "{s}");
    }
    for s in [
        "",
        "24",
        "h",
        "1w",
        "-1h",
        "1.5h",
        "24 h",
        "99999999999999999999d",
    ] {
        let e = parse_clean_after(s).unwrap_err();
        assert!(e.contains("is not a duration"), "{s}: {e}");
    }
}

#[test]
fn keep_patterns_match_the_whole_tag() {
    let keep = parse_keep("latest\nv*  release-*-final").unwrap();
    assert_eq!(keep, ["latest", "v*", "release-*-final"]);
    for (p, tag, want) in [
        ("latest", "latest", true),
        ("latest", "latest2", false),
        ("v*", "v1.0", true),
        ("v*", "av1", false),
        ("release-*-final", "release-3-final", true),
        ("release-*-final", "release-3-finale", false),
        ("*", "anything", true),
        ("a*b*c", "aXbYbc", true),
        ("a*b*c", "aXbY", false),
    ] {
        assert_eq!(glob(p, tag), want, "{p} {tag}");
    }
    assert!(parse_keep("ghcr.io/acme/x:v1")
        .unwrap_err()
        .contains("not a tag pattern"));
}

struct World {
    prs: HashMap<u64, PrState>,
    branches: HashSet<String>,
    created: HashMap<String, i64>,
    keep: Vec<String>,
}

const NOW: i64 = 1_000_000;
const HOUR: i64 = 3600;

fn world() -> World {
    World {
        prs: HashMap::from([
            (1, PrState::Open),
            (
                2,
                PrState::Closed {
                    closed_at: NOW - 48 * HOUR,
                },
            ),
            (
                3,
                PrState::Closed {
                    closed_at: NOW - HOUR,
                },
            ),
        ]),
        branches: HashSet::from(["main".to_string()]),
        created: HashMap::from([
            ("gone-aaaaaaa".to_string(), NOW - 72 * HOUR),
            ("fresh-aaaaaaa".to_string(), NOW - HOUR),
        ]),
        keep: vec!["latest".into(), "pr-2-keep*".into()],
    }
}

fn decide_in(w: &World, target: &Target, clean_after: u64, tag: &str) -> Result<Reason, Unknown> {
    let f = Facts {
        now: NOW,
        clean_after,
        keep: &w.keep,
        target,
        prs: &w.prs,
        branches: &w.branches,
        created: &w.created,
    };
    decide(tag, &templates(), &f)
}

#[test]
fn each_tag_is_removed_or_kept_with_its_reason() {
    let w = world();
    let day = 86_400;
    let cases: Vec<(Target, u64, String, Result<Reason, Unknown>)> = vec![
        (
            Target::Sweep,
            day,
            "pr-1-abc1234".into(),
            Ok(Reason::PrOpen(1)),
        ),
        (
            Target::Sweep,
            day,
            "pr-2-abc1234".into(),
            Ok(Reason::PrClosed {
                pr: 2,
                ago: 48 * 3600,
            }),
        ),
        (
            Target::Sweep,
            day,
            "pr-3-abc1234".into(),
            Ok(Reason::PrClosedRecently { pr: 3, ago: 3600 }),
        ),
        (
            Target::Sweep,
            0,
            "pr-3-abc1234".into(),
            Ok(Reason::PrClosed { pr: 3, ago: 3600 }),
        ),
        (
            Target::Sweep,
            day,
            "pr-4-abc1234".into(),
            Err(Unknown::Pr(4)),
        ),
        (
            Target::Sweep,
            day,
            "latest".into(),
            Ok(Reason::Keep("latest".into())),
        ),
        (
            Target::Sweep,
            day,
            "pr-2-keepabc".into(),
            Ok(Reason::Keep("pr-2-keep*".into())),
        ),
        (Target::Sweep, day, "v1.0".into(), Ok(Reason::Unrecognised)),
        (
            Target::Sweep,
            day,
            "main-abc1234".into(),
            Ok(Reason::BranchExists("main".into())),
        ),
        (
            Target::Sweep,
            day,
            "gone-aaaaaaa".into(),
            Ok(Reason::BranchGone {
                branch: "gone".into(),
                age: Some(72 * 3600),
            }),
        ),
        (
            Target::Sweep,
            day,
            "fresh-aaaaaaa".into(),
            Ok(Reason::BranchGoneRecently {
                branch: "fresh".into(),
                age: 3600,
            }),
        ),
        (
            Target::Sweep,
            day,
            "old-aaaaaaa".into(),
            Ok(Reason::AgeUnknown("old".into())),
        ),
        (
            Target::Sweep,
            0,
            "old-aaaaaaa".into(),
            Ok(Reason::BranchGone {
                branch: "old".into(),
                age: None,
            }),
        ),
        (
            Target::Sweep,
            day,
            format!("tree-{}", "b".repeat(40)),
            Ok(Reason::Tree),
        ),
        // the close event: that pull request's tags only, and no other PR is asked
        (
            Target::Pr(2),
            day,
            "pr-2-abc1234".into(),
            Ok(Reason::PrClosed {
                pr: 2,
                ago: 48 * 3600,
            }),
        ),
        (
            Target::Pr(2),
            day,
            "pr-4-abc1234".into(),
            Ok(Reason::NotThisEvent),
        ),
        (
            Target::Pr(2),
            0,
            "old-aaaaaaa".into(),
            Ok(Reason::NotThisEvent),
        ),
        // the deleted branch: its tags only, by its sanitised name
        (
            Target::Branch("Old".into()),
            0,
            "old-aaaaaaa".into(),
            Ok(Reason::BranchGone {
                branch: "old".into(),
                age: None,
            }),
        ),
        (
            Target::Branch("Old".into()),
            0,
            "gone-aaaaaaa".into(),
            Ok(Reason::NotThisEvent),
        ),
        (
            Target::Branch("Old".into()),
            0,
            "pr-2-abc1234".into(),
            Ok(Reason::NotThisEvent),
        ),
        // a branch the API still lists is kept even on its own delete event (pushed again)
        (
            Target::Branch("main".into()),
            0,
            "main-abc1234".into(),
            Ok(Reason::BranchExists("main".into())),
        ),
    ];
    for (target, after, tag, want) in cases {
        assert_eq!(
            decide_in(&w, &target, after, &tag),
            want,
            "{target:?} {after} {tag}"
        );
    }
}

#[test]
fn only_the_event_s_pull_requests_are_asked() {
    let tags = [
        "pr-1-abc1234",
        "pr-2-abc1234",
        "pr-2-def5678",
        "main-abc1234",
        "v1",
    ];
    let t = templates();
    assert_eq!(prs_named(tags, &t, &Target::Sweep), BTreeSet::from([1, 2]));
    assert_eq!(prs_named(tags, &t, &Target::Pr(2)), BTreeSet::from([2]));
    assert!(prs_named(tags, &t, &Target::Branch("x".into())).is_empty());
}

fn node(children: &[&str], subject: Option<&str>, bytes: u64) -> Node {
    Node {
        children: children.iter().map(|s| s.to_string()).collect(),
        subject: subject.map(String::from),
        bytes,
    }
}

fn gone(pr: u64) -> Reason {
    Reason::PrClosed { pr, ago: 100_000 }
}

#[test]
fn a_digest_stays_while_anything_kept_uses_it() {
    let sig = format!("sha256-{}.sig", "d".repeat(64));
    let sig_of_kept = format!("sha256-{}.sig", "e".repeat(64));
    let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    let nodes = HashMap::from([
        (d('a'), node(&[], None, 10)),                // pr-1, also v1.0
        (d('b'), node(&[&d('c'), &d('f')], None, 5)), // pr-2's index
        (d('c'), node(&[], None, 100)),               // child shared with kept index
        (d('f'), node(&[], None, 200)),               // child only pr-2's index has
        (d('d'), node(&[], None, 50)),                // pr-3, with a signature
        (d('e'), node(&[&d('c')], None, 5)),          // kept index (main)
        (d('s'), node(&[], Some(&d('d')), 1)),        // pr-3's signature
        (d('t'), node(&[], Some(&d('e')), 1)),        // main's signature
    ]);
    let tags = vec![
        ("pr-1-aaaaaaa".to_string(), d('a'), gone(1)),
        ("v1.0".to_string(), d('a'), Reason::Unrecognised),
        ("pr-2-bbbbbbb".to_string(), d('b'), gone(2)),
        ("pr-3-ddddddd".to_string(), d('d'), gone(3)),
        (sig.clone(), d('s'), Reason::SubjectStays),
        (
            "main-eeeeeee".to_string(),
            d('e'),
            Reason::BranchExists("main".into()),
        ),
        (sig_of_kept.clone(), d('t'), Reason::SubjectStays),
    ];
    let p = plan(tags, &nodes);
    // pr-1's digest is v1.0's too: untagged only
    assert_eq!(p.untag, ["pr-1-aaaaaaa"]);
    // signature first, then the images, then the child no kept index shares
    assert_eq!(p.delete, [d('s'), d('b'), d('d'), d('f')]);
    assert_eq!(p.bytes, 1 + 5 + 50 + 200);
    let reason = |tag: &str| p.tags.iter().find(|f| f.tag == tag).unwrap().reason.clone();
    assert_eq!(reason(&sig), Reason::SubjectDeleted);
    assert_eq!(reason(&sig_of_kept), Reason::SubjectStays);
    assert_eq!(
        sharing(&p),
        BTreeMap::from([("pr-1-aaaaaaa".to_string(), vec!["v1.0".to_string()])])
    );
    let (removed, kept) = by_fate(&p);
    assert_eq!(removed.len(), 4);
    assert_eq!(kept.len(), 3);
}

#[test]
fn a_digest_a_kept_referrer_points_at_stays_and_nothing_due_deletes_nothing() {
    let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    // `sbom-x` (kept, unrecognised) is an artifact whose subject is pr-1's digest
    let nodes = HashMap::from([
        (d('a'), node(&[], None, 10)),
        (d('b'), node(&[], Some(&d('a')), 1)),
    ]);
    let p = plan(
        vec![
            ("pr-1-aaaaaaa".into(), d('a'), gone(1)),
            ("sbom-x".into(), d('b'), Reason::Unrecognised),
        ],
        &nodes,
    );
    assert_eq!(p.untag, ["pr-1-aaaaaaa"]);
    assert!(p.delete.is_empty());
    let p = plan(
        vec![("pr-1-aaaaaaa".into(), d('a'), Reason::PrOpen(1))],
        &nodes,
    );
    assert!(p.untag.is_empty() && p.delete.is_empty() && p.bytes == 0);
}

#[test]
fn reasons_read_as_the_summary_says_them() {
    assert_eq!(gone(12).to_string(), "PR #12 closed 1 day ago");
    assert_eq!(
        Reason::PrClosed {
            pr: 12,
            ago: 3 * 86_400
        }
        .to_string(),
        "PR #12 closed 3 days ago"
    );
    assert_eq!(
        Reason::Keep("v*".into()).to_string(),
        "matches `keep` pattern `v*`"
    );
}

#[test]
fn the_event_says_what_is_cleaned() {
    let t = |e, a, pr, del, r| Target::of_event(e, a, pr, del, r);
    assert_eq!(
        t("pull_request", Some("closed"), Some(12), false, None),
        Ok(Target::Pr(12))
    );
    assert_eq!(
        t("pull_request_target", Some("closed"), Some(3), false, None),
        Ok(Target::Pr(3))
    );
    assert_eq!(
        t("pull_request", Some("synchronize"), Some(12), false, None),
        Ok(Target::Sweep)
    );
    assert!(t("pull_request", Some("closed"), None, false, None).is_err());
    assert_eq!(
        t("push", None, None, true, Some("refs/heads/feature/x")),
        Ok(Target::Branch("feature/x".into()))
    );
    assert_eq!(
        t("push", None, None, true, Some("gone")),
        Ok(Target::Branch("gone".into()))
    );
    assert!(t("push", None, None, true, None).is_err());
    assert_eq!(
        t("push", None, None, false, Some("main")),
        Ok(Target::Sweep)
    );
    assert_eq!(t("schedule", None, None, false, None), Ok(Target::Sweep));
    assert_eq!(
        t("workflow_dispatch", None, None, false, Some("main")),
        Ok(Target::Sweep)
    );
}

#[test]
fn an_untagged_child_s_bytes_count_once_its_manifest_is_read() {
    let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    // pr-1's index (5 bytes) with two untagged children: the plan knows only the index
    let index = HashMap::from([(d('a'), node(&[&d('b'), &d('c')], None, 5))]);
    let p = plan(vec![("pr-1-aaaaaaa".into(), d('a'), gone(1))], &index);
    assert_eq!(p.delete, [d('a'), d('b'), d('c')]);
    assert_eq!(p.bytes, 5);
    let mut all = index;
    all.insert(d('b'), node(&[], None, 100));
    all.insert(d('c'), node(&[], None, 200));
    assert_eq!(freed(&p.delete, &all), 305);
    // a digest named twice counts once
    assert_eq!(freed(&[d('b'), d('b')], &all), 100);
    assert_eq!(gone_with(&p, &d('a')).collect::<Vec<_>>(), ["pr-1-aaaaaaa"]);
    assert_eq!(gone_with(&p, &d('b')).count(), 0);
}

#[test]
fn a_partial_failure_names_what_is_already_gone() {
    assert_eq!(so_far("r", &[]), "nothing removed");
    assert_eq!(
        so_far("r", &["pr-1".into(), "pr-2".into()]),
        "already removed (2): `r:pr-1`, `r:pr-2`; run clean again to finish"
    );
    let many: Vec<String> = (0..25).map(|i| format!("t{i}")).collect();
    let s = so_far("r", &many);
    assert!(s.starts_with("already removed (25): `r:t0`"), "{s}");
    assert!(
        s.contains("`r:t19` and 5 more;") && !s.contains("t20"),
        "{s}"
    );
}

#[test]
fn a_ghcr_repository_is_a_package_of_its_owner() {
    assert_eq!(
        Package::of("ghcr.io/acme/app/api"),
        Some(Package {
            owner: "acme".into(),
            name: "app/api".into()
        })
    );
    assert_eq!(
        Package::of("ghcr.io/acme/app").unwrap().to_string(),
        "package `app` of `acme`"
    );
    for other in [
        "ghcr.io/acme",
        "localhost:5000/acme/app",
        "ghcr.io.evil/acme/app",
    ] {
        assert_eq!(Package::of(other), None, "{other}");
    }
}

#[test]
fn every_digest_to_delete_must_be_a_listed_version() {
    let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    let versions = vec![
        PackageVersion {
            id: 7,
            digest: d('a'),
            tags: vec!["pr-1-aaaaaaa".into()],
        },
        PackageVersion {
            id: 9,
            digest: d('b'),
            tags: vec![],
        },
    ];
    assert_eq!(
        version_ids(&[d('b'), d('a')], &versions),
        Ok(vec![(d('b'), 9), (d('a'), 7)])
    );
    assert_eq!(version_ids(&[d('a'), d('c')], &versions), Err(d('c')));
    assert_eq!(version_ids(&[], &versions), Ok(vec![]));
}

#[test]
fn listed_referrers_go_before_their_subject_unless_a_kept_tag_names_them() {
    let d = |c: char| format!("sha256:{}", c.to_string().repeat(64));
    let nodes = HashMap::from([(d('a'), node(&[], None, 10)), (d('c'), node(&[], None, 1))]);
    let mut p = plan(
        vec![
            ("pr-1-aaaaaaa".into(), d('a'), gone(1)),
            // a signature someone tagged and keeps
            ("sig-kept".into(), d('c'), Reason::Unrecognised),
        ],
        &nodes,
    );
    assert_eq!(p.delete, [d('a')]);
    // the API lists `b` (untagged), `c` (kept by its tag) and `a` itself (already deleted)
    with_referrers(&mut p, vec![(d('a'), vec![d('b'), d('c'), d('a')])]);
    assert_eq!(p.delete, [d('b'), d('a')]);
    assert_eq!(p.bytes, 10, "referrers' bytes are not counted");
}
