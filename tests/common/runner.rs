//! The runner's own `docker run` for a container action, reproduced flag for flag, and the job
//! network it runs on. Sources, actions/runner at 258d6c8 (runner 2.336.0):
//! - `src/Runner.Worker/Container/DockerCommandManager.cs`, `DockerRun` (lines 194-262): `--name`,
//!   `--label`, `--workdir`, `--rm`, `-e NAME` for every variable (the value travels in the docker
//!   CLI's own environment, line 261 → `ExecuteDockerCommandAsync`, line 405), `-e GITHUB_ACTIONS=true`,
//!   `-e CI=true`, `--network`, one `-v` per mount, the image, no arguments; `DockerCreate` (lines
//!   110-192) for service containers, with `--network-alias`; `DockerNetworkCreate` (line 289).
//! - `src/Runner.Worker/Handlers/ContainerActionHandler.cs` (`RunAsync`): `HOME` = `_github_home`
//!   (line 185), the six mounts (lines 193-198), path translation (lines 200-204), `--workdir
//!   /github/workspace` (line 206), the GitHub and runner contexts as variables (lines 209-218),
//!   `ACTIONS_*` (lines 221-240), every value translated to a container path (lines 255-258); the
//!   job network when the job has one (lines 172-175).
//! - `src/Runner.Worker/Container/ContainerInfo.cs`: `TranslateToContainerPath` (lines 164-196),
//!   the runner's proxy as `HTTP_PROXY`/`http_proxy`/`HTTPS_PROXY`/`https_proxy`/`NO_PROXY`/`no_proxy`
//!   (`UpdateWebProxyEnv`, lines 253-271).
//! - `src/Runner.Worker/Handlers/Handler.cs` `AddInputsToEnvironment` (lines 175-188): `INPUT_` and the
//!   name upper-cased, spaces to `_`, hyphens kept; `src/Runner.Worker/ActionRunner.cs` (lines
//!   206-219): every action.yml input with its default.
//! - `src/Runner.Worker/FileCommandManager.cs`: one file per command under `_runner_file_commands`
//!   (lines 42-73), `set_output_` and `step_summary_` among them (lines 226, 331), parsed by
//!   `EnvFileKeyValuePairs` (lines 353-495): `NAME=VALUE` or `NAME<<DELIMITER` … `DELIMITER`.
//! - `src/Runner.Worker/ExecutionContext.cs` `WriteWebhookPayload` (lines 1320-1336): the event at
//!   `_github_workflow/event.json`; `src/Runner.Worker/GitHubContext.cs` (lines 9-68) and
//!   `RunnerContext.cs` (lines 9-15): the `GITHUB_*` and `RUNNER_*` names. No `TMPDIR` anywhere.
//! - `src/Runner.Worker/ContainerOperationProvider.cs` (lines 93-105): a job with services gets a
//!   network `github_network_<guid>` that every container joins, services by their alias.
//!
//! The one difference: the runner mounts the host's `/var/run/docker.sock`; here it is the test
//! stack's daemon socket, mounted at the same place.

use super::{stack, Stack};
use serde_json::Value;
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// `DockerInstanceLabel`: six hex digits of the runner's `.runner` file's hash.
const INSTANCE_LABEL: &str = "1e57ab";

/// The action image, built once per test process from the static binary by scripts/build-image.sh.
pub fn action_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let bin = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/target/x86_64-unknown-linux-gnu/release/image-resolver"
            );
            assert!(
                Path::new(bin).exists(),
                "build the static binary first (scripts/test.sh does)"
            );
            let tag = format!("image-resolver-test:{}", std::process::id());
            let s = stack();
            let out = Command::new(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/scripts/build-image.sh"
            ))
            .arg(&tag)
            .env("IR_PREBUILT", "1")
            .env("IR_DOCKER_HOST", &s.docker_host)
            .env("IR_DOCKER_CLI", &s.cli)
            .output()
            .unwrap();
            assert!(
                out.status.success(),
                "build-image.sh: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            tag
        })
        .clone()
}

