//! One image's result, whatever the command: typed outcomes, and through `Shown` the two views
//! the step gives of it — its outputs and its summary row.

use super::clean::Cleaned;
use super::outputs::{revision_output, ImageOutputs, PromotedTarget, Source};
use super::plan::{ImagePlan, Scope};
use super::promote::Skip;
use super::reference::ImageRef;
use super::revision::Outcome as Revision;
use super::summary::{ImageRow, RevisionShown};
use super::tree::Content;
use std::time::Duration;

/// The GitHub attestation of the image's digest, as checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Attestation {
    /// `attestation: off`, or the image was never looked at.
    #[default]
    NotChecked,
    Verified {
        signer: String,
        evidence: Box<Evidence>,
    },
    /// Accepted under `attestation: warn` (under `fail`, the image failed).
    Missing,
    Invalid,
}

impl Attestation {
    /// The `attestation` output.
    pub fn as_str(&self) -> &'static str {
        match self {
            Attestation::NotChecked => "",
            Attestation::Verified { .. } => "verified",
            Attestation::Missing => "missing",
            Attestation::Invalid => "invalid",
        }
    }

    /// Let through without a valid attestation: never shown as a plain success.
    pub fn unproven(&self) -> bool {
        matches!(self, Attestation::Missing | Attestation::Invalid)
    }
}

/// Where the attestation bundles judged came from, for the summary's note.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BundleSource {
    /// `GET /repos/{owner}/{repo}/attestations/{digest}`.
    GitHubApi,
    /// The image's repository: Sigstore bundle referrers (actions/attest `push-to-registry`).
    Registry,
}

impl BundleSource {
    pub fn words(&self) -> &'static str {
        match self {
            BundleSource::GitHubApi => "from the GitHub API",
            BundleSource::Registry => "from the registry",
        }
    }
}

/// What a verified attestation proved, and which bundle proved it: what the verification
/// summary records.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Evidence {
    /// The digest the attestation's subject is (for an artifact, the tar's).
    pub subject: String,
    /// The certificate's Source Repository Digest.
    pub commit: Option<String>,
    /// The revision label's commit it was bound to; none when the label held no commit.
    pub bound_to: Option<String>,
    /// The caller workflow (Build Config URI).
    pub caller: String,
    /// The certificate's Runner Environment.
    pub runner: Option<String>,
    /// Where the bundle was read, and its `sha256:` digest.
    pub bundle_uri: String,
    pub bundle_digest: String,
    /// The Sigstore instance that vouched for it.
    pub instance: String,
}

/// What promote mode did with the image.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Promotion {
    /// Not promote mode.
    #[default]
    NotAsked,
    /// Every target that holds the digest now, and how it came to.
    Promoted(Vec<PromotedTarget>),
    /// Nothing written, by design; the step still succeeds.
    Skipped(Skip),
    /// `dry-run: true`: every target and what it would receive; nothing written.
    DryRun(Vec<PromotedTarget>),
}

impl Promotion {
    /// The targets as promote mode left them, or on a dry run as it found them.
    pub fn of(targets: Vec<PromotedTarget>, dry_run: bool) -> Promotion {
        if dry_run {
            Promotion::DryRun(targets)
        } else {
            Promotion::Promoted(targets)
        }
    }
}

/// One image done.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub name: String,
    /// As planned: `repository:tag`, `repository@digest`, or both.
    pub reference: ImageRef,
    /// The tag resolved; empty for a digest-only reference.
    pub tag: String,
    /// The registry's digest; none for an artifact or an image never looked up.
    pub digest: Option<String>,
    pub image_id: Option<String>,
    pub local_image: Option<String>,
    pub source: Source,
    /// The revision label as found (untrusted text).
    pub label: Option<String>,
    pub revision: Revision,
    pub attestation: Attestation,
    pub promotion: Promotion,
    /// What a reader of the summary should know (a fork's image, a verified signer, …).
    pub notes: Vec<String>,
    /// Clean mode: what was removed and kept.
    pub cleaned: Option<Cleaned>,
    pub elapsed: Duration,
    /// With `paths`: `{tree}` at the expected commit and `tree-tag`, as planned.
    pub content: Option<Content>,
}

