//! Images built the common way (docker/metadata-action + docker/build-push-action) are found by
//! our derivation with the inputs the README gives, and the revision check judges their label as
//! the contract says. The metadata-action side is worked out by hand in
//! tests/fixtures/metadata-action/cases.yml; our side runs through the real core.

#[path = "support/event_fixture.rs"]
mod event_fixture;

use image_resolver::core::event::{from_event, Payload, PrNumber};
use image_resolver::core::mismatch::{classify, Cause, Known};
use image_resolver::core::tag::{render, Sanitize};
use image_resolver::core::Sha;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Deserialize)]
struct Case {
    name: String,
    producer: Producer,
    #[serde(rename = "metadata-action")]
    metadata_action: Pushed,
    consumer: Consumer,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Producer {
    event: String,
    #[serde(default)]
    tags: Vec<String>,
    #[serde(default)]
    env: BTreeMap<String, String>,
    #[serde(default)]
    labels: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Pushed {
    tags: Vec<String>,
    revision: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Consumer {
    event: String,
    inputs: BTreeMap<String, String>,
    finds: Option<String>,
    #[serde(rename = "strict-renders")]
    strict_renders: Option<String>,
    revision: Option<String>,
    #[serde(rename = "label-parents", default)]
    label_parents: Vec<String>,
}

fn cases() -> Vec<Case> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/metadata-action/cases.yml"
    );
    serde_yaml_ng::from_str(&std::fs::read_to_string(path).expect("cases.yml")).expect("YAML")
}

fn sha(s: &str) -> Sha {
    Sha::parse(s).unwrap_or_else(|| panic!("`{s}` is not a SHA"))
}

/// The tag our derivation renders for this consumer, with this sanitizing style.
fn our_tag(c: &Consumer, style: Sanitize) -> (String, Sha) {
    let case = event_fixture::load(&c.event);
    let ctx = from_event(&case.env, &Payload::from_value(&case.payload))
        .unwrap_or_else(|e| panic!("{}: {e}", c.event));
    let input = |k: &str, default: &str| c.inputs.get(k).cloned().unwrap_or(default.to_string());
    let pr = match ctx.pr {
        PrNumber::Known(n) => Some(n),
        PrNumber::None => None,
        PrNumber::Lookup { .. } => panic!("{}: needs a look-up", c.event),
    };
    let template = if ctx.is_pr_build() {
        input("pr-tag", "pr-{pr}-{short_sha}")
    } else {
        input("branch-tag", "{branch}-{short_sha}")
    };
    let len: usize = input("sha-length", "7").parse().expect("sha-length");
    let mut vars = event_fixture::template_vars(&ctx, pr);
    vars.short_sha = ctx.sha.as_ref().map(|s| s.short(len).to_string());
    let tag = render(&template, &vars, ctx.branch.as_deref(), style)
        .unwrap_or_else(|e| panic!("{}: {e}", c.event));
    (tag, ctx.sha.expect("expected SHA"))
}

fn sanitize(c: &Consumer) -> Sanitize {
    match c.inputs.get("sanitize").map(String::as_str) {
        None | Some("strict") => Sanitize::Strict,
        Some("metadata-action") => Sanitize::MetadataAction,
        Some(other) => panic!("sanitize `{other}`"),
    }
}

fn check(case: &Case) -> Result<(), String> {
    let c = &case.consumer;
    let pushed = &case.metadata_action;
    let (tag, expected) = our_tag(c, sanitize(c));
    let Some(finds) = &c.finds else {
        // nothing we render may name an image metadata-action pushed for another commit
        return match pushed.tags.contains(&tag) {
            true => Err(format!(
                "renders `{tag}`, which the case says no input can name"
            )),
            false => Ok(()),
        };
    };
    if &tag != finds {
        return Err(format!("renders `{tag}`, want `{finds}`"));
    }
    if !pushed.tags.contains(finds) {
        return Err(format!(
            "`{finds}` is not among the pushed tags {:?}",
            pushed.tags
        ));
    }
    if let Some(strict) = &c.strict_renders {
        let (got, _) = our_tag(c, Sanitize::Strict);
        if &got != strict || pushed.tags.contains(&got) {
            return Err(format!(
                "strict renders `{got}`: the case says `{strict}`, not pushed"
            ));
        }
    }
    // what the consumer knows about the build: its event, the PR's base head, the label's parents
    let producer = event_fixture::load(&case.producer.event);
    let base = producer
        .payload
        .pointer("/pull_request/base/sha")
        .and_then(|v| v.as_str())
        .map(sha);
    let parents: Vec<Sha> = c.label_parents.iter().map(|s| sha(s)).collect();
    let known = Known {
        event: &producer.env.event_name,
        pr_base_head: base.as_ref(),
        label_parents: (!parents.is_empty()).then_some(parents.as_slice()),
        build_sha: None,
    };
    let d = classify(&expected, Some(&pushed.revision), &known);
    let want = match c.revision.as_deref() {
        Some("match") => Cause::Match,
        Some("merge-of-this-head") => Cause::MergeOfThisHead,
        Some("base-head") => Cause::BaseHead,
        other => return Err(format!("revision `{other:?}`")),
    };
    if d.cause != want {
        return Err(format!("revision check: {:?}, want {want:?}", d.cause));
    }
    let passes = want != Cause::BaseHead;
    if d.passes != passes {
        return Err(format!("passes = {}, want {passes}", d.passes));
    }
    Ok(())
}

#[test]
fn metadata_action_images_are_found_and_judged() {
    let cases = cases();
    assert!(cases.len() >= 10, "{} cases", cases.len());
    let failures: Vec<String> = cases
        .iter()
        .filter_map(|c| check(c).err().map(|e| format!("{}: {e}", c.name)))
        .collect();
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// The producer side stays consistent with the payloads: the revision is the build's GITHUB_SHA,
/// or the PR head where DOCKER_METADATA_PR_HEAD_SHA or a `labels` entry says so.
#[test]
fn revisions_follow_the_producer_event() {
    for case in cases() {
        let p = &case.producer;
        let build = event_fixture::load(&p.event);
        let head = build
            .payload
            .pointer("/pull_request/head/sha")
            .and_then(|v| v.as_str());
        let github_sha = build.vars.get("GITHUB_SHA").map(String::as_str);
        let head_sha_env =
            p.env.get("DOCKER_METADATA_PR_HEAD_SHA").map(String::as_str) == Some("true");
        let label = p
            .labels
            .iter()
            .find_map(|l| l.strip_prefix("org.opencontainers.image.revision="));
        let want = label
            .or(if head_sha_env { head } else { None })
            .or(github_sha)
            .expect("a revision");
        assert_eq!(case.metadata_action.revision, want, "{}", case.name);
        assert!(
            p.tags.iter().all(|t| t.starts_with("type=")),
            "{}: tags are metadata-action entries",
            case.name
        );
    }
}
