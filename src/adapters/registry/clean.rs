//! Clean mode's registry calls: the tag list (paginated), a manifest's facts, and removals.
//! Distribution deletes manifests by digest only, so a tag alone is removed by moving it to a
//! placeholder manifest of its own and deleting that.

use super::session::{checked_digest, scope, sha256, Raw, MAX_CONFIG};
use super::{repository_path, Registry, RegistryError};
use crate::adapters::limits;
use crate::core::clean::Node;
use crate::core::reference::is_valid_tag;
use crate::model::ManifestFacts;
use crate::retry::retry;
use reqwest::header::CONTENT_TYPE;

/// Tags asked per page.
const PAGE: usize = 1000;
/// A page's body: `PAGE` tags of at most 128 characters, quoted, with room to spare.
const MAX_PAGE_BODY: usize = 1 << 20;
/// More tags than this in one repository: refused rather than held (memory stays bounded).
pub const MAX_TAGS: usize = 200_000;

type Log<'a> = &'a (dyn Fn(&str) + Sync);

impl Registry {
    /// Every tag of `repository`, a page of `n` at a time (`last` from the `Link` header, or the
    /// page's last tag); each tag checked. Any page unreadable fails the whole list.
    pub async fn tags(&self, repository: &str, log: Log<'_>) -> Result<Vec<String>, RegistryError> {
        let path = repository_path(repository);
        let fail = |raw| self.error(repository, raw);
        let pull = [scope(&path, "pull")];
        let mut all: Vec<String> = Vec::new();
        let mut last: Option<String> = None;
        loop {
            let mut url = self.session.url(&format!("/v2/{path}/tags/list"));
            url.query_pairs_mut().append_pair("n", &PAGE.to_string());
            if let Some(l) = &last {
                url.query_pairs_mut().append_pair("last", l);
            }
            let (tags, link_last) = retry(
                &self.policy(),
                &format!("tag list of {repository}"),
                log,
                Raw::fault,
                || self.tag_page(url.clone(), &pull),
            )
            .await
            .map_err(fail)?;
            // a registry that ignores `n` (distribution before 3.0) sends every tag at once;
            // one that ignores `last` sends the same page again: either way the list is whole
            let whole = tags.len() > PAGE
                || last
                    .as_ref()
                    .is_some_and(|l| link_last.is_none() && tags.contains(l));
            let page_last = tags.last().cloned();
            let full = tags.len() == PAGE;
            all.extend(tags);
            if all.len() > MAX_TAGS {
                return Err(fail(Raw::Protocol(format!(
                    "more than {MAX_TAGS} tags: clean-up refuses a list this long"
                ))));
            }
            if whole {
                break;
            }
            // the next page starts after `last`; only its value is taken from the header, and a
            // full page without one is followed by asking after its last tag
            let next = link_last.or(if full { page_last } else { None });
            match next {
                Some(n) if Some(&n) != last.as_ref() => last = Some(n),
                Some(_) => {
                    return Err(fail(Raw::Protocol(
                        "the tag list's next page starts where this one did".into(),
                    )))
                }
                None => break,
            }
        }
        all.sort();
        let before = all.len();
        all.dedup();
        if all.len() != before {
            log(&format!(
                "{repository}: the tag list repeats tags; each is read once"
            ));
        }
        Ok(all)
    }

    async fn tag_page(
        &self,
        url: url::Url,
        scopes: &[String],
    ) -> Result<(Vec<String>, Option<String>), Raw> {
        let res = self.session.send(scopes, |c| c.get(url.clone())).await?;
        if !res.status().is_success() {
            return Err(self.session.status_error(res).await);
        }
        let link_last = res
            .headers()
            .get(reqwest::header::LINK)
            .and_then(|v| v.to_str().ok())
            .and_then(next_last);
        let body = limits::read_response(res, MAX_PAGE_BODY)
            .await
            .map_err(|e| super::session::body_error("tag list", e))?;
        #[derive(serde::Deserialize)]
        struct Page {
            tags: Option<Vec<String>>,
        }
        let page: Page = serde_json::from_slice(&body)
            .map_err(|e| Raw::Protocol(format!("the tag list is not JSON: {e}")))?;
        let tags = page.tags.unwrap_or_default();
        if let Some(bad) = tags.iter().find(|t| !is_valid_tag(t)) {
            let shown: String = bad.escape_default().take(140).collect();
            return Err(Raw::Protocol(format!(
                "the tag list holds `{shown}`, which is not a tag"
            )));
        }
        Ok((tags, link_last))
    }

