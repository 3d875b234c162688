//! Our GitHub: the REST endpoints image-resolver calls, answering in the shapes GitHub's REST docs
//! give, under a GHES-style `/api/v3` prefix, plus a separate blob host for artifact downloads.

use super::server::{Body, Reply, Request, Server};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

pub const TOKEN: &str = "ghs_TestToken0123456789abcdefXYZ";

#[derive(Clone)]
pub struct Artifact {
    pub id: u64,
    pub name: String,
    pub file: PathBuf,
    pub expired: bool,
    /// What the list says the digest is; `None` computes the real one.
    pub digest: Option<String>,
}

#[derive(Clone)]
pub struct Fault {
    pub path_contains: String,
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub times: usize,
}

/// One entry of `GET /repos/{owner}/{repo}/attestations/{digest}`.
#[derive(Clone)]
pub enum Attestation {
    /// `bundle` inline (this JSON).
    Inline(Vec<u8>),
    /// `bundle: null` and a `bundle_url` on the blob host serving this JSON snappy-compressed.
    Url(Vec<u8>),
    /// `bundle: null` and a `bundle_url` serving these bytes as they are.
    UrlRaw(Vec<u8>),
}

#[derive(Default)]
pub struct World {
    pub run_id: u64,
    pub artifacts: Vec<Artifact>,
    pub open_pulls: Vec<Value>,
    pub commit_pulls: Vec<Value>,
    pub commits: HashMap<String, Vec<String>>,
    /// `git/commits/{sha}` → `tree.sha`.
    pub trees: HashMap<String, String>,
    /// A real git repository whose commits and trees `git/commits` and `git/trees` serve
    /// (after `trees`), read with `git cat-file` and `git ls-tree`.
    pub git: Option<PathBuf>,
    /// Trees `git/trees` lists as `truncated`.
    pub truncated: Vec<String>,
    pub faults: Vec<Fault>,
    /// The next N blob downloads are cut short.
    pub truncate_blob: usize,
    /// The blob host redirects to itself forever.
    pub blob_loop: bool,
    /// Attestations by subject digest (`sha256:…`).
    pub attestations: HashMap<String, Vec<Attestation>>,
    /// The attestations list's page size, whatever `per_page` asks (to exercise `Link`).
    pub attestations_page: Option<usize>,
    /// Clean mode: every pull request by number (`state`, `closed_at`); `pulls?state=open`
    /// lists the open ones a page at a time, `pulls/{n}` answers one.
    pub pulls: std::collections::BTreeMap<u64, Value>,
    /// Clean mode: the branches `branches` lists, a page at a time.
    pub branches: Vec<String>,
    /// Page size of those listings, whatever `per_page` asks (to exercise `Link`).
    pub list_page: Option<usize>,
    /// Clean mode on ghcr.io: the Packages API over a real registry's repositories.
    pub packages: Option<Packages>,
}

/// The GitHub Packages API (container packages), after GitHub's REST docs ("REST API endpoints
/// for packages": list package versions of an organization's or a user's package, delete a
/// package version), over the repositories of a real registry: package `p` of `owner` is the
/// registry's repository `owner/p`. Its versions are the digests the registry holds there (each
/// tag's, an index's children, and any listed before that is still there), each with the tags
/// naming it; deleting a version deletes that manifest from the registry, and so every tag
/// naming it, as on ghcr.io. `GET /users/{owner}` gives the owner's `type`; only the matching
/// `orgs` or `users` routes answer.
#[derive(Clone, Default)]
pub struct Packages {
    /// `host:port` of the registry, plain HTTP.
    pub registry: String,
    pub owner: String,
    pub org: bool,
    /// `DELETE` answers 403, as for a token with `packages: read` only.
    pub read_only: bool,
    /// Version ids by digest, stable across listings.
    pub ids: std::collections::BTreeMap<String, u64>,
    /// The ids of the versions deleted, in order.
    pub deleted: Vec<u64>,
}

/// A GET (or HEAD) of the registry, as curl gives it: status, `docker-content-digest`, body.
fn registry_get(url: &str, head: bool) -> (u16, Option<String>, Vec<u8>) {
    let mut cmd = std::process::Command::new("curl");
    cmd.args(["-s", "-i", "-H"])
        .arg("accept: application/vnd.oci.image.index.v1+json, application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json, application/vnd.docker.distribution.manifest.list.v2+json");
    if head {
        cmd.arg("-I");
    }
    let out = cmd.arg(url).output().unwrap();
    let raw = out.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or(raw.len());
    let text = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let digest = text.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.eq_ignore_ascii_case("docker-content-digest")
            .then(|| v.trim().to_string())
    });
    let body = raw.get(split + 4..).unwrap_or_default().to_vec();
    (status, digest, body)
}

