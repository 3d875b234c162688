//! The referrers of a digest (signatures, attestations, SBOMs): the OCI referrers API
//! (`GET /v2/<name>/referrers/<digest>`, an image index, `Link` pages), or where a registry has
//! none (a 404, or an answer that is not an index: distribution 2.8, ghcr.io), the tag schemes —
//! the OCI 1.1 fallback index tagged `sha256-<hex>`, and cosign's `sha256-<hex>.sig` / `.att` /
//! `.sbom` tags. Every body is bounded like a manifest (4 MiB), every digest a server gives is
//! checked before it is used, and a referrer's own referrers are not looked for: one level, as
//! `oras cp -r` without recursion and `regctl image copy --referrers` without `--referrers-deep`.
//!
//! Also the Sigstore bundles stored as referrers (actions/attest `push-to-registry: true`):
//! an image manifest whose `artifactType` is the bundle's media type, the bundle its one layer.

use super::session::{body_error, checked_digest, one_line, scope, Raw, MAX_MANIFEST};
use super::{repository_path, Registry, RegistryError};
use crate::adapters::limits;
use crate::core::promote::{referrers_tag, Referrer, Via, SIGSTORE_BUNDLE_PREFIX};
use crate::retry::retry;
use std::collections::{BTreeMap, HashSet};
use url::Url;

pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// More referrers than this for one digest: refused rather than held.
pub const MAX_REFERRERS: usize = 512;
/// Pages of the referrers API followed.
const MAX_PAGES: usize = 16;
/// Sigstore bundles fetched per digest; the rest are not (the contract's limit, as for the API).
pub const MAX_BUNDLES: usize = 32;
/// cosign's tags beside a digest's `sha256-<hex>`.
pub const COSIGN_SUFFIXES: [&str; 3] = [".sig", ".att", ".sbom"];

type Log<'a> = &'a (dyn Fn(&str) + Sync);

/// A descriptor as an index lists it: only the fields a referrer keeps.
#[derive(serde::Deserialize)]
struct Entry {
    #[serde(rename = "mediaType", default)]
    media_type: String,
    digest: String,
    #[serde(default)]
    size: u64,
    #[serde(rename = "artifactType")]
    artifact_type: Option<String>,
    #[serde(default)]
    annotations: Option<BTreeMap<String, String>>,
}

#[derive(serde::Deserialize)]
struct Index {
    #[serde(rename = "mediaType")]
    media_type: Option<String>,
    manifests: Option<Vec<Entry>>,
}

/// An index's entries, or `None` when the bytes are not an image index.
fn index_entries(bytes: &[u8]) -> Option<Vec<Entry>> {
    let idx: Index = serde_json::from_slice(bytes).ok()?;
    if idx
        .media_type
        .as_deref()
        .is_some_and(|t| t != OCI_INDEX && !t.contains("manifest.list"))
    {
        return None;
    }
    idx.manifests
}

fn referrer(e: Entry, via: Via) -> Result<Referrer, Raw> {
    checked_digest("referrer digest", &e.digest)?;
    Ok(Referrer {
        digest: e.digest,
        media_type: e.media_type,
        artifact_type: e.artifact_type,
        size: e.size,
        annotations: e.annotations.unwrap_or_default(),
        via,
    })
}

/// A manifest's artifact type: its `artifactType`, else its config's media type.
pub fn artifact_type_of(bytes: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Config {
        #[serde(rename = "mediaType")]
        media_type: Option<String>,
    }
    #[derive(serde::Deserialize)]
    struct M {
        #[serde(rename = "artifactType")]
        artifact_type: Option<String>,
        config: Option<Config>,
    }
    let m: M = serde_json::from_slice(bytes).ok()?;
    m.artifact_type.or(m.config.and_then(|c| c.media_type))
}

