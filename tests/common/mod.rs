//! Shared by the integration tests: the real stack that scripts/test.sh starts, images built
//! for each test, the binary run with the runner's environment, and a GitHub API of our own.
#![allow(dead_code)]

pub mod fixtures;
pub mod github;
pub mod hostile;
pub mod proxy;
pub mod relay;
pub mod server;

use serde_json::{json, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

pub struct Stack {
    pub docker_host: String,
    pub cli: String,
    pub registry: String,
    pub auth_registry: String,
    pub user: String,
    pub pass: String,
}

fn var(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: the integration tests need the real stack; run them through scripts/test.sh")
    })
}

pub fn stack() -> Stack {
    Stack {
        docker_host: var("IR_DOCKER_HOST"),
        cli: var("IR_DOCKER_CLI"),
        registry: var("IR_REGISTRY"),
        auth_registry: var("IR_AUTH_REGISTRY"),
        user: var("IR_REGISTRY_USER"),
        pass: var("IR_REGISTRY_PASS"),
    }
}

static COUNTER: AtomicU32 = AtomicU32::new(0);

/// A name no other test uses in this run.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

pub fn sha(seed: u8) -> String {
    format!("{:02x}", seed).repeat(20)
}

impl Stack {
    pub fn docker(&self, args: &[&str]) -> String {
        let out = Command::new(&self.cli)
            .arg("-H")
            .arg(&self.docker_host)
            .args(args)
            .output()
            .expect("docker CLI");
        assert!(
            out.status.success(),
            "docker {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn docker_ok(&self, args: &[&str]) -> bool {
        Command::new(&self.cli)
            .arg("-H")
            .arg(&self.docker_host)
            .args(args)
            .output()
            .expect("docker CLI")
            .status
            .success()
    }

    /// Builds a `FROM scratch` image with a revision label (or none) and a payload of `bytes`
    /// random bytes, tags it `tag`, and returns its ID.
    pub fn build(&self, tag: &str, revision: Option<&str>, bytes: usize) -> String {
        let dir = tempfile::tempdir().unwrap();
        let payload: Vec<u8> = (0..bytes.max(16)).map(|_| rand::random::<u8>()).collect();
        std::fs::write(dir.path().join("payload"), payload).unwrap();
        let mut df = String::from("FROM scratch\nCOPY payload /payload\n");
        if let Some(r) = revision {
            df.push_str(&format!("LABEL org.opencontainers.image.revision={r}\n"));
        }
        std::fs::write(dir.path().join("Dockerfile"), df).unwrap();
        self.docker(&["build", "-q", "-t", tag, dir.path().to_str().unwrap()]);
        self.docker(&["inspect", "--format", "{{.Id}}", tag])
    }

    /// Builds and pushes `repo:tag`, then removes it locally so a pull has work to do.
    pub fn publish(&self, repo: &str, tag: &str, revision: Option<&str>) -> String {
        let r = format!("{repo}:{tag}");
        self.build(&r, revision, 64);
        self.docker(&["push", "-q", &r]);
        let digest = self.docker(&["inspect", "--format", "{{index .RepoDigests 0}}", &r]);
        self.docker(&["rmi", "-f", &r]);
        digest.split('@').nth(1).unwrap().to_string()
    }

    pub fn image_id(&self, name: &str) -> Option<String> {
        let out = Command::new(&self.cli)
            .args([
                "-H",
                &self.docker_host,
                "inspect",
                "--format",
                "{{.Id}}",
                name,
            ])
            .output()
            .unwrap();
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The names an image carries.
    pub fn tags_of(&self, id: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .docker(&["inspect", "--format", "{{join .RepoTags \"\\n\"}}", id])
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }

    /// Every `repo:tag` the daemon holds, for before/after comparisons.
    pub fn all_tags(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
            .lines()
            .map(str::to_string)
            .collect();
        v.sort();
        v
    }
}

pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub outputs: HashMap<String, String>,
    pub output_file: String,
    pub summary: String,
}

impl Outcome {
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success:\n{}\n{}",
            self.stdout, self.stderr
        );
        self
    }
    pub fn failed(&self) -> &Self {
        assert_ne!(self.code, 0, "expected failure:\n{}", self.stdout);
        assert!(
            self.outputs.is_empty() && self.output_file.is_empty(),
            "no outputs on failure: {}",
            self.output_file
        );
        let errors: Vec<&str> = self
            .stdout
            .lines()
            .filter(|l| l.starts_with("::error::"))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "exactly one ::error:: line:\n{}",
            self.stdout
        );
        self
    }
    pub fn error(&self) -> String {
        self.stdout
            .lines()
            .find(|l| l.starts_with("::error::"))
            .unwrap_or("")
            .to_string()
    }
    pub fn out(&self, name: &str) -> &str {
        self.outputs
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no output {name}: {:?}", self.outputs))
    }
    /// Secrets never reach the log, the outputs or the summary.
    pub fn assert_no_secret(&self, secret: &str) {
        for (what, text) in [
            ("stdout", &self.stdout),
            ("stderr", &self.stderr),
            ("outputs", &self.output_file),
            ("summary", &self.summary),
        ] {
            let without_mask = text.replace(&format!("::add-mask::{secret}"), "");
            assert!(
                !without_mask.contains(secret),
                "secret leaked into {what}:\n{text}"
            );
        }
    }
}