impl Done {
    /// Nothing found yet: the planned image only.
    pub fn planned(img: &ImagePlan) -> Done {
        Done {
            name: img.name.clone(),
            reference: img.reference.clone(),
            tag: img.tag.clone(),
            digest: None,
            image_id: None,
            local_image: None,
            source: Source::None,
            label: None,
            revision: Revision::NotChecked,
            attestation: Attestation::NotChecked,
            promotion: Promotion::NotAsked,
            notes: Vec::new(),
            cleaned: None,
            elapsed: Duration::ZERO,
            content: img.content.clone(),
        }
    }

    /// `repository@digest` when the digest is known, else the reference as planned.
    pub fn pinned_ref(&self) -> String {
        match &self.digest {
            Some(d) => format!("{}@{d}", self.reference.repository),
            None => self.reference.shown(),
        }
    }
}

/// One image that failed; the others still run.
#[derive(Debug)]
pub struct Failed {
    pub name: String,
    pub reference: ImageRef,
    /// Kept whole: the step's error annotation is told by its kind.
    pub error: anyhow::Error,
    /// It failed for its revision label (the summary shows the mismatch).
    pub mismatch: bool,
    pub elapsed: Duration,
}

/// The views of a result: the outputs it gives and the summary row it shows.
pub trait Shown {
    /// The per-image outputs; none for a failed image (the step writes no outputs then).
    fn outputs(&self) -> Option<ImageOutputs>;
    /// The summary's row; named with `images`.
    fn row(&self, scope: Scope) -> ImageRow;
}

impl Shown for Done {
    fn outputs(&self) -> Option<ImageOutputs> {
        let (promoted, skipped) = match &self.promotion {
            // on a dry run only the targets already there hold the digest (`promoted` drops
            // those that would be written)
            Promotion::Promoted(p) | Promotion::DryRun(p) => (p.clone(), ""),
            Promotion::Skipped(s) => (Vec::new(), s.as_str()),
            Promotion::NotAsked => (Vec::new(), ""),
        };
        let signer = match &self.attestation {
            Attestation::Verified { signer, .. } => signer.clone(),
            _ => String::new(),
        };
        Some(ImageOutputs {
            name: self.name.clone(),
            image: self.reference.shown(),
            tag: self.tag.clone(),
            digest: self.digest.clone().unwrap_or_default(),
            r#ref: self.pinned_ref(),
            image_id: self.image_id.clone().unwrap_or_default(),
            local_image: self.local_image.clone().unwrap_or_default(),
            source: self.source,
            revision: revision_output(self.label.as_deref()),
            promoted,
            promote_skipped: skipped.into(),
            attestation: self.attestation.as_str().into(),
            attestation_signer: signer,
            removed: self
                .cleaned
                .as_ref()
                .map(|c| c.removed.clone())
                .unwrap_or_default(),
            tree: self
                .content
                .as_ref()
                .map(|c| c.value.clone())
                .unwrap_or_default(),
            tree_image: self
                .content
                .as_ref()
                .map(|c| format!("{}:{}", self.reference.repository, c.tag))
                .unwrap_or_default(),
        })
    }

    fn row(&self, scope: Scope) -> ImageRow {
        let (targets, skipped) = match &self.promotion {
            Promotion::Promoted(t) | Promotion::DryRun(t) => (t.clone(), None),
            Promotion::Skipped(s) => (Vec::new(), Some(s.as_str().to_string())),
            Promotion::NotAsked => (Vec::new(), None),
        };
        ImageRow {
            name: scope.keyed().then(|| self.name.clone()),
            pinned: self.reference.is_pinned(),
            // a skipped image's notice goes with its row
            skip_notice: skipped.as_ref().and_then(|_| self.notes.last().cloned()),
            promote_skipped: skipped,
            targets,
            digest: self.digest.clone(),
            image_id: self.image_id.clone(),
            local_image: self.local_image.clone(),
            source: self.source,
            revision: shown(&self.revision),
            label: self.label.clone(),
            elapsed: Some(self.elapsed),
            cleaned: self.cleaned.clone(),
            dry_run: matches!(self.promotion, Promotion::DryRun(_)),
            ..ImageRow::new(self.reference.shown())
        }
    }
}

