//! Promotion: the verified manifest's very bytes written under other references, so that every
//! target has the source's digest. Blobs move registry-side: nothing for the same repository, a
//! cross-repository mount on the same registry (copied when the registry declines it), and a
//! stream from source to target otherwise, never held whole.
//!
//! Uploads are Docker's "streamed" form: `POST …/blobs/uploads/`, one `PATCH` carrying the whole
//! blob as a stream, then `PUT ?digest=`. Every registry Docker pushes to accepts it; chunked
//! uploads with `Content-Range` hit per-registry chunk-size rules (ghcr.io refuses chunks over
//! 4 MiB), and a monolithic `PUT` with the body is optional in older registries.
//!
//! The source digest's referrers travel with it to every other repository: each referrer's
//! manifest (and blobs) by digest, indexed by a target's referrers API when it has one, else
//! listed in the target's `sha256-<hex>` fallback index; cosign's tags copied as tags. A dry
//! run reads what each target holds and writes nothing.

use super::referrers::OCI_INDEX;
use super::session::{checked_digest, scope, sha256, Manifest, Raw, Session, MAX_MANIFEST};
use super::{locate, Descriptor, ImageManifest, Promoted, Registry, RegistryError};
use crate::adapters::limits::{self, BodyError, Sent};
use crate::core::promote::{referrers_tag, Blobs, Carried, Referrer, Via};
use crate::core::reference::ImageRef;
use crate::retry::retry;
use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_LENGTH, CONTENT_TYPE};
use sha2::{Digest, Sha256};
use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Blobs copied at once per target: enough to overlap round trips, few enough to stay small.
const PARALLEL_BLOBS: usize = 4;

/// One promotion target.
pub struct Target<'a> {
    /// The registry the target lives on, with its credentials (the source's own for its registry).
    pub registry: &'a Registry,
    /// `repository:tag`
    pub reference: ImageRef,
}

/// What a streamed blob brought so far: its hash, its length, and whether that length has
/// already disagreed with the descriptor (more bytes, or an end before its size).
#[derive(Default)]
struct Tap {
    hash: Sha256,
    bytes: u64,
    mismatch: bool,
}

/// How one target's blobs got there, for the log.
#[derive(Default)]
struct Counts {
    present: AtomicUsize,
    mounted: AtomicUsize,
    copied: AtomicUsize,
}

impl Counts {
    fn blobs(&self) -> Blobs {
        Blobs {
            present: self.present.load(Ordering::Relaxed),
            mounted: self.mounted.load(Ordering::Relaxed),
            copied: self.copied.load(Ordering::Relaxed),
        }
    }
}

struct Copier<'a> {
    src: &'a Registry,
    spath: &'a str,
    dest: &'a Registry,
    tpath: &'a str,
    /// Same registry, other repository: try a cross-repository mount first.
    mount: bool,
    /// A dry run: the target is only read, with a pull token.
    dry: bool,
    counts: Counts,
    log: &'a (dyn Fn(&str) + Sync),
}

/// What a target is asked for: a dry run needs only to read it.
fn access(dry_run: bool) -> &'static str {
    if dry_run {
        "pull"
    } else {
        "pull,push"
    }
}

fn is_index(m: &Manifest) -> bool {
    m.media_type.contains("index") || m.media_type.contains("manifest.list")
}

