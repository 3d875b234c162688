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
    /// Serve manifests with a byte added, keeping the registry's digest header.
    AlterManifest,
    /// Flip bytes in every layer blob (configs pass).
    CorruptLayers,
    /// Answer manifests with a 400 whose message tries to inject workflow commands.
    HostileError,
    None,
}

pub struct Proxy {
    pub server: Server,
    pub fault: Arc<Mutex<Fault>>,
}

/// One request to the registry over plain HTTP/1.1, read whole.
fn forward(upstream: &str, r: &Request) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut s = TcpStream::connect(upstream).expect("registry reachable");
    let mut req = format!(
        "{} {} HTTP/1.1\r\nhost: {upstream}\r\nconnection: close\r\n",
        r.method, r.path
    );
    for h in ["accept", "authorization", "user-agent"] {
        if let Some(v) = r.headers.get(h) {
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
            drop(fault);
            let (status, headers, mut body) = forward(&upstream, r);
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
            if r.method == "HEAD" {
                return Reply {
                    status,
                    headers: keep,
                    body: Body::Head(upstream_len),
                };
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
            Reply {
                status,
                headers: keep,
                body: Body::Bytes(body),
            }
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
