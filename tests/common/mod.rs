//! Shared by the integration tests: the real stack that scripts/test.sh starts, images built
//! for each test, the binary run with the runner's environment, and a GitHub API of our own.
#![allow(dead_code)]

pub mod fixtures;
pub mod forward_proxy;
pub mod github;
pub mod hostile;
pub mod proxy;
pub mod relay;
pub mod runner;
pub mod server;
pub mod sigstore;
pub mod standin;

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

/// `curl -sSf` for reading a registry directly; its stdout.
pub fn curl(args: &[&str]) -> String {
    let out = Command::new("curl")
        .arg("-sSf")
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into()
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
        // no cache: the classic builder's cache look-up walks every image, and one that another
        // test removes meanwhile fails the build ("unable to find image sha256:…")
        self.docker(&[
            "build",
            "-q",
            "--no-cache",
            "-t",
            tag,
            dir.path().to_str().unwrap(),
        ]);
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
    /// The child's own peak RSS (`ru_maxrss` from `wait4`) and wall time.
    pub peak_rss_kib: i64,
    pub wall: std::time::Duration,
}

impl Outcome {
    /// One line for the test log: what a hostile case cost.
    pub fn print_cost(&self, what: &str) {
        eprintln!(
            "cost of {what}: peak RSS {:.1} MiB, wall {:.2} s, exit {}",
            self.peak_rss_kib as f64 / 1024.0,
            self.wall.as_secs_f64(),
            self.code
        );
    }
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
            .filter(|l| l.starts_with("::error title=image-resolver"))
            .collect();
        assert_eq!(
            errors.len(),
            1,
            "exactly one ::error line:\n{}",
            self.stdout
        );
        self
    }
    pub fn error(&self) -> String {
        self.stdout
            .lines()
            .find(|l| l.starts_with("::error title=image-resolver"))
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
    /// Address-space cap for the child (RLIMIT_AS), so a memory regression fails fast.
    cap: Option<u64>,
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
            cap: None,
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
    /// Runs the binary under an address-space cap of `bytes`.
    pub fn cap(mut self, bytes: u64) -> Run {
        self.cap = Some(bytes);
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
        // in a directory of its own, as the runner starts the action in the workspace: what the
        // step writes there (verification summaries) stays out of the checkout
        cmd.current_dir(self.dir.path())
            .env_clear()
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
        let (code, stdout, stderr, peak_rss_kib, wall) = spawn_measured(cmd, self.cap);
        let output_file = std::fs::read_to_string(&output).unwrap_or_default();
        Outcome {
            code,
            stdout,
            stderr,
            peak_rss_kib,
            wall,
            outputs: parse_outputs(&output_file),
            output_file,
            summary: std::fs::read_to_string(&summary).unwrap_or_default(),
        }
    }
}

/// Runs `cmd` (under RLIMIT_AS = `cap` when set), reaps it with `wait4` for its own rusage.
fn spawn_measured(
    mut cmd: Command,
    cap: Option<u64>,
) -> (i32, String, String, i64, std::time::Duration) {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    if let Some(cap) = cap {
        // SAFETY: setrlimit is async-signal-safe; nothing else runs between fork and exec
        unsafe {
            cmd.pre_exec(move || {
                let lim = libc::rlimit {
                    rlim_cur: cap,
                    rlim_max: cap,
                };
                if libc::setrlimit(libc::RLIMIT_AS, &lim) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
    }
    let start = std::time::Instant::now();
    // reaped by wait4 below, which also gives its rusage
    #[allow(clippy::zombie_processes)]
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run image-resolver");
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let t_out = std::thread::spawn(move || {
        let mut v = Vec::new();
        out.read_to_end(&mut v).unwrap();
        v
    });
    let t_err = std::thread::spawn(move || {
        let mut v = Vec::new();
        err.read_to_end(&mut v).unwrap();
        v
    });
    let mut status = 0;
    // SAFETY: plain wait4 on our own child's pid, with valid out-pointers
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        let r = libc::wait4(child.id() as i32, &mut status, 0, &mut usage);
        assert_eq!(r, child.id() as i32, "wait4");
        usage
    };
    let wall = start.elapsed();
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -libc::WTERMSIG(status)
    };
    (
        code,
        String::from_utf8_lossy(&t_out.join().unwrap()).into(),
        String::from_utf8_lossy(&t_err.join().unwrap()).into(),
        usage.ru_maxrss,
        wall,
    )
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

/// The run most tests start from: a `workflow_run` of a push of `head` to `branch`.
pub fn push_on(head: &str, branch: &str) -> Run {
    Run::new(
        "workflow_run",
        workflow_run("push", head, branch, None, false),
    )
}

/// A `workflow_run` of a push of `head` to `main`.
pub fn push_event(head: &str) -> Run {
    push_on(head, "main")
}

/// Promote mode on a `push` to `main` of `merge`, the commit that merged a pull request
/// (`promote-source: merged-pr`), with `gh` as the GitHub API; no daemon. Add `image(s)` and
/// `promote-to`.
pub fn merged_promotion(merge: &str, gh: &github::FakeGitHub) -> Run {
    Run::new(
        "push",
        json!({"ref": "refs/heads/main", "after": merge, "deleted": false, "repository": {"full_name": "acme/charon"}}),
    )
    .input("mode", "promote")
    .input("promote-source", "merged-pr")
    .input("github-token", github::TOKEN)
    .var("GITHUB_SHA", merge)
    .var("GITHUB_REF_NAME", "main")
    .var("GITHUB_REF", "refs/heads/main")
    .var("GITHUB_API_URL", &gh.api_url())
    .var("DOCKER_HOST", "unix:///nonexistent/docker.sock")
}

/// What one run of a table must give.
pub enum Want {
    /// Success, with these outputs (name, value).
    Ok(Vec<(&'static str, String)>),
    /// Failure with one `::error::` line that holds every one of these.
    Fails(Vec<String>),
}

/// Runs each case in order and checks what it wants; the outcomes come back, in order, for
/// what a table cannot say (the daemon's state, the log, the summary).
pub fn table(cases: Vec<(&str, Run, Want)>) -> Vec<Outcome> {
    cases
        .into_iter()
        .map(|(what, run, want)| {
            let o = run.run();
            match &want {
                Want::Ok(outputs) => {
                    o.ok();
                    for (name, value) in outputs {
                        assert_eq!(o.out(name), value, "{what}: output `{name}`");
                    }
                }
                Want::Fails(needles) => {
                    o.failed();
                    let e = o.error();
                    for n in needles {
                        assert!(e.contains(n.as_str()), "{what}: `{n}` not in {e}");
                    }
                }
            }
            o
        })
        .collect()
}

pub fn pull_request_event(number: u64, head_sha: &str, branch: &str) -> Value {
    json!({"action": "synchronize", "number": number, "repository": repo_json(1, "acme/charon"),
           "pull_request": {"number": number, "state": "open",
                            "head": {"ref": branch, "sha": head_sha, "repo": repo_json(1, "acme/charon")},
                            "base": {"ref": "main", "sha": sha(0xee), "repo": repo_json(1, "acme/charon")}}})
}
