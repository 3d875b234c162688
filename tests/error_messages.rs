//! The `::error::` lines people meet most, pinned word for word: each names what failed, the
//! offending value in backticks, and what to do first. A change here is a change users see.

mod common;
use common::github::{FakeGitHub, World, TOKEN};
use common::*;
use serde_json::json;

const HEAD: &str = "1111111111111111111111111111111111111111";

fn push() -> Run {
    Run::new(
        "workflow_run",
        workflow_run("push", HEAD, "main", None, false),
    )
}

/// Runs `r` and returns its one `::error::` line, with the stack's registry address as
/// `{registry}` so the pinned text does not depend on the port.
fn error_of(r: Run) -> String {
    let o = r.run();
    o.failed();
    o.error().replace(&stack().registry, "{registry}")
}

#[test]
fn input_errors() {
    let cases: Vec<(Run, &str)> = vec![
        (
            push(),
            "::error title=image-resolver::input `image`: is required (or `images`): the repository, e.g. ghcr.io/acme/app",
        ),
        (
            push().input("image", "ghcr.io/acme/app").input("tag", "feature/x"),
            "::error title=image-resolver::input `tag`: `feature/x` is not a valid tag: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}",
        ),
        (
            push().input("image", "ghcr.io/acme/app").input("mode", "deploy"),
            "::error title=image-resolver::input `mode`: `deploy` is not one of pull, verify, compute, promote",
        ),
        (
            push().input("image", "ghcr.io/acme/app").input("allow-forks", "yes"),
            "::error title=image-resolver::input `allow-forks`: `yes` is not a boolean: use true or false",
        ),
        (
            push().input("images", "api=ghcr.io/acme/api\napi=ghcr.io/acme/api2"),
            "::error title=image-resolver::input `images`: name `api` is used twice: give each line its own `name=repository`",
        ),
        (
            push().input("images", "ghcr.io/acme/api\nghcr.io/acme/web").input("local-tag", "app:test"),
            "::error title=image-resolver::input `local-tag`: `app:test` would name every image alike: use `{name}` in it, e.g. `{name}:local`",
        ),
    ];
    for (r, want) in cases {
        assert_eq!(error_of(r), want);
    }
}

#[test]
fn event_errors() {
    let mut unset = push().input("image", "ghcr.io/acme/app");
    unset.event_name = String::new();
    let failed = {
        let mut ev = workflow_run("push", HEAD, "main", None, false);
        ev["workflow_run"]["conclusion"] = json!("failure");
        Run::new("workflow_run", ev).input("image", "ghcr.io/acme/app")
    };
    let cases: Vec<(Run, &str)> = vec![
        (
            unset,
            "::error title=image-resolver::GITHUB_EVENT_NAME is not set: run this as a GitHub Actions step, or export it as the runner would",
        ),
        (
            Run::new("push", json!({"ref": "refs/heads/gone", "deleted": true}))
                .input("image", "ghcr.io/acme/app")
                .var("GITHUB_REF_NAME", "gone")
                .var("GITHUB_SHA", HEAD),
            "::error title=image-resolver::this `push` deleted `gone`: there is no commit and no image to resolve; skip the job with `if: ${{ !github.event.deleted }}`",
        ),
        (
            failed,
            "::error title=image-resolver::the triggering run `build` (id 4242) concluded `failure`, not success: its image is not trusted; set `allow-failed-upstream: true` to resolve it anyway",
        ),
        (
            Run::new("workflow_run", workflow_run("pull_request", HEAD, "patch-1", None, true))
                .input("image", "ghcr.io/acme/app"),
            "::error title=image-resolver::the image was built from a fork's pull request (`mallory/charon`): it is the fork's code and would run with this repository's permissions; set `allow-forks: true` only in a job that holds no secrets and a read-only token",
        ),
        (
            Run::new("workflow_run", workflow_run("pull_request", HEAD, "patch-1", None, true))
                .input("image", "ghcr.io/acme/app")
                .input("allow-forks", "true")
                .input("mode", "verify"),
            "::error title=image-resolver::`github-token` is empty, and the GitHub API is needed here: pass `github-token: ${{ github.token }}` with `actions: read` and `pull-requests: read`",
        ),
        (
            Run::new("schedule", json!({"schedule": "0 3 * * *"})).input("image", "ghcr.io/acme/app"),
            "::error title=image-resolver::the `schedule` event names no commit: set the `tag` input (e.g. from a workflow_dispatch input) or pass a full reference repo:tag or repo@sha256:… as `image`",
        ),
    ];
    for (r, want) in cases {
        assert_eq!(error_of(r), want);
    }
}

