//! A registry of ours that misbehaves on one part of a resolve (the token, the manifest or the
//! config): it lies about digests, drips one byte every 5 s, or never ends. (`Run::cap` runs the
//! binary under an address-space cap and reports its peak RSS and wall time.)

use sha2::{Digest, Sha256};
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

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

/// A GitHub API of ours that answers every request with an endless body, or drips one byte every
/// 5 s: what the API client must survive within its limits.
pub struct HostileApi {
    pub url: String,
}

impl HostileApi {
    pub fn start(how: Misbehaviour) -> HostileApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}/api/v3", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                std::thread::spawn(move || api(s, how));
            }
        });
        HostileApi { url }
    }
}

fn api(mut s: TcpStream, how: Misbehaviour) {
    let mut reader = BufReader::new(s.try_clone().unwrap());
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
    }
    let head = "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/json\r\n\r\n";
    if s.write_all(head.as_bytes()).is_err() {
        return;
    }
    match how {
        Misbehaviour::Drip => {
            for b in b"[{\"number\": 1".iter().cycle().take(60) {
                if s.write_all(&[*b]).is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_secs(5));
            }
        }
        _ => {
            let block = vec![b' '; 64 << 10];
            let _ = s.write_all(b"[");
            while s.write_all(&block).is_ok() {}
        }
    }
}
