//! Step outputs, as text. Writing them is the toolkit's job.

use super::plan::Plan;
use super::Sha;

/// Where the image in the daemon (or the registry) came from.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Source {
    Registry,
    Artifact,
    /// The daemon already held that digest: nothing was pulled.
    Local,
    /// Compute mode: nothing was resolved.
    #[default]
    None,
}

impl Source {
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Registry => "registry",
            Source::Artifact => "artifact",
            Source::Local => "local",
            Source::None => "none",
        }
    }
}

/// What became of one promotion target; a dry run's targets that lack the digest are `WouldWrite`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    /// Written by this step.
    Written,
    /// Already held the digest: left untouched.
    AlreadyThere,
    /// A dry run: what a real run would write.
    WouldWrite,
}

/// One target that holds (or, on a dry run, would hold) the digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PromotedTarget {
    /// `repository:tag@digest`
    pub reference: String,
    pub state: TargetState,
}

/// One image's outputs, as text (`""` for absent): a view of its result (`result::Shown`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageOutputs {
    pub name: String,
    /// `repository:tag` (or `repository@digest` for a digest-only reference).
    pub image: String,
    pub tag: String,
    pub digest: String,
    pub r#ref: String,
    pub image_id: String,
    pub local_image: String,
    pub source: Source,
    pub revision: String,
    pub promoted: Vec<PromotedTarget>,
    pub promote_skipped: String,
    pub attestation: String,
    pub attestation_signer: String,
    /// Clean mode: `repository:tag` of each tag removed (or, dry, that would be).
    pub removed: Vec<String>,
    /// With `paths`: `{tree}` and `repository:` the rendered `tree-tag`.
    pub tree: String,
    pub tree_image: String,
}

impl ImageOutputs {
    /// The `promoted` output's lines: the targets that hold the digest after the step.
    pub fn promoted_lines(&self) -> Vec<&str> {
        self.promoted
            .iter()
            .filter(|p| p.state != TargetState::WouldWrite)
            .map(|p| p.reference.as_str())
            .collect()
    }
}

/// The `revision` output: a 40-hex SHA or nothing, so a crafted label cannot reach a `run:`.
pub fn revision_output(label: Option<&str>) -> String {
    label
        .and_then(|l| Sha::parse(l.trim()))
        .map(|s| s.to_string())
        .unwrap_or_default()
}

/// Every output of the contract, in its order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outputs {
    pub tag: String,
    pub image: String,
    pub digest: String,
    pub r#ref: String,
    pub image_id: String,
    pub local_image: String,
    pub source: String,
    pub sha: String,
    pub short_sha: String,
    pub pr_number: String,
    pub revision: String,
    pub labels: String,
    pub images: String,
    pub promoted: String,
    pub promote_skipped: String,
    pub attestation: String,
    pub attestation_signer: String,
    /// The path, relative to the workspace, of the first verification summary written (the
    /// first verified image's); written by the step, not built here.
    pub verification_summary: String,
    pub tree: String,
    pub tree_image: String,
    pub removed: String,
}

pub const OUTPUT_NAMES: [&str; 21] = [
    "tag",
    "image",
    "digest",
    "ref",
    "image-id",
    "local-image",
    "source",
    "sha",
    "short-sha",
    "pr-number",
    "revision",
    "labels",
    "images",
    "promoted",
    "promote-skipped",
    "attestation",
    "attestation-signer",
    "verification-summary",
    "tree",
    "tree-image",
    "removed",
];