/// A registry image of Debian's `docker-registry` binary and the libraries `ldd` names, nothing
/// else (nothing can be pulled here). Serves TLS on :5000 from `/certs`, read-only storage at
/// `/var/lib/registry`.
pub fn registry_image() -> String {
    static IMAGE: OnceLock<String> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let binary = Path::new("/usr/bin/docker-registry");
            assert!(binary.exists(), "install docker-registry (scripts/stack.sh does)");
            let ctx = tempfile::tempdir().unwrap();
            let root = ctx.path().join("rootfs");
            let put = |from: &Path, to: &str| {
                let dest = root.join(to.trim_start_matches('/'));
                std::fs::create_dir_all(dest.parent().unwrap()).unwrap();
                std::fs::copy(from, &dest).unwrap();
            };
            put(binary, "/bin/registry");
            let ldd = Command::new("ldd").arg(binary).output().unwrap();
            for line in String::from_utf8_lossy(&ldd.stdout).lines() {
                // `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` or `/lib64/ld-linux-x86-64.so.2 (0x…)`
                let path = line
                    .split("=>")
                    .last()
                    .and_then(|p| p.split_whitespace().next())
                    .filter(|p| p.starts_with('/'));
                if let Some(p) = path {
                    // the loader is named by its link's path; copy what it points to under that name
                    put(&std::fs::canonicalize(p).unwrap(), p);
                }
            }
            let config = "version: 0.1\nlog: { level: warn }\nstorage:\n  filesystem: { rootdirectory: /var/lib/registry }\n  maintenance:\n    uploadpurging: { enabled: false }\n    readonly: { enabled: true }\nhttp:\n  addr: 0.0.0.0:5000\n  tls: { certificate: /certs/cert.pem, key: /certs/key.pem }\n";
            std::fs::create_dir_all(root.join("etc/registry")).unwrap();
            std::fs::write(root.join("etc/registry/config.yml"), config).unwrap();
            std::fs::write(
                ctx.path().join("Dockerfile"),
                "FROM scratch\nCOPY rootfs/ /\nENTRYPOINT [\"/bin/registry\", \"serve\", \"/etc/registry/config.yml\"]\n",
            )
            .unwrap();
            let tag = format!("image-resolver-test-registry:{}", std::process::id());
            let s = stack();
            let out = Command::new(&s.cli)
                .args(["-H", &s.docker_host, "build", "-q", "-t", &tag])
                .arg(ctx.path())
                .env("DOCKER_BUILDKIT", "0")
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "building the registry image: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            tag
        })
        .clone()
}

/// A private CA and a server certificate for `name`, made with the openssl CLI.
pub struct Tls {
    pub dir: tempfile::TempDir,
}

impl Tls {
    pub fn for_name(name: &str) -> Tls {
        Tls::for_names(&[name])
    }

