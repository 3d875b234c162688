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

/// The request line's method and path, and its `Authorization` value (empty when none); `None`
/// when the client closed before sending anything.
fn request_head(s: &TcpStream) -> Option<(String, String, String)> {
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
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
    Some((method, path, auth))
}

/// One whole answer, then the connection closes; a HEAD's answer has the length but no body.
fn respond(
    s: &mut TcpStream,
    status: &str,
    headers: &[(&str, String)],
    body: &[u8],
    with_body: bool,
) {
    let mut head = format!("HTTP/1.1 {status}\r\nconnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str(&format!("content-length: {}\r\n\r\n", body.len()));
    let _ = s.write_all(head.as_bytes());
    if with_body {
        let _ = s.write_all(body);
    }
}

fn serve(mut s: TcpStream, host: &str, part: Part, how: Misbehaviour) {
    let Some((_, path, auth)) = request_head(&s) else {
        return;
    };
    let reply = |s: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]| {
        respond(s, status, headers, body, true)
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

/// What a forged source registry does wrong (issue 20): it serves a well-formed image under any
/// tag of `/v2/src/`, except for the one thing it forges.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Forgery {
    /// The tag is an index: an amd64 child whose "digest" is this text (for a pinned verify).
    AmdChild(String),
    /// The tag is an index: a valid amd64 child, and an arm64 child whose "digest" is this text.
    ArmChild(String),
    /// The layer blob arrives this many bytes longer (positive) or shorter than its descriptor,
    /// without a `Content-Length` (the body ends when the connection closes).
    LayerOff(i64),
    /// Basic auth, and every manifest answers 400 with an error quoting our `Authorization`.
    EchoAuthorization,
}

/// A source registry of ours (no auth unless it echoes it): an image whose config carries
/// `revision`, one layer, and the forgery.
pub struct ForgedSource {
    pub host: String,
    /// Layer blob GETs served.
    pub layer_gets: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The digest of the index (or manifest) its tags serve.
    pub top_digest: String,
}

pub struct Forged {
    config: Vec<u8>,
    layer: Vec<u8>,
    manifest: Vec<u8>,
    index: Option<Vec<u8>>,
}

impl Forged {
    fn new(revision: &str, forgery: &Forgery) -> Forged {
        let config = serde_json::json!({"architecture": "amd64", "os": "linux",
            "config": {"Labels": {"org.opencontainers.image.revision": revision}},
            "rootfs": {"type": "layers", "diff_ids": []}})
        .to_string()
        .into_bytes();
        let layer: Vec<u8> = (0..50_000u32).map(|i| (i * 7 % 251) as u8).collect();
        let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(&config), "size": config.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(&layer), "size": layer.len()}]})
        .to_string()
        .into_bytes();
        let child = |digest: &str, arch: &str| {
            serde_json::json!({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest,
                "size": manifest.len(), "platform": {"os": "linux", "architecture": arch}})
        };
        let index = match forgery {
            Forgery::AmdChild(d) => Some(vec![child(d, "amd64")]),
            Forgery::ArmChild(d) => Some(vec![child(&sha256(&manifest), "amd64"), child(d, "arm64")]),
            _ => None,
        }
        .map(|children| {
            serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                "manifests": children})
            .to_string()
            .into_bytes()
        });
        Forged {
            config,
            layer,
            manifest,
            index,
        }
    }
}

pub const FORGED_USER: &str = "robot$ci+deployer";
pub const FORGED_PASSWORD: &str = "forged-Pa55word-echoed";

impl ForgedSource {
    pub fn start(revision: &str, forgery: Forgery) -> ForgedSource {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let forged = std::sync::Arc::new(Forged::new(revision, &forgery));
        let top_digest = sha256(forged.index.as_ref().unwrap_or(&forged.manifest));
        let layer_gets = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let hits = layer_gets.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let (f, g, hits) = (forged.clone(), forgery.clone(), hits.clone());
                std::thread::spawn(move || forged_serve(s, &f, &g, &hits));
            }
        });
        ForgedSource {
            host,
            layer_gets,
            top_digest,
        }
    }
}