/// `Link: </v2/…/referrers/…?n=…>; rel="next"`: the next page, only on this registry and this
/// same listing (a server does not choose where we go next).
fn next_page(res: &reqwest::Response, first: &Url) -> Option<Url> {
    let link = res.headers().get("link")?.to_str().ok()?;
    let target = link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        params
            .contains("rel=\"next\"")
            .then(|| url.trim().trim_start_matches('<').trim_end_matches('>'))
    })?;
    let next = first.join(target).ok()?;
    (next.origin() == first.origin() && next.path() == first.path()).then_some(next)
}

/// One page of the referrers API: its entries (`None`: no API here), whether the registry
/// applied the `artifactType` filter, and the next page.
type Page = (Option<Vec<Entry>>, bool, Option<Url>);

impl Registry {
    /// The referrers of `digest` in `repository` (`host/path`): through the referrers API, or
    /// the fallback index and cosign's tags where the registry has none. With `artifact_type`,
    /// only those of that type (cosign's tags, which carry none, are not looked at).
    pub async fn referrers(
        &self,
        repository: &str,
        digest: &str,
        artifact_type: Option<&str>,
        log: Log<'_>,
    ) -> Result<Vec<Referrer>, RegistryError> {
        let path = repository_path(repository);
        let shown = format!("{repository}@{digest}");
        self.find_referrers(&path, digest, artifact_type, artifact_type.is_none(), log)
            .await
            .map_err(|e| self.error(&shown, e))
    }

    /// The digests the referrers API lists for `digest`, or `None` where the registry has no
    /// such API: clean mode reads the tag schemes from the tag list itself.
    pub async fn listed_referrers(
        &self,
        repository: &str,
        digest: &str,
        log: Log<'_>,
    ) -> Result<Option<Vec<String>>, RegistryError> {
        let path = repository_path(repository);
        let pull = [scope(&path, "pull")];
        let listed = self
            .referrers_api(&path, digest, None, &pull, log)
            .await
            .map_err(|e| self.error(&format!("{repository}@{digest}"), e))?;
        Ok(listed.map(|found| found.into_iter().map(|r| r.digest).collect()))
    }

    /// As `referrers`, by repository path; `tags`: also cosign's tags.
    pub(super) async fn find_referrers(
        &self,
        path: &str,
        digest: &str,
        artifact_type: Option<&str>,
        tags: bool,
        log: Log<'_>,
    ) -> Result<Vec<Referrer>, Raw> {
        checked_digest("subject digest", digest)?;
        let pull = [scope(path, "pull")];
        let mut out = match self
            .referrers_api(path, digest, artifact_type, &pull, log)
            .await?
        {
            // an empty answer may be a route that only looks like the API (some registries
            // answer 200 to anything): the fallback index is read too
            Some(found) if !found.is_empty() => {
                log(&format!(
                    "{path}: {} referrer(s) of {digest} (referrers API)",
                    found.len()
                ));
                found
            }
            _ => {
                let found = self.fallback_index(path, digest, &pull, log).await?;
                let found: Vec<Referrer> = found
                    .into_iter()
                    .filter(|r| {
                        artifact_type.is_none() || r.artifact_type.as_deref() == artifact_type
                    })
                    .collect();
                log(&format!(
                    "{path}: no referrers API (or none listed); {} referrer(s) of {digest} in its `{}` index",
                    found.len(),
                    referrers_tag(digest)
                ));
                found
            }
        };
        if tags {
            for suffix in COSIGN_SUFFIXES {
                let tag = format!("{}{suffix}", referrers_tag(digest));
                if !self.tagged(path, &tag, &pull, log).await? {
                    continue;
                }
                match self.manifest(path, &tag, &pull, log).await {
                    Ok(m) => {
                        log(&format!("{path}:{tag}: {}", m.digest));
                        out.push(Referrer {
                            artifact_type: artifact_type_of(&m.bytes),
                            size: m.bytes.len() as u64,
                            digest: m.digest,
                            media_type: m.media_type,
                            annotations: BTreeMap::new(),
                            via: Via::Tag(tag),
                        });
                    }
                    Err(Raw::NotFound | Raw::NameUnknown) => {}
                    Err(e) => return Err(e),
                }
            }
        }
        // one entry per manifest and scheme: an index may list a digest twice
        let mut seen = HashSet::new();
        out.retain(|r| seen.insert((r.digest.clone(), r.via.clone())));
        Ok(out)
    }

