//! Hostile registries (issue 17, points 2, 3 and 5): a token, manifest or config that lies, drips
//! one byte every 5 s, or never ends. Each run is capped at 1 GiB of address space, so a
//! regression fails fast (an allocation failure aborts) instead of thrashing the machine; each
//! must fail with exactly one `::error::`, and prints its peak RSS and wall time.
mod common;

use common::hostile::{HostileApi, HostileRegistry, Misbehaviour, Part};
use common::{sha, workflow_run, Run};

const CAP: u64 = 1 << 30;

fn case(part: Part, how: Misbehaviour, mode: &str) -> String {
    let reg = HostileRegistry::start(part, how);
    let run = Run::new(
        "workflow_run",
        workflow_run("push", &sha(0x51), "main", None, false),
    )
    .input("image", &format!("{}/hostile", reg.host))
    .input("mode", mode)
    .input("revision-check", "off")
    .input("retries", "1")
    .cap(CAP);
    let o = run.run();
    o.print_cost(&format!("{part:?}/{how:?}/{mode}"));
    // a signal (an allocation failure aborts) shows as a negative code
    assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
    o.failed();
    let e = o.error();
    assert!(!e.contains("/token?"), "a URL with its query: {e}");
    e
}

#[test]
fn an_endless_manifest_token_or_config_is_refused_at_its_cap() {
    for (part, what) in [
        (Part::Manifest, "manifest"),
        (Part::Token, "token"),
        (Part::Config, "blob"),
    ] {
        let e = case(part, Misbehaviour::Endless, "verify");
        assert!(
            e.contains(what) && e.contains("larger than"),
            "{part:?}: {e}"
        );
    }
}

#[test]
fn a_dripping_manifest_stalls() {
    let e = case(Part::Manifest, Misbehaviour::Drip, "verify");
    assert!(e.contains("stalled"), "{e}");
}

#[test]
fn a_dripping_token_stalls() {
    let e = case(Part::Token, Misbehaviour::Drip, "verify");
    assert!(e.contains("stalled"), "{e}");
}

#[test]
fn a_dripping_config_stalls() {
    let e = case(Part::Config, Misbehaviour::Drip, "verify");
    assert!(e.contains("stalled"), "{e}");
}

#[test]
fn a_lying_manifest_or_config_is_tampering_and_never_falls_back() {
    for part in [Part::Manifest, Part::Config] {
        // pull mode with the default `fallback: artifact`: an integrity failure must not fall back
        let e = case(part, Misbehaviour::Lie, "pull");
        assert!(
            e.contains("integrity check failed") && e.contains("tampering"),
            "{part:?}: {e}"
        );
        assert!(!e.contains("artifact"), "{part:?} fell back: {e}");
        assert!(!e.contains("attempt 2"), "{part:?} retried: {e}");
    }
}

/// The GitHub API side (issue 17, points 2 and 3): a fork PR's look-up answered by a body that
/// never ends, or by one byte every 5 s.
#[test]
fn an_endless_or_dripping_github_api_answer_is_refused() {
    for (how, needle) in [
        (Misbehaviour::Endless, "larger than"),
        (Misbehaviour::Drip, "stalled"),
    ] {
        let api = HostileApi::start(how);
        let o = Run::new(
            "workflow_run",
            workflow_run("pull_request", &sha(0x52), "patch-1", None, true),
        )
        .input("image", "127.0.0.1:9/acme/charon")
        .input("mode", "verify")
        .input("allow-forks", "true")
        .input("github-token", "ghs_hostile-test-token")
        .input("retries", "1")
        .var("GITHUB_API_URL", &api.url)
        .cap(CAP)
        .run();
        o.print_cost(&format!("GitHub API/{how:?}"));
        assert_eq!(o.code, 1, "{}\n{}", o.stdout, o.stderr);
        o.failed();
        assert!(o.error().contains(needle), "{how:?}: {}", o.error());
        o.assert_no_secret("ghs_hostile-test-token");
    }
}
