//! A counting forward proxy, as `HTTP_PROXY` / `HTTPS_PROXY` name one: plain-HTTP requests in
//! absolute form (`GET http://host/path`) are forwarded and recorded with their headers, `CONNECT`
//! tunnels are recorded by target. It forwards only to the addresses a test allows.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone)]
pub struct Seen {
    /// `GET`, `CONNECT`, …
    pub method: String,
    /// `host:port` the request was for.
    pub target: String,
    /// The path (empty for `CONNECT`).
    pub path: String,
    pub headers: Vec<(String, String)>,
}

pub struct ForwardProxy {
    /// `http://ip:port`, for the proxy variables.
    pub url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
    /// Names the proxy resolves itself (a job's service, as a proxy inside the job would).
    hosts: Arc<Mutex<HashMap<String, String>>>,
}

impl ForwardProxy {
    /// Listens on `ip`; forwards only to hosts whose address starts with `allowed_ip`.
    pub fn start(ip: &str, allowed_ip: &str) -> ForwardProxy {
        let listener = TcpListener::bind((ip, 0)).expect("bind the proxy");
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let hosts: Arc<Mutex<HashMap<String, String>>> = Arc::default();
        let (s, h, allowed) = (seen.clone(), hosts.clone(), allowed_ip.to_string());
        std::thread::spawn(move || {
            for c in listener.incoming().flatten() {
                let (s, h, allowed) = (s.clone(), h.clone(), allowed.clone());
                std::thread::spawn(move || {
                    let hosts = h.lock().unwrap().clone();
                    serve(c, &s, &hosts, &allowed)
                });
            }
        });
        ForwardProxy { url, seen, hosts }
    }

    /// Resolves `name` to `ip` for the requests it forwards.
    pub fn resolve(&self, name: &str, ip: &str) {
        self.hosts
            .lock()
            .unwrap()
            .insert(name.to_string(), ip.to_string());
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// Requests for `target` (`host:port`).
    pub fn count(&self, target: &str) -> usize {
        self.seen().iter().filter(|r| r.target == target).count()
    }
}

fn refuse(mut client: TcpStream, status: &str) {
    let _ = write!(
        client,
        "HTTP/1.1 {status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"
    );
}

fn serve(
    client: TcpStream,
    seen: &Mutex<Vec<Seen>>,
    hosts: &HashMap<String, String>,
    allowed: &str,
) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let uri = parts.next().unwrap_or("").to_string();
    let mut headers = Vec::new();
    let mut length = 0u64;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            let (k, v) = (k.trim().to_ascii_lowercase(), v.trim().to_string());
            if k == "content-length" {
                length = v.parse().unwrap_or(0);
            }
            headers.push((k, v));
        }
    }
    let (target, path) = if method == "CONNECT" {
        (uri.clone(), String::new())
    } else {
        let rest = uri.strip_prefix("http://").unwrap_or("");
        match rest.find('/') {
            Some(i) => (rest[..i].to_string(), rest[i..].to_string()),
            None => (rest.to_string(), "/".to_string()),
        }
    };
    seen.lock().unwrap().push(Seen {
        method: method.clone(),
        target: target.clone(),
        path: path.clone(),
        headers: headers.clone(),
    });
    let address = match target.rsplit_once(':') {
        Some((host, port)) if hosts.contains_key(host) => format!("{}:{port}", hosts[host]),
        _ => target.clone(),
    };
    if address.is_empty() || !address.starts_with(allowed) {
        return refuse(client, "403 Forbidden");
    }
    let Ok(upstream) = TcpStream::connect(&address) else {
        return refuse(client, "502 Bad Gateway");
    };
    let mut client_w = client;
    if method == "CONNECT" {
        let _ = client_w.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
        let mut up_r = upstream.try_clone().unwrap();
        let mut up_w = upstream;
        let pump = std::thread::spawn(move || {
            let _ = std::io::copy(&mut reader, &mut up_w);
            let _ = up_w.shutdown(std::net::Shutdown::Write);
        });
        let _ = std::io::copy(&mut up_r, &mut client_w);
        let _ = client_w.shutdown(std::net::Shutdown::Both);
        let _ = pump.join();
        return;
    }
    // origin form upstream, one request per connection
    let mut head = format!("{method} {path} HTTP/1.1\r\n");
    for (k, v) in &headers {
        if !matches!(
            k.as_str(),
            "connection" | "proxy-connection" | "proxy-authorization"
        ) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    head.push_str("connection: close\r\n\r\n");
    let mut up_w = upstream.try_clone().unwrap();
    if up_w.write_all(head.as_bytes()).is_err() {
        return refuse(client_w, "502 Bad Gateway");
    }
    let _ = std::io::copy(&mut reader.take(length), &mut up_w);
    let mut up_r = upstream;
    let _ = std::io::copy(&mut up_r, &mut client_w);
    let _ = client_w.shutdown(std::net::Shutdown::Both);
}
