//! GitHub's published webhook payloads (tests/fixtures/events, see its README) with the runner
//! environment GitHub sets for each, through the event derivation and the default templates:
//! what the contract's "Where the values come from" table says each one resolves to.

#[path = "support/event_fixture.rs"]
mod event_fixture;

use image_resolver::core::event::{from_event, PrNumber};
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
    let got = from_event(&case.env, &case.payload);
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
