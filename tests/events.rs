//! GitHub's published webhook payloads (tests/fixtures/events, see its README) with the runner
//! environment GitHub sets for each, through the event derivation and the default templates:
//! what the contract's "Where the values come from" table says each one resolves to.

mod common;
#[path = "support/event_fixture.rs"]
mod event_fixture;

use image_resolver::core::event::{from_event, Payload, PrNumber};
use image_resolver::core::tag::{render, Sanitize};

const PR_TAG: &str = "pr-{pr}-{short_sha}";
const BRANCH_TAG: &str = "{branch}-{short_sha}";

const EC26: &str = "ec26c3e57ca3a959ca5aad62de7213c562f8c821";
const M3484: &str = "3484a3fb816e0859fd6e1cea078d76385ff50625";
const M6113: &str = "6113728f27ae82c7b1a177c8d03f9e96e0adf246";
const M5779: &str = "5779607b49aab1200488439f02372c57b4f75444";

enum Pr {
    None,
    Known(u64),
    /// Not in the payload: the API is asked for `owner:branch`; `answer` is what it returns.
    Lookup {
        owner: &'static str,
        branch: &'static str,
        answer: u64,
    },
}

struct Derived {
    sha: &'static str,
    pr: Pr,
    branch: &'static str,
    fork: bool,
    /// `workflow_run` only: the build run's id, number, attempt and conclusion.
    upstream: Option<(u64, u64, u64, Option<&'static str>)>,
    tag: &'static str,
}

enum Want {
    Resolves(Derived),
    /// The event names nothing to resolve: an error whose text holds this.
    Refused(&'static str),
}

fn cases() -> Vec<(&'static str, Want)> {
    use Want::*;
    vec![
        // real: a build run by repository_dispatch; its pull_requests entry belongs to
        // another repository's PR and is not a PR build anyway
        (
            "workflow_run_completed_repository_dispatch",
            Resolves(Derived {
                sha: M3484,
                pr: Pr::None,
                branch: "master",
                fork: false,
                upstream: Some((289782451, 163, 1, Some("success"))),
                tag: "master-3484a3f",
            }),
        ),
        // real: GitHub sent `completed` with the run still queued and no conclusion; the
        // values derive, and the plan refuses it unless `allow-failed-upstream: true`
        (
            "workflow_run_completed_workflow_dispatch",
            Resolves(Derived {
                sha: M5779,
                pr: Pr::None,
                branch: "main",
                fork: false,
                upstream: Some((1589141559, 36, 1, None)),
                tag: "main-5779607",
            }),
        ),
        (
            "workflow_run_push",
            Resolves(Derived {
                sha: M3484,
                pr: Pr::None,
                branch: "master",
                fork: false,
                upstream: Some((289782451, 163, 1, Some("success"))),
                tag: "master-3484a3f",
            }),
        ),
        // the entry names Codertocat/Hello-World's PR and another head: never trusted
        (
            "workflow_run_pull_request_foreign_entry",
            Resolves(Derived {
                sha: M3484,
                pr: Pr::Lookup {
                    owner: "octo-org",
                    branch: "master",
                    answer: 7,
                },
                branch: "master",
                fork: false,
                upstream: Some((289782451, 163, 1, Some("success"))),
                tag: "pr-7-3484a3f",
            }),
        ),
        (
            "workflow_run_pull_request",
            Resolves(Derived {
                sha: EC26,
                pr: Pr::Known(2),
                branch: "changes",
                fork: false,
                upstream: Some((289782451, 163, 1, Some("success"))),
                tag: "pr-2-ec26c3e",
            }),
        ),
        // a fork's PR: GitHub leaves pull_requests empty, so the number is looked up
        (
            "workflow_run_pull_request_fork",
            Resolves(Derived {
                sha: EC26,
                pr: Pr::Lookup {
                    owner: "Octocoders",
                    branch: "changes",
                    answer: 2,
                },
                branch: "changes",
                fork: true,
                upstream: Some((289782451, 163, 1, Some("success"))),
                tag: "pr-2-ec26c3e",
            }),
        ),
        // GITHUB_SHA is the test merge commit: the head commit is what was pushed
        (
            "pull_request_opened",
            Resolves(Derived {
                sha: EC26,
                pr: Pr::Known(2),
                branch: "changes",
                fork: false,
                upstream: None,
                tag: "pr-2-ec26c3e",
            }),
        ),
        (
            "pull_request_synchronize",
            Resolves(Derived {
                sha: EC26,
                pr: Pr::Known(2),
                branch: "changes",
                fork: false,
                upstream: None,
                tag: "pr-2-ec26c3e",
            }),
        ),
        // the plan refuses a fork unless `allow-forks: true`; the values still derive
        (
            "pull_request_opened_fork",
            Resolves(Derived {
                sha: EC26,
                pr: Pr::Known(2),
                branch: "changes",
                fork: true,
                upstream: None,
                tag: "pr-2-ec26c3e",
            }),
        ),
        // GITHUB_SHA is the base branch's last commit: never the expected one
        (
            "pull_request_target_opened",
            Resolves(Derived {
                sha: EC26,
                pr: Pr::Known(2),
                branch: "changes",
                fork: false,
                upstream: None,
                tag: "pr-2-ec26c3e",
            }),
        ),
        (
            "pull_request_target_opened_fork",
            Resolves(Derived {
                sha: EC26,
                pr: Pr::Known(2),
                branch: "changes",
                fork: true,
                upstream: None,
                tag: "pr-2-ec26c3e",
            }),
        ),
        (
            "push_branch_created",
            Resolves(Derived {
                sha: M6113,
                pr: Pr::None,
                branch: "master",
                fork: false,
                upstream: None,
                tag: "master-6113728",
            }),
        ),
        (
            "push_tag_created",
            Resolves(Derived {
                sha: M6113,
                pr: Pr::None,
                branch: "simple-tag",
                fork: false,
                upstream: None,
                tag: "simple-tag-6113728",
            }),
        ),
        // GITHUB_REF_NAME is the branch as pushed: strict sanitizing lower-cases it
        (
            "push_branch_mixed_case",
            Resolves(Derived {
                sha: M6113,
                pr: Pr::None,
                branch: "Feature/Login#42",
                fork: false,
                upstream: None,
                tag: "feature-login-42-6113728",
            }),
        ),
        // `after` is the zero SHA and GITHUB_SHA/GITHUB_REF fall back to the default branch:
        // any tag would name an image of another commit
        ("push_tag_deleted", Refused("deleted")),
        ("push_branch_deleted", Refused("deleted")),
        // no `sha` input: GITHUB_SHA, the tip of the dispatched branch, and branch-tag
        (
            "workflow_dispatch",
            Resolves(Derived {
                sha: M5779,
                pr: Pr::None,
                branch: "main",
                fork: false,
                upstream: None,
                tag: "main-5779607",
            }),
        ),
    ]
}

fn check(name: &str, want: &Want) -> Result<(), String> {
    let case = event_fixture::load(name);
    let got = from_event(&case.env, &Payload::from_value(&case.payload));
    let want = match (want, got) {
        (Want::Refused(needle), Err(e)) => {
            return e
                .to_string()
                .contains(needle)
                .then_some(())
                .ok_or(format!("error `{e}` does not say `{needle}`"));
        }
        (Want::Refused(_), Ok(ctx)) => {
            return Err(format!("resolved instead of refusing: {ctx:?}"));
        }
        (Want::Resolves(_), Err(e)) => return Err(format!("refused: {e}")),
        (Want::Resolves(w), Ok(ctx)) => (w, ctx),
    };
    let (w, ctx) = want;
    let mut diffs = Vec::new();
    let mut differ = |what: &str, got: String, want: String| {
        if got != want {
            diffs.push(format!("{what}: got {got}, want {want}"));
        }
    };
    differ(
        "sha",
        format!("{:?}", ctx.sha.as_ref().map(|s| s.as_str())),
        format!("{:?}", Some(w.sha)),
    );
    let (want_pr, pr_for_tag) = match &w.pr {
        Pr::None => (PrNumber::None, None),
        Pr::Known(n) => (PrNumber::Known(*n), Some(*n)),
        Pr::Lookup {
            owner,
            branch,
            answer,
        } => (
            PrNumber::Lookup {
                head_owner: owner.to_string(),
                head_branch: branch.to_string(),
            },
            Some(*answer),
        ),
    };
    differ("pr", format!("{:?}", ctx.pr), format!("{want_pr:?}"));
    differ(
        "branch",
        format!("{:?}", ctx.branch),
        format!("{:?}", Some(w.branch)),
    );
    differ("fork", ctx.from_fork.to_string(), w.fork.to_string());
    let upstream = ctx.upstream.as_ref().map(|u| {
        (
            u.id,
            u.run_number.unwrap_or(0),
            u.run_attempt.unwrap_or(0),
            u.conclusion.clone(),
        )
    });
    differ(
        "upstream",
        format!("{upstream:?}"),
        format!(
            "{:?}",
            w.upstream
                .map(|(id, n, a, c)| (id, n, a, c.map(str::to_string)))
        ),
    );
    // {run_id} and friends: the build run's under workflow_run, else this run's
    let run_id = w.upstream.map(|u| u.0).or(Some(9000000001));
    differ("run_id", format!("{:?}", ctx.run_id), format!("{run_id:?}"));
    let template = if ctx.is_pr_build() {
        PR_TAG
    } else {
        BRANCH_TAG
    };
    let vars = event_fixture::template_vars(&ctx, pr_for_tag);
    match render(template, &vars, ctx.branch.as_deref(), Sanitize::Strict) {
        Ok(tag) => differ("tag", tag, w.tag.to_string()),
        Err(e) => diffs.push(format!("tag: {e}")),
    }
    if diffs.is_empty() {
        Ok(())
    } else {
        Err(diffs.join("; "))
    }
}

fn check_prefix(prefix: &str) {
    let cases = cases();
    let picked: Vec<_> = cases
        .iter()
        .filter(|(n, _)| n.starts_with(prefix))
        .collect();
    assert!(!picked.is_empty(), "no case starts with {prefix}");
    let failures: Vec<String> = picked
        .iter()
        .filter_map(|(name, want)| check(name, want).err().map(|e| format!("{name}: {e}")))
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

#[test]
fn workflow_run_payloads() {
    check_prefix("workflow_run");
}

#[test]
fn pull_request_and_pull_request_target_payloads() {
    check_prefix("pull_request");
}

#[test]
fn push_payloads_created_and_deleted() {
    check_prefix("push");
}

#[test]
fn workflow_dispatch_payload() {
    check_prefix("workflow_dispatch");
}

/// Every payload in the directory is exercised by some case, so none rots unused.
#[test]
fn every_fixture_has_a_case() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/events");
    let names: Vec<&str> = cases().iter().map(|(n, _)| *n).collect();
    for entry in std::fs::read_dir(dir).expect("fixtures dir") {
        let file = entry
            .expect("entry")
            .file_name()
            .into_string()
            .expect("utf-8");
        if let Some(case) = file.strip_suffix(".env") {
            if !names.contains(&case) {
                panic!("{file} has no expected result in tests/events.rs");
            }
        }
    }
}

/// The same real payloads, through the binary against the real registry: what a workflow author
/// meets with a metadata-action producer, a manual rerun and a mixed-case branch.
mod through_the_binary {
    use super::event_fixture;
    use super::{EC26, M5779, M6113};

