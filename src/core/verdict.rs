//! The step's verdict from every image's result: what the summary's first line says, why, and
//! the notes under it. Pure, so a table pins it.

use super::result::{Done, Failed, Promotion};
use super::summary::Outcome;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    pub outcome: Outcome,
    /// Shown under the verdict line (a skipped promotion's notice).
    pub reason: Option<String>,
    /// Every image's notes, each once, but for the reason and a skipped image's own notice
    /// (its row shows it).
    pub notes: Vec<String>,
}

/// A failed image is not judged here: the summary never shows a row with an error as better
/// than failed (`Report::shown_outcome`).
pub fn verdict(images: &[Result<Done, Failed>]) -> Verdict {
    let done: Vec<&Done> = images.iter().flatten().collect();
    let mut notes: Vec<String> = Vec::new();
    for d in &done {
        let skipped = matches!(d.promotion, Promotion::Skipped(_));
        for n in &d.notes {
            let its_notice = skipped && Some(n) == d.notes.last();
            if !notes.contains(n) && !its_notice {
                notes.push(n.clone());
            }
        }
    }
    // a provenance accepted under `attestation: warn` is never shown as a plain success
    let unproven = done.iter().any(|d| d.attestation.unproven());
    // a promotion that skipped every image: the verdict says so, with the notice as its reason
    let all_skipped = !images.is_empty()
        && images
            .iter()
            .all(|r| matches!(r, Ok(d) if matches!(d.promotion, Promotion::Skipped(_))));
    let reason = all_skipped
        .then(|| done.iter().find_map(|d| d.notes.last().cloned()))
        .flatten();
    notes.retain(|n| Some(n) != reason.as_ref());
    let outcome = if all_skipped {
        Outcome::Skipped
    } else if unproven {
        Outcome::Warning
    } else {
        Outcome::Resolved
    };
    Verdict {
        outcome,
        reason,
        notes,
    }
}

// an image's result is data here, never an error passed on with `?`
#[cfg(test)]
#[allow(clippy::result_large_err)]
mod tests {
    use super::*;
    use crate::core::outputs::{PromotedTarget, TargetState};
    use crate::core::plan::ImagePlan;
    use crate::core::promote::Skip;
    use crate::core::reference::ImageRef;
    use crate::core::result::Attestation;
    use std::time::Duration;

    fn done(notes: &[&str]) -> Result<Done, Failed> {
        let img = ImagePlan {
            name: "api".into(),
            reference: ImageRef::parse("r.example/acme/api:t").unwrap(),
            tag: "t".into(),
            local: None,
            paths: vec![],
            content: None,
        };
        Ok(Done {
            notes: notes.iter().map(|n| n.to_string()).collect(),
            ..Done::planned(&img)
        })
    }

    fn with(r: Result<Done, Failed>, f: impl FnOnce(&mut Done)) -> Result<Done, Failed> {
        r.map(|mut d| {
            f(&mut d);
            d
        })
    }

    fn skipped(notes: &[&str]) -> Result<Done, Failed> {
        with(done(notes), |d| {
            d.promotion = Promotion::Skipped(Skip::NoImage)
        })
    }

    fn failed() -> Result<Done, Failed> {
        Err(Failed {
            name: "web".into(),
            reference: ImageRef::parse("r.example/acme/web:t").unwrap(),
            error: anyhow::anyhow!("boom"),
            mismatch: false,
            elapsed: Duration::ZERO,
        })
    }

    #[test]
    fn verdicts() {
        let missing = |n: &[&str]| with(done(n), |d| d.attestation = Attestation::Missing);
        let promoted = |n: &[&str]| {
            with(done(n), |d| {
                d.promotion = Promotion::Promoted(vec![PromotedTarget {
                    reference: "a/b:latest@sha256:00".into(),
                    state: TargetState::Written,
                }])
            })
        };
        // (images, outcome, reason, notes)
        type Case = (
            Vec<Result<Done, Failed>>,
            Outcome,
            Option<&'static str>,
            Vec<&'static str>,
        );
        let cases: Vec<Case> = vec![
            (vec![], Outcome::Resolved, None, vec![]),
            (
                vec![done(&["fork", "no sha"]), done(&["fork"])],
                Outcome::Resolved,
                None,
                vec!["fork", "no sha"],
            ),
            (vec![missing(&["w"])], Outcome::Warning, None, vec!["w"]),
            (
                vec![skipped(&["nothing promoted"])],
                Outcome::Skipped,
                Some("nothing promoted"),
                vec![],
            ),
            (
                vec![
                    // a skipped image's notice is its last note
                    skipped(&["fork", "nothing promoted"]),
                    skipped(&["nothing promoted"]),
                ],
                Outcome::Skipped,
                Some("nothing promoted"),
                vec!["fork"],
            ),
            // one promoted, one skipped: not every image skipped; the notice is in its row
            (
                vec![promoted(&[]), skipped(&["nothing promoted"])],
                Outcome::Resolved,
                None,
                vec![],
            ),
            // a failed image is judged by the rows, not here
            (vec![done(&[]), failed()], Outcome::Resolved, None, vec![]),
            (
                vec![skipped(&["nothing promoted"]), failed()],
                Outcome::Resolved,
                None,
                vec![],
            ),
        ];
        for (i, (images, outcome, reason, notes)) in cases.into_iter().enumerate() {
            let v = verdict(&images);
            assert_eq!(
                (v.outcome, v.reason.as_deref(), v.notes),
                (
                    outcome,
                    reason,
                    notes.iter().map(|n| n.to_string()).collect()
                ),
                "case {i}"
            );
        }
    }
}