impl Packages {
    /// Every version of package `name`, newest first, as GitHub lists them; none when the
    /// registry has no such repository.
    fn versions(&mut self, name: &str) -> Vec<Value> {
        let base = format!("http://{}/v2/{}/{name}", self.registry, self.owner);
        let (_, _, body) = registry_get(&format!("{base}/tags/list?n=100000"), false);
        let tags: Vec<String> = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| serde_json::from_value(v["tags"].clone()).ok())
            .unwrap_or_default();
        let mut by_digest: std::collections::BTreeMap<String, Vec<String>> = Default::default();
        for tag in tags {
            let (status, digest, body) = registry_get(&format!("{base}/manifests/{tag}"), false);
            let Some(digest) = digest.filter(|_| status == 200) else {
                continue;
            };
            by_digest.entry(digest).or_default().push(tag);
            let doc: Value = serde_json::from_slice(&body).unwrap_or_default();
            for child in doc["manifests"].as_array().into_iter().flatten() {
                if let Some(c) = child["digest"].as_str() {
                    by_digest.entry(c.to_string()).or_default();
                }
            }
        }
        for known in self.ids.keys() {
            if !by_digest.contains_key(known)
                && registry_get(&format!("{base}/manifests/{known}"), true).0 == 200
            {
                by_digest.insert(known.clone(), Vec::new());
            }
        }
        let mut list: Vec<(u64, Value)> = by_digest
            .into_iter()
            .map(|(digest, tags)| {
                let next = 1000 + self.ids.len() as u64;
                let id = *self.ids.entry(digest.clone()).or_insert(next);
                let v = json!({"id": id, "name": digest,
                    "url": format!("https://api.github.com/orgs/{}/packages/container/{}/versions/{id}", self.owner, name.replace('/', "%2F")),
                    "package_html_url": format!("https://github.com/orgs/{}/packages/container/package/{name}", self.owner),
                    "created_at": "2026-11-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z",
                    "html_url": format!("https://github.com/orgs/{}/packages/container/{name}/{id}", self.owner),
                    "metadata": {"package_type": "container", "container": {"tags": tags}}});
                (id, v)
            })
            .collect();
        list.sort_by_key(|v| std::cmp::Reverse(v.0));
        list.into_iter().map(|(_, v)| v).collect()
    }

    /// `DELETE …/versions/{id}`: the version's manifest goes from the registry.
    fn delete(&mut self, name: &str, id: u64) -> Reply {
        if self.read_only {
            return Reply::json(
                403,
                json!({"message": "Resource not accessible by integration", "documentation_url": "https://docs.github.com/rest/packages/packages#delete-package-version-for-an-organization"}),
            );
        }
        let digest = self
            .ids
            .iter()
            .find(|(_, v)| **v == id)
            .map(|(d, _)| d.clone());
        let Some(digest) = digest.filter(|_| !self.deleted.contains(&id)) else {
            return Reply::json(404, json!({"message": "Package version not found."}));
        };
        let url = format!(
            "http://{}/v2/{}/{name}/manifests/{digest}",
            self.registry, self.owner
        );
        let out = std::process::Command::new("curl")
            .args([
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "-X",
                "DELETE",
            ])
            .arg(&url)
            .output()
            .unwrap();
        let code = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(code == "202" || code == "404", "DELETE {url}: {code}");
        self.deleted.push(id);
        Reply {
            status: 204,
            headers: vec![],
            body: Body::Bytes(Vec::new()),
        }
    }
}

/// A pull request as `pulls/{n}` gives it: open, or closed at `closed_at` (RFC 3339).
pub fn pull_json(number: u64, closed_at: Option<&str>) -> Value {
    json!({"number": number, "state": if closed_at.is_some() { "closed" } else { "open" },
           "closed_at": closed_at, "merged_at": null, "title": "t",
           "head": {"ref": format!("b{number}"), "sha": "0".repeat(40)},
           "base": {"ref": "main", "repo": {"full_name": "acme/charon"}}})
}