    /// The referrers API's answer, all pages; `None` when the registry has no such API.
    pub(super) async fn referrers_api(
        &self,
        path: &str,
        digest: &str,
        artifact_type: Option<&str>,
        scopes: &[String],
        log: Log<'_>,
    ) -> Result<Option<Vec<Referrer>>, Raw> {
        checked_digest("subject digest", digest)?;
        let mut first = self.session.url(&format!("/v2/{path}/referrers/{digest}"));
        if let Some(t) = artifact_type {
            first.query_pairs_mut().append_pair("artifactType", t);
        }
        let mut out = Vec::new();
        let mut next = Some(first.clone());
        let mut pages = 0;
        while let Some(url) = next.take() {
            pages += 1;
            if pages > MAX_PAGES {
                return Err(Raw::Protocol(format!(
                    "the referrers of `{digest}` run past {MAX_PAGES} pages"
                )));
            }
            let (entries, filtered, link) = retry(
                &self.policy(),
                &format!("referrers of {path}@{digest}"),
                log,
                Raw::fault,
                || self.referrers_page(url.clone(), scopes),
            )
            .await?;
            let Some(entries) = entries else {
                if pages == 1 {
                    return Ok(None);
                }
                return Err(Raw::Protocol(format!(
                    "page {pages} of the referrers of `{digest}` is not an image index"
                )));
            };
            for e in entries {
                let r = referrer(e, Via::Api)?;
                if let Some(t) = artifact_type {
                    if !filtered && r.artifact_type.as_deref() != Some(t) {
                        continue;
                    }
                }
                out.push(r);
            }
            if out.len() > MAX_REFERRERS {
                return Err(Raw::Protocol(format!(
                    "more than {MAX_REFERRERS} referrers of `{digest}`: refused rather than held"
                )));
            }
            next = link.filter(|n| *n != url);
        }
        Ok(Some(out))
    }

