//! Step summaries as the binary writes them on the real stack, one per kind of run: each
//! verdict line is pinned. With `IR_SUMMARY_DIR` set, each summary is also written there as
//! `<case>.md`: scripts/render-summary.sh turns them into the pictures in docs/.
mod common;

use common::github::{merged_pr_json, FakeGitHub, World, TOKEN};
use common::*;

const HEAD: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
const MERGE: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432";
const OTHER: &str = "0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a";

/// Fixed names, so the pictures read like a real project's.
fn repo(s: &Stack, name: &str) -> String {
    format!("{}/acme/{name}", s.registry)
}

/// The summary, checked to open with its verdict; kept for the pictures when asked.
fn keep(case: &str, o: &Outcome) -> String {
    assert!(
        o.summary.starts_with(['✅', '⚠', '❌', '⏭', '🛑']),
        "{}",
        o.summary
    );
    if let Ok(dir) = std::env::var("IR_SUMMARY_DIR") {
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(format!("{dir}/{case}.md"), &o.summary).unwrap();
    }
    let verdict = o.summary.lines().next().unwrap_or_default();
    verdict.replace(&stack().registry, "{registry}")
}

fn pr_run(head: &str) -> Run {
    Run::new(
        "workflow_run",
        workflow_run("pull_request", head, "feature", Some(42), false),
    )
}

const LINKS: &str = "· commit [`1a2b3c4`](https://github.com/acme/charon/commit/1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d) · [PR #42](https://github.com/acme/charon/pull/42) · [build run](https://github.com/acme/charon/actions/runs/4242)";

#[test]
fn resolved_and_warning() {
    let s = stack();
    let charon = repo(&s, "charon");
    s.publish(&charon, "pr-42-1a2b3c4", Some(HEAD));
    let o = pr_run(HEAD)
        .input("image", &charon)
        .input("local-tag", "charon:local")
        .run();
    o.ok();
    assert_eq!(
        keep("resolved", &o),
        format!(
            "✅ **Resolved** `{{registry}}/acme/charon:pr-42-1a2b3c4` from the registry {LINKS}"
        )
    );
    // a label of another commit, accepted under `warn`
    let warned = repo(&s, "charon-warned");
    s.publish(&warned, "pr-42-1a2b3c4", Some(OTHER));
    let o = pr_run(HEAD)
        .input("image", &warned)
        .input("revision-check", "warn")
        .run();
    o.ok();
    assert_eq!(
        keep("warning", &o),
        format!("⚠️ **Resolved with a warning** `{{registry}}/acme/charon-warned:pr-42-1a2b3c4` from the registry {LINKS}")
    );
}

#[test]
fn failed_and_pinned() {
    let s = stack();
    let gh = FakeGitHub::start(World {
        run_id: 4242,
        ..Default::default()
    });
    // the repository is there, the pull request's tag is not
    let missing = repo(&s, "charon-missing");
    s.publish(&missing, "pr-41-0d1e2f3", Some(OTHER));
    let o = pr_run(HEAD)
        .input("image", &missing)
        .input("github-token", TOKEN)
        .var("GITHUB_API_URL", &gh.api_url())
        .run();
    o.failed();
    assert_eq!(
        keep("failed", &o),
        format!("❌ **Failed** `{{registry}}/acme/charon-missing:pr-42-1a2b3c4` {LINKS}")
    );
    // a digest the daemon already holds: one line
    let charon = repo(&s, "charon-pinned");
    let digest = s.publish(&charon, "v1", Some(HEAD));
    s.docker(&["pull", "-q", &format!("{charon}@{digest}")]);
    let o = pr_run(HEAD)
        .input("image", &format!("{charon}@{digest}"))
        .run();
    o.ok();
    assert!(
        keep("pinned", &o).starts_with(&format!(
            "✅ **Resolved** `{{registry}}/acme/charon-pinned@{}…` by digest, already present locally, in ",
            &digest[..19]
        )),
        "{}",
        o.summary
    );
}

#[test]
fn several_images() {
    let s = stack();
    let gh = FakeGitHub::start(World::default());
    let tag = "pr-42-1a2b3c4";
    let names = ["api", "web", "worker"];
    for n in names {
        s.publish(&repo(&s, n), tag, Some(HEAD));
    }
    let lines: Vec<String> = names
        .iter()
        .map(|n| format!("{n}={}", repo(&s, n)))
        .collect();
    let o = pr_run(HEAD)
        .input("images", &lines.join("\n"))
        .input("mode", "verify")
        .input("github-token", TOKEN)
        .var("GITHUB_API_URL", &gh.api_url())
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    o.ok();
    assert_eq!(
        keep("several", &o),
        format!("✅ **Resolved** 3 images tagged `{tag}` {LINKS}")
    );
}

