//! What the triggering event says: the expected commit, the PR number, the branch.
//! Payload shapes: https://docs.github.com/en/webhooks/webhook-events-and-payloads

use super::Sha;
use serde_json::Value;

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

fn get<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    v.pointer(&format!("/{}", path.replace('.', "/")))
        .filter(|x| !x.is_null())
}

fn text(v: &Value, path: &str) -> Option<String> {
    get(v, path).and_then(Value::as_str).map(str::to_string)
}

fn num(v: &Value, path: &str) -> Option<u64> {
    get(v, path).and_then(Value::as_u64)
}

fn required(v: &Value, event: &str, path: &str) -> Result<String, EventError> {
    text(v, path).ok_or_else(|| EventError::Missing {
        event: event.into(),
        key: path.into(),
    })
}

fn sha_at(v: &Value, event: &str, path: &str) -> Result<Sha, EventError> {
    let s = required(v, event, path)?;
    Sha::parse(&s).ok_or(EventError::BadSha {
        key: path.into(),
        value: s,
    })
}

pub fn from_event(env: &RunnerEnv, payload: &Value) -> Result<EventContext, EventError> {
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
    match ev {
        "workflow_run" => {
            if !payload.get("workflow_run").is_some_and(Value::is_object) {
                return Err(EventError::Missing {
                    event: ev.into(),
                    key: "workflow_run".into(),
                });
            }
            let sha = sha_at(payload, ev, "workflow_run.head_sha")?;
            let branch = text(payload, "workflow_run.head_branch");
            let upstream_event = required(payload, ev, "workflow_run.event")?;
            let id = num(payload, "workflow_run.id").ok_or_else(|| EventError::Missing {
                event: ev.into(),
                key: "workflow_run.id".into(),
            })?;
            let upstream = Upstream {
                id,
                run_number: num(payload, "workflow_run.run_number"),
                run_attempt: num(payload, "workflow_run.run_attempt"),
                conclusion: text(payload, "workflow_run.conclusion"),
                event: upstream_event.clone(),
                name: text(payload, "workflow_run.name"),
            };
            ctx.from_fork = is_fork(
                get(payload, "workflow_run.head_repository"),
                get(payload, "workflow_run.repository").or_else(|| get(payload, "repository")),
            );
            ctx.head_repository = text(payload, "workflow_run.head_repository.full_name");
            if matches!(
                upstream_event.as_str(),
                "pull_request" | "pull_request_target"
            ) {
                ctx.pr = match trusted_pr_entry(payload, env, &sha) {
                    Some(n) => PrNumber::Known(n),
                    None => PrNumber::Lookup {
                        head_owner: required(
                            payload,
                            ev,
                            "workflow_run.head_repository.owner.login",
                        )?,
                        head_branch: branch.clone().ok_or_else(|| EventError::Missing {
                            event: ev.into(),
                            key: "workflow_run.head_branch".into(),
                        })?,
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
            // the head commit, not the merge commit GITHUB_SHA points at
            ctx.sha = Some(sha_at(payload, ev, "pull_request.head.sha")?);
            let n = num(payload, "pull_request.number").filter(|n| *n > 0);
            ctx.pr = PrNumber::Known(n.ok_or_else(|| EventError::Missing {
                event: ev.into(),
                key: "pull_request.number".into(),
            })?);
            ctx.branch = Some(required(payload, ev, "pull_request.head.ref")?);
            ctx.from_fork = is_fork(
                get(payload, "pull_request.head.repo"),
                get(payload, "pull_request.base.repo"),
            );
            ctx.head_repository = text(payload, "pull_request.head.repo.full_name");
            ctx.base_sha = text(payload, "pull_request.base.sha").and_then(|s| Sha::parse(&s));
        }
        "push" => {
            // a deleted ref's `after` is the zero SHA: never a tag to look for
            if get(payload, "deleted").and_then(Value::as_bool) == Some(true) {
                let name = env.ref_name.clone().or_else(|| text(payload, "ref"));
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
fn is_fork(head: Option<&Value>, base: Option<&Value>) -> bool {
    let (Some(head), Some(base)) = (head, base) else {
        return head.is_none() && base.is_some();
    };
    match (
        head.get("id").and_then(Value::as_u64),
        base.get("id").and_then(Value::as_u64),
    ) {
        (Some(h), Some(b)) => h != b,
        _ => {
            let name = |v: &Value| {
                v.get("full_name")
                    .and_then(Value::as_str)
                    .map(str::to_ascii_lowercase)
            };
            name(head) != name(base)
        }
    }
}

/// GitHub leaves `workflow_run.pull_requests` empty for PRs from forks
/// (https://github.com/actions/runner/issues/3444, https://github.com/github/docs/issues/22501),
/// and an entry may belong to another repository's PR from the same branch.
/// The PR number from `workflow_run.pull_requests`, only from an entry whose base is this
/// repository and whose head is the built commit. Entries from forks' own PRs, other heads,
/// or non-positive numbers are ignored; several different numbers mean we ask the API instead.
fn trusted_pr_entry(payload: &Value, env: &RunnerEnv, sha: &Sha) -> Option<u64> {
    let entries = get(payload, "workflow_run.pull_requests")?.as_array()?;
    let this_repo_id =
        num(payload, "workflow_run.repository.id").or_else(|| num(payload, "repository.id"));
    let suffix = format!("/repos/{}", env.repository.to_ascii_lowercase());
    let mut found: Option<u64> = None;
    for e in entries {
        let Some(n) = e.get("number").and_then(Value::as_u64).filter(|n| *n > 0) else {
            continue;
        };
        let head_ok = e
            .pointer("/head/sha")
            .and_then(Value::as_str)
            .and_then(Sha::parse)
            .is_some_and(|s| &s == sha);
        let base_id = e.pointer("/base/repo/id").and_then(Value::as_u64);
        let base_url = e
            .pointer("/base/repo/url")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase);
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
    use serde_json::json;

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