impl Outputs {
    /// Built once, from the plan and every image's result. With `images` (`keyed`), per-image
    /// values go into the JSON output; a single image also fills the top-level ones.
    pub fn build(
        plan: &Plan,
        sha_length: usize,
        labels: String,
        results: &[ImageOutputs],
        keyed: bool,
    ) -> Outputs {
        let mut out = Outputs {
            tag: plan.tag.clone(),
            sha: plan
                .expected
                .as_ref()
                .map(Sha::to_string)
                .unwrap_or_default(),
            short_sha: plan
                .expected
                .as_ref()
                .map(|s| s.short(sha_length).to_string())
                .unwrap_or_default(),
            pr_number: plan.pr.map(|n| n.to_string()).unwrap_or_default(),
            labels,
            ..Default::default()
        };
        if keyed {
            out.images = images_json(results);
        }
        // every image's, with `images` too: their union at the top
        out.removed = results
            .iter()
            .flat_map(|r| r.removed.iter().map(String::as_str))
            .collect::<Vec<_>>()
            .join("\n");
        if let [one] = results {
            out.tag = one.tag.clone();
            out.image = one.image.clone();
            out.digest = one.digest.clone();
            out.r#ref = one.r#ref.clone();
            out.image_id = one.image_id.clone();
            out.local_image = one.local_image.clone();
            out.source = one.source.as_str().into();
            out.revision = one.revision.clone();
            out.promoted = one.promoted_lines().join("\n");
            out.promote_skipped = one.promote_skipped.clone();
            out.attestation = one.attestation.clone();
            out.attestation_signer = one.attestation_signer.clone();
            out.tree = one.tree.clone();
            out.tree_image = one.tree_image.clone();
        } else {
            let all: Vec<&str> = results.iter().flat_map(|r| r.promoted_lines()).collect();
            out.promoted = all.join("\n");
            out.promote_skipped = results
                .iter()
                .map(|r| r.promote_skipped.as_str())
                .find(|s| !s.is_empty())
                .unwrap_or_default()
                .to_string();
        }
        out
    }