    /// One certificate for several names (the first is its subject).
    pub fn for_names(names: &[&str]) -> Tls {
        let name = names[0];
        let san: Vec<String> = names.iter().map(|n| format!("DNS:{n}")).collect();
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        std::fs::write(
            d.join("ext.cnf"),
            format!("subjectAltName={}\nbasicConstraints=critical,CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n", san.join(",")),
        )
        .unwrap();
        let run = |args: &[&str]| {
            let out = Command::new("openssl")
                .args(args)
                .current_dir(d)
                .output()
                .expect("the openssl CLI (Debian package openssl)");
            assert!(
                out.status.success(),
                "openssl {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        };
        let ec = [
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
        ];
        run(&[
            &["req", "-x509"][..],
            &ec,
            &[
                "-keyout",
                "ca.key",
                "-out",
                "ca.pem",
                "-days",
                "2",
                "-subj",
                "/CN=image-resolver test CA",
                "-addext",
                "basicConstraints=critical,CA:TRUE",
                "-addext",
                "keyUsage=critical,keyCertSign",
            ],
        ]
        .concat());
        run(&[
            &["req"][..],
            &ec,
            &[
                "-keyout",
                "key.pem",
                "-out",
                "req.csr",
                "-subj",
                &format!("/CN={name}"),
            ],
        ]
        .concat());
        run(&[
            "x509",
            "-req",
            "-in",
            "req.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "cert.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ]);
        // the registry runs as root in its container; the key is ours, for this test only
        for f in ["cert.pem", "key.pem"] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(d.join(f), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        Tls { dir }
    }

    pub fn ca(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }
}

/// A user-defined bridge network on the stack's daemon, standing in for the job network the
/// runner creates for a job with `services:`; removed with its containers on drop.
pub struct JobNetwork {
    pub name: String,
    /// The host's address on the network: where test servers listen for the action.
    pub gateway: String,
    stack: Stack,
    /// Service containers: alias and ID.
    containers: Mutex<Vec<(String, String)>>,
}

impl JobNetwork {
    pub fn create() -> JobNetwork {
        let s = stack();
        let name = format!("github_network_{:032x}", rand::random::<u128>());
        // a /24 of its own: several stacks on one machine would all take docker's first pool
        for _ in 0..8 {
            let (a, b) = (
                rand::random_range(128..=254u8),
                rand::random_range(0..=254u8),
            );
            let subnet = format!("10.{a}.{b}.0/24");
            let gateway = format!("10.{a}.{b}.1");
            if !routed(u32::from_be_bytes([10, a, b, 0]), 0xffff_ff00)
                && s.docker_ok(&[
                    "network",
                    "create",
                    "--label",
                    INSTANCE_LABEL,
                    "--subnet",
                    &subnet,
                    "--gateway",
                    &gateway,
                    &name,
                ])
            {
                return JobNetwork {
                    name,
                    gateway,
                    stack: s,
                    containers: Mutex::default(),
                };
            }
        }
        panic!("could not create a job network on the stack's daemon");
    }

    /// A service container on the network under `alias`, as `DockerCreate` + start run it.
    pub fn service(&self, alias: &str, image: &str, mounts: &[(&Path, &str)]) -> String {
        let display = format!(
            "{alias}_{}_{:06x}",
            sanitize(image),
            rand::random::<u32>() & 0xff_ffff
        );
        let mut args: Vec<String> = [
            "create",
            "--name",
            &display,
            "--label",
            INSTANCE_LABEL,
            "--network",
            &self.name,
            "--network-alias",
            alias,
            "-e",
            "GITHUB_ACTIONS=true",
            "-e",
            "CI=true",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        for (host, inside) in mounts {
            args.push("-v".into());
            args.push(format!("{}:{inside}", host.display()));
        }
        args.push(image.into());
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let id = self.stack.docker(&refs);
        self.containers
            .lock()
            .unwrap()
            .push((alias.to_string(), id.clone()));
        self.stack.docker(&["start", &id]);
        id
    }

    /// The address of the service under `alias`.
    pub fn service_address(&self, alias: &str) -> String {
        let id = self
            .containers
            .lock()
            .unwrap()
            .iter()
            .find(|(a, _)| a == alias)
            .map(|(_, id)| id.clone())
            .unwrap_or_else(|| panic!("no service `{alias}`"));
        self.address_of(&id)
    }

    /// A container's address on this network (the host reaches it; the action by its alias).
    pub fn address_of(&self, id: &str) -> String {
        self.stack.docker(&[
            "inspect",
            "--format",
            &format!(
                "{{{{(index .NetworkSettings.Networks \"{}\").IPAddress}}}}",
                self.name
            ),
            id,
        ])
    }
}

impl Drop for JobNetwork {
    fn drop(&mut self) {
        for (_, id) in self.containers.lock().unwrap().drain(..) {
            self.stack.docker_ok(&["rm", "-f", &id]);
        }
        self.stack.docker_ok(&["network", "rm", &self.name]);
    }
}

/// Whether the host already routes any of `net`/`mask` (another stack's network, say).
fn routed(net: u32, mask: u32) -> bool {
    let table = std::fs::read_to_string("/proc/net/route").unwrap_or_default();
    table.lines().skip(1).any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // destination and mask in hex, in the kernel's (little-endian) byte order
        let hex = |i: usize| {
            f.get(i)
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .map(u32::swap_bytes)
        };
        match (hex(1), hex(7)) {
            (Some(dest), Some(m)) if m != 0 => {
                let common = m & mask;
                dest & common == net & common
            }
            _ => false,
        }
    })
}

/// `NameValidation.Sanitize`: letters, `_`, and digits after the first character.
fn sanitize(name: &str) -> String {
    let mut s = String::new();
    for c in name.chars() {
        if c.is_ascii_alphabetic() || c == '_' || (c.is_ascii_digit() && !s.is_empty()) {
            s.push(c);
        }
    }
    s
}

/// The runner's parse of a file command (`EnvFileKeyValuePairs`): `NAME=VALUE` lines, or
/// `NAME<<DELIMITER`, the value's lines, `DELIMITER`; a missing delimiter is an error.
pub fn parse_file_command(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut lines = text.split_inclusive('\n');
    while let Some(raw) = lines.next() {
        let line = raw.strip_suffix('\n').unwrap_or(raw);
        if line.is_empty() {
            continue;
        }
        let eq = line.find('=');
        let heredoc = line.find("<<");
        match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                out.push((line[..e].to_string(), line[e + 1..].to_string()));
            }
            (_, Some(h)) => {
                let (name, delim) = (&line[..h], &line[h + 2..]);
                if name.is_empty() || delim.is_empty() {
                    return Err(format!("Invalid format '{line}'. Name must not be empty and delimiter must not be empty"));
                }
                let mut value: Vec<&str> = Vec::new();
                loop {
                    let Some(raw) = lines.next() else {
                        return Err(format!(
                            "Invalid value. Matching delimiter not found '{delim}'"
                        ));
                    };
                    let Some(l) = raw.strip_suffix('\n') else {
                        if raw == delim {
                            break;
                        }
                        return Err("Invalid value. EOF marker missing new line.".into());
                    };
                    if l == delim {
                        break;
                    }
                    value.push(l);
                }
                out.push((name.to_string(), value.join("\n")));
            }
            _ => return Err(format!("Invalid format '{line}'")),
        }
    }
    Ok(out)
}