/// One page of `items` (`page` from 1) with GitHub's `Link: rel="next"` when more follow.
fn page_of(
    items: Vec<Value>,
    q: &HashMap<String, String>,
    size: Option<usize>,
    host: &str,
    route: &str,
) -> Reply {
    let per_page: usize = q.get("per_page").and_then(|n| n.parse().ok()).unwrap_or(30);
    let per_page = size.unwrap_or(per_page).max(1);
    let page: usize = q
        .get("page")
        .and_then(|n| n.parse().ok())
        .unwrap_or(1)
        .max(1);
    let start = (page - 1) * per_page;
    let more = start + per_page < items.len();
    let list: Vec<Value> = items.into_iter().skip(start).take(per_page).collect();
    let mut reply = Reply::json(200, Value::Array(list));
    if more {
        let sep = if route.contains('?') { '&' } else { '?' };
        reply = reply.header(
            "link",
            &format!(
                "<http://{host}/api/v3{route}{sep}per_page={per_page}&page={}>; rel=\"next\"",
                page + 1
            ),
        );
    }
    reply
}

pub struct FakeGitHub {
    pub api: Server,
    pub blob: Server,
    pub world: Arc<Mutex<World>>,
}

pub fn pr_json(number: u64, head_sha: &str, head_owner: &str, branch: &str) -> Value {
    json!({"number": number, "state": "open", "title": "t",
           "head": {"ref": branch, "sha": head_sha, "label": format!("{head_owner}:{branch}"),
                    "repo": {"full_name": format!("{head_owner}/charon")}},
           "base": {"ref": "main", "repo": {"full_name": "acme/charon"}}})
}

/// A pull request as `commits/{sha}/pulls` lists it once merged (`merge_commit_sha` set).
pub fn merged_pr_json(number: u64, head_sha: &str, branch: &str, merge_sha: &str) -> Value {
    let mut p = pr_json(number, head_sha, "acme", branch);
    p["state"] = json!("closed");
    p["merged_at"] = json!("2026-11-02T00:00:00Z");
    p["merge_commit_sha"] = json!(merge_sha);
    p
}

impl FakeGitHub {
    pub fn start(world: World) -> FakeGitHub {
        // a different host: 127.0.0.2 is loopback too, but not the API's address
        FakeGitHub::start_at(world, "127.0.0.1", "127.0.0.2")
    }

