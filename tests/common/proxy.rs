//! A registry proxy on loopback that forwards to the real registry and injects faults: 5xx,
//! altered manifests, corrupted layers, hostile error text.

use super::server::{Body, Reply, Request, Server};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Fault {
    /// Answer 503 to the next `n` manifest requests.
    ServerErrors(usize),
    /// Answer 429 with `Retry-After: 1` to the next `n` manifest requests.
    TooManyRequests(usize),
    /// Serve manifests with a byte added, keeping the registry's digest header.
    AlterManifest,
    /// Flip bytes in every layer blob (configs pass).
    CorruptLayers,
    /// Answer manifests with a 400 whose message tries to inject workflow commands.
    HostileError,
    /// Drop `Range` on its way to the registry: every blob answers whole (200), as a registry
    /// or blob store that does not honour ranges does.
    IgnoreRange,
    /// Cut the next `n` blob answers (over 1 KiB) after half their body.
    CutBlobs(usize),
    /// Both: whole answers, the next `n` of them cut.
    IgnoreRangeAndCut(usize),
    None,
}

pub struct Proxy {
    pub server: Server,
    pub fault: Arc<Mutex<Fault>>,
}

/// The upstream's answer as ours: its headers but the framing ones, HEAD's length kept.
fn relay(r: &Request, status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Reply {
    let upstream_len = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let keep: Vec<(String, String)> = headers
        .into_iter()
        .filter(|(k, _)| {
            !matches!(
                k.as_str(),
                "content-length" | "connection" | "transfer-encoding"
            )
        })
        .collect();
    let body = if r.method == "HEAD" {
        Body::Head(upstream_len)
    } else {
        Body::Bytes(body)
    };
    Reply {
        status,
        headers: keep,
        body,
    }
}

/// One request to the registry over plain HTTP/1.1, read whole.
fn forward(upstream: &str, r: &Request) -> (u16, Vec<(String, String)>, Vec<u8>) {
    forward_with(
        upstream,
        r,
        &["accept", "authorization", "user-agent", "range"],
    )
}

fn forward_with(
    upstream: &str,
    r: &Request,
    pass: &[&str],
) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(upstream).expect("registry reachable");
    let mut req = format!(
        "{} {} HTTP/1.1\r\nhost: {upstream}\r\nconnection: close\r\n",
        r.method, r.path
    );
    for h in pass {
        if let Some(v) = r.headers.get(*h) {
            req.push_str(&format!("{h}: {v}\r\n"));
        }
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let body = raw[split + 4..].to_vec();
    let mut lines = head.lines();
    let status: u16 = lines
        .next()
        .unwrap()
        .split_whitespace()
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, body)
}

impl Proxy {
    pub fn start(upstream: &str) -> Proxy {
        let fault = Arc::new(Mutex::new(Fault::None));
        let f = fault.clone();
        let upstream = upstream.to_string();
        let server = Server::start("127.0.0.1", move |r: &Request| {
            let is_manifest = r.path.contains("/manifests/");
            let mut fault = f.lock().unwrap();
            if is_manifest {
                match *fault {
                    Fault::ServerErrors(n) if n > 0 => {
                        *fault = Fault::ServerErrors(n - 1);
                        return Reply::json(
                            503,
                            serde_json::json!({"errors": [{"code": "UNAVAILABLE", "message": "try later"}]}),
                        );
                    }
                    Fault::TooManyRequests(n) if n > 0 => {
                        *fault = Fault::TooManyRequests(n - 1);
                        return Reply::json(429, serde_json::json!({"errors": [{"code": "TOOMANYREQUESTS", "message": "slow down"}]}))
                            .header("retry-after", "1");
                    }
                    Fault::HostileError => {
                        return Reply::json(
                            400,
                            serde_json::json!({"errors": [{"code": "MANIFEST_INVALID",
                            "message": "bad\n::set-output name=image::evil\n::add-mask::leak\r\n::error::spoofed"}]}),
                        );
                    }
                    _ => {}
                }
            }
            let current = *fault;
            let is_blob = r.path.contains("/blobs/") && r.method == "GET";
            drop(fault);
            let (status, headers, mut body) = match current {
                Fault::IgnoreRange | Fault::IgnoreRangeAndCut(_) => {
                    forward_with(&upstream, r, &["accept", "authorization", "user-agent"])
                }
                _ => forward(&upstream, r),
            };
            // whether this blob answer is cut, counted down once it is
            let cut = is_blob && body.len() > 1024 && {
                let mut fault = f.lock().unwrap();
                match *fault {
                    Fault::CutBlobs(n) if n > 0 => {
                        *fault = Fault::CutBlobs(n - 1);
                        true
                    }
                    Fault::IgnoreRangeAndCut(n) if n > 0 => {
                        *fault = Fault::IgnoreRangeAndCut(n - 1);
                        true
                    }
                    _ => false,
                }
            };
            if cut {
                let mut reply = relay(r, status, headers, Vec::new());
                let claim = body.len();
                body.truncate(claim / 2);
                reply.body = Body::Truncated { bytes: body, claim };
                return reply;
            }
            if status == 200 && is_manifest && current == Fault::AlterManifest {
                body.push(b' ');
            }
            // layers are the large blobs; configs are small JSON
            if status == 200
                && r.path.contains("/blobs/")
                && current == Fault::CorruptLayers
                && body.first() != Some(&b'{')
            {
                for b in body.iter_mut().step_by(97) {
                    *b ^= 0xff;
                }
            }
            relay(r, status, headers, body)
        });
        Proxy { server, fault }
    }

    pub fn set(&self, f: Fault) {
        *self.fault.lock().unwrap() = f;
    }

    /// `127.0.0.1:port`: a loopback registry, reached over plain HTTP.
    pub fn host(&self) -> &str {
        &self.server.host
    }
}

/// A registry with bearer-token auth, the way ghcr.io does it: `/v2/` answers 401 with a
/// `WWW-Authenticate: Bearer realm=…` challenge, the realm trades Basic credentials for a token,
/// and only requests carrying that token reach the (open) registry behind it.
pub struct BearerRegistry {
    pub server: Server,
}

pub const BEARER_TOKEN: &str = "registry-bearer-token-7f3a";

impl BearerRegistry {
    pub fn start(upstream: &str, user: &str, pass: &str) -> BearerRegistry {
        use base64::Engine;
        let upstream = upstream.to_string();
        let basic = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"))
        );
        let server = Server::start("127.0.0.1", move |r: &Request| {
            let host = r.headers.get("host").cloned().unwrap_or_default();
            if r.path.starts_with("/token") {
                return if r.headers.get("authorization") == Some(&basic) {
                    Reply::json(
                        200,
                        serde_json::json!({"token": BEARER_TOKEN, "access_token": BEARER_TOKEN, "expires_in": 300}),
                    )
                } else {
                    Reply::json(
                        401,
                        serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]}),
                    )
                };
            }
            if r.headers.get("authorization").map(String::as_str)
                != Some(&format!("Bearer {BEARER_TOKEN}"))
            {
                let scope = r
                    .path
                    .strip_prefix("/v2/")
                    .and_then(|p| p.split("/manifests/").next().or(p.split("/blobs/").next()))
                    .unwrap_or("");
                let challenge = format!("Bearer realm=\"http://{host}/token\",service=\"test-registry\",scope=\"repository:{scope}:pull\"");
                return Reply::json(401, serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}))
                    .header("www-authenticate", &challenge);
            }
            let (status, headers, body) = forward_with(&upstream, r, &["accept", "user-agent"]);
            relay(r, status, headers, body)
        });
        BearerRegistry { server }
    }
}
