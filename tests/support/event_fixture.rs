//! Loads a case of tests/fixtures/events: the runner's environment (`<case>.env`) and the
//! payload it names in GITHUB_EVENT_PATH, as the runner hands them to a container action.
#![allow(dead_code)] // each test binary uses its own part

use image_resolver::core::event::{EventContext, RunnerEnv};
use image_resolver::core::tag::Vars;
use serde_json::Value;
use std::collections::HashMap;
use std::path::PathBuf;

pub struct Case {
    pub vars: HashMap<String, String>,
    pub env: RunnerEnv,
    pub payload: Value,
}

fn dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/events"
    ))
}

pub fn load(case: &str) -> Case {
    let path = dir().join(format!("{case}.env"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let vars: HashMap<String, String> = text
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("{case}.env: `{l}`"));
            (k.to_string(), v.to_string())
        })
        .collect();
    let get = |k: &str| vars.get(k).cloned();
    let num = |k: &str| get(k).map(|v| v.parse::<u64>().expect(k));
    let event_file = dir().join(get("GITHUB_EVENT_PATH").expect("GITHUB_EVENT_PATH"));
    let payload = serde_json::from_str(&std::fs::read_to_string(&event_file).expect("payload"))
        .unwrap_or_else(|e| panic!("{event_file:?}: {e}"));
    let env = RunnerEnv {
        event_name: get("GITHUB_EVENT_NAME").expect("GITHUB_EVENT_NAME"),
        repository: get("GITHUB_REPOSITORY").unwrap_or_default(),
        sha: get("GITHUB_SHA"),
        ref_name: get("GITHUB_REF_NAME"),
        run_id: num("GITHUB_RUN_ID"),
        run_number: num("GITHUB_RUN_NUMBER"),
        run_attempt: num("GITHUB_RUN_ATTEMPT"),
    };
    Case { vars, env, payload }
}

/// The template variables the plan gives the default `sha-length` of 7.
pub fn template_vars(ctx: &EventContext, pr: Option<u64>) -> Vars {
    Vars {
        pr,
        branch: ctx.branch.clone(),
        sha: ctx.sha.as_ref().map(|s| s.as_str().to_string()),
        short_sha: ctx.sha.as_ref().map(|s| s.short(7).to_string()),
        run_id: ctx.run_id,
        run_number: ctx.run_number,
        run_attempt: ctx.run_attempt,
        name: None,
        tree: None,
    }
}
