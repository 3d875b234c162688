//! Stand-ins for the registries our users run: a small reverse proxy in front of the stack's open
//! registry that answers auth, errors and limits the way each registry's public documentation
//! describes them. These are stand-ins of documented flows, not the services: nothing here was
//! measured against ACR, ECR, GAR, Docker Hub or Harbor themselves.
//!
//! Every request is recorded (method, path, status, the `Authorization` scheme and user), tokens
//! are minted per request and grant only the scopes asked for, so a client that reuses a pull
//! token for a push, or forgets the source repository in a mount, is refused as the real token
//! services refuse it (`401`, `insufficient_scope`).

use super::runner::Tls;
use base64::Engine;
use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

/// How the stand-in authenticates, after one registry's documentation.
#[derive(Clone, Debug)]
pub enum Auth {
    /// Token auth (distribution's token spec): `401` with
    /// `WWW-Authenticate: Bearer realm="<realm>",service="<service>",scope="…"`; the realm trades
    /// `user:password` as Basic for a token, answered in `field` (`token` or `access_token`).
    Bearer {
        /// The realm's path on this stand-in (`/oauth2/token`), or a full URL (Docker Hub's
        /// `https://auth.docker.io/token`, served by this same stand-in over TLS).
        realm: String,
        service: String,
        field: &'static str,
        user: String,
        password: String,
        /// Tokens without credentials for pulls (public repositories), as Docker Hub and
        /// ghcr.io give them; push is never granted to them.
        anonymous_pull: bool,
    },
    /// Plain Basic on every request: `401` with `WWW-Authenticate: Basic realm=…`.
    Basic {
        realm: String,
        user: String,
        password: String,
    },
}

#[derive(Clone, Debug, Default)]
pub struct Quirks {
    /// Repositories that do not exist and are not created on push: every request naming one
    /// answers `404 NAME_UNKNOWN` (ECR).
    pub missing: Vec<String>,
    /// Manifest `GET`s allowed before every further one answers `429 TOOMANYREQUESTS` with
    /// `ratelimit-remaining: 0` (Docker Hub).
    pub pulls: Option<usize>,
    /// Speak the OCI referrers API (`GET /v2/<name>/referrers/<digest>`), as registries with
    /// OCI 1.1 support do: a manifest with a `subject` pushed through the stand-in is indexed
    /// (and its `PUT` answered with `OCI-Subject`).
    pub referrers: Referrers,
    /// A manifest asked for as `sha256-<64 hex>` is served as the digest `sha256:<hex>`, as
    /// GitLab's registry does: the referrers fallback tag then answers with the subject itself.
    pub dash_is_digest: bool,
    /// A manifest `PUT` by digest (a referrer, a child) answers `403 DENIED`; by tag it passes.
    pub deny_digest_puts: bool,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Referrers {
    /// No referrers API: the path goes to the registry behind (distribution 2.8: 404).
    #[default]
    None,
    /// The API, from the manifests with a `subject` pushed through here; `page` entries a page,
    /// the rest behind `Link: …; rel="next"`.
    Api { page: usize },
    /// A hostile API: an index whose one child is `../../../v2/x/manifests/latest`.
    Hostile,
    /// No API, but the route answers `303 See Other` to this base URL plus the path, as ghcr.io
    /// sends it to github.com's (rate-limited) web UI.
    Elsewhere(String),
    /// No API, but the route answers `200` with an empty index whatever was pushed (the false
    /// positive that made sigstore-js check `OCI-Subject` instead).
    EmptyOk,
}

#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub status: u16,
    /// `Basic <user>`, `Bearer <token>` or empty.
    pub auth: String,
    /// `host` header: which name the client asked for (Docker Hub's two hosts share a stand-in).
    pub host: String,
}

struct State {
    auth: Auth,
    quirks: Quirks,
    upstream: String,
    seen: Vec<Seen>,
    /// token → the (repository, action) pairs it grants.
    tokens: HashMap<String, HashSet<(String, String)>>,
    /// The scope sets tokens were asked for, in order.
    token_scopes: Vec<Vec<String>>,
    pulls_left: Option<usize>,
    /// `CONNECT` targets asked of the stand-in as an HTTPS proxy.
    connects: Vec<String>,
    /// Referrers API: (repository, subject digest) → descriptors of the manifests naming it.
    referrers: HashMap<(String, String), Vec<serde_json::Value>>,
}