impl Shown for Failed {
    fn outputs(&self) -> Option<ImageOutputs> {
        None
    }

    fn row(&self, scope: Scope) -> ImageRow {
        ImageRow {
            name: scope.keyed().then(|| self.name.clone()),
            pinned: self.reference.is_pinned(),
            error: Some(format!("{:#}", self.error)),
            elapsed: Some(self.elapsed),
            revision: if self.mismatch {
                RevisionShown::Mismatch
            } else {
                RevisionShown::NotChecked
            },
            ..ImageRow::new(self.reference.shown())
        }
    }
}

impl<T: Shown, E: Shown> Shown for Result<T, E> {
    fn outputs(&self) -> Option<ImageOutputs> {
        match self {
            Ok(t) => t.outputs(),
            Err(e) => e.outputs(),
        }
    }
    fn row(&self, scope: Scope) -> ImageRow {
        match self {
            Ok(t) => t.row(scope),
            Err(e) => e.row(scope),
        }
    }
}

fn shown(o: &Revision) -> RevisionShown {
    match o {
        Revision::Match => RevisionShown::Matched,
        Revision::MergeCommit(_) => RevisionShown::MergeCommit,
        Revision::SameTree(_) => RevisionShown::SameTree,
        Revision::SamePaths(_) => RevisionShown::SamePaths,
        Revision::Accepted { .. } => RevisionShown::MismatchAccepted,
        Revision::NotChecked | Revision::Off => RevisionShown::NotChecked,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DIGEST: &str = "sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    fn done() -> Done {
        let img = ImagePlan {
            name: "api".into(),
            reference: ImageRef::parse("r.example/acme/api:pr-1-abc").unwrap(),
            tag: "pr-1-abc".into(),
            local: None,
            paths: vec![],
            content: None,
        };
        Done::planned(&img)
    }

    #[test]
    fn outputs_and_rows_are_views_of_one_result() {
        let d = Done {
            digest: Some(DIGEST.into()),
            source: Source::Registry,
            label: Some("x\nimage=evil".into()),
            attestation: Attestation::Verified {
                signer: "acme/api/.github/workflows/b.yml@refs/heads/main".into(),
                evidence: Box::default(),
            },
            promotion: Promotion::Skipped(Skip::TreeDiffers),
            revision: Revision::Accepted { found: "x".into() },
            ..done()
        };
        let o = d.outputs().unwrap();
        assert_eq!(
            (o.image.as_str(), o.r#ref.as_str(), o.revision.as_str()),
            (
                "r.example/acme/api:pr-1-abc",
                &*format!("r.example/acme/api@{DIGEST}"),
                ""
            )
        );
        assert_eq!(
            (o.attestation.as_str(), o.promote_skipped.as_str()),
            ("verified", "tree-differs")
        );
        assert_eq!(
            o.attestation_signer,
            "acme/api/.github/workflows/b.yml@refs/heads/main"
        );
        let one = d.row(Scope::One);
        assert_eq!(
            (one.name, one.revision, one.digest.as_deref()),
            (None, RevisionShown::MismatchAccepted, Some(DIGEST))
        );
        assert_eq!(d.row(Scope::Keyed).name.as_deref(), Some("api"));
        // an artifact has no digest: its ref is the reference
        let artifact = Done {
            source: Source::Artifact,
            ..done()
        };
        assert_eq!(
            artifact.outputs().unwrap().r#ref,
            "r.example/acme/api:pr-1-abc"
        );
    }

    #[test]
    fn a_failed_image_gives_a_row_and_no_outputs() {
        let f = Failed {
            name: "api".into(),
            reference: ImageRef::parse(&format!("r.example/acme/api@{DIGEST}")).unwrap(),
            error: anyhow::anyhow!("boom"),
            mismatch: true,
            elapsed: Duration::from_millis(5),
        };
        assert_eq!(f.outputs(), None);
        let r = f.row(Scope::One);
        assert!(r.pinned && r.error.as_deref() == Some("boom"));
        assert_eq!(r.revision, RevisionShown::Mismatch);
    }
}