#[test]
fn daemon_and_api_errors() {
    let gh = FakeGitHub::start(World {
        run_id: 4242,
        ..Default::default()
    });
    let s = stack();
    let repo = format!("{}/it/never-pushed", s.registry);
    let cases: Vec<(Run, &str)> = vec![
        (
            push()
                .input("image", "ghcr.io/acme/app")
                .var("DOCKER_HOST", "unix:///nonexistent/docker.sock"),
            // neither DOCKER_HOST's socket nor the one a container action has mounted (none here)
            "::error title=image-resolver::cannot reach the Docker daemon at unix:///nonexistent/docker.sock: no such socket, and no `/var/run/docker.sock` to fall back on; mount the socket or set DOCKER_HOST (verify and compute modes need no daemon)",
        ),
        (
            push()
                .input("image", &repo)
                .input("github-token", TOKEN)
                .var("GITHUB_API_URL", &gh.api_url()),
            "::error title=image-resolver::`{registry}/it/never-pushed:main-1111111` does not exist in the registry (tag or repository unknown): check that the build pushed this tag (its `mode: compute` gives the same one), or set `wait-timeout` to wait for it; the artifact fallback failed too: run 4242 has no artifact named `push-image`; its artifacts: none. Set `artifact-name` to one of them, or `run-id` to the build run",
        ),
    ];
    for (r, want) in cases {
        assert_eq!(error_of(r), want);
    }
}

#[test]
fn registry_errors() {
    let s = stack();
    let repo = format!("{}/it/{}", s.registry, unique("pinned"));
    let tag = format!("main-{}", &HEAD[..7]);
    let stale = "2222222222222222222222222222222222222222";
    s.publish(&repo, &tag, Some(stale));
    let repo_shown = repo.replace(&s.registry, "{registry}");
    let private = format!("{}/it/private", s.auth_registry);
    let cases: Vec<(Run, String)> = vec![
        (
            push().input("image", &format!("{}/it/never-pushed", s.registry)).input("mode", "verify"),
            "::error title=image-resolver::`{registry}/it/never-pushed:main-1111111` does not exist in the registry (tag or repository unknown): check that the build pushed this tag (its `mode: compute` gives the same one), or set `wait-timeout` to wait for it".into(),
        ),
        (
            push().input("image", &repo).input("mode", "verify"),
            format!("::error title=image-resolver::`{repo_shown}:{tag}` was built from `{stale}`, not the expected commit `{HEAD}`: rebuild the image from `1111111` and tag it by commit (e.g. `{{branch}}-{{short_sha}}`), so a tag never names another commit's image: the label `2222222` is another commit; only if that image is right after all, set `revision-check: warn`"),
        ),
        (
            push().input("image", &repo).input("fallback", "none"),
            format!("::error title=image-resolver::`{repo_shown}:{tag}` was built from `{stale}`, not the expected commit `{HEAD}`: rebuild the image from `1111111` and tag it by commit (e.g. `{{branch}}-{{short_sha}}`), so a tag never names another commit's image: the label `2222222` is another commit; only if that image is right after all, set `revision-check: warn`; with `fallback: none` nothing else is tried (`fallback: artifact` loads the build's artifact)"),
        ),
        (
            push().input("image", &private).input("mode", "verify"),
            format!(
                "::error title=image-resolver::`{}` refused the credentials for `{private}:main-1111111` (401): the image is private; set `registry-username` and `registry-password`",
                s.auth_registry
            ),
        ),
    ];
    for (r, want) in cases {
        assert_eq!(error_of(r), want);
    }
}