/// One step of a container action: the `with:` inputs, the job's `env:`, the event.
pub struct Step {
    pub network: String,
    pub event_name: String,
    pub event: Value,
    pub github_token: String,
    with: Vec<(String, String)>,
    env: Vec<(String, String)>,
    proxy: Vec<(String, String)>,
    workspace_files: Vec<(String, Vec<u8>)>,
}

pub struct StepOutcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub outputs: HashMap<String, String>,
    pub output_file: String,
    pub summary: String,
    /// The `docker run` arguments, for the failure messages.
    pub command: Vec<String>,
    /// The runner's directories, kept for a look after the step.
    pub root: tempfile::TempDir,
}

impl StepOutcome {
    pub fn ok(&self) -> &Self {
        assert_eq!(
            self.code, 0,
            "expected success:\n{}\n{}\n{:?}",
            self.stdout, self.stderr, self.command
        );
        self
    }
    pub fn error(&self) -> String {
        self.stdout
            .lines()
            .filter(|l| l.starts_with("::error"))
            .collect::<Vec<_>>()
            .join("\n")
    }
    pub fn out(&self, name: &str) -> &str {
        self.outputs
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no output {name}: {:?}\n{}", self.outputs, self.stdout))
    }
}

/// The inputs action.yml declares, with their defaults (`${{ github.token }}` evaluated).
fn action_inputs(token: &str) -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/action.yml")).unwrap();
    let yml: serde_yaml_ng::Value = serde_yaml_ng::from_str(&text).unwrap();
    yml["inputs"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let default = match &v["default"] {
                serde_yaml_ng::Value::String(s) => s.clone(),
                serde_yaml_ng::Value::Bool(b) => b.to_string(),
                serde_yaml_ng::Value::Number(n) => n.to_string(),
                _ => String::new(),
            };
            let default = default.replace("${{ github.token }}", token);
            (k.as_str().unwrap().to_string(), default)
        })
        .collect()
}