pub struct StandIn {
    /// `127.0.0.1:port`: the registry's name in image references (plain HTTP, loopback), or,
    /// with TLS, the proxy address for `HTTPS_PROXY`.
    pub host: String,
    state: Arc<Mutex<State>>,
    /// With TLS: the private CA for `SSL_CERT_FILE`.
    pub tls: Option<Tls>,
}

impl StandIn {
    /// A plain-HTTP stand-in on loopback, reached by its address.
    pub fn start(upstream: &str, auth: Auth, quirks: Quirks) -> StandIn {
        StandIn::launch(upstream, auth, quirks, None)
    }

    /// A stand-in served over TLS for `names`, reached as an HTTPS proxy: the client sends
    /// `CONNECT name:443` here (`HTTPS_PROXY`), and the tunnel ends in this stand-in. Other
    /// targets are refused, so nothing leaves the machine.
    pub fn start_tls(upstream: &str, names: &[&str], auth: Auth, quirks: Quirks) -> StandIn {
        StandIn::launch(upstream, auth, quirks, Some(names))
    }

    fn launch(upstream: &str, auth: Auth, quirks: Quirks, names: Option<&[&str]>) -> StandIn {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let host = listener.local_addr().unwrap().to_string();
        let state = Arc::new(Mutex::new(State {
            pulls_left: quirks.pulls,
            auth,
            quirks,
            upstream: upstream.to_string(),
            seen: Vec::new(),
            tokens: HashMap::new(),
            token_scopes: Vec::new(),
            connects: Vec::new(),
            referrers: HashMap::new(),
        }));
        let tls = names.map(Tls::for_names);
        let config = tls.as_ref().map(|t| Arc::new(server_config(t)));
        let names: Vec<String> = names
            .unwrap_or(&[])
            .iter()
            .map(|n| format!("{n}:443"))
            .collect();
        let st = state.clone();
        std::thread::spawn(move || {
            for c in listener.incoming().flatten() {
                let (st, config, names) = (st.clone(), config.clone(), names.clone());
                std::thread::spawn(move || match config {
                    None => {
                        let mut c = c;
                        serve(&mut c, &st, "http");
                    }
                    Some(config) => tunnel(c, &st, config, &names),
                });
            }
        });
        StandIn { host, state, tls }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn clear(&self) {
        let mut s = self.state.lock().unwrap();
        s.seen.clear();
        s.token_scopes.clear();
        s.connects.clear();
    }

    /// Requests of `method` whose path contains `part`.
    pub fn count(&self, method: &str, part: &str) -> usize {
        self.seen()
            .iter()
            .filter(|r| r.method == method && r.path.contains(part))
            .count()
    }

    /// Writes of any kind (`POST`, `PUT`, `PATCH`, `DELETE`).
    pub fn writes(&self) -> usize {
        self.seen()
            .iter()
            .filter(|r| matches!(r.method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE"))
            .count()
    }

    /// The scope sets tokens were asked for, each sorted.
    pub fn token_scopes(&self) -> Vec<Vec<String>> {
        self.state.lock().unwrap().token_scopes.clone()
    }

    /// Every token minted: secrets the client must never print.
    pub fn tokens(&self) -> Vec<String> {
        self.state.lock().unwrap().tokens.keys().cloned().collect()
    }

    pub fn connects(&self) -> Vec<String> {
        self.state.lock().unwrap().connects.clone()
    }

    pub fn set_pulls(&self, n: Option<usize>) {
        self.state.lock().unwrap().pulls_left = n;
    }
}

fn server_config(t: &Tls) -> rustls::ServerConfig {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer> = CertificateDer::pem_file_iter(t.dir.path().join("cert.pem"))
        .unwrap()
        .map(|c| c.unwrap())
        .collect();
    let key = PrivateKeyDer::from_pem_file(t.dir.path().join("key.pem")).unwrap();
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap()
}

/// One line up to `\n`, read a byte at a time: nothing past the `CONNECT` head is consumed.
fn read_line_raw(s: &mut TcpStream) -> Option<String> {
    let mut line = Vec::new();
    let mut b = [0u8; 1];
    loop {
        match s.read(&mut b) {
            Ok(1) => {
                line.push(b[0]);
                if b[0] == b'\n' {
                    return Some(String::from_utf8_lossy(&line).into());
                }
            }
            _ => return None,
        }
    }
}

fn tunnel(
    mut c: TcpStream,
    st: &Mutex<State>,
    config: Arc<rustls::ServerConfig>,
    names: &[String],
) {
    let Some(first) = read_line_raw(&mut c) else {
        return;
    };
    while let Some(l) = read_line_raw(&mut c) {
        if l == "\r\n" || l == "\n" {
            break;
        }
    }
    let mut parts = first.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    st.lock()
        .unwrap()
        .connects
        .push(format!("{method} {target}"));
    if method != "CONNECT" || !names.iter().any(|n| n == target) {
        let _ = c.write_all(b"HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\n\r\n");
        return;
    }
    let _ = c.write_all(b"HTTP/1.1 200 Connection established\r\n\r\n");
    let conn = rustls::ServerConnection::new(config).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, c);
    serve(&mut tls, st, "https");
    tls.conn.send_close_notify();
    let _ = tls.flush();
}

fn decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into()
}

fn query(path: &str) -> Vec<(String, String)> {
    path.split_once('?')
        .map(|(_, q)| {
            q.split('&')
                .filter_map(|kv| kv.split_once('='))
                .map(|(k, v)| (decode(k), decode(v)))
                .collect()
        })
        .unwrap_or_default()
}

/// `repository:<name>:<a,b>` → (name, action) pairs.
fn grants(scope: &str) -> Vec<(String, String)> {
    let Some(rest) = scope.strip_prefix("repository:") else {
        return Vec::new();
    };
    let Some((name, actions)) = rest.rsplit_once(':') else {
        return Vec::new();
    };
    actions
        .split(',')
        .map(|a| (name.to_string(), a.to_string()))
        .collect()
}

/// The repository a `/v2/<name>/(manifests|blobs|tags)/…` path names.
fn repository(path: &str) -> Option<String> {
    let p = path.split('?').next()?.strip_prefix("/v2/")?;
    for marker in ["/manifests/", "/blobs/", "/tags/", "/referrers/"] {
        if let Some(i) = p.rfind(marker) {
            return Some(p[..i].to_string());
        }
    }
    None
}

fn basic_user(auth: &str) -> Option<(String, String)> {
    let b64 = auth.strip_prefix("Basic ")?;
    let raw = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .ok()?;
    let text = String::from_utf8(raw).ok()?;
    let (u, p) = text.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

fn json(status: u16, v: serde_json::Value) -> Answer {
    Answer {
        status,
        headers: vec![("content-type".into(), "application/json".into())],
        body: v.to_string().into_bytes(),
    }
}

fn error(status: u16, code: &str, message: &str) -> Answer {
    json(
        status,
        serde_json::json!({"errors": [{"code": code, "message": message}]}),
    )
}

fn serve<S: Read + Write>(stream: &mut S, st: &Mutex<State>, scheme: &str) {
    let mut reader = BufReader::new(&mut *stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers: Vec<(String, String)> = Vec::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let get = |k: &str| {
        headers
            .iter()
            .find(|(h, _)| h == k)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    // the request body, whole (test images are small): length-framed or chunked
    let mut body = Vec::new();
    if get("transfer-encoding").eq_ignore_ascii_case("chunked") {
        loop {
            let mut size = String::new();
            if reader.read_line(&mut size).unwrap_or(0) == 0 {
                break;
            }
            let n = usize::from_str_radix(size.trim().split(';').next().unwrap_or("0"), 16)
                .unwrap_or(0);
            if n == 0 {
                let mut end = String::new();
                let _ = reader.read_line(&mut end);
                break;
            }
            let mut chunk = vec![0u8; n + 2];
            if reader.read_exact(&mut chunk).is_err() {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    } else if let Ok(n) = get("content-length").parse::<usize>() {
        body.resize(n, 0);
        let _ = reader.read_exact(&mut body);
    }
    drop(reader);
    let auth_header = get("authorization");
    let host = get("host");
    let answer = answer(
        st,
        &method,
        &path,
        &headers,
        &auth_header,
        &host,
        scheme,
        body,
    );
    let shown = match basic_user(&auth_header) {
        Some((u, _)) => format!("Basic {u}"),
        None => auth_header.clone(),
    };
    st.lock().unwrap().seen.push(Seen {
        method: method.clone(),
        path,
        status: answer.status,
        auth: shown,
        host,
    });
    let mut head = format!("HTTP/1.1 {} Status\r\nconnection: close\r\n", answer.status);
    let framed = answer
        .headers
        .iter()
        .any(|(k, _)| k == "content-length" || k == "transfer-encoding");
    for (k, v) in &answer.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !framed {
        head.push_str(&format!("content-length: {}\r\n", answer.body.len()));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    if method != "HEAD" {
        let _ = stream.write_all(&answer.body);
    }
    let _ = stream.flush();
}

#[allow(clippy::too_many_arguments)]
fn answer(
    st: &Mutex<State>,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    auth_header: &str,
    host: &str,
    scheme: &str,
    body: Vec<u8>,
) -> Answer {
    let (auth, quirks, upstream) = {
        let s = st.lock().unwrap();
        (s.auth.clone(), s.quirks.clone(), s.upstream.clone())
    };
    let base = format!("{scheme}://{host}");
    // an empty service is the registry's own name, as ACR and Harbor set it
    let auth = match auth {
        Auth::Bearer {
            realm,
            service,
            field,
            user,
            password,
            anonymous_pull,
        } if service.is_empty() => Auth::Bearer {
            realm,
            service: host.to_string(),
            field,
            user,
            password,
            anonymous_pull,
        },
        a => a,
    };
    // the token realm
    if let Auth::Bearer {
        realm,
        service,
        field,
        user,
        password,
        anonymous_pull,
    } = &auth
    {
        let realm_url = if realm.starts_with("http") {
            realm.clone()
        } else {
            format!("{base}{realm}")
        };
        let here = format!("{base}{}", path.split('?').next().unwrap_or(""));
        if method == "GET" && here == realm_url {
            let q = query(path);
            let given = basic_user(auth_header);
            let known = given
                .as_ref()
                .is_some_and(|(u, p)| u == user && p == password);
            if given.is_some() && !known {
                return error(401, "UNAUTHORIZED", "invalid username or password");
            }
            if given.is_none() && !anonymous_pull {
                return error(401, "UNAUTHORIZED", "authentication required");
            }
            if q.iter().any(|(k, v)| k == "service" && v != service) {
                return error(400, "UNSUPPORTED", "unknown service");
            }
            let mut scopes: Vec<String> = q
                .iter()
                .filter(|(k, _)| k == "scope")
                .map(|(_, v)| v.clone())
                .collect();
            scopes.sort();
            let mut granted = HashSet::new();
            for s in &scopes {
                for (name, action) in grants(s) {
                    // anonymous tokens are pull-only, whatever was asked
                    if known || action == "pull" {
                        granted.insert((name, action));
                    }
                }
            }
            let token = format!(
                "standin-token-{:016x}{:016x}",
                rand::random::<u64>(),
                rand::random::<u64>()
            );
            let mut s = st.lock().unwrap();
            s.tokens.insert(token.clone(), granted);
            s.token_scopes.push(scopes);
            return json(200, serde_json::json!({*field: token, "expires_in": 300}));
        }
    }
    if !path.starts_with("/v2/") {
        return error(404, "NOT_FOUND", "no such endpoint");
    }
    let name = repository(path);
    // what the request needs, as distribution's auth middleware derives it
    let mut needed: Vec<(String, String)> = Vec::new();
    if let Some(n) = &name {
        let action = if matches!(method, "GET" | "HEAD") {
            "pull"
        } else {
            "push"
        };
        needed.push((n.clone(), action.into()));
        if action == "push" {
            needed.push((n.clone(), "pull".into()));
        }
        if method == "POST" {
            if let Some((_, from)) = query(path).into_iter().find(|(k, _)| k == "from") {
                needed.push((from, "pull".into()));
            }
        }
    }
    match &auth {
        Auth::Basic {
            realm,
            user,
            password,
        } => {
            let ok = basic_user(auth_header).is_some_and(|(u, p)| &u == user && &p == password);
            if !ok {
                let mut a = error(401, "UNAUTHORIZED", "authentication required");
                a.headers.push((
                    "www-authenticate".into(),
                    format!("Basic realm=\"{realm}\",service=\"ecr.amazonaws.com\""),
                ));
                return a;
            }
        }
        Auth::Bearer { realm, service, .. } => {
            let token = auth_header.strip_prefix("Bearer ").unwrap_or("");
            let granted = st.lock().unwrap().tokens.get(token).cloned();
            let enough = granted
                .as_ref()
                .is_some_and(|g| needed.iter().all(|n| g.contains(n)));
            if !enough {
                let realm_url = if realm.starts_with("http") {
                    realm.clone()
                } else {
                    format!("{base}{realm}")
                };
                let mut challenge = format!("Bearer realm=\"{realm_url}\",service=\"{service}\"");
                if let Some((n, a)) = needed.first() {
                    challenge.push_str(&format!(",scope=\"repository:{n}:{a}\""));
                }
                if granted.is_some() {
                    challenge.push_str(",error=\"insufficient_scope\"");
                }
                let mut a = error(401, "UNAUTHORIZED", "authentication required");
                a.headers.push(("www-authenticate".into(), challenge));
                return a;
            }
        }
    }
    if let Some(n) = &name {
        if quirks.missing.iter().any(|m| m == n) {
            return error(
                404,
                "NAME_UNKNOWN",
                &format!("The repository with name '{n}' does not exist in the registry with id '123456789012'"),
            );
        }
    }
    let manifest_get = method == "GET" && path.contains("/manifests/");
    let mut limit_headers = Vec::new();
    if manifest_get {
        let mut s = st.lock().unwrap();
        if let Some(left) = s.pulls_left {
            if left == 0 {
                let mut a = error(429, "TOOMANYREQUESTS", "You have reached your unauthenticated pull rate limit. https://www.docker.com/increase-rate-limit");
                a.headers.extend([
                    ("ratelimit-limit".to_string(), "100;w=21600".to_string()),
                    ("ratelimit-remaining".into(), "0;w=21600".into()),
                    ("docker-ratelimit-source".into(), "127.0.0.1".into()),
                ]);
                return a;
            }
            s.pulls_left = Some(left - 1);
            limit_headers.push(("ratelimit-limit".to_string(), "100;w=21600".to_string()));
            limit_headers.push((
                "ratelimit-remaining".into(),
                format!("{};w=21600", left - 1),
            ));
        }
    }
    if quirks.referrers != Referrers::None {
        if let Some(a) = referrers(st, &quirks.referrers, method, path, &name) {
            return a;
        }
    }
    let subject = (method == "PUT" && path.contains("/manifests/"))
        .then(|| subject_of(&body))
        .flatten();
    let descriptor = subject.as_ref().map(|_| {
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let mut d = serde_json::json!({
            "mediaType": v["mediaType"],
            "digest": sha256_of(&body),
            "size": body.len(),
        });
        if let Some(t) = v["artifactType"].as_str() {
            d["artifactType"] = t.into();
        }
        d
    });
    if quirks.deny_digest_puts && method == "PUT" && path.contains("/manifests/sha256:") {
        return error(403, "DENIED", "requested access to the resource is denied");
    }
    let dashed = quirks
        .dash_is_digest
        .then(|| path.split_once("/manifests/sha256-"))
        .flatten()
        .filter(|(_, hex)| hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
        .map(|(before, hex)| format!("{before}/manifests/sha256:{hex}"));
    let path = dashed.as_deref().unwrap_or(path);
    let mut a = forward(&upstream, method, path, headers, body);
    a.headers.extend(limit_headers);
    // a registry with the referrers API indexes the manifest by its subject and says so
    if let (Some(subject), Some(d), Some(n)) = (subject, descriptor, &name) {
        if matches!(quirks.referrers, Referrers::Api { .. }) && (200..300).contains(&a.status) {
            let mut s = st.lock().unwrap();
            let list = s.referrers.entry((n.clone(), subject.clone())).or_default();
            if !list.iter().any(|e| e["digest"] == d["digest"]) {
                list.push(d);
            }
            a.headers.push(("oci-subject".into(), subject));
        }
    }
    a
}

fn sha256_of(b: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(b)))
}

/// The `subject.digest` of a manifest body, if it has one.
fn subject_of(body: &[u8]) -> Option<String> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    v["subject"]["digest"].as_str().map(String::from)
}

/// `GET /v2/<name>/referrers/<digest>[?artifactType=…&page=N]`: the index of what was pushed
/// through here naming the digest; `None` for any other request.
fn referrers(
    st: &Mutex<State>,
    how: &Referrers,
    method: &str,
    path: &str,
    name: &Option<String>,
) -> Option<Answer> {
    let route = path.split('?').next()?;
    let (_, digest) = route.split_once("/referrers/")?;
    if method != "GET" {
        return Some(error(405, "UNSUPPORTED", "referrers are read-only"));
    }
    let index = |manifests: Vec<serde_json::Value>| {
        serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        })
    };
    let mut a = match how {
        Referrers::None => return None,
        Referrers::Elsewhere(base) => {
            return Some(Answer {
                status: 303,
                headers: vec![("location".into(), format!("{base}{path}"))],
                body: Vec::new(),
            })
        }
        Referrers::EmptyOk => json(200, index(Vec::new())),
        Referrers::Hostile => json(
            200,
            index(vec![serde_json::json!({
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": "../../../v2/x/manifests/latest",
                "size": 2,
                "artifactType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            })]),
        ),
        Referrers::Api { page } => {
            let q = query(path);
            let filter = q
                .iter()
                .find(|(k, _)| k == "artifactType")
                .map(|(_, v)| v.clone());
            let at: usize = q
                .iter()
                .find(|(k, _)| k == "page")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let all: Vec<serde_json::Value> = st
                .lock()
                .unwrap()
                .referrers
                .get(&(name.clone().unwrap_or_default(), digest.to_string()))
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|d| filter.as_deref().is_none_or(|f| d["artifactType"] == f))
                .collect();
            let page = (*page).max(1);
            let this: Vec<_> = all.iter().skip(at * page).take(page).cloned().collect();
            let mut a = json(200, index(this));
            if (at + 1) * page < all.len() {
                a.headers.push((
                    "link".into(),
                    format!("<{route}?page={}>; rel=\"next\"", at + 1),
                ));
            }
            if filter.is_some() {
                a.headers
                    .push(("oci-filters-applied".into(), "artifactType".into()));
            }
            a
        }
    };
    a.headers[0].1 = "application/vnd.oci.image.index.v1+json".into();
    Some(a)
}

/// The request to the open registry behind, without our credentials; its answer read whole,
/// its upload `Location` made relative so the client comes back here.
fn forward(
    upstream: &str,
    method: &str,
    path: &str,
    headers: &[(String, String)],
    body: Vec<u8>,
) -> Answer {
    let mut up = TcpStream::connect(upstream).expect("the stack registry is reachable");
    let mut head = format!("{method} {path} HTTP/1.1\r\nhost: {upstream}\r\nconnection: close\r\n");
    for (k, v) in headers {
        if matches!(
            k.as_str(),
            "accept" | "range" | "content-type" | "user-agent"
        ) {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
    }
    if !matches!(method, "GET" | "HEAD") || !body.is_empty() {
        head.push_str(&format!("content-length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    up.write_all(head.as_bytes()).unwrap();
    up.write_all(&body).unwrap();
    let mut raw = Vec::new();
    let _ = up.read_to_end(&mut raw);
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let text = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = text.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or(502);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .filter(|(k, _)| k != "connection")
        .map(|(k, v)| {
            if k == "location" {
                let rel = v
                    .split_once("://")
                    .and_then(|(_, rest)| rest.find('/').map(|i| rest[i..].to_string()))
                    .unwrap_or(v);
                (k, rel)
            } else {
                (k, v)
            }
        })
        .collect();
    Answer {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    }
}
