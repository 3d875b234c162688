//! A registry of ours that misbehaves on one part of a resolve (the token, the manifest or the
//! config): it lies about digests, drips one byte every 5 s, or never ends. And a way to run the
//! binary under an address-space cap, reporting its peak RSS and wall time.

use super::{parse_outputs, Outcome, Run};
use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Token,
    Manifest,
    Config,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Content that does not hash to the digest it is served as.
    Lie,
    /// One byte every 5 s.
    Drip,
    /// A body that never ends.
    Endless,
}

pub const TOKEN: &str = "hostile-token-1";

fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

pub struct HostileRegistry {
    pub host: String,
}

impl HostileRegistry {
    pub fn start(part: Part, how: Misbehaviour) -> HostileRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let h = host.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let h = h.clone();
                std::thread::spawn(move || serve(s, &h, part, how));
            }
        });
        HostileRegistry { host }
    }
}

fn config() -> Vec<u8> {
    br#"{"architecture":"amd64","os":"linux","config":{"Labels":{"org.opencontainers.image.revision":"x"}},"rootfs":{"type":"layers","diff_ids":[]}}"#.to_vec()
}

fn manifest() -> Vec<u8> {
    let c = config();
    serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&c), "size": c.len()},
        "layers": []})
    .to_string()
    .into_bytes()
}

fn serve(mut s: TcpStream, host: &str, part: Part, how: Misbehaviour) {
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let path = line.split_whitespace().nth(1).unwrap_or("").to_string();
    let mut auth = String::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("authorization") {
                auth = v.trim().to_string();
            }
        }
    }
    let reply = |s: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]| {
        let mut head = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
        for (k, v) in headers {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
        let _ = s.write_all(head.as_bytes());
        let _ = s.write_all(body);
    };
    let misbehave = |s: &mut TcpStream, body: &[u8], digest: Option<String>| {
        let mut head = String::from("HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/vnd.oci.image.manifest.v1+json\r\n");
        match how {
            Misbehaviour::Lie => {
                let mut lie = body.to_vec();
                lie.push(b' ');
                if let Some(d) = digest {
                    head.push_str(&format!("docker-content-digest: {d}\r\n"));
                }
                head.push_str(&format!("content-length: {}\r\n\r\n", lie.len()));
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&lie);
            }
            Misbehaviour::Drip => {
                head.push_str("\r\n");
                let _ = s.write_all(head.as_bytes());
                for b in body.iter().cycle().take(60) {
                    if s.write_all(&[*b]).is_err() {
                        return;
                    }
                    std::thread::sleep(Duration::from_secs(5));
                }
            }
            Misbehaviour::Endless => {
                head.push_str("\r\n");
                let _ = s.write_all(head.as_bytes());
                let block = vec![b'a'; 64 << 10];
                let _ = s.write_all(b"{\"a\":\"");
                while s.write_all(&block).is_ok() {}
            }
        }
    };
    if path.starts_with("/token") {
        if part == Part::Token {
            return misbehave(&mut s, br#"{"token":"x"}"#, None);
        }
        return reply(
            &mut s,
            "200 OK",
            &[("content-type", "application/json".into())],
            format!(r#"{{"token":"{TOKEN}"}}"#).as_bytes(),
        );
    }
    if auth != format!("Bearer {TOKEN}") {
        let challenge = format!(
            "Bearer realm=\"http://{host}/token\",service=\"hostile\",scope=\"repository:hostile:pull\""
        );
        return reply(
            &mut s,
            "401 Unauthorized",
            &[("www-authenticate", challenge)],
            br#"{"errors":[{"code":"UNAUTHORIZED","message":"auth"}]}"#,
        );
    }
    if path.contains("/manifests/") {
        let m = manifest();
        if part == Part::Manifest {
            return misbehave(&mut s, &m, Some(sha256(&m)));
        }
        return reply(
            &mut s,
            "200 OK",
            &[
                (
                    "content-type",
                    "application/vnd.oci.image.manifest.v1+json".into(),
                ),
                ("docker-content-digest", sha256(&m)),
            ],
            &m,
        );
    }
    if path.contains("/blobs/") {
        if part == Part::Config {
            return misbehave(&mut s, &config(), None);
        }
        return reply(&mut s, "200 OK", &[], &config());
    }
    reply(&mut s, "404 Not Found", &[], b"{}");
}

/// What a capped run measured.
pub struct Measured {
    pub outcome: Outcome,
    pub peak_rss_kib: i64,
    pub wall: Duration,
    /// The signal that ended the process, if one did (an allocation failure aborts: SIGABRT).
    pub signal: Option<i32>,
}

/// Runs the binary as `run` would, under an address-space cap of `cap` bytes, reaping it with
/// `wait4` so that its own peak RSS is known (not the largest of all this test's children).
pub fn run_capped(run: &Run, cap: u64) -> Measured {
    let s = super::stack();
    let dir = run.dir();
    let (event_path, output, summary) = (
        dir.join("event.json"),
        dir.join("output"),
        dir.join("summary"),
    );
    std::fs::write(&output, "").unwrap();
    std::fs::write(&summary, "").unwrap();
    let mut cmd = Command::new(super::bin());
    cmd.env_clear()
        .env("GITHUB_EVENT_NAME", &run.event_name)
        .env("GITHUB_OUTPUT", &output)
        .env("GITHUB_STEP_SUMMARY", &summary)
        .env("GITHUB_REPOSITORY", "acme/charon")
        .env("GITHUB_ACTOR", "octocat")
        .env("GITHUB_API_URL", "http://127.0.0.1:9/unused")
        .env("DOCKER_HOST", &s.docker_host);
    if let Some(ev) = &run.event {
        std::fs::write(&event_path, serde_json::to_vec(ev).unwrap()).unwrap();
        cmd.env("GITHUB_EVENT_PATH", &event_path);
    }
    for (k, v) in &run.env {
        cmd.env(k, v);
    }
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
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
    let start = Instant::now();
    // reaped below by wait4, which also reports this child's own rusage
    #[allow(clippy::zombie_processes)]
    let mut child = cmd.spawn().expect("run image-resolver");
    let (mut out, mut err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let t_out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    assert_eq!(r, pid, "wait4");
    let wall = start.elapsed();
    let (code, signal) = if libc::WIFEXITED(status) {
        (libc::WEXITSTATUS(status), None)
    } else {
        (-1, Some(libc::WTERMSIG(status)))
    };
    let output_file = std::fs::read_to_string(&output).unwrap_or_default();
    Measured {
        outcome: Outcome {
            code,
            stdout: t_out.join().unwrap(),
            stderr: t_err.join().unwrap(),
            outputs: parse_outputs(&output_file),
            output_file,
            summary: std::fs::read_to_string(&summary).unwrap_or_default(),
            peak_rss_kib: usage.ru_maxrss,
            wall,
        },
        peak_rss_kib: usage.ru_maxrss,
        wall,
        signal,
    }
}