impl Step {
    pub fn new(network: &JobNetwork, event_name: &str, event: Value) -> Step {
        Step {
            network: network.name.clone(),
            event_name: event_name.into(),
            event,
            github_token: super::github::TOKEN.into(),
            with: Vec::new(),
            env: Vec::new(),
            proxy: Vec::new(),
            workspace_files: Vec::new(),
        }
    }
    /// A `with:` input.
    pub fn with(mut self, name: &str, value: &str) -> Step {
        self.with.push((name.into(), value.into()));
        self
    }
    /// A variable of the job's or step's `env:`; `{workspace}` stands for the host's
    /// `github.workspace`, as `${{ github.workspace }}` would.
    pub fn env(mut self, name: &str, value: &str) -> Step {
        self.env.push((name.into(), value.into()));
        self
    }
    /// The runner's own proxy (its environment when it started), as `UpdateWebProxyEnv` passes it.
    pub fn runner_proxy(mut self, url: &str, no_proxy: &str) -> Step {
        for k in ["HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy"] {
            self.proxy.push((k.into(), url.into()));
        }
        for k in ["NO_PROXY", "no_proxy"] {
            self.proxy.push((k.into(), no_proxy.into()));
        }
        self
    }
    /// A file in the checked-out workspace.
    pub fn workspace_file(mut self, name: &str, data: &[u8]) -> Step {
        self.workspace_files.push((name.into(), data.to_vec()));
        self
    }

