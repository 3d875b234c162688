//! The `::error::` lines people meet most, pinned word for word: each names what failed, the
//! offending value in backticks, and what to do first. A change here is a change users see.

mod common;
use common::github::{FakeGitHub, World, TOKEN};
use common::*;
use serde_json::json;

const HEAD: &str = "1111111111111111111111111111111111111111";

fn push() -> Run {
    push_event(HEAD)
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
            "::error title=image-resolver%3A Input error::input `image`: is required (or `images`): the repository, e.g. ghcr.io/acme/app",
        ),
        (
            push().input("image", "ghcr.io/acme/app").input("tag", "feature/x"),
            "::error title=image-resolver%3A Input error::input `tag`: `feature/x` is not a valid tag: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}",
        ),
        (
            push().input("image", "ghcr.io/acme/app").input("mode", "deploy"),
            "::error title=image-resolver%3A Input error::input `mode`: `deploy` is not one of pull, verify, compute, promote, clean",
        ),
        (
            push().input("image", "ghcr.io/acme/app").input("allow-forks", "yes"),
            "::error title=image-resolver%3A Input error::input `allow-forks`: `yes` is not a boolean: use true or false",
        ),
        (
            push().input("images", "api=ghcr.io/acme/api\napi=ghcr.io/acme/api2"),
            "::error title=image-resolver%3A Input error::input `images`: name `api` is used twice: give each line its own `name=repository`",
        ),
        (
            push().input("images", "{\"api\": \"ghcr.io/acme/api\"}"),
            "::error title=image-resolver%3A Input error::input `images`: line `{\"api\": \"ghcr.io/acme/api\"}` is JSON; write one image a line, `name=repository` or `repository` (e.g. `api=ghcr.io/acme/api`)",
        ),
        (
            push().input("images", "api: ghcr.io/acme/api"),
            "::error title=image-resolver%3A Input error::input `images`: line `api: ghcr.io/acme/api` is YAML (`name: repository`); write one image a line, `name=repository` or `repository` (e.g. `api=ghcr.io/acme/api`)",
        ),
        (
            push().input("images", "name=ghcr.io/acme/app,enable=true"),
            "::error title=image-resolver%3A Input error::input `images`: line `name=ghcr.io/acme/app,enable=true` looks like docker/metadata-action's `images` (`name=…,enable=…`), which this input does not read; write one image a line, `name=repository` or `repository` (e.g. `api=ghcr.io/acme/api`)",
        ),
        (
            push().input("images", "name=ghcr.io/acme/app"),
            "::error title=image-resolver%3A Input error::input `images`: line `name=ghcr.io/acme/app` uses the placeholder `name`: put the image's own name before `=` (e.g. `api=ghcr.io/acme/api`), or the repository alone; write one image a line, `name=repository` or `repository` (e.g. `api=ghcr.io/acme/api`)",
        ),
        (
            push().input("images", "api=ghcr.io/Acme/api:v1:x"),
            "::error title=image-resolver%3A Input error::input `images`: line `api=ghcr.io/Acme/api:v1:x`: `ghcr.io/acme/api:v1` is not a valid repository name (components are [a-z0-9] joined by `.`, `_`, `__` or `-`); write one image a line, `name=repository` or `repository` (e.g. `api=ghcr.io/acme/api`)",
        ),
        (
            push().input("images", "ghcr.io/acme/api\nghcr.io/acme/web").input("local-tag", "app:test"),
            "::error title=image-resolver%3A Input error::input `local-tag`: `app:test` would name every image alike: use `{name}` in it, e.g. `{name}:local`",
        ),
        (
            push().input("image", "docker.io/acme/app").input("mode", "clean"),
            "::error title=image-resolver%3A Input error::input `image`: `docker.io/acme/app`: Docker Hub deletes only through its own API, which this version does not use; clean this repository with another tool for now",
        ),
        (
            push().input("image", "registry.example.com/acme/app").input("mode", "clean").input("clean-after", "2 days"),
            "::error title=image-resolver%3A Input error::input `clean-after`: `2 days` is not a duration: use `0`, or a number with `m`, `h` or `d` (`30m`, `24h`, `7d`)",
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
            "::error title=image-resolver%3A Event error::this `push` deleted `gone`: there is no commit and no image to resolve; skip the job with `if: ${{ !github.event.deleted }}`",
        ),
        (
            failed,
            "::error title=image-resolver%3A Build failed::the triggering run `build` (id 4242) concluded `failure`, not success: its image is not trusted; set `allow-failed-upstream: true` to resolve it anyway",
        ),
        (
            Run::new("workflow_run", workflow_run("pull_request", HEAD, "patch-1", None, true))
                .input("image", "ghcr.io/acme/app"),
            "::error title=image-resolver%3A Fork refused::the image was built from a fork's pull request (`mallory/charon`): it is the fork's code and would run with this repository's permissions; set `allow-forks: true` only in a job that holds no secrets and a read-only token",
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
            "::error title=image-resolver%3A Event error::the `schedule` event names no commit: set the `tag` input (e.g. from a workflow_dispatch input) or pass a full reference repo:tag or repo@sha256:… as `image`",
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
            "::error title=image-resolver%3A Docker daemon error::cannot reach the Docker daemon at unix:///nonexistent/docker.sock: no such socket, and no `/var/run/docker.sock` to fall back on; mount the socket or set DOCKER_HOST (verify and compute modes need no daemon)",
        ),
        (
            push()
                .input("image", &repo)
                .input("github-token", TOKEN)
                .var("GITHUB_API_URL", &gh.api_url()),
            "::error title=image-resolver%3A Image not found::`{registry}/it/never-pushed:main-1111111`: the registry `{registry}` has no repository `{registry}/it/never-pushed` (NAME_UNKNOWN): check `image` (or its line in `images`) for a typo, and that the build pushes to this repository; the artifact fallback failed too: run 4242 has no artifact named `push-image`; its artifacts: none. Set `artifact-name` to one of them, or `run-id` to the build run",
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
            "::error title=image-resolver%3A Image not found::`{registry}/it/never-pushed:main-1111111`: the registry `{registry}` has no repository `{registry}/it/never-pushed` (NAME_UNKNOWN): check `image` (or its line in `images`) for a typo, and that the build pushes to this repository".into(),
        ),
        // the repository is there, the tag is not (MANIFEST_UNKNOWN)
        (
            push().input("image", &repo).input("tag", "never-pushed").input("mode", "verify"),
            format!("::error title=image-resolver%3A Image not found::`{repo_shown}:never-pushed` does not exist in the registry (tag or repository unknown): check that the build pushed this tag (its `mode: compute` gives the same one), or set `wait-timeout` to wait for it"),
        ),
        (
            push().input("image", &repo).input("mode", "verify"),
            format!("::error title=image-resolver%3A Revision mismatch::`{repo_shown}:{tag}` was built from `{stale}`, not the expected commit `{HEAD}`: rebuild the image from `1111111` and tag it by commit (e.g. `{{branch}}-{{short_sha}}`), so a tag never names another commit's image: the label `2222222` is another commit; only if that image is right after all, set `revision-check: warn`"),
        ),
        (
            push().input("image", &repo).input("fallback", "none"),
            format!("::error title=image-resolver%3A Revision mismatch::`{repo_shown}:{tag}` was built from `{stale}`, not the expected commit `{HEAD}`: rebuild the image from `1111111` and tag it by commit (e.g. `{{branch}}-{{short_sha}}`), so a tag never names another commit's image: the label `2222222` is another commit; only if that image is right after all, set `revision-check: warn`; with `fallback: none` nothing else is tried (`fallback: artifact` loads the build's artifact)"),
        ),
        (
            push().input("image", &private).input("mode", "verify"),
            format!(
                "::error title=image-resolver%3A Registry access refused::`{}` refused the credentials for `{private}:main-1111111` (401): the image is private; set `registry-username` and `registry-password`",
                s.auth_registry
            ),
        ),
    ];
    for (r, want) in cases {
        assert_eq!(error_of(r), want);
    }
}