    use super::common::*;

    /// The fixture's runner environment and payload, for `image`.
    fn run(case: &str, image: &str) -> Run {
        let c = event_fixture::load(case);
        let mut r = Run::new(&c.vars["GITHUB_EVENT_NAME"], c.payload.clone()).input("image", image);
        for (k, v) in &c.vars {
            if k != "GITHUB_EVENT_NAME" && k != "GITHUB_EVENT_PATH" {
                r = r.var(k, v);
            }
        }
        r
    }

    fn repo(s: &Stack, name: &str) -> String {
        format!("{}/it/{}", s.registry, unique(name))
    }

    #[test]
    fn a_pull_request_target_build_labelled_with_the_base_head_is_explained() {
        // docker/metadata-action on pull_request_target: tag pr-2, label GITHUB_SHA = base head
        let s = stack();
        let repo = repo(&s, "prt");
        let base_head = "f95f852bd8fca8fcc58a9a2d6c842781e32a215e";
        s.publish(&repo, "pr-2", Some(base_head));
        let o = run("pull_request_target_opened", &repo)
            .input("pr-tag", "pr-{pr}")
            .input("mode", "verify")
            .run();
        o.failed();
        let e = o.error();
        let fix = e
            .find("check out and label the pull request's head")
            .expect(&e);
        let warn = e.find("revision-check: warn").expect(&e);
        assert!(fix < warn, "the producer's fix comes first: {e}");
        assert!(
            e.contains(&format!("`{base_head}`")) && e.contains(EC26),
            "{e}"
        );
    }