    /// A manifest's digest, children (an index's), subject and config, by tag or digest.
    pub async fn facts(
        &self,
        repository: &str,
        reference: &str,
        log: Log<'_>,
    ) -> Result<ManifestFacts, RegistryError> {
        let path = repository_path(repository);
        let shown = format!("{repository}:{reference}");
        let fail = |raw| self.error(&shown, raw);
        let pull = [scope(&path, "pull")];
        let m = self
            .manifest(&path, reference, &pull, log)
            .await
            .map_err(fail)?;
        #[derive(serde::Deserialize)]
        struct Desc {
            digest: String,
            #[serde(default)]
            size: u64,
        }
        #[derive(serde::Deserialize)]
        struct Doc {
            manifests: Option<Vec<Desc>>,
            config: Option<Desc>,
            #[serde(default)]
            layers: Vec<Desc>,
            subject: Option<Desc>,
        }
        let doc: Doc = serde_json::from_slice(&m.bytes)
            .map_err(|e| fail(Raw::Protocol(format!("bad manifest or image index: {e}"))))?;
        let mut digests = doc.manifests.iter().flatten().chain(doc.subject.iter());
        if let Some(bad) = digests.find(|d| checked_digest("digest", &d.digest).is_err()) {
            return Err(fail(Raw::Protocol(format!(
                "`{}` is not a digest",
                bad.digest.escape_default().take(80).collect::<String>()
            ))));
        }
        if doc.manifests.is_none() && doc.config.is_none() {
            return Err(fail(Raw::Protocol(
                "the manifest is neither an image nor an index".into(),
            )));
        }
        let bytes = m.bytes.len() as u64
            + doc
                .config
                .iter()
                .chain(&doc.layers)
                .map(|d| d.size)
                .sum::<u64>();
        Ok(ManifestFacts {
            digest: m.digest,
            node: Node {
                children: doc
                    .manifests
                    .unwrap_or_default()
                    .into_iter()
                    .map(|d| d.digest)
                    .collect(),
                subject: doc.subject.map(|d| d.digest),
                bytes,
            },
            config: doc.config.map(|d| d.digest),
        })
    }

    /// An image config's `created` (RFC 3339), in Unix seconds; none when it has none.
    pub async fn created(
        &self,
        repository: &str,
        config: &str,
        log: Log<'_>,
    ) -> Result<Option<i64>, RegistryError> {
        let path = repository_path(repository);
        let fail = |raw| self.error(&format!("{repository}@{config}"), raw);
        checked_digest("config digest", config).map_err(fail)?;
        let pull = [scope(&path, "pull")];
        let data = retry(
            &self.policy(),
            &format!("config {config}"),
            log,
            Raw::fault,
            || self.session.small_blob(&path, config, MAX_CONFIG, &pull),
        )
        .await
        .map_err(fail)?;
        #[derive(serde::Deserialize)]
        struct Config {
            created: Option<String>,
        }
        let c: Config = serde_json::from_slice(&data)
            .map_err(|e| fail(Raw::Protocol(format!("config is not JSON: {e}"))))?;
        Ok(c.created
            .and_then(|s| chrono::DateTime::parse_from_rfc3339(&s).ok())
            .map(|t| t.timestamp()))
    }

    /// Deletes a manifest by digest; one already gone counts as deleted.
    pub async fn delete(
        &self,
        repository: &str,
        digest: &str,
        log: Log<'_>,
    ) -> Result<(), RegistryError> {
        let path = repository_path(repository);
        let shown = format!("{repository}@{digest}");
        let fail = |raw| self.error(&shown, raw);
        checked_digest("digest", digest).map_err(fail)?;
        let scopes = [scope(&path, "pull,push,delete")];
        let url = self.session.url(&format!("/v2/{path}/manifests/{digest}"));
        retry(
            &self.policy(),
            &format!("delete {shown}"),
            log,
            Raw::fault,
            || async {
                let res = self
                    .session
                    .send(&scopes, |c| c.delete(url.clone()))
                    .await?;
                match res.status().as_u16() {
                    200..=299 => Ok(()),
                    405 => Err(Raw::Protocol(
                        "the registry does not delete manifests (HTTP 405; distribution needs `storage.delete.enabled: true`)".into(),
                    )),
                    _ => match self.session.status_error(res).await {
                        Raw::NotFound => Ok(()),
                        e => Err(e),
                    },
                }
            },
        )
        .await
        .map_err(fail)
    }

