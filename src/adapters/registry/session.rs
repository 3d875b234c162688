//! One registry's HTTP side: auth challenges, tokens and bounded reads, with reqwest through the
//! shared limits. We speak the distribution API ourselves instead of through oci-client: it reads
//! token, manifest and error bodies whole (`text()`, `bytes()`) on every call, pushes included, so
//! a hostile server could grow us without bound; its stream push sends each incoming chunk as its
//! own PATCH, and its mount treats the registry's 202 (mount declined, upload opened) as a failure.

use super::super::chain;
use super::super::limits::{self, BodyError};
use crate::retry::Fault;
use bytes::Bytes;
use reqwest::header::{HeaderMap, HeaderValue, AUTHORIZATION, WWW_AUTHENTICATE};
use reqwest::{Response, StatusCode};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::Mutex;
use url::Url;

/// The distribution registry's own limit for a manifest or index.
pub const MAX_MANIFEST: usize = 4 << 20;
pub const MAX_CONFIG: usize = 8 << 20;
pub const MAX_TOKEN: usize = 1 << 20;
/// An error body is only read for its first error code and message.
const MAX_ERROR_BODY: usize = 64 << 10;

pub const MANIFEST_TYPES: &[&str] = &[
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
];

/// What a failed call means, before it is dressed as a `RegistryError`.
#[derive(Debug)]
pub enum Raw {
    NotFound,
    /// `NAME_UNKNOWN`: the repository itself is not there (not only the tag).
    NameUnknown,
    Unauthorized,
    Denied,
    Transient(String),
    /// A `429` that says the quota is used up (`ratelimit-remaining: 0`, Docker Hub's pull rate
    /// limit): its window is hours long, so another attempt now only spends requests. The text
    /// says what the registry gave as its limit.
    RateLimited(String),
    Protocol(String),
    /// Content that does not hash to its digest: tampering or corruption, never retried.
    Integrity(String),
}

impl Raw {
    /// Only transport faults, stalls, 5xx and 429 are worth another attempt.
    pub fn fault(&self) -> Fault {
        match self {
            Raw::Transient(_) => Fault::Transient { retry_after: None },
            _ => Fault::Permanent,
        }
    }
}

impl std::fmt::Display for Raw {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Raw::NotFound => f.write_str("not found"),
            Raw::NameUnknown => f.write_str("repository unknown"),
            Raw::Unauthorized => f.write_str("401 unauthorized"),
            Raw::Denied => f.write_str("403 denied"),
            Raw::Transient(s) | Raw::Protocol(s) | Raw::Integrity(s) => f.write_str(s),
            Raw::RateLimited(s) => write!(f, "429 too many requests, rate limit used up ({s})"),
        }
    }
}

/// A body error while reading `what`: too large is the server's fault, the rest may pass.
pub fn body_error(what: &str, e: BodyError) -> Raw {
    match e {
        BodyError::TooLarge { .. } => Raw::Protocol(format!("{what}: {e}")),
        _ => Raw::Transient(format!("{what}: {e}")),
    }
}

