//! Writes sample step summaries, one Markdown file per case, into the directory given as the
//! first argument: the real output of `core::summary::render`, for scripts/render-summary.sh
//! to turn into the screenshots in docs/.
use image_resolver::core::summary::{
    render, ImageRow, Links, Outcome, Report, RevisionShown, Source,
};
use std::time::Duration;

const SHA: &str = "1a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d";
const MERGE: &str = "9f8e7d6c5b4a39281706f5e4d3c2b1a098765432";

fn digest(seed: u8) -> String {
    format!("sha256:{}", hex(seed))
}

fn hex(seed: u8) -> String {
    (0..32u8)
        .map(|i| format!("{:02x}", i.wrapping_mul(37).wrapping_add(seed)))
        .collect()
}

fn links() -> Links {
    Links {
        server_url: "https://github.com".into(),
        repository: "acme/charon".into(),
        commit: Some(SHA.into()),
        pr: Some(42),
        build_run_id: Some(14_203_551_920),
    }
}

fn charon() -> ImageRow {
    ImageRow {
        digest: Some(digest(0x3f)),
        image_id: Some(digest(0x11)),
        local_image: Some("charon:local".into()),
        source: Source::Registry,
        revision: RevisionShown::Matched,
        label: Some(SHA.into()),
        elapsed: Some(Duration::from_millis(8_412)),
        ..ImageRow::new("ghcr.io/acme/charon:pr-42-1a2b3c4")
    }
}

fn report(outcome: Outcome, images: Vec<ImageRow>) -> Report {
    Report {
        outcome,
        reason: None,
        images,
        notes: vec![],
        links: links(),
    }
}

fn main() {
    let dir = std::env::args().nth(1).expect("usage: render_summary DIR");
    let named = |name: &str, seed: u8, ms: u64| ImageRow {
        name: Some(name.into()),
        digest: Some(digest(seed)),
        image_id: Some(digest(seed ^ 0x55)),
        local_image: None,
        elapsed: Some(Duration::from_millis(ms)),
        ..ImageRow {
            reference: format!("ghcr.io/acme/{name}:pr-42-1a2b3c4"),
            ..charon()
        }
    };
    let cases = [
        ("resolved", report(Outcome::Resolved, vec![charon()])),
        (
            "warning",
            report(
                Outcome::Warning,
                vec![ImageRow {
                    revision: RevisionShown::MismatchAccepted,
                    label: Some("0d1e2f3a4b5c6d7e8f90a1b2c3d4e5f60718293a".into()),
                    ..charon()
                }],
            ),
        ),
        (
            "skipped",
            Report {
                reason: Some(
                    "Promotion skipped (tree-differs): the image tested on PR #42 was built from a tree other than this commit's. Build this commit instead."
                        .into(),
                ),
                links: Links {
                    pr: Some(42),
                    ..links()
                },
                ..report(Outcome::Skipped, vec![])
            },
        ),
        (
            "failed",
            report(
                Outcome::Failed,
                vec![ImageRow {
                    digest: None,
                    image_id: None,
                    local_image: None,
                    source: Source::None,
                    revision: RevisionShown::NotChecked,
                    label: None,
                    error: Some("no usable image for `ghcr.io/acme/charon:pr-42-1a2b3c4`: the tag is not in the registry, and the artifact `pr-image-42` is not in build run 14203551920. Check that the build pushed the tag, or set `wait-timeout` to wait for it".into()),
                    elapsed: Some(Duration::from_millis(2_150)),
                    ..charon()
                }],
            ),
        ),
        (
            "several",
            Report {
                notes: vec!["The pull request comes from the fork `someone/charon`: these images were built from the fork's code.".into()],
                ..report(
                    Outcome::Resolved,
                    vec![
                        named("api", 0x21, 6_904),
                        ImageRow {
                            revision: RevisionShown::MergeCommit,
                            label: Some(MERGE.into()),
                            ..named("web", 0x42, 11_380)
                        },
                        ImageRow {
                            source: Source::Artifact,
                            digest: None,
                            ..named("worker", 0x63, 23_517)
                        },
                        ImageRow {
                            source: Source::Local,
                            ..named("migrations", 0x07, 312)
                        },
                    ],
                )
            },
        ),
        (
            "pinned",
            report(
                Outcome::Resolved,
                vec![ImageRow {
                    pinned: true,
                    source: Source::Local,
                    elapsed: Some(Duration::from_millis(420)),
                    ..ImageRow::new(format!("ghcr.io/acme/charon@{}", digest(0x3f)))
                }],
            ),
        ),
    ];
    for (name, r) in cases {
        let path = format!("{dir}/{name}.md");
        std::fs::write(&path, render(&r)).unwrap_or_else(|e| panic!("{path}: {e}"));
    }
}