    pub fn run(&self) -> StepOutcome {
        let s = stack();
        let root = tempfile::tempdir().unwrap();
        // the runner's layout: _work/<repo>/<repo> is the workspace, _work/_temp its temp
        let work = root.path().join("_work");
        let workspace = work.join("charon/charon");
        let temp = work.join("_temp");
        let home = temp.join("_github_home");
        let workflow = temp.join("_github_workflow");
        let commands = temp.join("_runner_file_commands");
        let tool_cache = root.path().join("_tool");
        for d in [&workspace, &home, &workflow, &commands, &tool_cache] {
            std::fs::create_dir_all(d).unwrap();
        }
        for (name, data) in &self.workspace_files {
            std::fs::write(workspace.join(name), data).unwrap();
        }
        let event_path = workflow.join("event.json");
        std::fs::write(&event_path, serde_json::to_vec(&self.event).unwrap()).unwrap();
        let guid = format!("{:032x}", rand::random::<u128>());
        let guid = format!(
            "{}-{}-{}-{}-{}",
            &guid[..8],
            &guid[8..12],
            &guid[12..16],
            &guid[16..20],
            &guid[20..]
        );
        let file = |prefix: &str| {
            let p = commands.join(format!("{prefix}{guid}"));
            std::fs::write(&p, "").unwrap();
            p
        };
        let (path_file, env_file, summary_file, state_file, output_file) = (
            file("add_path_"),
            file("set_env_"),
            file("step_summary_"),
            file("save_state_"),
            file("set_output_"),
        );
        let host = |p: &Path| p.display().to_string();

        // this.Environment: the job's env, then the inputs, HOME, the contexts, ACTIONS_*
        let mut env: BTreeMap<String, String> = BTreeMap::new();
        for (k, v) in &self.env {
            env.insert(k.clone(), v.replace("{workspace}", &host(&workspace)));
        }
        let mut inputs = action_inputs(&self.github_token);
        for (k, v) in &self.with {
            assert!(inputs.contains_key(k), "action.yml has no input `{k}`");
            inputs.insert(k.clone(), v.clone());
        }
        for (k, v) in inputs {
            env.insert(format!("INPUT_{}", k.replace(' ', "_").to_uppercase()), v);
        }
        env.insert("HOME".into(), host(&home));
        let sha = self.event["workflow_run"]["head_sha"]
            .as_str()
            .map(str::to_string)
            .unwrap_or_else(|| "0".repeat(40));
        for (k, v) in [
            (
                "GITHUB_ACTION",
                "__image-resolver_image-resolver".to_string(),
            ),
            (
                "GITHUB_ACTION_REPOSITORY",
                "image-resolver/image-resolver".into(),
            ),
            ("GITHUB_ACTION_REF", "v1".into()),
            ("GITHUB_ACTOR", "octocat".into()),
            ("GITHUB_ACTOR_ID", "583231".into()),
            ("GITHUB_API_URL", "https://api.github.com".into()),
            (
                "GITHUB_GRAPHQL_URL",
                "https://api.github.com/graphql".into(),
            ),
            ("GITHUB_SERVER_URL", "https://github.com".into()),
            ("GITHUB_EVENT_NAME", self.event_name.clone()),
            ("GITHUB_EVENT_PATH", host(&event_path)),
            ("GITHUB_JOB", "resolve".into()),
            ("GITHUB_REF", "refs/heads/main".into()),
            ("GITHUB_REF_NAME", "main".into()),
            ("GITHUB_REF_TYPE", "branch".into()),
            ("GITHUB_REF_PROTECTED", "true".into()),
            ("GITHUB_REPOSITORY", "acme/charon".into()),
            ("GITHUB_REPOSITORY_ID", "1".into()),
            ("GITHUB_REPOSITORY_OWNER", "acme".into()),
            ("GITHUB_REPOSITORY_OWNER_ID", "2".into()),
            ("GITHUB_RETENTION_DAYS", "90".into()),
            ("GITHUB_RUN_ID", "5150".into()),
            ("GITHUB_RUN_NUMBER", "9".into()),
            ("GITHUB_RUN_ATTEMPT", "1".into()),
            ("GITHUB_SHA", sha),
            ("GITHUB_TRIGGERING_ACTOR", "octocat".into()),
            ("GITHUB_WORKFLOW", "test".into()),
            (
                "GITHUB_WORKFLOW_REF",
                "acme/charon/.github/workflows/test.yml@refs/heads/main".into(),
            ),
            ("GITHUB_WORKFLOW_SHA", "1".repeat(40)),
            ("GITHUB_WORKSPACE", host(&workspace)),
            ("GITHUB_OUTPUT", host(&output_file)),
            ("GITHUB_STEP_SUMMARY", host(&summary_file)),
            ("GITHUB_ENV", host(&env_file)),
            ("GITHUB_PATH", host(&path_file)),
            ("GITHUB_STATE", host(&state_file)),
            ("RUNNER_OS", "Linux".into()),
            ("RUNNER_ARCH", "X64".into()),
            ("RUNNER_NAME", "GitHub Actions 1".into()),
            ("RUNNER_ENVIRONMENT", "github-hosted".into()),
            ("RUNNER_TEMP", host(&temp)),
            ("RUNNER_TOOL_CACHE", host(&tool_cache)),
            ("RUNNER_WORKSPACE", host(&work.join("charon"))),
            (
                "ACTIONS_RUNTIME_URL",
                "https://pipelines.actions.githubusercontent.com/x/".into(),
            ),
            (
                "ACTIONS_RUNTIME_TOKEN",
                "actions-runtime-token-never-printed".into(),
            ),
            (
                "ACTIONS_CACHE_URL",
                "https://artifactcache.actions.githubusercontent.com/x/".into(),
            ),
            (
                "ACTIONS_RESULTS_URL",
                "https://results-receiver.actions.githubusercontent.com/".into(),
            ),
        ] {
            // a test's own value (an API URL of ours) wins, as a workflow's `env:` cannot, but
            // the test servers need it
            env.entry(k.to_string()).or_insert(v);
        }

        // ContainerInfo: the runner's proxy first, then every variable, translated
        let mapping: [(&Path, &str); 5] = [
            (&workspace, "/github/workspace"),
            (&commands, "/github/file_commands"),
            (&workflow, "/github/workflow"),
            (&home, "/github/home"),
            (&temp, "/github/runner_temp"),
        ];
        let translate = |v: &str| -> String {
            for (h, c) in &mapping {
                let h = host(h);
                if v == h {
                    return c.to_string();
                }
                if let Some(rest) = v.strip_prefix(&format!("{h}/")) {
                    return format!("{c}/{rest}");
                }
            }
            v.to_string()
        };
        let mut container_env: BTreeMap<String, String> = self.proxy.iter().cloned().collect();
        for (k, v) in &env {
            container_env.insert(k.clone(), translate(v));
        }

        let image = action_image();
        let socket = s.docker_host.trim_start_matches("unix://").to_string();
        let mut args: Vec<String> = vec![
            "run".into(),
            "--name".into(),
            format!(
                "{}_{:06x}",
                sanitize(&image),
                rand::random::<u32>() & 0xff_ffff
            ),
            "--label".into(),
            INSTANCE_LABEL.into(),
            "--workdir".into(),
            "/github/workspace".into(),
            "--rm".into(),
        ];
        for k in container_env.keys() {
            args.push("-e".into());
            args.push(k.clone());
        }
        args.extend(["-e", "GITHUB_ACTIONS=true", "-e", "CI=true"].map(String::from));
        args.extend(["--network".into(), self.network.clone()]);
        for (from, to) in [
            (socket.as_str(), "/var/run/docker.sock"),
            (&host(&temp), "/github/runner_temp"),
            (&host(&home), "/github/home"),
            (&host(&workflow), "/github/workflow"),
            (&host(&commands), "/github/file_commands"),
            (&host(&workspace), "/github/workspace"),
        ] {
            args.push("-v".into());
            args.push(format!("{from}:{to}"));
        }
        args.push(image);

        // the values travel in the docker CLI's environment, as the runner passes them
        let out = Command::new(&s.cli)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&container_env)
            .arg("-H")
            .arg(&s.docker_host)
            .args(&args)
            .output()
            .expect("docker CLI");
        let output_text = std::fs::read_to_string(&output_file).unwrap_or_default();
        let outputs = parse_file_command(&output_text)
            .unwrap_or_else(|e| panic!("the runner would reject GITHUB_OUTPUT: {e}\n{output_text}"))
            .into_iter()
            .collect();
        StepOutcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into(),
            stderr: String::from_utf8_lossy(&out.stderr).into(),
            outputs,
            output_file: output_text,
            summary: std::fs::read_to_string(&summary_file).unwrap_or_default(),
            command: args,
            root,
        }
    }
}

