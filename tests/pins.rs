//! Every third-party action our workflows, examples and README recipes use is pinned to the commit its tag names
//! in the action's own repository (each checked with `git rev-parse <tag>^{commit}` in a copy of
//! it). A pin to a commit that does not exist never starts its job, so a bump must update this
//! table: the test fails for a SHA or tag it does not list, and for a pin it lists wrongly.

use std::path::Path;

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// (action, tag, commit): verified in each action's own repository.
const PINS: &[(&str, &str, &str)] = &[
    (
        "actions/checkout",
        "v4.2.2",
        "11bd71901bbe5b1630ceea73d27597364c9af683",
    ),
    (
        "actions/upload-artifact",
        "v4.6.2",
        "ea165f8d65b6e75b540449e92b4886f43607fa02",
    ),
    (
        "actions/attest-build-provenance",
        "v4.1.0",
        "a2bbfa25375fe432b6a289bc6b6cd05ecd0c4c32",
    ),
    (
        "actions/attest",
        "v4.1.0",
        "59d89421af93a897026c735860bf21b6eb4f7b26",
    ),
    (
        "docker/build-push-action",
        "v6.18.0",
        "263435318d21b8e681c14492fe198d362a7d2c83",
    ),
    (
        "docker/setup-buildx-action",
        "v4.3.0",
        "37fe631027851001ddb9b187196cc803df7f5f0e",
    ),
    (
        "docker/setup-buildx-action",
        "v3.10.0",
        "b5ca514318bd6ebac0fb2aedd5d36ec1b5c232a2",
    ),
    (
        "docker/login-action",
        "v3.4.0",
        "74a5d142397b4f367a81961eba4e8cd7edddf772",
    ),
    // the README's registry recipes
    (
        "azure/login",
        "v2.3.1",
        "7184910d9eb2b1c5e48f7073824a90609bb9b6d6",
    ),
    (
        "aws-actions/configure-aws-credentials",
        "v4.3.1",
        "7474bc4690e29a8392af63c5b98e7449536d5c3a",
    ),
    (
        "aws-actions/amazon-ecr-login",
        "v2.1.7",
        "03f1aad4c6c7ffd436567f42f9384779290529bd",
    ),
    (
        "google-github-actions/auth",
        "v2.1.13",
        "c200f3691d83b41bf9bbd8638997a462592937ed",
    ),
];

/// Our own action, which the examples name by its major tag for users to pin themselves.
const OURS: &str = "image-resolver/image-resolver";

fn workflow_files() -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for dir in [".github/workflows", "workflows-examples"] {
        for e in std::fs::read_dir(Path::new(ROOT).join(dir)).unwrap() {
            let p = e.unwrap().path();
            if p.extension().is_some_and(|x| x == "yml" || x == "yaml") {
                files.push(p);
            }
        }
    }
    files.sort();
    assert!(files.len() > 2, "no workflows found: {files:?}");
    // the recipes a reader copies from
    files.push(Path::new(ROOT).join("README.md"));
    files
}

/// `uses: owner/repo@ref # comment` → (action, ref, comment).
fn uses(line: &str) -> Option<(String, String, String)> {
    let rest = line.trim_start().trim_start_matches("- ").trim_start();
    let rest = rest.strip_prefix("uses:")?.trim();
    let (spec, comment) = rest.split_once('#').unwrap_or((rest, ""));
    let (action, reference) = spec.trim().split_once('@')?;
    Some((
        action.to_string(),
        reference.to_string(),
        comment.trim().to_string(),
    ))
}

#[test]
fn every_pinned_action_is_the_commit_its_tag_names() {
    let mut checked = 0;
    let mut used = std::collections::BTreeSet::new();
    for file in workflow_files() {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let Some((action, reference, comment)) = uses(line) else {
                continue;
            };
            let at = format!("{}:{}", file.display(), n + 1);
            // a placeholder the README's prose shows (`@<sha>`, `<owner>/…`) pins nothing
            if action.starts_with("./") || action == OURS || line.contains('<') {
                continue;
            }
            // a third-party action is pinned to a full commit SHA, its tag in the comment
            assert!(
                reference.len() == 40
                    && reference
                        .bytes()
                        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
                "{at}: `{action}@{reference}` is not pinned to a commit SHA"
            );
            let tag = comment.split_whitespace().next().unwrap_or("");
            let pin = PINS
                .iter()
                .find(|(a, t, _)| *a == action && *t == tag)
                .unwrap_or_else(|| {
                    panic!("{at}: `{action}` {tag:?} is not in the verified table: verify its commit and add it")
                });
            assert_eq!(
                reference, pin.2,
                "{at}: `{action}` {tag} is commit {}, not {reference}",
                pin.2
            );
            used.insert((pin.0, pin.1));
            checked += 1;
        }
    }
    assert!(checked >= PINS.len(), "only {checked} pins checked");
    // a row no workflow uses is stale: the table follows the workflows
    for (a, t, _) in PINS {
        assert!(used.contains(&(*a, *t)), "`{a}` {t} is pinned nowhere");
    }
}

#[test]
fn the_line_reader_reads_both_forms() {
    assert_eq!(
        uses("      - uses: actions/checkout@abc # v4.2.2"),
        Some(("actions/checkout".into(), "abc".into(), "v4.2.2".into()))
    );
    assert_eq!(
        uses("        uses: docker/login-action@def # v3.4.0"),
        Some(("docker/login-action".into(), "def".into(), "v3.4.0".into()))
    );
    assert_eq!(uses("      - name: x"), None);
}