#[test]
fn promoted_and_skipped() {
    let s = stack();
    let charon = repo(&s, "charon-release");
    let tag = "main-1a2b3c4";
    let digest = s.publish(&charon, tag, Some(HEAD));
    let o = Run::new(
        "workflow_run",
        workflow_run("push", HEAD, "main", None, false),
    )
    .input("image", &charon)
    .input("mode", "promote")
    .input(
        "promote-to",
        &format!("{charon}:latest\n{charon}:stable\n{charon}:{tag}"),
    )
    .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    .run();
    o.ok();
    assert_eq!(
        keep("promoted", &o),
        format!("✅ **Promoted** `{{registry}}/acme/charon-release@{}…` to 3 targets · commit [`1a2b3c4`](https://github.com/acme/charon/commit/1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d) · [build run](https://github.com/acme/charon/actions/runs/4242)", &digest[..19])
    );

    // a merged pull request whose image was built from another tree
    let merged = repo(&s, "charon-merged");
    s.publish(&merged, "pr-42-1a2b3c4", Some(HEAD));
    let mut trees = std::collections::HashMap::new();
    trees.insert(HEAD.to_string(), "a1".repeat(20));
    trees.insert(MERGE.to_string(), "b2".repeat(20));
    let gh = FakeGitHub::start(World {
        commit_pulls: vec![merged_pr_json(42, HEAD, "feature", MERGE)],
        trees,
        ..Default::default()
    });
    let o = merged_promotion(MERGE, &gh)
        .input("image", &merged)
        .input("promote-to", &format!("{merged}:latest"))
        .run();
    o.ok();
    assert_eq!(
        keep("skipped", &o),
        "⏭️ **Skipped** `{registry}/acme/charon-merged:pr-42-1a2b3c4` · commit [`9f8e7d6`](https://github.com/acme/charon/commit/9f8e7d6c5b4a39281706f5e4d3c2b1a098765432) · [PR #42](https://github.com/acme/charon/pull/42)"
    );
}

#[test]
fn computed() {
    let o = Run::new("pull_request", pull_request_event(42, HEAD, "feature"))
        .input("image", "ghcr.io/acme/charon")
        .input("mode", "compute")
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    o.ok();
    assert_eq!(
        keep("computed", &o),
        "✅ **Computed** tag `pr-42-1a2b3c4` for `ghcr.io/acme/charon` · commit [`1a2b3c4`](https://github.com/acme/charon/commit/1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d) · [PR #42](https://github.com/acme/charon/pull/42)"
    );
    assert!(
        o.summary
            .contains(&format!("org.opencontainers.image.revision={HEAD}")),
        "{}",
        o.summary
    );
}

#[test]
fn a_refused_fork_names_the_image_and_the_pull_request() {
    let o = Run::new(
        "workflow_run",
        workflow_run("pull_request", HEAD, "patch-1", None, true),
    )
    .input("image", "ghcr.io/acme/charon")
    .run();
    o.failed();
    assert_eq!(
        keep("fork", &o),
        "❌ **Failed** `ghcr.io/acme/charon` · commit [`1a2b3c4`](https://github.com/acme/charon/commit/1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d) · the pull request from `mallory:patch-1` · [build run](https://github.com/acme/charon/actions/runs/4242)"
    );
}

#[test]
fn an_input_error_writes_a_summary() {
    let o = Run::new(
        "workflow_run",
        workflow_run("push", HEAD, "main", None, false),
    )
    .input("images", "name=ghcr.io/acme/charon")
    .run();
    o.failed();
    assert_eq!(
        keep("input", &o),
        "❌ **Failed** `name=ghcr.io/acme/charon`"
    );
    assert!(o.summary.contains("placeholder"), "{}", o.summary);
    // unless the summary is turned off
    let o = Run::new(
        "workflow_run",
        workflow_run("push", HEAD, "main", None, false),
    )
    .input("images", "name=ghcr.io/acme/charon")
    .input("summary", "false")
    .run();
    o.failed();
    assert_eq!(o.summary, "");
}

#[test]
fn promoted_in_part() {
    let s = stack();
    let (api, web) = (repo(&s, "api-release"), repo(&s, "web-release"));
    // only api's image was pushed on the pull request
    s.publish(&api, "pr-42-1a2b3c4", Some(HEAD));
    let mut trees = std::collections::HashMap::new();
    trees.insert(HEAD.to_string(), "a1".repeat(20));
    trees.insert(MERGE.to_string(), "a1".repeat(20));
    let gh = FakeGitHub::start(World {
        commit_pulls: vec![merged_pr_json(42, HEAD, "feature", MERGE)],
        trees,
        ..Default::default()
    });
    let o = merged_promotion(MERGE, &gh)
        .input("images", &format!("api={api}\nweb={web}"))
        .input(
            "promote-to",
            &format!("{}/acme/{{name}}-release:latest", s.registry),
        )
        .run();
    o.ok();
    assert_eq!(
        keep("promoted-partly", &o),
        "⚠️ **Promoted** 1 of 2 images to 1 target · commit [`9f8e7d6`](https://github.com/acme/charon/commit/9f8e7d6c5b4a39281706f5e4d3c2b1a098765432) · [PR #42](https://github.com/acme/charon/pull/42)"
    );
}

#[test]
fn a_403_before_planning_names_the_image_and_the_pull_request() {
    // a fork's pull request, allowed: its number is looked up, and the API refuses
    let gh = FakeGitHub::start(World {
        faults: vec![common::github::Fault {
            path_contains: "/pulls".into(),
            status: 403,
            headers: vec![],
            times: 10,
        }],
        ..Default::default()
    });
    let o = Run::new(
        "workflow_run",
        workflow_run("pull_request", HEAD, "patch-1", None, true),
    )
    .input("image", "ghcr.io/acme/charon")
    .input("allow-forks", "true")
    .input("mode", "verify")
    .input("github-token", TOKEN)
    .var("GITHUB_API_URL", &gh.api_url())
    .run();
    o.failed();
    assert_eq!(
        keep("forbidden", &o),
        "❌ **Failed** `ghcr.io/acme/charon` · commit [`1a2b3c4`](https://github.com/acme/charon/commit/1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d) · the pull request from `mallory:patch-1` · [build run](https://github.com/acme/charon/actions/runs/4242)"
    );
    assert!(o.summary.contains("403"), "{}", o.summary);
    assert!(
        o.error()
            .starts_with("::error title=image-resolver%3A GitHub API error::"),
        "{}",
        o.error()
    );
}
