//! What the triggering event says: the expected commit, the PR number, the branch.
//! Payload shapes: https://docs.github.com/en/webhooks/webhook-events-and-payloads

use super::Sha;
use serde::de::{Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

/// The runner's environment, as far as events are concerned.
#[derive(Debug, Clone, Default)]
pub struct RunnerEnv {
    pub event_name: String,
    pub repository: String,
    pub sha: Option<String>,
    pub ref_name: Option<String>,
    pub run_id: Option<u64>,
    pub run_number: Option<u64>,
    pub run_attempt: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrNumber {
    /// Not a pull-request build.
    None,
    Known(u64),
    /// `workflow_run.pull_requests` had no trustworthy entry (always so for forks): ask the API.
    Lookup {
        head_owner: String,
        head_branch: String,
    },
}

/// The run that built the image (for `workflow_run`), whose artifact we may need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    pub id: u64,
    pub run_number: Option<u64>,
    pub run_attempt: Option<u64>,
    pub conclusion: Option<String>,
    pub event: String,
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventContext {
    pub event_name: String,
    pub sha: Option<Sha>,
    pub pr: PrNumber,
    pub branch: Option<String>,
    pub from_fork: bool,
    /// `owner/name` of the repository the head commit lives in, when it is known.
    pub head_repository: Option<String>,
    /// The PR's base head, when the payload names it: a label equal to it means the producer
    /// labelled the base (docker/metadata-action on `pull_request_target`).
    pub base_sha: Option<Sha>,
    /// A run started by hand or on a schedule: its commit is `GITHUB_SHA`, which need not be what
    /// an explicitly named image was built from.
    pub manual: bool,
    pub upstream: Option<Upstream>,
    /// `{run_id}` and friends: the triggering run's for `workflow_run`, else this run's.
    pub run_id: Option<u64>,
    pub run_number: Option<u64>,
    pub run_attempt: Option<u64>,
}

impl EventContext {
    pub fn is_pr_build(&self) -> bool {
        self.pr != PrNumber::None
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    #[error("the `{event}` event payload has no `{key}`: is GITHUB_EVENT_PATH the file the runner wrote?")]
    Missing { event: String, key: String },
    #[error("`{key}` is `{value}`, not a 40-hex commit SHA: refusing to guess which image to run")]
    BadSha { key: String, value: String },
    #[error("GITHUB_SHA is not set or not a 40-hex commit SHA (needed for `push` events)")]
    NoGithubSha,
    #[error("GITHUB_REF_NAME is not set (needed for `push` events)")]
    NoRefName,
    #[error("this `push` deleted `{0}`: there is no commit and no image to resolve; skip the job with `if: ${{{{ !github.event.deleted }}}}`")]
    Deleted(String),
}

/// The event payload: only the fields the derivation reads. Everything else — and any amount of
/// padding — is skipped by the parser without being built, so memory follows what is kept.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Payload {
    pub workflow_run: Obj<WorkflowRun>,
    pub pull_request: Obj<PullRequest>,
    pub repository: Obj<Repo>,
    pub deleted: Field,
    #[serde(rename = "ref")]
    pub ref_: Field,
    /// `closed`, `opened`, …: clean mode's pull-request events.
    pub action: Field,
}

impl Payload {
    /// A payload already parsed as JSON (tests, tools): read the same way as the event file.
    pub fn from_value(v: &serde_json::Value) -> Payload {
        serde_json::from_value::<Obj<Payload>>(v.clone())
            .ok()
            .and_then(|p| p.0)
            .unwrap_or_default()
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct WorkflowRun {
    pub head_sha: Field,
    pub head_branch: Field,
    pub event: Field,
    pub id: Field,
    pub run_number: Field,
    pub run_attempt: Field,
    pub conclusion: Field,
    pub name: Field,
    pub head_repository: Obj<Repo>,
    pub repository: Obj<Repo>,
    pub pull_requests: PrEntries,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Repo {
    pub id: Field,
    pub full_name: Field,
    pub url: Field,
    pub owner: Obj<Owner>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Owner {
    pub login: Field,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PullRequest {
    pub number: Field,
    pub head: Obj<Side>,
    pub base: Obj<Side>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct Side {
    pub sha: Field,
    #[serde(rename = "ref")]
    pub ref_: Field,
    pub repo: Obj<Repo>,
}

/// One `workflow_run.pull_requests` entry.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct PrEntry {
    pub number: Field,
    pub head: Obj<Side>,
    pub base: Obj<Side>,
}

/// `workflow_run.pull_requests`, read one entry at a time: only entries with a positive number
/// are kept, at most `MAX_PR_ENTRIES`; a list with more is not trusted at all (the API is asked).
#[derive(Debug, Default)]
pub struct PrEntries {
    pub entries: Vec<PrEntry>,
    pub overflow: bool,
}

const MAX_PR_ENTRIES: usize = 64;

impl<'de> Deserialize<'de> for PrEntries {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<PrEntries, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = PrEntries;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of pull requests")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<PrEntries, A::Error> {
                let mut out = PrEntries::default();
                while let Some(Obj(e)) = seq.next_element::<Obj<PrEntry>>()? {
                    let Some(e) = e.filter(|e| e.number.num().is_some_and(|n| n > 0)) else {
                        continue;
                    };
                    if out.entries.len() < MAX_PR_ENTRIES {
                        out.entries.push(e);
                    } else {
                        out.overflow = true;
                    }
                }
                Ok(out)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<PrEntries, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(PrEntries::default())
            }
            fn visit_unit<E>(self) -> Result<PrEntries, E> {
                Ok(PrEntries::default())
            }
            fn visit_str<E>(self, _: &str) -> Result<PrEntries, E> {
                Ok(PrEntries::default())
            }
            fn visit_bool<E>(self, _: bool) -> Result<PrEntries, E> {
                Ok(PrEntries::default())
            }
            fn visit_i64<E>(self, _: i64) -> Result<PrEntries, E> {
                Ok(PrEntries::default())
            }
            fn visit_u64<E>(self, _: u64) -> Result<PrEntries, E> {
                Ok(PrEntries::default())
            }
            fn visit_f64<E>(self, _: f64) -> Result<PrEntries, E> {
                Ok(PrEntries::default())
            }
        }
        d.deserialize_any(V)
    }
}

/// An object read as `T`, or `None` for `null`, a missing key, or any value that is not an object.
#[derive(Debug)]
pub struct Obj<T>(pub Option<T>);

impl<T> Default for Obj<T> {
    fn default() -> Self {
        Obj(None)
    }
}

impl<T> Obj<T> {
    pub fn get(&self) -> Option<&T> {
        self.0.as_ref()
    }
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Obj<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Obj<T>, D::Error> {
        struct V<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = Obj<T>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<Obj<T>, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(m))
                    .map(|t| Obj(Some(t)))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Obj<T>, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Obj(None))
            }
            fn visit_unit<E>(self) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_str<E>(self, _: &str) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_bool<E>(self, _: bool) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Obj<T>, E> {
                Ok(Obj(None))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

/// A scalar field, whatever JSON type it came as: read as the type the derivation wants, or
/// nothing (arrays and objects are skipped, not built).
#[derive(Debug, Default, Clone, PartialEq)]
pub enum Field {
    #[default]
    Absent,
    Str(String),
    Num(u64),
    Bool(bool),
    Other,
}

impl Field {
    pub fn str(&self) -> Option<String> {
        match self {
            Field::Str(s) => Some(s.clone()),
            _ => None,
        }
    }
    pub fn num(&self) -> Option<u64> {
        match self {
            Field::Num(n) => Some(*n),
            _ => None,
        }
    }
    pub fn bool(&self) -> Option<bool> {
        match self {
            Field::Bool(b) => Some(*b),
            _ => None,
        }
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Field, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Field;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_str<E>(self, v: &str) -> Result<Field, E> {
                Ok(Field::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Field, E> {
                Ok(Field::Str(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Field, E> {
                Ok(Field::Num(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Field, E> {
                Ok(u64::try_from(v).map_or(Field::Other, Field::Num))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Field, E> {
                Ok(Field::Other)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Field, E> {
                Ok(Field::Bool(v))
            }
            fn visit_unit<E>(self) -> Result<Field, E> {
                Ok(Field::Absent)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut s: A) -> Result<Field, A::Error> {
                while s.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<Field, A::Error> {
                while m.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(Field::Other)
            }
        }
        d.deserialize_any(V)
    }
}

fn required(v: &Field, event: &str, path: &str) -> Result<String, EventError> {
    v.str().ok_or_else(|| EventError::Missing {
        event: event.into(),
        key: path.into(),
    })
}

fn sha_at(v: &Field, event: &str, path: &str) -> Result<Sha, EventError> {
    let s = required(v, event, path)?;
    Sha::parse(&s).ok_or(EventError::BadSha {
        key: path.into(),
        value: s,
    })
}

pub fn from_event(env: &RunnerEnv, payload: &Payload) -> Result<EventContext, EventError> {
    let ev = env.event_name.as_str();
    let mut ctx = EventContext {
        event_name: ev.to_string(),
        sha: None,
        pr: PrNumber::None,
        branch: None,
        from_fork: false,
        head_repository: None,
        base_sha: None,
        manual: false,
        upstream: None,
        run_id: env.run_id,
        run_number: env.run_number,
        run_attempt: env.run_attempt,
    };
    let missing = |key: &str| EventError::Missing {
        event: ev.into(),
        key: key.into(),
    };
    match ev {
        "workflow_run" => {
            let run = payload
                .workflow_run
                .get()
                .ok_or_else(|| missing("workflow_run"))?;
            let sha = sha_at(&run.head_sha, ev, "workflow_run.head_sha")?;
            let branch = run.head_branch.str();
            let upstream_event = required(&run.event, ev, "workflow_run.event")?;
            let id = run.id.num().ok_or_else(|| missing("workflow_run.id"))?;
            let upstream = Upstream {
                id,
                run_number: run.run_number.num(),
                run_attempt: run.run_attempt.num(),
                conclusion: run.conclusion.str(),
                event: upstream_event.clone(),
                name: run.name.str(),
            };
            let this_repo = run.repository.get().or(payload.repository.get());
            ctx.from_fork = is_fork(run.head_repository.get(), this_repo);
            ctx.head_repository = run.head_repository.get().and_then(|r| r.full_name.str());
            if matches!(
                upstream_event.as_str(),
                "pull_request" | "pull_request_target"
            ) {
                ctx.pr = match trusted_pr_entry(payload, env, &sha) {
                    Some(n) => PrNumber::Known(n),
                    None => PrNumber::Lookup {
                        head_owner: run
                            .head_repository
                            .get()
                            .and_then(|r| r.owner.get())
                            .and_then(|o| o.login.str())
                            .ok_or_else(|| missing("workflow_run.head_repository.owner.login"))?,
                        head_branch: branch
                            .clone()
                            .ok_or_else(|| missing("workflow_run.head_branch"))?,
                    },
                };
            }
            ctx.run_id = Some(upstream.id);
            ctx.run_number = upstream.run_number;
            ctx.run_attempt = upstream.run_attempt;
            ctx.sha = Some(sha);
            ctx.branch = branch;
            ctx.upstream = Some(upstream);
        }
        "pull_request" | "pull_request_target" => {
            let pr = payload.pull_request.get();
            let head = pr.and_then(|p| p.head.get());
            let base = pr.and_then(|p| p.base.get());
            // the head commit, not the merge commit GITHUB_SHA points at
            let absent = Field::Absent;
            ctx.sha = Some(sha_at(
                head.map_or(&absent, |h| &h.sha),
                ev,
                "pull_request.head.sha",
            )?);
            let n = pr.and_then(|p| p.number.num()).filter(|n| *n > 0);
            ctx.pr = PrNumber::Known(n.ok_or_else(|| missing("pull_request.number"))?);
            ctx.branch = Some(required(
                head.map_or(&absent, |h| &h.ref_),
                ev,
                "pull_request.head.ref",
            )?);
            ctx.from_fork = is_fork(
                head.and_then(|h| h.repo.get()),
                base.and_then(|b| b.repo.get()),
            );
            ctx.head_repository = head
                .and_then(|h| h.repo.get())
                .and_then(|r| r.full_name.str());
            ctx.base_sha = base.and_then(|b| b.sha.str()).and_then(|s| Sha::parse(&s));
        }
        "push" => {
            // a deleted ref's `after` is the zero SHA: never a tag to look for
            if payload.deleted.bool() == Some(true) {
                let name = env.ref_name.clone().or_else(|| payload.ref_.str());
                return Err(EventError::Deleted(name.unwrap_or_default()));
            }
            ctx.sha = Some(
                env.sha
                    .as_deref()
                    .and_then(Sha::parse)
                    .ok_or(EventError::NoGithubSha)?,
            );
            ctx.branch = Some(
                env.ref_name
                    .clone()
                    .filter(|s| !s.is_empty())
                    .ok_or(EventError::NoRefName)?,
            );
        }
        // workflow_dispatch and anything else: GITHUB_SHA and GITHUB_REF_NAME, as for a push; the
        // `tag` and `sha` inputs or a full reference may name the image instead.
        _ => {
            ctx.manual = true;
            ctx.sha = env.sha.as_deref().and_then(Sha::parse);
            ctx.branch = env.ref_name.clone().filter(|s| !s.is_empty());
        }
    }
    Ok(ctx)
}

/// A head repository that is missing (deleted fork) or differs from the base is a fork.
fn is_fork(head: Option<&Repo>, base: Option<&Repo>) -> bool {
    let (Some(head), Some(base)) = (head, base) else {
        return head.is_none() && base.is_some();
    };
    match (head.id.num(), base.id.num()) {
        (Some(h), Some(b)) => h != b,
        _ => {
            let name = |r: &Repo| r.full_name.str().map(|s| s.to_ascii_lowercase());
            name(head) != name(base)
        }
    }
}

/// GitHub leaves `workflow_run.pull_requests` empty for PRs from forks
/// (https://github.com/actions/runner/issues/3444, https://github.com/github/docs/issues/22501),
/// and an entry may belong to another repository's PR from the same branch.
/// The PR number from `workflow_run.pull_requests`, only from an entry whose base is this
/// repository and whose head is the built commit. Entries from forks' own PRs, other heads,
/// or non-positive numbers are ignored; several different numbers (or a list too long to be
/// GitHub's) mean we ask the API instead.
fn trusted_pr_entry(payload: &Payload, env: &RunnerEnv, sha: &Sha) -> Option<u64> {
    let run = payload.workflow_run.get()?;
    if run.pull_requests.overflow {
        return None;
    }
    let this_repo_id = run
        .repository
        .get()
        .and_then(|r| r.id.num())
        .or_else(|| payload.repository.get().and_then(|r| r.id.num()));
    let suffix = format!("/repos/{}", env.repository.to_ascii_lowercase());
    let mut found: Option<u64> = None;
    for e in &run.pull_requests.entries {
        let Some(n) = e.number.num().filter(|n| *n > 0) else {
            continue;
        };
        let head_ok = e
            .head
            .get()
            .and_then(|h| h.sha.str())
            .and_then(|s| Sha::parse(&s))
            .is_some_and(|s| &s == sha);
        let base_repo = e.base.get().and_then(|b| b.repo.get());
        let base_id = base_repo.and_then(|r| r.id.num());
        let base_url = base_repo
            .and_then(|r| r.url.str())
            .map(|u| u.to_ascii_lowercase());
        let base_ok = match (base_id, this_repo_id) {
            (Some(a), Some(b)) => a == b,
            _ => !env.repository.is_empty() && base_url.is_some_and(|u| u.ends_with(&suffix)),
        };
        if head_ok && base_ok {
            match found {
                Some(prev) if prev != n => return None,
                _ => found = Some(n),
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// The derivation over a payload as the runner's file would give it.
    fn from_event(env: &RunnerEnv, v: &Value) -> Result<EventContext, EventError> {
        super::from_event(env, &Payload::from_value(v))
    }

    #[test]
    fn padding_anywhere_is_skipped_and_long_lists_are_not_trusted() {
        let mut p = workflow_run("pull_request", vec![], repo(1, "acme/charon"));
        let many: Vec<Value> = (1..=100)
            .map(|n| pr_entry(n, HEAD, repo(1, "acme/charon")))
            .collect();
        p["workflow_run"]["pull_requests"] = json!(many);
        p["padding"] = json!([{}, [], {"a": [1, 2, {"b": null}]}]);
        p["workflow_run"]["name"] = json!({"not": "a string"});
        let ctx = from_event(&env("workflow_run"), &p).unwrap();
        // more entries than GitHub ever lists: asked of the API, never guessed
        assert!(matches!(ctx.pr, PrNumber::Lookup { .. }), "{:?}", ctx.pr);
        assert_eq!(ctx.upstream.unwrap().name, None);
        let top: Obj<Payload> = serde_json::from_str("[1, 2]").unwrap();
        assert!(top.0.is_none());
    }

    const HEAD: &str = "1111111111111111111111111111111111111111";
    const OTHER: &str = "2222222222222222222222222222222222222222";

    fn env(event: &str) -> RunnerEnv {
        RunnerEnv {
            event_name: event.into(),
            repository: "acme/charon".into(),
            sha: Some("3333333333333333333333333333333333333333".into()),
            ref_name: Some("main".into()),
            run_id: Some(7),
            run_number: Some(8),
            run_attempt: Some(1),
        }
    }

    fn repo(id: u64, full: &str) -> Value {
        json!({"id": id, "full_name": full, "name": full.split('/').nth(1), "owner": {"login": full.split('/').next()},
               "url": format!("https://api.github.com/repos/{full}")})
    }

    fn pr_entry(number: i64, head_sha: &str, base: Value) -> Value {
        json!({"number": number, "head": {"sha": head_sha, "ref": "feature", "repo": repo(1, "acme/charon")},
               "base": {"ref": "main", "sha": OTHER, "repo": base}})
    }

    fn workflow_run(event: &str, prs: Vec<Value>, head_repo: Value) -> Value {
        json!({"action": "completed", "repository": repo(1, "acme/charon"), "workflow_run": {
            "id": 555, "run_number": 31, "run_attempt": 2, "name": "build", "event": event,
            "conclusion": "success", "head_sha": HEAD, "head_branch": "feature/x",
            "pull_requests": prs, "head_repository": head_repo, "repository": repo(1, "acme/charon")}})
    }

    #[test]
    fn workflow_run_events() {
        let same = repo(1, "acme/charon");
        let fork = repo(9, "mallory/charon");
        type Case = (&'static str, Value, PrNumber, bool);
        let lookup = |owner: &str| PrNumber::Lookup {
            head_owner: owner.into(),
            head_branch: "feature/x".into(),
        };
        let cases: Vec<Case> = vec![
            (
                "same-repo PR",
                workflow_run(
                    "pull_request",
                    vec![pr_entry(42, HEAD, same.clone())],
                    same.clone(),
                ),
                PrNumber::Known(42),
                false,
            ),
            (
                "pull_request_target",
                workflow_run(
                    "pull_request_target",
                    vec![pr_entry(5, HEAD, same.clone())],
                    same.clone(),
                ),
                PrNumber::Known(5),
                false,
            ),
            (
                "fork PR: empty list",
                workflow_run("pull_request", vec![], fork.clone()),
                lookup("mallory"),
                true,
            ),
            (
                "entry from another repo's PR",
                workflow_run(
                    "pull_request",
                    vec![pr_entry(7, HEAD, repo(9, "mallory/charon"))],
                    same.clone(),
                ),
                lookup("acme"),
                false,
            ),
            (
                "entry with another head",
                workflow_run(
                    "pull_request",
                    vec![pr_entry(7, OTHER, same.clone())],
                    same.clone(),
                ),
                lookup("acme"),
                false,
            ),
            (
                "non-positive number",
                workflow_run(
                    "pull_request",
                    vec![
                        pr_entry(0, HEAD, same.clone()),
                        pr_entry(-3, HEAD, same.clone()),
                    ],
                    same.clone(),
                ),
                lookup("acme"),
                false,
            ),
            (
                "several conflicting entries",
                workflow_run(
                    "pull_request",
                    vec![
                        pr_entry(7, HEAD, same.clone()),
                        pr_entry(8, HEAD, same.clone()),
                    ],
                    same.clone(),
                ),
                lookup("acme"),
                false,
            ),
            (
                "one good among bad",
                workflow_run(
                    "pull_request",
                    vec![
                        pr_entry(7, OTHER, same.clone()),
                        pr_entry(8, HEAD, same.clone()),
                    ],
                    same.clone(),
                ),
                PrNumber::Known(8),
                false,
            ),
            (
                "push build",
                workflow_run("push", vec![], same.clone()),
                PrNumber::None,
                false,
            ),
        ];
        for (name, payload, pr, fork) in cases {
            let ctx = from_event(&env("workflow_run"), &payload)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(ctx.pr, pr, "{name}");
            assert_eq!(ctx.from_fork, fork, "{name}");
            assert_eq!(ctx.sha.as_ref().map(Sha::as_str), Some(HEAD), "{name}");
            assert_eq!(ctx.branch.as_deref(), Some("feature/x"), "{name}");
            assert_eq!(
                (ctx.run_id, ctx.run_number, ctx.run_attempt),
                (Some(555), Some(31), Some(2)),
                "{name}"
            );
            assert_eq!(ctx.upstream.as_ref().map(|u| u.id), Some(555));
        }
    }

    #[test]
    fn base_repo_by_url_when_ids_are_missing() {
        let mut e = pr_entry(
            12,
            HEAD,
            json!({"url": "https://api.github.com/repos/Acme/Charon", "name": "charon"}),
        );
        e["head"]["repo"] = json!({"url": "https://api.github.com/repos/acme/charon"});
        let mut p = workflow_run("pull_request", vec![e], repo(1, "acme/charon"));
        p["workflow_run"]["repository"] = json!({"full_name": "acme/charon"});
        p["repository"] = json!({"full_name": "acme/charon"});
        assert_eq!(
            from_event(&env("workflow_run"), &p).unwrap().pr,
            PrNumber::Known(12)
        );
    }

    #[test]
    fn pull_request_events() {
        for ev in ["pull_request", "pull_request_target"] {
            let p = json!({"number": 42, "pull_request": {"number": 42,
                "head": {"sha": HEAD.to_uppercase(), "ref": "feat/x", "repo": repo(9, "mallory/charon")},
                "base": {"sha": OTHER, "ref": "main", "repo": repo(1, "acme/charon")}}});
            let ctx = from_event(&env(ev), &p).unwrap();
            assert_eq!(
                ctx.sha.as_ref().map(Sha::as_str),
                Some(HEAD),
                "lower-cased head sha, not GITHUB_SHA"
            );
            assert_eq!(ctx.pr, PrNumber::Known(42));
            assert_eq!(ctx.branch.as_deref(), Some("feat/x"));
            assert!(ctx.from_fork);
            assert_eq!(ctx.run_id, Some(7));
        }
    }

    #[test]
    fn push_and_dispatch() {
        let ctx = from_event(&env("push"), &json!({"ref": "refs/heads/main"})).unwrap();
        assert_eq!(
            ctx.sha.as_ref().map(Sha::as_str),
            Some("3333333333333333333333333333333333333333")
        );
        assert_eq!(
            (ctx.branch.as_deref(), &ctx.pr),
            (Some("main"), &PrNumber::None)
        );
        let mut tag_env = env("push");
        tag_env.ref_name = Some("v1.2.3".into());
        assert_eq!(
            from_event(&tag_env, &json!({})).unwrap().branch.as_deref(),
            Some("v1.2.3")
        );
        let ctx = from_event(&env("workflow_dispatch"), &json!({"inputs": {}})).unwrap();
        assert_eq!(
            (ctx.sha.as_ref().map(Sha::as_str), ctx.pr, ctx.manual),
            (
                Some("3333333333333333333333333333333333333333"),
                PrNumber::None,
                true
            )
        );
        let deleted = json!({"ref": "refs/heads/gone", "deleted": true,
                             "after": "0000000000000000000000000000000000000000"});
        let mut gone = env("push");
        gone.ref_name = Some("gone".into());
        let e = from_event(&gone, &deleted).unwrap_err();
        assert_eq!(e, EventError::Deleted("gone".into()));
        assert!(e.to_string().contains("`gone`"), "{e}");
    }

    #[test]
    fn broken_events() {
        let bad_sha = {
            let mut p = workflow_run("push", vec![], repo(1, "acme/charon"));
            p["workflow_run"]["head_sha"] = json!("abc; rm -rf /");
            p
        };
        let no_head = {
            let mut p = workflow_run("push", vec![], repo(1, "acme/charon"));
            p["workflow_run"]
                .as_object_mut()
                .unwrap()
                .remove("head_sha");
            p
        };
        let cases: Vec<(&str, Value, &str)> = vec![
            ("workflow_run", json!({}), "workflow_run"),
            ("workflow_run", json!({"workflow_run": "x"}), "workflow_run"),
            ("workflow_run", bad_sha, "not a 40-hex"),
            ("workflow_run", no_head, "workflow_run.head_sha"),
            (
                "pull_request",
                json!({"pull_request": {"head": {"sha": HEAD, "ref": "x"}}}),
                "pull_request.number",
            ),
            (
                "pull_request",
                json!({"pull_request": {"number": 1, "head": {"sha": "123", "ref": "x"}}}),
                "not a 40-hex",
            ),
        ];
        for (ev, payload, needle) in cases {
            let e = from_event(&env(ev), &payload).expect_err(needle);
            assert!(e.to_string().contains(needle), "{e}");
        }
        let mut no_sha = env("push");
        no_sha.sha = Some("main".into());
        assert_eq!(
            from_event(&no_sha, &json!({})),
            Err(EventError::NoGithubSha)
        );
    }
}