/// Parses the runner's `name<<DELIMITER` file.
pub fn parse_outputs(text: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let (name, delim) = line
            .split_once("<<")
            .unwrap_or_else(|| panic!("malformed output line {line:?}"));
        let mut value = Vec::new();
        for l in lines.by_ref() {
            if l == delim {
                break;
            }
            value.push(l);
        }
        out.insert(name.to_string(), value.join("\n"));
    }
    out
}

/// The binary, with exactly the environment a container action gets.
pub struct Run {
    pub env: Vec<(String, String)>,
    pub event: Option<Value>,
    pub event_name: String,
    dir: tempfile::TempDir,
}

pub fn bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_image-resolver"))
}

impl Run {
    pub fn new(event_name: &str, event: Value) -> Run {
        Run {
            env: Vec::new(),
            event: Some(event),
            event_name: event_name.into(),
            dir: tempfile::tempdir().unwrap(),
        }
    }
    pub fn input(mut self, name: &str, value: &str) -> Run {
        self.env
            .push((format!("INPUT_{}", name.to_uppercase()), value.into()));
        self
    }
    pub fn var(mut self, name: &str, value: &str) -> Run {
        self.env.push((name.into(), value.into()));
        self
    }
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
    pub fn run(&self) -> Outcome {
        let s = stack();
        let event_path = self.dir.path().join("event.json");
        let output = self.dir.path().join("output");
        let summary = self.dir.path().join("summary");
        std::fs::write(&output, "").unwrap();
        std::fs::write(&summary, "").unwrap();
        let mut cmd = Command::new(bin());
        cmd.env_clear()
            .env("GITHUB_EVENT_NAME", &self.event_name)
            .env("GITHUB_OUTPUT", &output)
            .env("GITHUB_STEP_SUMMARY", &summary)
            .env("GITHUB_REPOSITORY", "acme/charon")
            .env("GITHUB_ACTOR", "octocat")
            .env("GITHUB_API_URL", "http://127.0.0.1:9/unused")
            .env("DOCKER_HOST", &s.docker_host);
        if let Some(ev) = &self.event {
            std::fs::write(&event_path, serde_json::to_vec(ev).unwrap()).unwrap();
            cmd.env("GITHUB_EVENT_PATH", &event_path);
        }
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let out = cmd.output().expect("run image-resolver");
        let output_file = std::fs::read_to_string(&output).unwrap_or_default();
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
            outputs: parse_outputs(&output_file),
            output_file,
            summary: std::fs::read_to_string(&summary).unwrap_or_default(),
        }
    }
}

fn repo_json(id: u64, full: &str) -> Value {
    let owner = full.split('/').next().unwrap();
    json!({"id": id, "name": full.split('/').nth(1), "full_name": full, "owner": {"login": owner},
           "url": format!("https://api.github.com/repos/{full}"), "fork": id != 1})
}

/// A `workflow_run` payload shaped like GitHub's webhook docs.
pub fn workflow_run(
    event: &str,
    head_sha: &str,
    branch: &str,
    pr: Option<u64>,
    fork: bool,
) -> Value {
    let base = repo_json(1, "acme/charon");
    let head = if fork {
        repo_json(2, "mallory/charon")
    } else {
        base.clone()
    };
    let prs: Vec<Value> = pr
        .filter(|_| !fork)
        .map(|n| json!({"id": 9000 + n, "number": n, "url": format!("https://api.github.com/repos/acme/charon/pulls/{n}"),
                        "head": {"ref": branch, "sha": head_sha, "repo": {"id": 1, "url": "https://api.github.com/repos/acme/charon", "name": "charon"}},
                        "base": {"ref": "main", "sha": sha(0xee), "repo": {"id": 1, "url": "https://api.github.com/repos/acme/charon", "name": "charon"}}}))
        .into_iter()
        .collect();
    json!({"action": "completed", "repository": base, "sender": {"login": "octocat"},
           "workflow": {"id": 1, "name": "build"},
           "workflow_run": {"id": 4242, "name": "build", "run_number": 17, "run_attempt": 1, "event": event,
                            "status": "completed", "conclusion": "success", "head_sha": head_sha, "head_branch": branch,
                            "pull_requests": prs, "head_repository": head, "repository": base}})
}

pub fn pull_request_event(number: u64, head_sha: &str, branch: &str) -> Value {
    json!({"action": "synchronize", "number": number, "repository": repo_json(1, "acme/charon"),
           "pull_request": {"number": number, "state": "open",
                            "head": {"ref": branch, "sha": head_sha, "repo": repo_json(1, "acme/charon")},
                            "base": {"ref": "main", "sha": sha(0xee), "repo": repo_json(1, "acme/charon")}}})
}