#[test]
fn promotion_errors() {
    let s = stack();
    let repo = format!("{}/it/{}", s.registry, unique("promote-src"));
    s.publish(&repo, &format!("main-{}", &HEAD[..7]), Some(HEAD));
    let promote = |target: &str| {
        push()
            .input("image", &repo)
            .input("mode", "promote")
            .input("promote-to", target)
            .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    };
    let relay = relay::Relay::start(&s.auth_registry, relay::Mode::DenyPush);
    let auth = s.auth_registry.clone();
    let cases: Vec<(Run, String)> = vec![
        // a wrong password is a 401: the credentials, not the permission
        (
            promote(&format!("{auth}/it/wrong:latest"))
                .input("promote-username", &s.user)
                .input("promote-password", "not-the-password"),
            format!("::error title=image-resolver%3A Promotion failed::promoting to `{auth}/it/wrong:latest` failed: `{auth}` did not accept the credentials (401): check `promote-username` / `promote-password` (on the source's registry: `registry-username` / `registry-password`); no target was written"),
        ),
        // no credentials at all: the host is named with its port
        (
            promote(&format!("{auth}/it/anonymous:latest")),
            format!("::error title=image-resolver%3A Promotion failed::promoting to `{auth}/it/anonymous:latest` failed: no credentials for `{auth}` (401): set `promote-username` / `promote-password` for it; no target was written"),
        ),
        // credentials that may read but not write: a 403
        (
            promote(&format!("{}/it/read-only:latest", relay.host))
                .input("promote-username", &s.user)
                .input("promote-password", &s.pass),
            format!("::error title=image-resolver%3A Promotion failed::promoting to `{}/it/read-only:latest` failed: the credentials lack push permission to `{}/it/read-only` (403): give them write access to it (ghcr.io: `packages: write`, or a token with write:packages); no target was written", relay.host, relay.host),
        ),
    ];
    for (r, want) in cases {
        assert_eq!(error_of(r), want);
    }
}

