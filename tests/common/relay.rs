//! A relay in front of a real registry that forwards requests with their bodies (uploads too),
//! records each one with the status it got, and can decline mounts or deny pushes.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Forward,
    /// Cross-repository mounts name a repository that does not exist: the registry declines
    /// them with 202 and an upload session, as it does for a source the token cannot read.
    DeclineMounts,
    /// Every write answers 403 DENIED, as a read-only token gets.
    DenyPush,
    /// A `HEAD` of any manifest answers 200 with `Relay::claim` as its digest (issue 20, rule 6).
    LyingHead,
    /// Request bodies reach the registry at this many bytes a second: a throttled uplink.
    SlowUpload(usize),
    /// Every request whose path holds this answers 502, as a failing proxy does.
    BadGateway(&'static str),
    /// `DELETE` answers 405 UNSUPPORTED, as distribution does without `delete: enabled`.
    NoDelete,
}

#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub status: u16,
}

pub struct Relay {
    pub host: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    pub mode: Arc<Mutex<Mode>>,
    /// The digest a `LyingHead` relay claims every manifest has.
    pub claim: Arc<Mutex<String>>,
}

impl Relay {
    pub fn start(upstream: &str, mode: Mode) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let mode = Arc::new(Mutex::new(mode));
        let claim: Arc<Mutex<String>> = Arc::default();
        let (s, m, up, cl) = (
            seen.clone(),
            mode.clone(),
            upstream.to_string(),
            claim.clone(),
        );
        std::thread::spawn(move || {
            for c in listener.incoming().flatten() {
                let (s, m, up, cl) = (s.clone(), m.clone(), up.clone(), cl.clone());
                std::thread::spawn(move || {
                    let claim = cl.lock().unwrap().clone();
                    relay(c, &up, &s, *m.lock().unwrap(), &claim)
                });
            }
        });
        Relay {
            host,
            seen,
            mode,
            claim,
        }
    }

    pub fn set(&self, m: Mode) {
        *self.mode.lock().unwrap() = m;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }

    /// Requests of `method` whose path contains `part`.
    pub fn count(&self, method: &str, part: &str) -> usize {
        self.seen()
            .iter()
            .filter(|r| r.method == method && r.path.contains(part))
            .count()
    }
}

fn relay(client: TcpStream, upstream: &str, seen: &Mutex<Vec<Seen>>, mode: Mode, claim: &str) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut client_w = client;
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let mut path = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        let (k, v) = h.split_once(':').unwrap_or((&h, ""));
        let k = k.trim().to_ascii_lowercase();
        if k == "content-length" {
            length = v.trim().parse().unwrap_or(0);
        }
        if k != "connection" {
            headers.push(h.trim_end().to_string());
        }
    }
    let write = matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE");
    if mode == Mode::DenyPush && write {
        let mut sink = vec![0u8; length.min(1 << 20)];
        let _ = reader.read_exact(&mut sink);
        let body = r#"{"errors":[{"code":"DENIED","message":"requested access to the resource is denied"}]}"#;
        let _ = write!(client_w, "HTTP/1.1 403 Forbidden\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len());
        seen.lock().unwrap().push(Seen {
            method,
            path,
            status: 403,
        });
        return;
    }
    if mode == Mode::NoDelete && method == "DELETE" {
        let body =
            r#"{"errors":[{"code":"UNSUPPORTED","message":"The operation is unsupported."}]}"#;
        let _ = write!(client_w, "HTTP/1.1 405 Method Not Allowed\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{body}", body.len());
        seen.lock().unwrap().push(Seen {
            method,
            path,
            status: 405,
        });
        return;
    }
    if let Mode::BadGateway(part) = mode {
        if path.contains(part) {
            let _ = write!(
                client_w,
                "HTTP/1.1 502 Bad Gateway\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
            );
            seen.lock().unwrap().push(Seen {
                method,
                path,
                status: 502,
            });
            return;
        }
    }
    if mode == Mode::LyingHead && method == "HEAD" && path.contains("/manifests/") {
        let _ = write!(client_w, "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/vnd.oci.image.manifest.v1+json\r\ndocker-content-digest: {claim}\r\ncontent-length: 500\r\n\r\n");
        seen.lock().unwrap().push(Seen {
            method,
            path,
            status: 200,
        });
        return;
    }
    if mode == Mode::DeclineMounts && method == "POST" && path.contains("mount=") {
        if let Some(i) = path.find("from=") {
            let end = path[i..].find('&').map_or(path.len(), |e| i + e);
            path.replace_range(i..end, "from=nobody%2Fnothing");
        }
    }
    let mut up = TcpStream::connect(upstream).expect("registry reachable");
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for h in &headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    head.push_str("connection: close\r\n\r\n");
    up.write_all(head.as_bytes()).unwrap();
    let mut up_w = up.try_clone().unwrap();
    // the request body, if any, streams on while the answer comes back
    let pump = std::thread::spawn(move || match mode {
        Mode::SlowUpload(rate) => {
            // paced: no faster than `rate` from the start, however fast the rest is
            let mut body = reader.take(length as u64);
            let mut buf = vec![0u8; (rate / 10).max(1)];
            let (start, mut moved) = (std::time::Instant::now(), 0usize);
            loop {
                let n = match body.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => n,
                };
                if up_w.write_all(&buf[..n]).is_err() {
                    break;
                }
                moved += n;
                let due = std::time::Duration::from_secs_f64(moved as f64 / rate as f64);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
        }
        _ => {
            let _ = std::io::copy(&mut reader.take(length as u64), &mut up_w);
        }
    });
    let mut answer = BufReader::new(up);
    let mut status_line = String::new();
    let _ = answer.read_line(&mut status_line);
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    seen.lock().unwrap().push(Seen {
        method,
        path,
        status,
    });
    let _ = client_w.write_all(status_line.as_bytes());
    let _ = std::io::copy(&mut answer, &mut client_w);
    let _ = client_w.shutdown(std::net::Shutdown::Both);
    let _ = pump.join();
}