    pub fn entries(&self) -> [(&'static str, &str); 21] {
        let v = [
            &self.tag,
            &self.image,
            &self.digest,
            &self.r#ref,
            &self.image_id,
            &self.local_image,
            &self.source,
            &self.sha,
            &self.short_sha,
            &self.pr_number,
            &self.revision,
            &self.labels,
            &self.images,
            &self.promoted,
            &self.promote_skipped,
            &self.attestation,
            &self.attestation_signer,
            &self.verification_summary,
            &self.tree,
            &self.tree_image,
            &self.removed,
        ];
        std::array::from_fn(|i| (OUTPUT_NAMES[i], v[i].as_str()))
    }
}

/// The `images` output: one object per image name, for `fromJSON(...)` in later steps.
fn images_json(results: &[ImageOutputs]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = results
        .iter()
        .map(|r| {
            let v = serde_json::json!({
                "image": r.image, "tag": r.tag, "digest": r.digest, "ref": r.r#ref,
                "image-id": r.image_id, "local-image": r.local_image, "source": r.source.as_str(),
                "revision": r.revision, "promoted": r.promoted_lines(),
                "promote-skipped": r.promote_skipped, "attestation": r.attestation,
                "removed": r.removed,
                "tree": r.tree, "tree-image": r.tree_image,
            });
            (r.name.clone(), v)
        })
        .collect();
    serde_json::Value::Object(map).to_string()
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("output `{0}` contains the output delimiter; refusing to write a file a value could break out of")]
pub struct DelimiterInValue(pub String);

/// The runner's `name<<DELIMITER` form:
/// https://docs.github.com/en/actions/reference/workflows-and-actions/workflow-commands#multiline-strings
pub fn format_output_file(
    entries: &[(&str, &str)],
    delimiter: &str,
) -> Result<String, DelimiterInValue> {
    let mut out = String::new();
    for (name, value) in entries {
        if value.contains(delimiter) || name.contains(delimiter) {
            return Err(DelimiterInValue(name.to_string()));
        }
        out.push_str(&format!("{name}<<{delimiter}\n{value}\n{delimiter}\n"));
    }
    Ok(out)
}

/// `ghadelimiter_` plus random hex, as @actions/core does.
pub fn delimiter_from(random: [u8; 16]) -> String {
    format!("ghadelimiter_{}", hex::encode(random))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_file_format() {
        let got = format_output_file(
            &[("tag", "pr-1-abc"), ("labels", "a=b\nc=d"), ("digest", "")],
            "D",
        )
        .unwrap();
        assert_eq!(
            got,
            "tag<<D\npr-1-abc\nD\nlabels<<D\na=b\nc=d\nD\ndigest<<D\n\nD\n"
        );
    }

    #[test]
    fn delimiter_in_value_is_refused() {
        let d = delimiter_from([7; 16]);
        assert!(d.starts_with("ghadelimiter_") && d.len() == 13 + 32);
        let evil = format!("x\n{d}\nimage=evil");
        assert_eq!(
            format_output_file(&[("local-image", &evil)], &d),
            Err(DelimiterInValue("local-image".into()))
        );
    }

    #[test]
    fn all_outputs_are_named_in_order() {
        let o = Outputs {
            tag: "t".into(),
            r#ref: "r".into(),
            labels: "l".into(),
            ..Default::default()
        };
        let e = o.entries();
        assert_eq!(e.map(|(n, _)| n), OUTPUT_NAMES);
        assert_eq!((e[0].1, e[3].1, e[11].1), ("t", "r", "l"));
    }

    #[test]
    fn only_a_full_sha_becomes_the_revision_output() {
        let r = |label: &str| revision_output(Some(label));
        let sha = "0123456789abcdef0123456789abcdef01234567";
        assert_eq!(r(sha), sha);
        assert_eq!(r(&sha.to_uppercase()), sha);
        for hostile in ["x\nimage=evil", "0123456", "", "$(id)"] {
            assert_eq!(r(hostile), "", "{hostile:?}");
        }
        assert_eq!(revision_output(None), "");
    }

    #[test]
    fn images_json_is_keyed_by_name() {
        let results = [
            ImageOutputs {
                name: "api".into(),
                image: "r/api:t".into(),
                source: Source::Registry,
                ..Default::default()
            },
            ImageOutputs {
                name: "worker".into(),
                source: Source::Artifact,
                ..Default::default()
            },
        ];
        let v: serde_json::Value = serde_json::from_str(&images_json(&results)).unwrap();
        assert_eq!(v["api"]["image"], "r/api:t");
        assert_eq!(v["worker"]["source"], "artifact");
        assert_eq!(v["api"]["promoted"], serde_json::json!([]));
        assert_eq!(v["api"]["promote-skipped"], "");
        assert_eq!(
            (&v["api"]["tree"], &v["api"]["tree-image"]),
            (&serde_json::json!(""), &serde_json::json!(""))
        );
    }

    #[test]
    fn each_image_says_whether_it_was_skipped() {
        let results = [
            ImageOutputs {
                name: "api".into(),
                promoted: vec![PromotedTarget {
                    reference: "r/api:latest@sha256:00".into(),
                    state: TargetState::AlreadyThere,
                }],
                ..Default::default()
            },
            ImageOutputs {
                name: "web".into(),
                promote_skipped: "no-image".into(),
                ..Default::default()
            },
        ];
        let plan = Plan {
            tag: "t".into(),
            expected: None,
            pr: None,
            images: vec![],
            vars: Default::default(),
            facts: Default::default(),
            scope: crate::core::plan::Scope::Keyed,
        };
        let out = Outputs::build(&plan, 7, String::new(), &results, true);
        let v: serde_json::Value = serde_json::from_str(&out.images).unwrap();
        assert_eq!(v["api"]["promote-skipped"], "");
        assert_eq!(v["web"]["promote-skipped"], "no-image");
        assert_eq!(
            v["api"]["promoted"],
            serde_json::json!(["r/api:latest@sha256:00"])
        );
        assert_eq!(
            (out.promoted.as_str(), out.promote_skipped.as_str()),
            ("r/api:latest@sha256:00", "no-image")
        );
    }
}