/// A job network with a registry service under the alias `registry`, serving TLS (a private CA,
/// for `SSL_CERT_FILE`) from the stack registry's own storage, read-only: what the test pushes to
/// the stack registry on loopback, the action finds at `registry:5000`.
pub fn job_with_registry() -> (JobNetwork, Tls) {
    let net = JobNetwork::create();
    let tls = Tls::for_name("registry");
    let storage = PathBuf::from(std::env::var("IR_STACK_DIR").expect(
        "IR_STACK_DIR is not set: the integration tests need the real stack; run them through scripts/test.sh",
    ))
    .join("reg-open");
    std::fs::create_dir_all(&storage).unwrap();
    let id = net.service(
        "registry",
        &registry_image(),
        &[
            (tls.dir.path(), "/certs:ro"),
            (&storage, "/var/lib/registry:ro"),
        ],
    );
    let url = format!("https://{}:5000/v2/", net.address_of(&id));
    for _ in 0..100 {
        let up = Command::new("curl")
            .args(["-sf", "-o", "/dev/null", "--cacert"])
            .arg(tls.ca())
            .args([
                "--resolve",
                &format!("registry:5000:{}", net.address_of(&id)),
            ])
            .arg("https://registry:5000/v2/")
            .status()
            .is_ok_and(|s| s.success());
        if up {
            return (net, tls);
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the registry service did not answer at {url}");
}

/// A job network with a plain-HTTP registry service under the alias `registry` (the registry
/// image's config replaced by one without TLS), on the stack registry's storage, read-only: the
/// `services:` registry an e2e job runs next to its cluster, which only `insecure-registries`
/// names.
pub fn job_with_plain_registry() -> JobNetwork {
    let net = JobNetwork::create();
    let storage = PathBuf::from(std::env::var("IR_STACK_DIR").expect(
        "IR_STACK_DIR is not set: the integration tests need the real stack; run them through scripts/test.sh",
    ))
    .join("reg-open");
    std::fs::create_dir_all(&storage).unwrap();
    let conf = tempfile::tempdir().unwrap();
    let config = "version: 0.1\nlog: { level: warn }\nstorage:\n  filesystem: { rootdirectory: /var/lib/registry }\n  maintenance:\n    uploadpurging: { enabled: false }\n    readonly: { enabled: true }\nhttp:\n  addr: 0.0.0.0:5000\n";
    std::fs::write(conf.path().join("config.yml"), config).unwrap();
    let id = net.service(
        "registry",
        &registry_image(),
        &[
            (conf.path(), "/etc/registry:ro"),
            (&storage, "/var/lib/registry:ro"),
        ],
    );
    // the config is read at start; the directory may go once the registry answers
    let address = net.address_of(&id);
    for _ in 0..100 {
        let up = Command::new("curl")
            .args(["-sf", "-o", "/dev/null"])
            .arg(format!("http://{address}:5000/v2/"))
            .status()
            .is_ok_and(|s| s.success());
        if up {
            return net;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the plain-HTTP registry service did not answer at http://{address}:5000/v2/");
}