    /// Removes a tag alone: the tag moves to a placeholder manifest of its own (an empty index),
    /// which is then deleted.
    pub async fn untag(
        &self,
        repository: &str,
        tag: &str,
        log: Log<'_>,
    ) -> Result<(), RegistryError> {
        let digest = self.place(repository, tag, log).await?;
        self.delete(repository, &digest, log).await
    }

    /// Moves a tag to a placeholder manifest of its own (an empty index naming the tag); the
    /// placeholder's digest, for deleting it.
    pub async fn place(
        &self,
        repository: &str,
        tag: &str,
        log: Log<'_>,
    ) -> Result<String, RegistryError> {
        let path = repository_path(repository);
        let shown = format!("{repository}:{tag}");
        let fail = |raw| self.error(&shown, raw);
        if !is_valid_tag(tag) {
            return Err(fail(Raw::Protocol(format!("`{tag}` is not a tag"))));
        }
        let body = placeholder(tag);
        let digest = sha256(body.as_bytes());
        let scopes = [scope(&path, "pull,push,delete")];
        let url = self.session.url(&format!("/v2/{path}/manifests/{tag}"));
        retry(
            &self.policy(),
            &format!("placeholder for {shown}"),
            log,
            Raw::fault,
            || async {
                let res = self
                    .session
                    .send(&scopes, |c| {
                        c.put(url.clone())
                            .header(CONTENT_TYPE, INDEX)
                            .body(body.clone())
                    })
                    .await?;
                if res.status().is_success() {
                    Ok(())
                } else {
                    Err(self.session.status_error(res).await)
                }
            },
        )
        .await
        .map_err(fail)?;
        Ok(digest)
    }
}

const INDEX: &str = "application/vnd.oci.image.index.v1+json";

/// An empty index naming the tag it replaces: its digest is the tag's own, shared by nothing.
fn placeholder(tag: &str) -> String {
    serde_json::json!({
        "schemaVersion": 2,
        "mediaType": INDEX,
        "manifests": [],
        "annotations": {"org.opencontainers.image.description": format!("image-resolver: tag `{tag}` removed")},
    })
    .to_string()
}

/// The `last` of a `Link: <…?n=…&last=…>; rel="next"` header; the target itself is not followed.
fn next_last(link: &str) -> Option<String> {
    link.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        if !params.split(';').any(|p| p.trim() == r#"rel="next""#) {
            return None;
        }
        let target = target.trim().trim_start_matches('<').trim_end_matches('>');
        let query = target.split_once('?')?.1;
        url::form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "last")
            .map(|(_, v)| v.into_owned())
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_next_page_s_last_is_taken_from_a_link() {
        for (link, want) in [
            (
                r#"</v2/a/tags/list?n=1000&last=pr-9-abc>; rel="next""#,
                Some("pr-9-abc"),
            ),
            (
                r#"<https://elsewhere/x?last=b%2Dc&n=1>; rel="next""#,
                Some("b-c"),
            ),
            (r#"</v2/a/tags/list?n=1000&last=x>; rel="prev""#, None),
            (r#"</v2/a/tags/list?n=1000>; rel="next""#, None),
            ("garbage", None),
        ] {
            assert_eq!(super::next_last(link).as_deref(), want, "{link}");
        }
    }

    #[test]
    fn each_tag_gets_its_own_placeholder() {
        let (a, b) = (super::placeholder("pr-1-a"), super::placeholder("pr-2-a"));
        assert_ne!(super::sha256(a.as_bytes()), super::sha256(b.as_bytes()));
        assert!(a.contains("\"manifests\":[]"));
    }
}