/// `sha256:` and 64 lower-case hex: the only digest a server's text may give us to use.
pub fn is_digest(s: &str) -> bool {
    s.strip_prefix("sha256:").is_some_and(|h| {
        h.len() == 64
            && h.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

/// A digest read from a server, checked before any request uses it.
pub fn checked_digest<'a>(what: &str, d: &'a str) -> Result<&'a str, Raw> {
    if is_digest(d) {
        Ok(d)
    } else {
        Err(Raw::Integrity(format!(
            "{what} `{}` is not a `sha256:<64 hex>` digest",
            one_line(&d.chars().take(80).collect::<String>())
        )))
    }
}

/// A manifest reference we may put in a path: a digest, or a tag by the distribution grammar
/// (never `/`, `..` or anything a URL join would resolve).
fn checked_reference(reference: &str) -> Result<(), Raw> {
    let tag = |t: &str| {
        !t.is_empty()
            && t.len() <= 128
            && !t.starts_with(['.', '-'])
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-'))
    };
    if is_digest(reference) || (!reference.contains(':') && tag(reference)) {
        Ok(())
    } else {
        Err(Raw::Integrity(format!(
            "`{}` is neither a tag nor a `sha256:<64 hex>` digest",
            one_line(&reference.chars().take(80).collect::<String>())
        )))
    }
}

pub fn sha256(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// A URL as we may print it: signed URLs carry their credentials in the query.
pub fn redact(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

/// Server text as one short line.
pub fn one_line(s: &str) -> String {
    let s: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(200)
        .collect();
    s.trim().to_string()
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Challenge {
    Basic,
    Bearer {
        realm: String,
        service: Option<String>,
    },
}

/// `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` or `Basic realm="…"`.
fn parse_challenge(headers: &HeaderMap) -> Option<Challenge> {
    let v = headers.get(WWW_AUTHENTICATE)?.to_str().ok()?.trim();
    let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
    if scheme.eq_ignore_ascii_case("basic") {
        return Some(Challenge::Basic);
    }
    if !scheme.eq_ignore_ascii_case("bearer") {
        return None;
    }
    let params = auth_params(rest);
    Some(Challenge::Bearer {
        realm: params.get("realm")?.clone(),
        service: params.get("service").cloned(),
    })
}

/// `key="value"` pairs (quoted strings with `\` escapes, or bare tokens), comma-separated.
fn auth_params(s: &str) -> HashMap<String, String> {
    let mut out = HashMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            value = chars.by_ref().take_while(|c| *c != ',').collect();
        }
        out.insert(key.trim().to_ascii_lowercase(), value.trim().to_string());
    }
}

/// `repository:<path>:<actions>`, as token services expect it.
pub fn scope(path: &str, actions: &str) -> String {
    format!("repository:{path}:{actions}")
}

pub struct Session {
    http: Result<reqwest::Client, String>,
    /// HTTP/1.1 only, for blobs fetched side by side: each request its own connection (HTTP/2
    /// would carry them all over one, which is the bottleneck a client pull avoids).
    parallel: Result<reqwest::Client, String>,
    /// `scheme://endpoint/`
    base: Url,
    credentials: Option<(String, String)>,
    challenge: Mutex<Option<Challenge>>,
    /// Bearer tokens by the scopes they were asked for.
    tokens: Mutex<HashMap<String, String>>,
    /// Held while a token is fetched: blobs copied side by side ask for the same scope at once,
    /// and one token per scope per step is what the token services expect (and count).
    fetching: tokio::sync::Mutex<()>,
}

impl Session {
    pub fn new(registry: &str, plain_http: bool, credentials: Option<(String, String)>) -> Session {
        // Docker Hub's API is not served under its name
        let endpoint = match registry {
            "docker.io" | "index.docker.io" => "registry-1.docker.io",
            r => r,
        };
        let scheme = if plain_http { "http" } else { "https" };
        let base = Url::parse(&format!("{scheme}://{endpoint}/"))
            .unwrap_or_else(|_| Url::parse("https://invalid.invalid/").expect("static URL"));
        // reqwest panics without a TLS provider; main installs ring, library callers may not have
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let builder = || {
            let http = limits::client_builder();
            if plain_http {
                // loopback over plain HTTP: no root store to load (tens of ms before the first
                // request), and reached directly, never through a proxy (the contract's How it runs)
                http.tls_certs_only(std::iter::empty()).no_proxy()
            } else {
                http
            }
        };
        let built = |b: reqwest::ClientBuilder| b.build().map_err(|e| chain(&e.without_url()));
        Session {
            http: built(builder()),
            parallel: built(builder().http1_only()),
            base,
            credentials,
            challenge: Mutex::new(None),
            tokens: Mutex::new(HashMap::new()),
            fetching: tokio::sync::Mutex::new(()),
        }
    }

    pub fn has_credentials(&self) -> bool {
        self.credentials.is_some()
    }

    /// Two sessions on the same endpoint: blobs can be mounted between their repositories.
    pub fn same_registry(&self, other: &Session) -> bool {
        self.base == other.base
    }

    /// `host[:port]`, as the image reference names the registry.
    pub fn host(&self) -> String {
        let host = self.base.host_str().unwrap_or("");
        match self.base.port() {
            Some(p) => format!("{host}:{p}"),
            None => host.to_string(),
        }
    }

    /// `/v2/…` on this registry.
    pub fn url(&self, path: &str) -> Url {
        self.base.join(path).unwrap_or_else(|_| self.base.clone())
    }

    /// An upload `Location`: absolute, or relative to the registry.
    pub fn location(&self, res: &Response) -> Result<Url, Raw> {
        let loc = res
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                Raw::Protocol(format!(
                    "{} answered {} without a Location",
                    redact(res.url()),
                    res.status()
                ))
            })?;
        self.base
            .join(loc)
            .map_err(|_| Raw::Protocol("the upload Location is not a URL".into()))
    }

    fn client(&self) -> Result<&reqwest::Client, Raw> {
        self.http
            .as_ref()
            .map_err(|e| Raw::Protocol(format!("could not set up the HTTP client: {e}")))
    }

    /// Sends a request (built afresh for a second try), answering one auth challenge on the way:
    /// a 401 names the scheme; Basic gets the credentials, Bearer a token for `scopes`.
    pub async fn send(
        &self,
        scopes: &[String],
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Response, Raw> {
        self.send_on(self.client()?, scopes, build).await
    }

    /// `send` for one of several requests side by side: each on a connection of its own.
    pub async fn send_parallel(
        &self,
        scopes: &[String],
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Response, Raw> {
        let http = self
            .parallel
            .as_ref()
            .map_err(|e| Raw::Protocol(format!("could not set up the HTTP client: {e}")))?;
        self.send_on(http, scopes, build).await
    }

    async fn send_on(
        &self,
        http: &reqwest::Client,
        scopes: &[String],
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Response, Raw> {
        let auth = self.authorization(scopes).await?;
        let res = self.execute(http, build(http), auth.as_ref()).await?;
        if res.status() != StatusCode::UNAUTHORIZED {
            return Ok(res);
        }
        let Some(challenge) = parse_challenge(res.headers()) else {
            return Ok(res);
        };
        let changed = {
            let mut c = self.challenge.lock().unwrap();
            let changed = c.as_ref() != Some(&challenge);
            *c = Some(challenge.clone());
            changed
        };
        // a token may have expired; Basic credentials refused twice are refused
        self.tokens.lock().unwrap().remove(&scopes.join(" "));
        if auth.is_some() && !changed && challenge == Challenge::Basic {
            return Ok(res);
        }
        let Some(auth) = self.authorization(scopes).await? else {
            return Ok(res);
        };
        self.execute(http, build(http), Some(&auth)).await
    }

    /// One request, with the authorization this session already holds for `scopes`: for bodies
    /// that cannot be replayed (a stream), after an earlier request has answered the challenge.
    pub async fn send_once(
        &self,
        scopes: &[String],
        request: impl FnOnce(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Response, Raw> {
        let http = self.client()?;
        let auth = self.authorization(scopes).await?;
        self.execute(http, request(http), auth.as_ref()).await
    }

    /// One streamed upload (a `PATCH` with the blob), with the authorization this session holds:
    /// under the stall rule while `sent` shows the body going out, the headers limit after.
    pub async fn send_upload(
        &self,
        scopes: &[String],
        sent: &limits::Sent,
        request: impl FnOnce(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<Response, Raw> {
        let http = self.client()?;
        let auth = self.authorization(scopes).await?;
        self.execute_with(http, request(http), auth.as_ref(), Some(sent))
            .await
    }

    async fn execute(
        &self,
        http: &reqwest::Client,
        request: reqwest::RequestBuilder,
        auth: Option<&HeaderValue>,
    ) -> Result<Response, Raw> {
        self.execute_with(http, request, auth, None).await
    }

    async fn execute_with(
        &self,
        http: &reqwest::Client,
        request: reqwest::RequestBuilder,
        auth: Option<&HeaderValue>,
        sent: Option<&limits::Sent>,
    ) -> Result<Response, Raw> {
        let mut req = request
            .build()
            .map_err(|e| Raw::Protocol(chain(&e.without_url())))?;
        // credentials go only to the registry itself, never to a host an upload Location names
        if let Some(a) = auth {
            if req.url().origin() == self.base.origin() {
                req.headers_mut().insert(AUTHORIZATION, a.clone());
            }
        }
        let what = format!("{} {}", req.method(), redact(req.url()));
        let answer = match sent {
            Some(sent) => limits::upload(sent, http.execute(req)).await,
            None => limits::headers(http.execute(req)).await,
        };
        match answer {
            Err(e) => Err(Raw::Transient(format!("{what}: {e}"))),
            Ok(Err(e)) => Err(Raw::Transient(format!(
                "{what}: {}",
                chain(&e.without_url())
            ))),
            Ok(Ok(res)) => Ok(res),
        }
    }

    async fn authorization(&self, scopes: &[String]) -> Result<Option<HeaderValue>, Raw> {
        let challenge = self.challenge.lock().unwrap().clone();
        let value = match challenge {
            None => return Ok(None),
            Some(Challenge::Basic) => {
                let Some((u, p)) = &self.credentials else {
                    return Ok(None);
                };
                use base64::Engine;
                let b64 = base64::engine::general_purpose::STANDARD.encode(format!("{u}:{p}"));
                format!("Basic {b64}")
            }
            Some(Challenge::Bearer { realm, service }) => {
                let key = scopes.join(" ");
                let cached = self.tokens.lock().unwrap().get(&key).cloned();
                let token = match cached {
                    Some(t) => t,
                    None => {
                        let _one = self.fetching.lock().await;
                        // another request may have fetched it while this one waited
                        let fetched = self.tokens.lock().unwrap().get(&key).cloned();
                        match fetched {
                            Some(t) => t,
                            None => {
                                let t = self.token(&realm, service.as_deref(), scopes).await?;
                                self.tokens.lock().unwrap().insert(key, t.clone());
                                t
                            }
                        }
                    }
                };
                format!("Bearer {token}")
            }
        };
        let mut v = HeaderValue::from_str(&value)
            .map_err(|_| Raw::Protocol("the credentials or token are not a valid header".into()))?;
        v.set_sensitive(true);
        Ok(Some(v))
    }

    /// Trades the credentials (or nothing: anonymous pulls) for a token at the challenge's realm,
    /// as distribution's token spec and ghcr.io do it: `GET realm?service=…&scope=…`.
    async fn token(
        &self,
        realm: &str,
        service: Option<&str>,
        scopes: &[String],
    ) -> Result<String, Raw> {
        let mut url = Url::parse(realm).map_err(|_| {
            Raw::Protocol(format!(
                "the token realm `{}` is not a URL",
                one_line(realm.split('?').next().unwrap_or(""))
            ))
        })?;
        match (self.base.scheme(), url.scheme()) {
            ("https", "https") | ("http", "http" | "https") => {}
            ("https", "http") => {
                return Err(Raw::Protocol(format!(
                    "the registry's token realm `{}` is plain HTTP for an HTTPS registry: refusing to send credentials over it or trust its token; fix the registry's auth configuration",
                    redact(&url)
                )))
            }
            _ => {
                return Err(Raw::Protocol(format!(
                    "the token realm `{}` is not an HTTP(S) URL",
                    redact(&url)
                )))
            }
        }
        {
            let mut q = url.query_pairs_mut();
            if let Some(s) = service {
                q.append_pair("service", s);
            }
            for s in scopes {
                q.append_pair("scope", s);
            }
        }
        let what = format!("token from {}", redact(&url));
        let http = self.client()?;
        let mut req = http.get(url);
        if let Some((u, p)) = &self.credentials {
            req = req.basic_auth(u, Some(p));
        }
        let res = match limits::headers(req.send()).await {
            Err(e) => return Err(Raw::Transient(format!("{what}: {e}"))),
            Ok(Err(e)) => {
                return Err(Raw::Transient(format!(
                    "{what}: {}",
                    chain(&e.without_url())
                )))
            }
            Ok(Ok(res)) => res,
        };
        match res.status().as_u16() {
            200 => {}
            401 | 403 => return Err(Raw::Unauthorized),
            _ => return Err(self.status_error(res).await),
        }
        let body = limits::read_response(res, MAX_TOKEN)
            .await
            .map_err(|e| body_error(&what, e))?;
        #[derive(serde::Deserialize)]
        struct Token {
            token: Option<String>,
            access_token: Option<String>,
        }
        let t: Token = serde_json::from_slice(&body)
            .map_err(|_| Raw::Protocol(format!("{what}: the answer is not a token (JSON)")))?;
        t.token
            .or(t.access_token)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Raw::Protocol(format!("{what}: the answer holds no token")))
    }
}

impl Session {
    /// What a server's text must never show: our credentials (and `user:password`, as Basic
    /// encodes it) and the tokens we were given.
    fn secrets(&self) -> Vec<String> {
        let mut out: Vec<String> = self.tokens.lock().unwrap().values().cloned().collect();
        if let Some((u, p)) = &self.credentials {
            out.push(format!("{u}:{p}"));
            out.push(p.clone());
        }
        out
    }

    /// A non-success answer as a `Raw`; credentials it quotes are redacted.
    pub async fn status_error(&self, res: Response) -> Raw {
        match status_error(res).await {
            Raw::Protocol(m) => Raw::Protocol(limits::redact_credentials(&m, &self.secrets())),
            raw => raw,
        }
    }
}

/// A `429` whose `ratelimit-remaining` is `0`, as Docker Hub sends it (`ratelimit-limit: 100;w=21600`,
/// `ratelimit-remaining: 0;w=21600`): the limit as the registry states it, for the error.
fn used_up(res: &Response) -> Option<String> {
    if res.status() != StatusCode::TOO_MANY_REQUESTS {
        return None;
    }
    let count = |name: &str| -> Option<(u64, Option<u64>)> {
        let v = header(res, name)?;
        let mut parts = v.split(';');
        let n = parts.next()?.trim().parse().ok()?;
        let window = parts
            .filter_map(|p| p.trim().strip_prefix("w="))
            .find_map(|w| w.parse().ok());
        Some((n, window))
    };
    let (remaining, _) = count("ratelimit-remaining")?;
    if remaining != 0 {
        return None;
    }
    Some(match count("ratelimit-limit") {
        Some((limit, Some(w))) if w % 3600 == 0 => {
            format!("{limit} pulls per {} h, 0 left", w / 3600)
        }
        Some((limit, Some(w))) => format!("{limit} pulls per {w} s, 0 left"),
        Some((limit, None)) => format!("limit {limit}, 0 left"),
        None => "0 left".into(),
    })
}

/// A non-success answer as a `Raw`, by the distribution error code when there is one.
async fn status_error(res: Response) -> Raw {
    let status = res.status().as_u16();
    if let Some(limit) = used_up(&res) {
        return Raw::RateLimited(limit);
    }
    let body = limits::read_response(res, MAX_ERROR_BODY)
        .await
        .unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct Envelope {
        errors: Vec<Entry>,
    }
    #[derive(serde::Deserialize)]
    struct Entry {
        code: Option<String>,
        message: Option<String>,
    }
    let first = serde_json::from_slice::<Envelope>(&body)
        .ok()
        .and_then(|e| e.errors.into_iter().next());
    let code = first
        .as_ref()
        .and_then(|e| e.code.clone())
        .unwrap_or_default();
    // credentials are cut out before the line is shortened, so no part of one survives
    let message = first
        .and_then(|e| e.message)
        .map(|m| one_line(&limits::redact_credentials(&m, &[])))
        .unwrap_or_default();
    match (status, code.as_str()) {
        (_, "DIGEST_INVALID") => Raw::Integrity(format!(
            "the registry found the digest does not match the content (HTTP {status} {code})"
        )),
        (_, "NAME_UNKNOWN") => Raw::NameUnknown,
        (404, _) | (_, "MANIFEST_UNKNOWN" | "BLOB_UNKNOWN") => Raw::NotFound,
        (401, _) | (_, "UNAUTHORIZED") => Raw::Unauthorized,
        (403, _) | (_, "DENIED") => Raw::Denied,
        (429, _) | (_, "TOOMANYREQUESTS") => Raw::Transient("429 too many requests".into()),
        (408 | 500..=599, _) => Raw::Transient(format!("HTTP {status}")),
        _ if message.is_empty() => Raw::Protocol(format!("HTTP {status} {code}")),
        _ => Raw::Protocol(format!("HTTP {status} {code}: {message}")),
    }
}

/// A manifest as the registry serves it: bytes, media type and their digest.
#[derive(Debug, Clone)]
pub struct Manifest {
    pub bytes: Bytes,
    pub media_type: String,
    pub digest: String,
}

impl Session {
    /// `GET /v2/<path>/manifests/<reference>`, at most 4 MiB, its digest checked against the
    /// reference (when a digest) and the registry's `Docker-Content-Digest`.
    /// After a manifest miss: whether the registry says the repository itself is unknown
    /// (`NAME_UNKNOWN` on its tag list), as distinct from a missing tag. Registries that answer
    /// otherwise (or not at all) leave it at a miss.
    pub async fn repository_unknown(&self, path: &str, scopes: &[String]) -> bool {
        let url = self.url(&format!("/v2/{path}/tags/list?n=1"));
        match self.send(scopes, |c| c.get(url.clone())).await {
            Ok(res) if !res.status().is_success() => {
                matches!(status_error(res).await, Raw::NameUnknown)
            }
            _ => false,
        }
    }

    pub async fn manifest(
        &self,
        path: &str,
        reference: &str,
        scopes: &[String],
    ) -> Result<Manifest, Raw> {
        checked_reference(reference)?;
        let url = self.url(&format!("/v2/{path}/manifests/{reference}"));
        let res = self
            .send(scopes, |c| {
                c.get(url.clone())
                    .header("accept", MANIFEST_TYPES.join(", "))
            })
            .await?;
        if !res.status().is_success() {
            return Err(self.status_error(res).await);
        }
        let header_digest = header(&res, "docker-content-digest");
        let header_type = header(&res, "content-type");
        let bytes = limits::read_response(res, MAX_MANIFEST)
            .await
            .map_err(|e| body_error(&format!("manifest {reference}"), e))?;
        let digest = sha256(&bytes);
        if reference.starts_with("sha256:") && digest != reference {
            return Err(Raw::Integrity(format!(
                "manifest {reference} hashes to {digest}"
            )));
        }
        if let Some(h) = header_digest.filter(|h| h.starts_with("sha256:")) {
            if h != digest {
                return Err(Raw::Integrity(format!(
                    "the registry gives the manifest digest {h} but its content hashes to {digest}"
                )));
            }
        }
        let media_type = media_type_of(&bytes)
            .or(header_type.map(|t| t.split(';').next().unwrap_or("").trim().to_string()))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Raw::Protocol(format!("manifest {reference} has no media type")))?;
        Ok(Manifest {
            bytes,
            media_type,
            digest,
        })
    }

    /// A small blob (a config), at most `cap` bytes, checked against its digest.
    pub async fn small_blob(
        &self,
        path: &str,
        digest: &str,
        cap: usize,
        scopes: &[String],
    ) -> Result<Bytes, Raw> {
        let res = self.blob(path, digest, scopes).await?;
        let data = limits::read_response(res, cap)
            .await
            .map_err(|e| body_error(&format!("blob {digest}"), e))?;
        let actual = sha256(&data);
        if actual != digest {
            return Err(Raw::Integrity(format!("blob {digest} hashes to {actual}")));
        }
        Ok(data)
    }

    /// `GET /v2/<path>/blobs/<digest>`, redirects followed (reqwest drops `Authorization` when
    /// one leaves the registry's host, as blob stores sign their URLs instead).
    pub async fn blob(&self, path: &str, digest: &str, scopes: &[String]) -> Result<Response, Raw> {
        checked_digest("blob digest", digest)?;
        let url = self.url(&format!("/v2/{path}/blobs/{digest}"));
        let res = self.send(scopes, |c| c.get(url.clone())).await?;
        if !res.status().is_success() {
            return Err(self.status_error(res).await);
        }
        Ok(res)
    }

    /// Whether the repository holds the blob (`HEAD`).
    pub async fn has_blob(&self, path: &str, digest: &str, scopes: &[String]) -> Result<bool, Raw> {
        checked_digest("blob digest", digest)?;
        let url = self.url(&format!("/v2/{path}/blobs/{digest}"));
        let res = self.send(scopes, |c| c.head(url.clone())).await?;
        match res.status().as_u16() {
            200 => Ok(true),
            404 => Ok(false),
            _ => match self.status_error(res).await {
                Raw::NotFound | Raw::NameUnknown => Ok(false),
                e => Err(e),
            },
        }
    }
}

fn header(res: &Response, name: &str) -> Option<String> {
    res.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|s| s.trim().to_string())
}

fn media_type_of(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct M {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    serde_json::from_slice::<M>(bytes).ok()?.media_type
}

#[cfg(test)]
mod tests {
    use super::*;

    fn challenge(v: &str) -> Option<Challenge> {
        let mut h = HeaderMap::new();
        h.insert(WWW_AUTHENTICATE, HeaderValue::from_str(v).unwrap());
        parse_challenge(&h)
    }

    #[test]
    fn challenges_as_distribution_ghcr_and_docker_hub_send_them() {
        assert_eq!(
            challenge(
                r#"Bearer realm="https://ghcr.io/token",service="ghcr.io",scope="repository:acme/app:pull""#
            ),
            Some(Challenge::Bearer {
                realm: "https://ghcr.io/token".into(),
                service: Some("ghcr.io".into())
            })
        );
        assert_eq!(
            challenge(
                r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/x:pull,push",error="insufficient_scope""#
            ),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into())
            })
        );
        assert_eq!(
            challenge(r#"Basic realm="image-resolver-tests""#),
            Some(Challenge::Basic)
        );
        assert_eq!(
            challenge(r#"bearer realm="http://h/t\"x""#),
            Some(Challenge::Bearer {
                realm: "http://h/t\"x".into(),
                service: None
            })
        );
        assert_eq!(challenge("Bearer service=\"x\""), None);
        assert_eq!(challenge("Negotiate abc"), None);
    }

    #[test]
    fn server_digests_and_references_are_checked() {
        let good = format!("sha256:{}", "a1".repeat(32));
        assert!(is_digest(&good));
        for bad in [
            "prod".to_string(),
            "../../other/manifests/prod".into(),
            format!("sha256:{}", "A1".repeat(32)),
            format!("sha256:{}", "a1".repeat(31)),
            format!("sha512:{}", "a1".repeat(32)),
            format!("sha256:{}/../x", "a1".repeat(32)),
        ] {
            assert!(!is_digest(&bad), "{bad}");
            assert!(
                matches!(checked_digest("child", &bad), Err(Raw::Integrity(_))),
                "{bad}"
            );
        }
        for ok in [good.as_str(), "latest", "v1.2.3", "main-abc1234", "A_b"] {
            assert!(checked_reference(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "..",
            "../x",
            "a/b",
            ".x",
            "-x",
            "sha256:abc",
            "a?b",
            "a%2Fb",
        ] {
            assert!(checked_reference(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn printed_urls_carry_no_query_or_userinfo() {
        let u = Url::parse("https://u:p@blob.example/x/y?sig=secret&se=1#f").unwrap();
        assert_eq!(redact(&u), "https://blob.example/x/y");
    }

    fn answer(status: u16, headers: &[(&str, &str)], body: &str) -> Response {
        let mut b = http::Response::builder().status(status);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        Response::from(b.body(body.to_string()).unwrap())
    }

    #[tokio::test]
    async fn a_used_up_rate_limit_is_not_transient_and_says_its_limit() {
        let body = r#"{"errors":[{"code":"TOOMANYREQUESTS","message":"You have reached your unauthenticated pull rate limit."}]}"#;
        let hub = answer(
            429,
            &[
                ("ratelimit-limit", "100;w=21600"),
                ("ratelimit-remaining", "0;w=21600"),
            ],
            body,
        );
        let raw = status_error(hub).await;
        assert!(
            matches!(raw, Raw::RateLimited(ref l) if l == "100 pulls per 6 h, 0 left"),
            "{raw:?}"
        );
        assert_eq!(raw.fault(), Fault::Permanent);
        // pulls left, or no header at all: a passing throttle, retried
        for headers in [&[("ratelimit-remaining", "3;w=21600")][..], &[]] {
            let raw = status_error(answer(429, headers, body)).await;
            assert!(matches!(raw, Raw::Transient(_)), "{raw:?}");
        }
    }

    #[tokio::test]
    async fn an_http_realm_for_an_https_registry_is_refused_before_any_request() {
        let s = Session::new("registry.example", false, Some(("u".into(), "p".into())));
        *s.challenge.lock().unwrap() = Some(Challenge::Bearer {
            realm: "http://registry.example/token?x=secret".into(),
            service: None,
        });
        let e = s.authorization(&[scope("a", "pull")]).await.unwrap_err();
        let text = e.to_string();
        assert!(matches!(e, Raw::Protocol(_)), "{text}");
        assert!(
            text.contains("plain HTTP") && !text.contains("secret"),
            "{text}"
        );
    }
}