    async fn referrers_page(&self, url: Url, scopes: &[String]) -> Result<Page, Raw> {
        let res = self
            .session
            .send(scopes, |c| c.get(url.clone()).header("accept", OCI_INDEX))
            .await?;
        // a registry without the API may send it elsewhere: ghcr.io redirects it to
        // github.com's web UI (rate-limited, the digest cut off)
        if res.url().origin() != url.origin() {
            return Ok((None, false, None));
        }
        match res.status().as_u16() {
            200 => {}
            // faults that may pass, and a used-up quota, are what they are
            429 | 500..=599 => return Err(self.session.status_error(res).await),
            // no such route: distribution 2.8 answers `404 page not found`, others 400, 405,
            // 406, a redirect, or (Harbor 2.7) a 401 without a challenge; a refusal that is
            // real meets the fallback tag's read next
            _ => return Ok((None, false, None)),
        }
        let filtered = res
            .headers()
            .get("oci-filters-applied")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.split(',').any(|f| f.trim() == "artifactType"));
        let link = next_page(&res, &url);
        let body = limits::read_response(res, MAX_MANIFEST)
            .await
            .map_err(|e| body_error("referrers index", e))?;
        // an answer that is not an index (an HTML page, a proxy's JSON) is no referrers API
        Ok((index_entries(&body), filtered, link))
    }

    /// Whether `tag` exists, asked with a `HEAD`: Docker Hub counts a manifest `GET` against
    /// the pull rate limit, a `HEAD` not, and most digests have no signature tags.
    async fn tagged(
        &self,
        path: &str,
        tag: &str,
        scopes: &[String],
        log: Log<'_>,
    ) -> Result<bool, Raw> {
        let url = self.session.url(&format!("/v2/{path}/manifests/{tag}"));
        let accept = super::session::MANIFEST_TYPES.join(", ");
        retry(
            &self.policy(),
            &format!("manifest HEAD {path}:{tag}"),
            log,
            Raw::fault,
            || async {
                let res = self
                    .session
                    .send(scopes, |c| c.head(url.clone()).header("accept", &accept))
                    .await?;
                match res.status().as_u16() {
                    200 => Ok(true),
                    404 => Ok(false),
                    _ => match self.session.status_error(res).await {
                        Raw::NotFound | Raw::NameUnknown => Ok(false),
                        e => Err(e),
                    },
                }
            },
        )
        .await
    }

    /// The OCI 1.1 fallback: the index tagged `sha256-<hex>`; none there is no referrer.
    async fn fallback_index(
        &self,
        path: &str,
        digest: &str,
        scopes: &[String],
        log: Log<'_>,
    ) -> Result<Vec<Referrer>, Raw> {
        let tag = referrers_tag(digest);
        if !self.tagged(path, &tag, scopes, log).await? {
            return Ok(Vec::new());
        }
        let m = match self.manifest(path, &tag, scopes, log).await {
            Ok(m) => m,
            Err(Raw::NotFound | Raw::NameUnknown) => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        // a registry that reads `sha256-<hex>` as the digest itself (GitLab's) serves the
        // subject: its children are no referrers
        if m.digest == digest {
            log(&format!(
                "{path}:{tag} is the subject itself, not a referrers index"
            ));
            return Ok(Vec::new());
        }
        let Some(entries) = index_entries(&m.bytes) else {
            log(&format!(
                "{path}:{tag} is not an image index: not read as a referrers index"
            ));
            return Ok(Vec::new());
        };
        let found = entries
            .into_iter()
            .map(|e| referrer(e, Via::FallbackIndex))
            .collect::<Result<Vec<_>, _>>()?;
        if found.len() > MAX_REFERRERS {
            return Err(Raw::Protocol(format!(
                "more than {MAX_REFERRERS} referrers of `{digest}`: refused rather than held"
            )));
        }
        Ok(found)
    }

    /// The Sigstore bundles stored as referrers of `digest` in `repository`, given to `offer`
    /// one at a time until it returns true: at most `MAX_BUNDLES`, each at most `max_bytes`
    /// (a larger one is skipped, not fetched). How many were offered.
    pub async fn bundles(
        &self,
        repository: &str,
        digest: &str,
        max_bytes: usize,
        offer: &mut (dyn FnMut(&[u8]) -> bool + Send),
        log: Log<'_>,
    ) -> Result<usize, RegistryError> {
        let path = repository_path(repository);
        let shown = format!("{repository}@{digest}");
        let fail = |e| self.error(&shown, e);
        // unfiltered: a registry's filter is exact, and bundles come in two media types
        let found = self
            .find_referrers(&path, digest, None, false, log)
            .await
            .map_err(fail)?;
        let pull = [scope(&path, "pull")];
        let mut offered = 0;
        for r in found
            .iter()
            .filter(|r| r.is_sigstore_bundle())
            .take(MAX_BUNDLES)
        {
            let m = self
                .manifest(&path, &r.digest, &pull, log)
                .await
                .map_err(fail)?;
            #[derive(serde::Deserialize)]
            struct Layer {
                #[serde(rename = "mediaType", default)]
                media_type: String,
                digest: String,
                #[serde(default)]
                size: u64,
            }
            #[derive(serde::Deserialize)]
            struct Artifact {
                #[serde(default)]
                layers: Vec<Layer>,
            }
            let a: Artifact = serde_json::from_slice(&m.bytes).map_err(|e| {
                fail(Raw::Protocol(format!(
                    "bundle manifest `{}` is not an image manifest: {}",
                    r.digest,
                    one_line(&e.to_string())
                )))
            })?;
            // the bundle is the one layer (ECR and Docker Hub get its type without parameters)
            let layer = match a.layers.as_slice() {
                [one] => one,
                more => match more
                    .iter()
                    .find(|l| l.media_type.starts_with(SIGSTORE_BUNDLE_PREFIX))
                {
                    Some(l) => l,
                    None => {
                        log(&format!("{}: no bundle layer: skipped", r.digest));
                        continue;
                    }
                },
            };
            checked_digest("bundle layer digest", &layer.digest).map_err(fail)?;
            if layer.size > max_bytes as u64 {
                log(&format!(
                    "bundle {} claims {} bytes, more than the {max_bytes} allowed: not fetched",
                    layer.digest, layer.size
                ));
                continue;
            }
            let bytes = retry(
                &self.policy(),
                &format!("bundle {}", layer.digest),
                log,
                Raw::fault,
                || {
                    self.session
                        .small_blob(&path, &layer.digest, max_bytes, &pull)
                },
            )
            .await
            .map_err(fail)?;
            offered += 1;
            if offer(&bytes) {
                break;
            }
        }
        Ok(offered)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_index_is_read_and_anything_else_is_not() {
        let d = format!("sha256:{}", "c".repeat(64));
        let idx = format!(
            r#"{{"schemaVersion":2,"mediaType":"{OCI_INDEX}","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":5,"artifactType":"application/vnd.dev.sigstore.bundle.v0.3+json","annotations":{{"a":"b"}}}}]}}"#
        );
        let e = index_entries(idx.as_bytes()).unwrap();
        let r = referrer(e.into_iter().next().unwrap(), Via::Api).unwrap();
        assert!(r.is_sigstore_bundle() && r.size == 5 && r.annotations["a"] == "b");
        for not in [
            "<html>404</html>",
            r#"{"mediaType":"application/vnd.oci.image.manifest.v1+json","manifests":[]}"#,
            r#"{"errors":[]}"#,
        ] {
            assert!(index_entries(not.as_bytes()).is_none(), "{not}");
        }
        let bad = r#"{"manifests":[{"digest":"../../x","size":1}]}"#;
        let e = index_entries(bad.as_bytes()).unwrap();
        assert!(matches!(
            referrer(e.into_iter().next().unwrap(), Via::Api),
            Err(Raw::Integrity(_))
        ));
    }

    #[test]
    fn the_next_page_stays_on_this_listing() {
        let first = Url::parse(&format!(
            "http://127.0.0.1:5000/v2/a/referrers/sha256:{}",
            "c".repeat(64)
        ))
        .unwrap();
        let answer = |link: &str| {
            reqwest::Response::from(
                http::Response::builder()
                    .header("link", link)
                    .body(String::new())
                    .unwrap(),
            )
        };
        let same = format!("<{}?n=2&last=x>; rel=\"next\"", first.path());
        assert!(next_page(&answer(&same), &first).is_some());
        for elsewhere in [
            "<http://evil.example/v2/a/referrers/x>; rel=\"next\"".to_string(),
            "</v2/b/manifests/latest>; rel=\"next\"".into(),
            format!("<{}>; rel=\"prev\"", first.path()),
        ] {
            assert!(
                next_page(&answer(&elsewhere), &first).is_none(),
                "{elsewhere}"
            );
        }
    }

    #[test]
    fn artifact_types_come_from_the_field_or_the_config() {
        assert_eq!(
            artifact_type_of(br#"{"artifactType":"a/b","config":{"mediaType":"c/d"}}"#).as_deref(),
            Some("a/b")
        );
        assert_eq!(
            artifact_type_of(br#"{"config":{"mediaType":"c/d"}}"#).as_deref(),
            Some("c/d")
        );
    }
}