    #[test]
    fn a_manual_rerun_derives_from_the_branch_or_checks_the_given_sha() {
        let s = stack();
        let repo = repo(&s, "dispatch");
        // no `tag`: branch-tag from GITHUB_REF_NAME and GITHUB_SHA, as for a push
        let digest = s.publish(&repo, &format!("main-{}", &M5779[..7]), Some(M5779));
        let o = run("workflow_dispatch", &repo)
            .input("mode", "verify")
            .run();
        o.ok();
        assert_eq!((o.out("digest"), o.out("sha")), (digest.as_str(), M5779));
        // `tag` and `sha`: the revision is checked against `sha`
        let o = run("workflow_dispatch", &repo)
            .input("mode", "verify")
            .input("tag", &format!("main-{}", &M5779[..7]))
            .input("sha", M6113)
            .run();
        o.failed();
        assert!(
            o.error().contains(M6113) && o.error().contains(M5779),
            "{}",
            o.error()
        );
        // `tag` alone: reported, not checked (GITHUB_SHA is the branch head, not what was built)
        let o = run("workflow_dispatch", &repo)
            .input("mode", "verify")
            .input("tag", &format!("main-{}", &M5779[..7]))
            .input("sha", "")
            .run();
        o.ok();
        assert_eq!(o.out("sha"), "");
        assert!(o.summary.contains("not checked"), "{}", o.summary);
    }

    #[test]
    fn a_mixed_case_branch_is_found_the_way_metadata_action_tagged_it() {
        let s = stack();
        let repo = repo(&s, "mixed");
        let tag = format!("Feature-Login-42-{}", &M6113[..7]);
        s.publish(&repo, &tag, Some(M6113));
        let strict = run("push_branch_mixed_case", &repo)
            .input("mode", "verify")
            .run();
        strict.failed();
        let o = run("push_branch_mixed_case", &repo)
            .input("mode", "verify")
            .input("sanitize", "metadata-action")
            .run();
        o.ok();
        assert_eq!(o.out("tag"), tag);
    }
}