/// A registry miss followed by a failed artifact is said once, in the error; the artifact phase
/// that printed nothing leaves no empty group.
#[test]
fn a_miss_is_said_once() {
    let gh = FakeGitHub::start(World {
        run_id: 4242,
        ..Default::default()
    });
    let s = stack();
    let o = push()
        .input("image", &format!("{}/it/never-pushed", s.registry))
        .input("github-token", TOKEN)
        .var("GITHUB_API_URL", &gh.api_url())
        .run();
    o.failed();
    let said: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.contains("has no repository"))
        .collect();
    assert_eq!(said.len(), 1, "{}", o.stdout);
    assert!(said[0].starts_with("::error "), "{}", o.stdout);
    assert!(
        !o.stdout.contains("::group::Artifact\n::endgroup::"),
        "{}",
        o.stdout
    );
}

/// Debug lines speak the log's language, not Rust's.
#[test]
fn debug_lines_carry_no_rust_syntax() {
    let s = stack();
    let repo = format!("{}/it/{}", s.registry, unique("debug"));
    s.publish(&repo, &format!("main-{}", &HEAD[..7]), Some(HEAD));
    let o = push()
        .input("image", &repo)
        .input("mode", "verify")
        .var("RUNNER_DEBUG", "1")
        .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
        .run();
    o.ok();
    let debug: Vec<&str> = o
        .stdout
        .lines()
        .filter(|l| l.starts_with("::debug::"))
        .collect();
    assert!(
        debug.iter().any(|l| l.contains("event `workflow_run`")),
        "{}",
        o.stdout
    );
    for l in debug {
        for rust in ["Some(", "None,", "Known(", "Lookup {", "\\\""] {
            assert!(!l.contains(rust), "{l}");
        }
    }
}