fn forged_serve(
    mut s: TcpStream,
    f: &Forged,
    forgery: &Forgery,
    hits: &std::sync::atomic::AtomicUsize,
) {
    let Some((method, path, auth)) = request_head(&s) else {
        return;
    };
    let reply = |s: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]| {
        respond(s, status, headers, body, method != "HEAD")
    };
    if *forgery == Forgery::EchoAuthorization {
        if auth.is_empty() {
            return reply(
                &mut s,
                "401 Unauthorized",
                &[("www-authenticate", "Basic realm=\"forged\"".into())],
                br#"{"errors":[{"code":"UNAUTHORIZED","message":"auth"}]}"#,
            );
        }
        // the header, the credentials it encodes, and the encoded form alone
        let encoded = auth.trim_start_matches("Basic ").to_string();
        let message = format!(
            "malformed request: Authorization: {auth} (decoded {FORGED_USER}:{FORGED_PASSWORD}; token {encoded})"
        );
        let body =
            serde_json::json!({"errors": [{"code": "MANIFEST_INVALID", "message": message}]});
        return reply(
            &mut s,
            "400 Bad Request",
            &[("content-type", "application/json".into())],
            body.to_string().as_bytes(),
        );
    }
    let Some(rest) = path.strip_prefix("/v2/src/") else {
        return reply(&mut s, "404 Not Found", &[], b"{}");
    };
    if let Some(reference) = rest.strip_prefix("manifests/") {
        let (body, media) = if reference == sha256(&f.manifest) {
            (&f.manifest, "application/vnd.oci.image.manifest.v1+json")
        } else if reference.starts_with("sha256:")
            && Some(reference.to_string()) != f.index.as_ref().map(|i| sha256(i))
        {
            return reply(
                &mut s,
                "404 Not Found",
                &[],
                br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"unknown"}]}"#,
            );
        } else if let Some(index) = &f.index {
            (index, "application/vnd.oci.image.index.v1+json")
        } else {
            (&f.manifest, "application/vnd.oci.image.manifest.v1+json")
        };
        return reply(
            &mut s,
            "200 OK",
            &[
                ("content-type", media.into()),
                ("docker-content-digest", sha256(body)),
            ],
            body,
        );
    }
    if let Some(digest) = rest.strip_prefix("blobs/") {
        if digest == sha256(&f.config) {
            return reply(&mut s, "200 OK", &[], &f.config);
        }
        if digest == sha256(&f.layer) {
            hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let off = match forgery {
                Forgery::LayerOff(n) => *n,
                _ => 0,
            };
            let mut body = f.layer.clone();
            if off >= 0 {
                body.extend(std::iter::repeat_n(0u8, off as usize));
            } else {
                body.truncate(body.len() - off.unsigned_abs() as usize);
            }
            if off == 0 {
                return reply(&mut s, "200 OK", &[], &body);
            }
            // no length: the body ends when we close
            let head = "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/octet-stream\r\n\r\n";
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
            let _ = s.shutdown(std::net::Shutdown::Both);
            return;
        }
    }
    reply(
        &mut s,
        "404 Not Found",
        &[],
        br#"{"errors":[{"code":"BLOB_UNKNOWN","message":"unknown"}]}"#,
    );
}

/// A GitHub API of ours whose answers are as large as allowed and made of what costs a parser
/// most: pages of tiny objects, and attestation lists of many `bundle_url`s that each inflate
/// to just under the bundle limit.
pub struct HugeApi {
    pub url: String,
    /// `bundle_url` downloads served.
    pub bundle_gets: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Huge {
    /// Every answer: an array of `{}` just under 16 MiB.
    TinyObjects,
    /// The attestations of any digest: `count` entries with a `bundle_url`, each serving
    /// snappy-compressed JSON that inflates to just under 16 MiB.
    Bundles { count: usize },
}

impl HugeApi {
    pub fn start(how: Huge) -> HugeApi {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().unwrap();
        let url = format!("http://{addr}/api/v3");
        let page: std::sync::Arc<Vec<u8>> = std::sync::Arc::new(match how {
            Huge::TinyObjects => {
                let mut v = b"[".to_vec();
                while v.len() < (16 << 20) - 16 {
                    v.extend_from_slice(b"{},");
                }
                v.extend_from_slice(b"{}]");
                v
            }
            Huge::Bundles { count } => {
                let entries: Vec<serde_json::Value> = (0..count)
                    .map(|i| {
                        serde_json::json!({"repository_id": 1, "bundle": null,
                        "bundle_url": format!("http://{addr}/bundles/{i}.json.sn?sig=signed")})
                    })
                    .collect();
                serde_json::json!({"attestations": entries})
                    .to_string()
                    .into_bytes()
            }
        });
        // inflates to just under 16 MiB: a bundle-shaped object with a long padding string
        // (what is held is the point here; trees of tiny objects are the pages' case, and a
        // bundle's are cut out before the library parses it, see `provenance::trimmed`)
        let bundle: std::sync::Arc<Vec<u8>> = std::sync::Arc::new({
            let mut v =
                br#"{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","padding":""#
                    .to_vec();
            v.resize((16 << 20) - 64, b'a');
            v.extend_from_slice(b"\"}");
            snap::raw::Encoder::new().compress_vec(&v).unwrap()
        });
        let bundle_gets = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let hits = bundle_gets.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let (page, bundle, hits) = (page.clone(), bundle.clone(), hits.clone());
                std::thread::spawn(move || huge_serve(s, &page, &bundle, &hits));
            }
        });
        HugeApi { url, bundle_gets }
    }
}

fn huge_serve(mut s: TcpStream, page: &[u8], bundle: &[u8], hits: &std::sync::atomic::AtomicUsize) {
    let mut reader = BufReader::new(s.try_clone().unwrap());
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
    }
    let path = line.split_whitespace().nth(1).unwrap_or("");
    let body = if path.starts_with("/bundles/") {
        hits.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        bundle
    } else {
        page
    };
    let head = format!(
        "HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let _ = s.write_all(head.as_bytes());
    let _ = s.write_all(body);
}