    /// On these addresses (a job network's gateway, for the action's container).
    pub fn start_at(world: World, api_ip: &str, blob_ip: &str) -> FakeGitHub {
        let world = Arc::new(Mutex::new(world));
        let w = world.clone();
        let blob = Server::start(blob_ip, move |r: &Request| {
            let mut w = w.lock().unwrap();
            if w.blob_loop {
                return Reply::redirect(&format!(
                    "http://{}{}",
                    r.headers.get("host").cloned().unwrap_or_default(),
                    r.path
                ));
            }
            if let Some(rest) = r.path.strip_prefix("/attestations/") {
                // /attestations/{digest}/{index}.json.sn?sig=…
                let (digest, index) = rest.split_once('/').unwrap_or_default();
                let index: usize = index
                    .split('.')
                    .next()
                    .unwrap_or("")
                    .parse()
                    .unwrap_or(usize::MAX);
                let body = match w.attestations.get(digest).and_then(|l| l.get(index)) {
                    Some(Attestation::Url(json)) => {
                        snap::raw::Encoder::new().compress_vec(json).unwrap()
                    }
                    Some(Attestation::UrlRaw(bytes)) => bytes.clone(),
                    _ => return Reply::json(404, json!({"message": "BlobNotFound"})),
                };
                return Reply {
                    status: 200,
                    headers: vec![("content-type".into(), "application/octet-stream".into())],
                    body: Body::Bytes(body),
                };
            }
            let id: u64 = r
                .path
                .trim_start_matches("/blob/")
                .split('?')
                .next()
                .unwrap_or("0")
                .parse()
                .unwrap_or(0);
            let Some(a) = w.artifacts.iter().find(|a| a.id == id).cloned() else {
                return Reply::json(404, json!({"message": "BlobNotFound"}));
            };
            if w.truncate_blob > 0 {
                w.truncate_blob -= 1;
                let bytes = std::fs::read(&a.file).unwrap();
                let half = bytes[..bytes.len() / 2].to_vec();
                return Reply {
                    status: 200,
                    headers: vec![],
                    body: Body::Truncated {
                        bytes: half,
                        claim: bytes.len(),
                    },
                };
            }
            Reply::file(a.file.clone())
        });
        let blob_base = blob.base.clone();
        let w = world.clone();
        let api = Server::start(api_ip, move |r: &Request| {
            let mut w = w.lock().unwrap();
            if let Some(f) = w
                .faults
                .iter_mut()
                .find(|f| f.times > 0 && r.path.contains(&f.path_contains))
            {
                f.times -= 1;
                let mut reply = Reply::json(
                    f.status,
                    json!({"message": "fault injected", "documentation_url": "https://docs.github.com/rest"}),
                );
                for (k, v) in &f.headers {
                    reply = reply.header(k, v);
                }
                return reply;
            }
            if r.headers.get("authorization").map(String::as_str)
                != Some(&format!("Bearer {TOKEN}"))
            {
                return Reply::json(
                    401,
                    json!({"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}),
                );
            }
            let path = r
                .path
                .strip_prefix("/api/v3")
                .unwrap_or("/not-under-api-v3");
            let (route, query) = path.split_once('?').unwrap_or((path, ""));
            let q: HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
                .into_owned()
                .collect();
            let parts: Vec<&str> = route.trim_matches('/').split('/').collect();
            match parts.as_slice() {
                ["repos", "acme", "charon", "actions", "runs", run, "artifacts"] => {
                    if run.parse::<u64>().ok() != Some(w.run_id) {
                        return Reply::json(404, json!({"message": "Not Found"}));
                    }
                    let list: Vec<Value> = w
                        .artifacts
                        .iter()
                        .filter(|a| q.get("name").is_none_or(|n| n == &a.name))
                        .map(|a| {
                            let bytes = std::fs::read(&a.file).unwrap();
                            let digest = a.digest.clone().unwrap_or_else(|| super::fixtures::sha256(&bytes));
                            json!({"id": a.id, "node_id": "MDg6QXJ0aWZhY3Q=", "name": a.name, "size_in_bytes": bytes.len(),
                                   "url": format!("https://api.github.com/repos/acme/charon/actions/artifacts/{}", a.id),
                                   "archive_download_url": format!("https://api.github.com/repos/acme/charon/actions/artifacts/{}/zip", a.id),
                                   "expired": a.expired, "digest": digest, "created_at": "2026-11-01T00:00:00Z",
                                   "expires_at": "2026-12-01T00:00:00Z", "updated_at": "2026-11-01T00:00:00Z",
                                   "workflow_run": {"id": w.run_id, "head_sha": "x"}})
                        })
                        .collect();
                    Reply::json(200, json!({"total_count": list.len(), "artifacts": list}))
                }
                ["repos", "acme", "charon", "actions", "artifacts", id, "zip"] => {
                    let id: u64 = id.parse().unwrap_or(0);
                    match w.artifacts.iter().find(|a| a.id == id) {
                        Some(a) if a.expired => {
                            Reply::json(410, json!({"message": "Artifact has expired"}))
                        }
                        Some(_) => Reply::redirect(&format!(
                            "{blob_base}/blob/{id}?sig=signed&se=2026-12-01"
                        )),
                        None => Reply::json(404, json!({"message": "Not Found"})),
                    }
                }
                ["repos", "acme", "charon", "attestations", digest] => {
                    let Some(list) = w.attestations.get(*digest) else {
                        return Reply::json(404, json!({"message": "Not Found"}));
                    };
                    let per_page: usize =
                        q.get("per_page").and_then(|n| n.parse().ok()).unwrap_or(30);
                    let per_page = w.attestations_page.unwrap_or(per_page).max(1);
                    let after: usize = q.get("after").and_then(|n| n.parse().ok()).unwrap_or(0);
                    let page: Vec<Value> = list
                        .iter()
                        .enumerate()
                        .skip(after)
                        .take(per_page)
                        .map(|(i, a)| match a {
                            Attestation::Inline(json) => json!({"repository_id": 1, "initiator": "user",
                                "bundle": serde_json::from_slice::<Value>(json).unwrap(), "bundle_url": null}),
                            _ => json!({"repository_id": 1, "initiator": "user", "bundle": null,
                                "bundle_url": format!("{blob_base}/attestations/{digest}/{i}.json.sn?sig=signed&se=2026-12-01")}),
                        })
                        .collect();
                    let mut reply = Reply::json(200, json!({"attestations": page}));
                    if after + per_page < list.len() {
                        let host = r.headers.get("host").cloned().unwrap_or_default();
                        reply = reply.header("link", &format!(
                            "<http://{host}/api/v3/repos/acme/charon/attestations/{digest}?per_page={per_page}&after={}>; rel=\"next\"",
                            after + per_page
                        ));
                    }
                    reply
                }
                ["repos", "acme", "charon", "pulls"] if !q.contains_key("head") => {
                    let open: Vec<Value> = w
                        .pulls
                        .values()
                        .filter(|p| p["state"] == "open")
                        .map(|p| json!({"number": p["number"], "state": "open"}))
                        .collect();
                    let host = r.headers.get("host").cloned().unwrap_or_default();
                    page_of(
                        open,
                        &q,
                        w.list_page,
                        &host,
                        "/repos/acme/charon/pulls?state=open",
                    )
                }
                ["repos", "acme", "charon", "pulls", n] => {
                    match n.parse::<u64>().ok().and_then(|n| w.pulls.get(&n)) {
                        Some(p) => Reply::json(200, p.clone()),
                        None => Reply::json(404, json!({"message": "Not Found"})),
                    }
                }
                ["repos", "acme", "charon", "branches"] => {
                    let list: Vec<Value> = w
                        .branches
                        .iter()
                        .map(|b| json!({"name": b, "commit": {"sha": "0".repeat(40)}, "protected": false}))
                        .collect();
                    let host = r.headers.get("host").cloned().unwrap_or_default();
                    page_of(list, &q, w.list_page, &host, "/repos/acme/charon/branches")
                }
                ["repos", "acme", "charon", "pulls"] => {
                    let head = q.get("head").cloned().unwrap_or_default();
                    let list: Vec<Value> = w
                        .open_pulls
                        .iter()
                        .filter(|p| p["head"]["label"].as_str() == Some(head.as_str()))
                        .cloned()
                        .collect();
                    Reply::json(200, Value::Array(list))
                }
                ["repos", "acme", "charon", "commits", sha, "pulls"] => {
                    let list: Vec<Value> = w
                        .commit_pulls
                        .iter()
                        // as GitHub lists them: PRs with the commit in their head, and the one it merged
                        .filter(|p| {
                            p["head"]["sha"].as_str() == Some(sha)
                                || p["merge_commit_sha"].as_str() == Some(sha)
                        })
                        .cloned()
                        .collect();
                    Reply::json(200, Value::Array(list))
                }
                ["repos", "acme", "charon", "commits", sha] => match w.commits.get(*sha) {
                    Some(parents) => Reply::json(
                        200,
                        json!({"sha": sha, "parents": parents.iter().map(|p| json!({"sha": p})).collect::<Vec<_>>()}),
                    ),
                    None => Reply::json(422, json!({"message": "No commit found for SHA"})),
                },
                ["repos", "acme", "charon", "git", "commits", sha]
                    if !w.trees.contains_key(*sha) && w.git.is_some() =>
                {
                    match git_commit_tree(w.git.as_ref().unwrap(), sha) {
                        Some(tree) => Reply::json(
                            200,
                            json!({"sha": sha, "node_id": "C_kwDO", "tree": {"sha": tree, "url": format!("https://api.github.com/repos/acme/charon/git/trees/{tree}")},
                                   "message": "m", "parents": []}),
                        ),
                        None => Reply::json(
                            404,
                            json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest/git/commits#get-a-commit-object"}),
                        ),
                    }
                }
                ["repos", "acme", "charon", "git", "trees", sha] => {
                    let listed = w.git.as_ref().and_then(|g| git_tree_json(g, sha));
                    match listed {
                        Some(mut v) => {
                            if w.truncated.iter().any(|t| t == sha) {
                                v["truncated"] = json!(true);
                            }
                            Reply::json(200, v)
                        }
                        None => Reply::json(404, json!({"message": "Not Found"})),
                    }
                }
                ["repos", "acme", "charon", "git", "commits", sha] => match w.trees.get(*sha) {
                    Some(tree) => Reply::json(
                        200,
                        json!({"sha": sha, "node_id": "C_kwDO", "tree": {"sha": tree, "url": format!("https://api.github.com/repos/acme/charon/git/trees/{tree}")},
                               "message": "m", "parents": []}),
                    ),
                    None => Reply::json(404, json!({"message": "Not Found"})),
                },
                ["users", owner] if w.packages.as_ref().is_some_and(|p| p.owner == *owner) => {
                    let org = w.packages.as_ref().unwrap().org;
                    Reply::json(
                        200,
                        json!({"login": owner, "id": 1, "type": if org { "Organization" } else { "User" }}),
                    )
                }
                [kind, owner, "packages", "container", name, "versions", rest @ ..]
                    if w.packages.as_ref().is_some_and(|p| {
                        p.owner == *owner && (*kind == "orgs") == p.org && *kind != "repos"
                    }) =>
                {
                    // the package name is one path segment: `app%2Fapi` is `app/api`
                    let name: String = url::form_urlencoded::parse(format!("n={name}").as_bytes())
                        .next()
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    let encoded: String =
                        url::form_urlencoded::byte_serialize(name.as_bytes()).collect();
                    let packages = w.packages.as_mut().unwrap();
                    match (r.method.as_str(), rest) {
                        ("GET", []) => {
                            let list = packages.versions(&name);
                            if list.is_empty() {
                                return Reply::json(404, json!({"message": "Package not found."}));
                            }
                            let host = r.headers.get("host").cloned().unwrap_or_default();
                            let route =
                                format!("/{kind}/{owner}/packages/container/{encoded}/versions");
                            page_of(list, &q, w.list_page, &host, &route)
                        }
                        ("DELETE", [id]) => match id.parse() {
                            Ok(id) => packages.delete(&name, id),
                            Err(_) => Reply::json(404, json!({"message": "Not Found"})),
                        },
                        _ => Reply::json(404, json!({"message": "Not Found"})),
                    }
                }
                _ => Reply::json(404, json!({"message": "Not Found"})),
            }
        });
        FakeGitHub { api, blob, world }
    }

    pub fn api_url(&self) -> String {
        format!("{}/api/v3", self.api.base)
    }

    pub fn api_calls(&self) -> usize {
        self.api.requests().len()
    }

    /// Requests whose path holds `part` (e.g. `/git/trees/`).
    pub fn calls_to(&self, part: &str) -> usize {
        self.api
            .requests()
            .iter()
            .filter(|r| r.path.contains(part))
            .count()
    }

    /// The blob host must never see the token.
    pub fn assert_blob_host_got_no_token(&self) {
        for r in self.blob.requests() {
            assert!(
                !r.headers.contains_key("authorization"),
                "the blob host received Authorization: {r:?}"
            );
            assert!(
                !r.headers.values().any(|v| v.contains(TOKEN)),
                "the blob host received the token: {r:?}"
            );
        }
    }
}

fn git(repo: &std::path::Path, args: &[&str]) -> Option<String> {
    let out = std::process::Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .unwrap();
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap())
}

/// The tree of a commit of the repository, as `git cat-file -p` prints the commit.
fn git_commit_tree(repo: &std::path::Path, sha: &str) -> Option<String> {
    if sha.len() != 40 || git(repo, &["cat-file", "-t", sha])?.trim() != "commit" {
        return None;
    }
    let text = git(repo, &["cat-file", "-p", sha])?;
    text.lines()
        .find_map(|l| l.strip_prefix("tree "))
        .map(str::to_string)
}

/// `git ls-tree` of a tree, in the shape GitHub documents for `GET /repos/{o}/{r}/git/trees/{sha}`:
/// https://docs.github.com/en/rest/git/trees#get-a-tree
fn git_tree_json(repo: &std::path::Path, sha: &str) -> Option<Value> {
    if sha.len() != 40 || git(repo, &["cat-file", "-t", sha])?.trim() != "tree" {
        return None;
    }
    let listing = git(repo, &["ls-tree", "-z", sha])?;
    let tree: Vec<Value> = listing
        .split('\0')
        .filter(|l| !l.is_empty())
        .map(|l| {
            // <mode> SP <type> SP <object> TAB <name>
            let (meta, name) = l.split_once('\t').unwrap();
            let m: Vec<&str> = meta.split(' ').collect();
            json!({"path": name, "mode": m[0], "type": m[1], "sha": m[2],
                   "url": format!("https://api.github.com/repos/acme/charon/git/{}s/{}", m[1], m[2])})
        })
        .collect();
    Some(
        json!({"sha": sha, "url": format!("https://api.github.com/repos/acme/charon/git/trees/{sha}"),
                "tree": tree, "truncated": false}),
    )
}