/// The digest of what `reference` holds on the target, read (`GET`) and hashed: `None` when
/// there is nothing, or when what is served does not hash to what the registry claims (a lying
/// target is written like an empty one, then read back).
async fn holds(
    session: &Session,
    path: &str,
    reference: &str,
    scopes: &[String],
) -> Result<Option<String>, Raw> {
    match session.manifest(path, reference, scopes).await {
        Ok(m) => Ok(Some(m.digest)),
        Err(Raw::NotFound | Raw::Integrity(_)) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A refusal while reading the source is not the target's push permission.
fn on_source(e: Raw) -> Raw {
    match e {
        Raw::Unauthorized | Raw::Denied | Raw::NotFound | Raw::NameUnknown => {
            Raw::Protocol(format!("reading the source: {e}"))
        }
        e => e,
    }
}

impl Registry {
    /// Writes the manifest `source` (`repository@sha256:…`, already verified) under each target,
    /// in order, and carries its referrers to each target in another repository. A target
    /// already holding the digest is left untouched. On the first failure the error names that
    /// target and lists those that hold the digest already. `dry_run`: every target is read and
    /// nothing is written; each `Promoted` says what a real run would write.
    pub async fn promote(
        &self,
        image: &ImageRef,
        targets: &[Target<'_>],
        dry_run: bool,
        log: &(dyn Fn(&str) + Sync),
    ) -> Result<Vec<Promoted>, RegistryError> {
        let source = &image.to_string();
        let src = locate(image);
        if !src.reference.starts_with("sha256:") {
            return Err(RegistryError::Protocol {
                reference: source.into(),
                detail: "promotion copies a verified digest; the source has none".into(),
            });
        }
        let root = self
            .manifest(&src.path, &src.reference, &[scope(&src.path, "pull")], log)
            .await
            .map_err(|e| self.error(source, e))?;
        // an index's children are checked before anything else is asked of any server
        if is_index(&root) {
            #[derive(serde::Deserialize)]
            struct Index {
                manifests: Vec<Descriptor>,
            }
            let idx: Index = serde_json::from_slice(&root.bytes)
                .map_err(|e| self.error(source, Raw::Protocol(format!("bad image index: {e}"))))?;
            for child in &idx.manifests {
                checked_digest("index child digest", &child.digest)
                    .map_err(|e| self.error(source, e))?;
            }
        }
        // the referrers are read before anything is written: a hostile index (a child that is
        // no digest) stops the step with every target untouched
        let elsewhere = targets.iter().any(|t| !self.same_repository(&src.path, t));
        let referrers = if elsewhere {
            self.find_referrers(&src.path, &root.digest, None, true, log)
                .await
                .map_err(|e| self.error(source, e))?
        } else {
            Vec::new()
        };
        // every target read before any is written: a repository the registry will not create
        // on push (ECR answers NAME_UNKNOWN) stops the step with nothing written anywhere
        let mut current = Vec::with_capacity(targets.len());
        for t in targets {
            let at = locate(&t.reference);
            let push = [scope(&at.path, access(dry_run))];
            let dest = t.registry;
            let read = dest
                .again(log, "target manifest", || {
                    holds(&dest.session, &at.path, &at.reference, &push)
                })
                .await;
            match read {
                Err(Raw::NameUnknown) => {
                    return Err(RegistryError::Promote {
                        target: t.reference.to_string(),
                        reason: reason(Raw::NameUnknown, t),
                        written: Vec::new(),
                    })
                }
                // other refusals are met again, and reported, when the target's turn comes
                read => current.push(read.ok()),
            }
        }
        let mut done: Vec<Promoted> = Vec::new();
        for (t, held) in targets.iter().zip(current) {
            match self
                .promote_one(&src.path, &root, t, held, dry_run, log)
                .await
            {
                Ok((written, blobs)) => {
                    let reference = format!("{}@{}", t.reference, root.digest);
                    log(&match (written, dry_run) {
                        (true, false) => format!("promoted {reference}"),
                        (true, true) => format!("dry run: {reference} would be written"),
                        (false, _) => format!(
                            "{} already holds {}: left untouched",
                            t.reference, root.digest
                        ),
                    });
                    let carried = if self.same_repository(&src.path, t) {
                        Ok(Carried::default())
                    } else {
                        self.carry(&src.path, &root, t, &referrers, dry_run, log)
                            .await
                    };
                    let referrers = match carried {
                        Ok(c) => c,
                        Err(e) => {
                            // the target holds the digest (unless a dry run only found it
                            // would): it is listed with the others
                            let mut holding: Vec<String> =
                                done.into_iter().map(|p| p.reference).collect();
                            if !(dry_run && written) {
                                holding.push(reference);
                            }
                            return Err(RegistryError::Promote {
                                target: t.reference.to_string(),
                                reason: format!("carrying its referrers: {}", reason(e, t)),
                                written: holding,
                            });
                        }
                    };
                    done.push(Promoted {
                        reference,
                        written,
                        blobs,
                        referrers,
                    });
                }
                Err(e) => {
                    return Err(RegistryError::Promote {
                        target: t.reference.to_string(),
                        reason: reason(e, t),
                        written: done.into_iter().map(|p| p.reference).collect(),
                    })
                }
            }
        }
        Ok(done)
    }

    /// The target is the source's own repository: blobs and referrers are there already.
    fn same_repository(&self, spath: &str, t: &Target<'_>) -> bool {
        self.session.same_registry(&t.registry.session) && locate(&t.reference).path == spath
    }

    /// True when written (on a dry run: when it would be), false when the target held the
    /// digest already; with how its blobs got there. `held`: what the target was read to hold
    /// before any write (`None` when that read failed: read again).
    async fn promote_one(
        &self,
        spath: &str,
        root: &Manifest,
        t: &Target<'_>,
        held: Option<Option<String>>,
        dry_run: bool,
        log: &(dyn Fn(&str) + Sync),
    ) -> Result<(bool, Blobs), Raw> {
        let dest = t.registry;
        let at = locate(&t.reference);
        let push = [scope(&at.path, access(dry_run))];
        // read back, not taken from a HEAD: only bytes that hash to the digest count as there
        let current = match held {
            Some(h) => h,
            None => {
                dest.again(log, "target manifest", || {
                    holds(&dest.session, &at.path, &at.reference, &push)
                })
                .await?
            }
        };
        if current.as_deref() == Some(root.digest.as_str()) {
            return Ok((false, Blobs::default()));
        }
        let same_registry = self.session.same_registry(&dest.session);
        let c = Copier {
            src: self,
            spath,
            dest,
            tpath: &at.path,
            mount: same_registry,
            dry: dry_run,
            counts: Counts::default(),
            log,
        };
        // the same repository holds every blob and child already: only the tag is new
        if dry_run {
            if !(same_registry && spath == at.path) {
                c.survey(root).await?;
            }
            return Ok((true, c.counts.blobs()));
        }
        if !(same_registry && spath == at.path) {
            if is_index(root) {
                c.children(root).await?;
            } else {
                c.blobs(root).await?;
            }
            log(&format!(
                "{}: blobs present {}, mounted {}, copied {}",
                t.reference,
                c.counts.present.load(Ordering::Relaxed),
                c.counts.mounted.load(Ordering::Relaxed),
                c.counts.copied.load(Ordering::Relaxed)
            ));
        }
        c.put(&at.reference, root).await?;
        let back = dest
            .again(log, "target read-back", || {
                dest.session.manifest(&at.path, &at.reference, &push)
            })
            .await?;
        if back.digest != root.digest {
            return Err(Raw::Integrity(format!(
                "`{}` reads back as {}, not {}",
                t.reference, back.digest, root.digest
            )));
        }
        Ok((true, c.counts.blobs()))
    }

    /// The source's referrers at target `t` (another repository): each referrer's manifest by
    /// digest (a cosign tag under its tag), present ones left as they are; then, where the
    /// target has no referrers API, its fallback index made to list them.
    async fn carry(
        &self,
        spath: &str,
        root: &Manifest,
        t: &Target<'_>,
        referrers: &[Referrer],
        dry_run: bool,
        log: &(dyn Fn(&str) + Sync),
    ) -> Result<Carried, Raw> {
        let mut carried = Carried::default();
        if referrers.is_empty() {
            return Ok(carried);
        }
        let dest = t.registry;
        let at = locate(&t.reference);
        let c = Copier {
            src: self,
            spath,
            dest,
            tpath: &at.path,
            mount: self.session.same_registry(&dest.session),
            dry: dry_run,
            counts: Counts::default(),
            log,
        };
        // what the target's fallback index must list: descriptors of the very bytes checked;
        // and those the target said it indexed itself (`OCI-Subject` on their PUT)
        let mut indexed: Vec<serde_json::Value> = Vec::new();
        let mut by_api: HashSet<String> = HashSet::new();
        for r in referrers {
            let put_as = match &r.via {
                Via::Tag(tag) => tag.as_str(),
                Via::Api | Via::FallbackIndex => r.digest.as_str(),
            };
            let there = c.target_manifest(put_as).await?;
            let m = match there {
                Some(m) if m.digest == r.digest => {
                    carried.present += 1;
                    m
                }
                Some(m) => {
                    // a cosign tag of the target's own (its own signatures): never overwritten
                    log(&format!(
                        "{}:{put_as} holds {}, not the source's {}: left as it is",
                        t.reference.repository, m.digest, r.digest
                    ));
                    carried.kept += 1;
                    continue;
                }
                None => {
                    let m = match self.manifest(spath, &r.digest, &c.pull(), log).await {
                        Ok(m) => m,
                        // listed in a fallback index but deleted since: nothing to carry
                        Err(Raw::NotFound) => {
                            log(&format!(
                                "referrer {} is listed but not in the source: skipped",
                                r.digest
                            ));
                            continue;
                        }
                        Err(e) => return Err(on_source(e)),
                    };
                    if !dry_run {
                        if is_index(&m) {
                            c.children(&m).await?;
                        } else {
                            c.blobs(&m).await?;
                        }
                        if c.put(put_as, &m).await? {
                            by_api.insert(m.digest.clone());
                        }
                    }
                    carried.written += 1;
                    m
                }
            };
            if !matches!(r.via, Via::Tag(_)) {
                indexed.push(descriptor(r, &m));
            }
        }
        // a registry with the referrers API indexes a pushed manifest by its `subject` (and
        // says so); one that only seems to have the API (a 200 with an empty index, as some
        // do) must not keep the referrers from being found: what its API does not list goes
        // into the fallback index too
        let unlisted = indexed
            .iter()
            .any(|d| d["digest"].as_str().is_some_and(|d| !by_api.contains(d)));
        if unlisted {
            let push = c.push();
            let api = dest
                .referrers_api(&at.path, &root.digest, None, &push, log)
                .await?
                .unwrap_or_default();
            let served: HashSet<&str> = api.iter().map(|r| r.digest.as_str()).collect();
            let missing = indexed.iter().any(|d| {
                d["digest"]
                    .as_str()
                    .is_some_and(|d| !by_api.contains(d) && !served.contains(d))
            });
            if missing {
                c.fallback_index(&root.digest, indexed, dry_run).await?;
            }
        }
        log(&format!(
            "{}: referrers {} {}, present {}, left as they are {}",
            t.reference,
            if dry_run { "to write" } else { "written" },
            carried.written,
            carried.present,
            carried.kept
        ));
        Ok(carried)
    }

    /// One step under the retry policy.
    async fn again<T, F, Fut>(
        &self,
        log: &(dyn Fn(&str) + Sync),
        what: &str,
        op: F,
    ) -> Result<T, Raw>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, Raw>>,
    {
        retry(&self.policy(), what, log, Raw::fault, op).await
    }
}

fn reason(e: Raw, t: &Target<'_>) -> String {
    let s = &t.registry.session;
    let repo = &t.reference.repository;
    match e {
        // 401: the credentials were not accepted at all; 403: accepted, but not for pushing
        Raw::Unauthorized if s.has_credentials() => format!("`{}` did not accept the credentials (401): check `promote-username` / `promote-password` (on the source's registry: `registry-username` / `registry-password`)", s.host()),
        Raw::Denied if s.has_credentials() => format!("the credentials lack push permission to `{repo}` (403): give them write access to it (ghcr.io: `packages: write`, or a token with write:packages)"),
        Raw::Unauthorized | Raw::Denied => {
            let code = if matches!(e, Raw::Denied) { 403 } else { 401 };
            format!("no credentials for `{}` ({code}): set `promote-username` / `promote-password` for it", s.host())
        }
        // ECR creates no repository on push; Docker Hub, GHCR, ACR, GAR and Harbor projects do
        Raw::NameUnknown => format!(
            "`{}` has no repository `{}` (NAME_UNKNOWN) and does not create one on push (Amazon ECR does not): create it first (ECR: `aws ecr create-repository --repository-name {}`), then run again",
            s.host(),
            locate(&t.reference).path,
            locate(&t.reference).path
        ),
        Raw::NotFound => "the registry answered 404 (not found) during the copy".into(),
        Raw::RateLimited(limit) => format!(
            "`{}` refused with 429 TOOMANYREQUESTS, its rate limit used up ({limit}); not retried, the limit counts over hours: log in with `promote-username` / `promote-password` (on the source's registry: `registry-username` / `registry-password`) or wait",
            s.host()
        ),
        Raw::Transient(d) => format!(
            "`{}` could not be reached after {} attempt(s): {d}",
            s.host(),
            t.registry.cfg.retries
        ),
        Raw::Protocol(d) => format!("the registry's answer is not usable: {d}"),
        Raw::Integrity(d) => format!("integrity check failed, possible tampering: {d}"),
    }
}

/// A fallback index entry for referrer `r`, from the manifest as read and hashed.
fn descriptor(r: &Referrer, m: &Manifest) -> serde_json::Value {
    let mut d = serde_json::json!({
        "mediaType": m.media_type,
        "digest": m.digest,
        "size": m.bytes.len(),
    });
    let artifact_type = r
        .artifact_type
        .clone()
        .or_else(|| super::referrers::artifact_type_of(&m.bytes));
    if let Some(t) = artifact_type {
        d["artifactType"] = t.into();
    }
    if !r.annotations.is_empty() {
        d["annotations"] = serde_json::json!(r.annotations);
    }
    d
}

impl Copier<'_> {
    /// What the target holds under `reference`, read and hashed: none when nothing, or when
    /// what it serves does not hash to what it claims (written like an empty one).
    async fn target_manifest(&self, reference: &str) -> Result<Option<Manifest>, Raw> {
        let push = self.push();
        let read = self
            .dest
            .again(self.log, "target referrer", || {
                self.dest.session.manifest(self.tpath, reference, &push)
            })
            .await;
        match read {
            Ok(m) => Ok(Some(m)),
            Err(Raw::NotFound | Raw::NameUnknown | Raw::Integrity(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The target's `sha256-<hex>` index made to list `entries` too: read, merged by digest,
    /// written only when something was missing. An index of other content under that tag is
    /// left as it is.
    async fn fallback_index(
        &self,
        subject: &str,
        entries: Vec<serde_json::Value>,
        dry_run: bool,
    ) -> Result<(), Raw> {
        let tag = referrers_tag(subject);
        #[derive(serde::Deserialize)]
        struct Index {
            #[serde(rename = "mediaType")]
            media_type: Option<String>,
            manifests: Option<Vec<serde_json::Value>>,
        }
        // at most 4 MiB: the index's entries are kept as they are, to be written back
        let mut listed = match self.target_manifest(&tag).await? {
            None => Vec::new(),
            Some(m) => match serde_json::from_slice::<Index>(&m.bytes) {
                Ok(Index {
                    media_type,
                    manifests: Some(list),
                }) if media_type.as_deref().is_none_or(|t| t == OCI_INDEX) => list,
                _ => {
                    (self.log)(&format!(
                        "{}:{tag} is not an image index: left as it is, the referrers are not listed in it",
                        self.tpath
                    ));
                    return Ok(());
                }
            },
        };
        let had: HashSet<String> = listed
            .iter()
            .filter_map(|e| e.get("digest")?.as_str().map(String::from))
            .collect();
        let before = listed.len();
        for e in entries {
            if e["digest"].as_str().is_some_and(|d| !had.contains(d)) {
                listed.push(e);
            }
        }
        let added = listed.len() - before;
        if added == 0 {
            return Ok(());
        }
        (self.log)(&format!(
            "{}:{tag}: {} {added} referrer(s) to the fallback index",
            self.tpath,
            if dry_run { "would add" } else { "adding" }
        ));
        if dry_run {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&serde_json::json!({
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": listed,
        }))
        .map_err(|e| Raw::Protocol(format!("the referrers index: {e}")))?;
        if bytes.len() > MAX_MANIFEST {
            return Err(Raw::Protocol(format!(
                "the referrers index `{tag}` would pass the registry's 4 MiB manifest limit"
            )));
        }
        let m = Manifest {
            digest: sha256(&bytes),
            bytes: bytes.into(),
            media_type: OCI_INDEX.into(),
        };
        self.put(&tag, &m).await.map(|_| ())
    }

    /// A dry run's look at the target: which blobs (and children) it lacks, read only.
    async fn survey(&self, root: &Manifest) -> Result<(), Raw> {
        if !is_index(root) {
            return self.survey_blobs(root).await;
        }
        for child in index_children(root)? {
            if self.target_manifest(&child.digest).await?.is_some() {
                continue;
            }
            let m = self
                .src
                .manifest(self.spath, &child.digest, &self.pull(), self.log)
                .await
                .map_err(on_source)?;
            self.survey_blobs(&m).await?;
        }
        Ok(())
    }

    async fn survey_blobs(&self, m: &Manifest) -> Result<(), Raw> {
        let image: ImageManifest = serde_json::from_slice(&m.bytes)
            .map_err(|e| Raw::Protocol(format!("bad image manifest: {e}")))?;
        let mut seen = HashSet::new();
        for d in std::iter::once(&image.config).chain(&image.layers) {
            checked_digest("blob digest", &d.digest)?;
            if (!d.urls.is_empty() && d.media_type.contains("foreign")) || !seen.insert(&d.digest) {
                continue;
            }
            let push = self.push();
            let there = self
                .dest
                .again(self.log, "target blob", || {
                    self.dest.session.has_blob(self.tpath, &d.digest, &push)
                })
                .await?;
            let n = match (there, self.mount) {
                (true, _) => &self.counts.present,
                (false, true) => &self.counts.mounted,
                (false, false) => &self.counts.copied,
            };
            n.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn push(&self) -> [String; 1] {
        [scope(self.tpath, access(self.dry))]
    }

    fn pull(&self) -> [String; 1] {
        [scope(self.spath, "pull")]
    }

    /// Every child of an index with its blobs, then (by the caller) the index itself.
    async fn children(&self, index: &Manifest) -> Result<(), Raw> {
        // a child is written by its digest: every one is checked before anything is written
        let children = index_children(index)?;
        let push = self.push();
        for child in children {
            let there = self
                .dest
                .again(self.log, "target child manifest", || {
                    holds(&self.dest.session, self.tpath, &child.digest, &push)
                })
                .await?;
            if there.as_deref() == Some(child.digest.as_str()) {
                continue;
            }
            // by digest: the bytes are checked against it
            let m = self
                .src
                .manifest(self.spath, &child.digest, &self.pull(), self.log)
                .await
                .map_err(on_source)?;
            if is_index(&m) {
                return Err(Raw::Protocol(format!(
                    "{} is an index inside an index; promote its children instead",
                    child.digest
                )));
            }
            self.blobs(&m).await?;
            self.put(&child.digest, &m).await?;
        }
        Ok(())
    }

    /// The config and layers of an image manifest, a few at a time.
    async fn blobs(&self, m: &Manifest) -> Result<(), Raw> {
        let image: ImageManifest = serde_json::from_slice(&m.bytes)
            .map_err(|e| Raw::Protocol(format!("bad image manifest: {e}")))?;
        for d in std::iter::once(&image.config).chain(&image.layers) {
            checked_digest("blob digest", &d.digest)?;
        }
        let mut seen = HashSet::new();
        let blobs: Vec<Descriptor> = std::iter::once(image.config)
            .chain(image.layers)
            // foreign layers live at their `urls`, not in any registry
            .filter(|d| d.urls.is_empty() || !d.media_type.contains("foreign"))
            .filter(|d| seen.insert(d.digest.clone()))
            .collect();
        futures_util::stream::iter(blobs)
            .map(|d| async move {
                self.dest
                    .again(self.log, &format!("blob {}", d.digest), || self.blob(&d))
                    .await
            })
            .buffer_unordered(PARALLEL_BLOBS)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn blob(&self, d: &Descriptor) -> Result<(), Raw> {
        let dest = &self.dest.session;
        let push = self.push();
        if dest.has_blob(self.tpath, &d.digest, &push).await? {
            self.counts.present.fetch_add(1, Ordering::Relaxed);
            return Ok(());
        }
        let mut url = dest.url(&format!("/v2/{}/blobs/uploads/", self.tpath));
        let scopes = if self.mount {
            url.query_pairs_mut()
                .append_pair("mount", &d.digest)
                .append_pair("from", self.spath);
            // the mount needs pull on the source in the same token
            vec![push[0].clone(), scope(self.spath, "pull")]
        } else {
            push.to_vec()
        };
        let res = dest
            .send(&scopes, |c| c.post(url.clone()).header(CONTENT_LENGTH, 0))
            .await?;
        let location = match res.status().as_u16() {
            // mounted: the registry linked the blob it holds
            201 if self.mount => {
                self.counts.mounted.fetch_add(1, Ordering::Relaxed);
                return Ok(());
            }
            // an upload session: a plain start, or a mount the registry declined
            202 => dest.location(&res)?,
            _ => return Err(dest.status_error(res).await),
        };
        self.stream(d, location).await?;
        self.counts.copied.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Source blob → upload session, hashed on the way; committed only when the bytes match.
    async fn stream(&self, d: &Descriptor, location: url::Url) -> Result<(), Raw> {
        let res = self
            .src
            .session
            .blob(self.spath, &d.digest, &self.pull())
            .await
            .map_err(on_source)?;
        if res.content_length().is_some_and(|n| n != d.size) {
            return Err(Raw::Integrity(format!(
                "blob {} is served as {} bytes, its manifest says {}",
                d.digest,
                res.content_length().unwrap_or(0),
                d.size
            )));
        }
        let seen = Arc::new(Mutex::new(Tap::default()));
        let (tap, size) = (seen.clone(), d.size);
        let body = limits::guarded(res.bytes_stream())
            .map(move |chunk| {
                let mut s = tap.lock().unwrap();
                let chunk = chunk?;
                s.hash.update(&chunk);
                s.bytes += chunk.len() as u64;
                if s.bytes > size {
                    s.mismatch = true;
                    return Err(BodyError::TooLarge {
                        limit: size as usize,
                    });
                }
                Ok(chunk)
            })
            .chain(futures_util::stream::once({
                let tap = seen.clone();
                async move {
                    // the source's end: fewer bytes than the descriptor is no blob to commit
                    let mut s = tap.lock().unwrap();
                    if s.bytes < size {
                        s.mismatch = true;
                        Err(BodyError::TooLarge {
                            limit: size as usize,
                        })
                    } else {
                        Ok(bytes::Bytes::new())
                    }
                }
            }))
            .filter(|c| std::future::ready(!matches!(c, Ok(b) if b.is_empty())));
        let sent = Arc::new(Sent::default());
        let body = limits::sending(body, sent.clone());
        let dest = &self.dest.session;
        let push = self.push();
        let res = dest
            .send_upload(&push, &sent, |c| {
                c.patch(location.clone())
                    .header(CONTENT_TYPE, "application/octet-stream")
                    .header(CONTENT_LENGTH, d.size)
                    .body(reqwest::Body::wrap_stream(body))
            })
            .await;
        let integrity = |s: &Tap| {
            let hash = format!("sha256:{}", hex::encode(s.hash.clone().finalize()));
            Raw::Integrity(format!(
                "blob {} arrived as {} bytes hashing to {hash}; its manifest says {} bytes",
                d.digest, s.bytes, d.size
            ))
        };
        // a source longer or shorter than its descriptor is no transient fault, however the
        // upload ended
        let res = match res {
            Ok(r) => r,
            Err(e) => {
                let s = seen.lock().unwrap();
                if s.mismatch {
                    return Err(integrity(&s));
                }
                return Err(e);
            }
        };
        if !res.status().is_success() {
            if seen.lock().unwrap().mismatch {
                return Err(integrity(&seen.lock().unwrap()));
            }
            return Err(dest.status_error(res).await);
        }
        let location = if res.headers().contains_key(reqwest::header::LOCATION) {
            dest.location(&res)?
        } else {
            location
        };
        let (hash, n) = {
            let s = seen.lock().unwrap();
            (
                format!("sha256:{}", hex::encode(s.hash.clone().finalize())),
                s.bytes,
            )
        };
        if hash != d.digest || n != d.size {
            // abandon the session; the registry forgets it anyway
            let _ = dest.send_once(&push, |c| c.delete(location.clone())).await;
            return Err(Raw::Integrity(format!(
                "blob {} arrived as {n} bytes hashing to {hash}",
                d.digest
            )));
        }
        let mut commit = location;
        commit.query_pairs_mut().append_pair("digest", &d.digest);
        let res = dest
            .send(&push, |c| c.put(commit.clone()).header(CONTENT_LENGTH, 0))
            .await?;
        if !res.status().is_success() {
            return Err(dest.status_error(res).await);
        }
        Ok(())
    }

    /// The manifest's bytes under `reference` (a tag, or a child's digest). True when the
    /// registry answered `OCI-Subject`: it indexed the manifest's `subject` (referrers API).
    async fn put(&self, reference: &str, m: &Manifest) -> Result<bool, Raw> {
        let dest = &self.dest.session;
        let url = dest.url(&format!("/v2/{}/manifests/{reference}", self.tpath));
        let push = self.push();
        self.dest
            .again(self.log, &format!("manifest PUT {reference}"), || async {
                let res = dest
                    .send(&push, |c| {
                        c.put(url.clone())
                            .header(CONTENT_TYPE, &m.media_type)
                            .body(m.bytes.clone())
                    })
                    .await?;
                if !res.status().is_success() {
                    return Err(dest.status_error(res).await);
                }
                match res
                    .headers()
                    .get("docker-content-digest")
                    .and_then(|v| v.to_str().ok())
                {
                    Some(h) if h.starts_with("sha256:") && h != m.digest => Err(Raw::Integrity(
                        format!("the registry stored the manifest as {h}, not {}", m.digest),
                    )),
                    _ => Ok(res.headers().contains_key("oci-subject")),
                }
            })
            .await
    }
}

/// An index's children, each digest checked (`sha256:` and 64 hex) before any is used.
fn index_children(index: &Manifest) -> Result<Vec<Descriptor>, Raw> {
    #[derive(serde::Deserialize)]
    struct Index {
        manifests: Vec<Descriptor>,
    }
    let idx: Index = serde_json::from_slice(&index.bytes)
        .map_err(|e| Raw::Protocol(format!("bad image index: {e}")))?;
    for child in &idx.manifests {
        checked_digest("index child digest", &child.digest)?;
    }
    Ok(idx.manifests)
}
