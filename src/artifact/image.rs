//! The `docker save` tar, checked and written anew entry by entry. Two tar-rs readers in a row:
//! `frame` walks the raw headers (every extension header bounded in size, nothing ambiguous let
//! through) and `read_entries` parses what `frame` passed and re-writes each entry with tar-rs's
//! own writer. No byte range of the input is ever copied as is, so whatever reaches the daemon is
//! exactly the entries that were checked. The names the tar carries (`manifest.json`'s
//! `RepoTags`, `repositories`, `index.json`'s name annotations) are held back and written last,
//! without names, only once the whole artifact has been checked.

use crate::core::revision::REVISION_LABEL;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Write};

/// A manifest, index or config is small (the contract caps a config at 8 MiB).
pub const MAX_JSON: u64 = 8 << 20;
/// All small JSON files kept in memory together, whatever their number.
const KEEP_BUDGET: u64 = 16 << 20;
/// PAX and GNU long-name headers hold a few names; tar-rs reads them whole, so they are bounded here.
const MAX_EXTENSION: u64 = 64 << 10;
/// `docker save` writes a few files per layer; an image has at most 127 layers.
const MAX_ENTRIES: usize = 10_000;
/// What the ustar size field holds (11 octal digits).
const USTAR_MAX_SIZE: u64 = 0o77777777777;

/// Why a tar is refused. Each is one rule of docs/security.md.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TarRefusal {
    #[error("it has a global PAX header (type `g`), which would apply to every later entry")]
    GlobalHeader,
    #[error("`{0}` is a sparse entry")]
    Sparse(String),
    #[error("`{path}` is a {kind}; only files, directories and symlinks are loaded")]
    EntryType { path: String, kind: String },
    #[error("a PAX header has the record `{key}` twice")]
    PaxDuplicate { key: String },
    #[error("a PAX header says `{path}` is {pax} bytes, its ustar header {header}")]
    PaxSize { path: String, pax: u64, header: u64 },
    #[error("a PAX header names `{pax}`, the entry `{parsed}`")]
    PaxConflict { pax: String, parsed: String },
    #[error("an extension header of {0} bytes (at most 64 KiB)")]
    LargeExtension(u64),
    #[error("an extension header is not followed by an entry")]
    DanglingExtension,
    #[error("`{0}` is not a safe relative path")]
    UnsafePath(String),
    #[error("it has `{0}` twice")]
    Duplicate(String),
    #[error("`{0}` lies under a symlink or a file")]
    UnderLink(String),
    #[error("the symlink `{path}` points outside the tar (`{target}`)")]
    LinkEscapes { path: String, target: String },
    #[error("more than {MAX_ENTRIES} entries")]
    TooManyEntries,
    #[error("`{path}` is {size} bytes, too large for metadata (at most 8 MiB)")]
    LargeMetadata { path: String, size: u64 },
    #[error("its JSON metadata files pass 16 MiB together")]
    MetadataBudget,
    #[error("`{path}` is not JSON: {detail}")]
    NotJson { path: String, detail: String },
    #[error("{0}")]
    Layout(String),
    #[error("it holds {0} images; image-resolver loads exactly one")]
    Images(usize),
    #[error("`{path}` does not hash to its name (sha256:{actual})")]
    BlobDigest { path: String, actual: String },
    #[error("it does not parse as a tar: {0}")]
    Malformed(String),
}

impl From<io::Error> for TarRefusal {
    fn from(e: io::Error) -> Self {
        TarRefusal::Malformed(e.to_string())
    }
}

/// Pass 1: the raw headers as they are in the input, each extension header bounded and checked
/// against the entry it describes, then the same headers and data out to `out` (padding and the
/// end marker written anew). After this, tar-rs's raw framing (ustar size fields) and its parsed
/// framing (PAX sizes) agree on every entry, and so does Go's reader in the daemon.
pub fn frame(input: impl Read, mut out: impl Write) -> Result<(), TarRefusal> {
    let mut ar = tar::Archive::new(input);
    let mut pending: Option<Vec<u8>> = None;
    for e in ar.entries()?.raw(true) {
        let mut e = e?;
        let header = e.header().clone();
        let kind = header.entry_type();
        let size = header.entry_size()?;
        if kind.is_pax_global_extensions() {
            return Err(TarRefusal::GlobalHeader);
        }
        if kind.is_pax_local_extensions() || kind.is_gnu_longname() || kind.is_gnu_longlink() {
            if size > MAX_EXTENSION {
                return Err(TarRefusal::LargeExtension(size));
            }
            let mut data = Vec::with_capacity(size as usize);
            (&mut e).take(size).read_to_end(&mut data)?;
            if kind.is_pax_local_extensions() {
                if pending.is_some() {
                    return Err(TarRefusal::PaxDuplicate {
                        key: "(a second PAX header)".into(),
                    });
                }
                check_pax_records(&data)?;
                pending = Some(data.clone());
            }
            write_raw(&mut out, &header, &data)?;
            continue;
        }
        let path = String::from_utf8_lossy(&header.path_bytes()).into_owned();
        if let Some(pax) = pending.take() {
            if let Some(v) = pax_value(&pax, "size") {
                let pax_size: u64 = v.parse().map_err(|_| TarRefusal::PaxSize {
                    path: path.clone(),
                    pax: u64::MAX,
                    header: size,
                })?;
                // a size too large for ustar is the one honest reason for a PAX size; we refuse it
                // too: the two framings would differ
                if pax_size != size || pax_size > USTAR_MAX_SIZE {
                    return Err(TarRefusal::PaxSize {
                        path,
                        pax: pax_size,
                        header: size,
                    });
                }
            }
        }
        if kind == tar::EntryType::GNUSparse {
            return Err(TarRefusal::Sparse(path));
        }
        out.write_all(header.as_bytes())?;
        let copied = io::copy(&mut (&mut e).take(size), &mut out)?;
        if copied != size {
            return Err(TarRefusal::Malformed(format!("`{path}` is cut short")));
        }
        pad(&mut out, size)?;
    }
    if pending.is_some() {
        return Err(TarRefusal::DanglingExtension);
    }
    out.write_all(&[0u8; 1024])?;
    Ok(())
}

fn write_raw(out: &mut impl Write, header: &tar::Header, data: &[u8]) -> io::Result<()> {
    out.write_all(header.as_bytes())?;
    out.write_all(data)?;
    pad(out, data.len() as u64)
}

fn pad(out: &mut impl Write, size: u64) -> io::Result<()> {
    let rest = (512 - size % 512) % 512;
    out.write_all(&[0u8; 512][..rest as usize])
}

/// No record twice, none that makes an entry sparse.
fn check_pax_records(data: &[u8]) -> Result<(), TarRefusal> {
    let mut keys = HashSet::new();
    for r in tar::PaxExtensions::new(data) {
        let r = r.map_err(|e| TarRefusal::Malformed(format!("a PAX header: {e}")))?;
        let key = String::from_utf8_lossy(r.key_bytes()).into_owned();
        if key.starts_with("GNU.sparse") {
            return Err(TarRefusal::Sparse(format!("(PAX record {key})")));
        }
        if !keys.insert(key.clone()) {
            return Err(TarRefusal::PaxDuplicate { key });
        }
    }
    Ok(())
}

fn pax_value(data: &[u8], key: &str) -> Option<String> {
    tar::PaxExtensions::new(data)
        .flatten()
        .find(|r| r.key_bytes() == key.as_bytes())
        .map(|r| String::from_utf8_lossy(r.value_bytes()).into_owned())
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Node {
    File,
    Dir,
    Symlink(String),
}

/// What pass 2 saw: every path, the small JSON files, and the files that carry names.
#[derive(Default)]
pub struct Seen {
    nodes: HashMap<String, Node>,
    kept: HashMap<String, Vec<u8>>,
    kept_bytes: u64,
    manifest: Option<Vec<u8>>,
    index: Option<Vec<u8>>,
    /// Whether a `repositories` file was dropped.
    pub dropped_repositories: bool,
}

/// A path as a name inside the tar: relative, no `..`, no empty or `.` parts, UTF-8.
fn clean_path(raw: &[u8], is_dir: bool) -> Result<Option<String>, TarRefusal> {
    let s = std::str::from_utf8(raw)
        .map_err(|_| TarRefusal::UnsafePath(String::from_utf8_lossy(raw).into_owned()))?;
    let trimmed = s.strip_prefix("./").unwrap_or(s);
    let trimmed = if is_dir {
        trimmed.trim_end_matches('/')
    } else {
        trimmed
    };
    if trimmed.is_empty() || trimmed == "." {
        return Ok(None);
    }
    let bad = trimmed.starts_with('/')
        || trimmed.contains(['\\', '\0'])
        || trimmed
            .split('/')
            .any(|c| c.is_empty() || c == "." || c == "..");
    if bad {
        return Err(TarRefusal::UnsafePath(s.to_string()));
    }
    Ok(Some(trimmed.to_string()))
}

/// A symlink's target, resolved lexically from its directory, must stay inside the tar.
fn link_stays_inside(path: &str, target: &str) -> bool {
    if target.is_empty() || target.starts_with('/') || target.contains('\0') {
        return false;
    }
    let mut depth: Vec<&str> = path.split('/').collect();
    depth.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if depth.pop().is_none() {
                    return false;
                }
            }
            c => depth.push(c),
        }
    }
    true
}

/// Where small JSON files live in both layouts: `<id>.json`, `manifest.json`, `blobs/sha256/<hex>`.
fn may_be_metadata(path: &str) -> bool {
    (!path.contains('/') && path.ends_with(".json")) || path.starts_with("blobs/")
}

fn header_for(kind: tar::EntryType, size: u64, mtime: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_size(size);
    h.set_mode(match kind {
        tar::EntryType::Directory => 0o755,
        tar::EntryType::Symlink => 0o777,
        _ => 0o644,
    });
    h.set_mtime(mtime);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Pass 2: every entry parsed by tar-rs, checked, and written anew to `out`, except the files
/// that carry names, which are kept for `finish`.
pub fn read_entries<W: Write>(
    input: impl Read,
    out: &mut tar::Builder<W>,
) -> Result<Seen, TarRefusal> {
    let mut seen = Seen::default();
    let mut ar = tar::Archive::new(input);
    for e in ar.entries()? {
        let mut e = e?;
        if seen.nodes.len() >= MAX_ENTRIES {
            return Err(TarRefusal::TooManyEntries);
        }
        let kind = e.header().entry_type();
        let is_dir = kind == tar::EntryType::Directory;
        let raw_path = e.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw_path).into_owned();
        // what tar-rs applied must be what the PAX header said (a GNU long name may not override it)
        let link = e.link_name_bytes().map(|l| l.into_owned());
        if let Some(exts) = e.pax_extensions()? {
            for r in exts.flatten() {
                let parsed = match r.key_bytes() {
                    b"path" => Some(raw_path.as_slice()),
                    b"linkpath" => link.as_deref(),
                    _ => continue,
                };
                if parsed != Some(r.value_bytes()) {
                    return Err(TarRefusal::PaxConflict {
                        pax: String::from_utf8_lossy(r.value_bytes()).into_owned(),
                        parsed: String::from_utf8_lossy(parsed.unwrap_or_default()).into_owned(),
                    });
                }
            }
        }
        let node = match kind {
            tar::EntryType::Regular => Node::File,
            tar::EntryType::Directory => Node::Dir,
            tar::EntryType::Symlink => {
                let target = link
                    .as_deref()
                    .map(|l| String::from_utf8_lossy(l).into_owned())
                    .unwrap_or_default();
                Node::Symlink(target)
            }
            tar::EntryType::GNUSparse => return Err(TarRefusal::Sparse(shown)),
            tar::EntryType::XGlobalHeader => return Err(TarRefusal::GlobalHeader),
            other => {
                return Err(TarRefusal::EntryType {
                    path: shown,
                    kind: format!("{other:?}").to_lowercase(),
                })
            }
        };
        let Some(path) = clean_path(&raw_path, is_dir)? else {
            continue;
        };
        // nothing may live below a symlink or a file: the daemon would write through it
        let mut at = 0;
        while let Some(i) = path[at..].find('/') {
            let parent = &path[..at + i];
            if matches!(seen.nodes.get(parent), Some(Node::Symlink(_) | Node::File)) {
                return Err(TarRefusal::UnderLink(path));
            }
            at += i + 1;
        }
        if seen.nodes.contains_key(&path) {
            return Err(TarRefusal::Duplicate(path));
        }
        let mtime = e.header().mtime().unwrap_or(0);
        match &node {
            Node::Dir => {
                let mut h = header_for(kind, 0, mtime);
                out.append_data(&mut h, &path, io::empty())?;
            }
            Node::Symlink(target) => {
                if !link_stays_inside(&path, target) {
                    return Err(TarRefusal::LinkEscapes {
                        path,
                        target: target.clone(),
                    });
                }
                let mut h = header_for(kind, 0, mtime);
                out.append_link(&mut h, &path, target)?;
            }
            Node::File => {
                let size = e.size();
                let named = matches!(path.as_str(), "manifest.json" | "index.json");
                if named || path == "repositories" {
                    if size > MAX_JSON {
                        return Err(TarRefusal::LargeMetadata { path, size });
                    }
                    let mut data = Vec::with_capacity(size as usize);
                    e.read_to_end(&mut data)?;
                    match path.as_str() {
                        "manifest.json" => seen.manifest = Some(data),
                        "index.json" => seen.index = Some(data),
                        _ => seen.dropped_repositories = true,
                    }
                } else if may_be_metadata(&path) && size <= MAX_JSON {
                    let mut data = Vec::with_capacity(size as usize);
                    e.read_to_end(&mut data)?;
                    let mut h = header_for(kind, size, mtime);
                    out.append_data(&mut h, &path, data.as_slice())?;
                    if data.first() == Some(&b'{') {
                        seen.kept_bytes += size;
                        if seen.kept_bytes > KEEP_BUDGET {
                            return Err(TarRefusal::MetadataBudget);
                        }
                        seen.kept.insert(path.clone(), data);
                    }
                } else {
                    let mut h = header_for(kind, size, mtime);
                    out.append_data(&mut h, &path, &mut e)?;
                }
            }
        }
        seen.nodes.insert(path, node);
    }
    Ok(seen)
}

/// The one image of the tar: its config and layers, and the files written in place of the ones
/// that carried names.
#[derive(Debug)]
pub struct Layout {
    pub config_path: String,
    pub layers: Vec<String>,
    /// manifest.json as the daemon gets it: one image, `RepoTags: null`.
    manifest: Vec<u8>,
    /// index.json without name annotations, when the tar had one.
    index: Option<Vec<u8>>,
}

fn parse(path: &str, bytes: &[u8]) -> Result<Value, TarRefusal> {
    serde_json::from_slice(bytes).map_err(|e| TarRefusal::NotJson {
        path: path.into(),
        detail: e.to_string(),
    })
}

fn blob_path(digest: &str) -> Option<String> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f')))
        .then(|| format!("blobs/sha256/{hex}"))
}

impl Seen {
    /// A regular file we kept, checked against its name when it is a blob.
    fn json(&self, path: &str) -> Result<&[u8], TarRefusal> {
        match self.nodes.get(path) {
            Some(Node::File) => {}
            Some(_) => {
                return Err(TarRefusal::Layout(format!(
                    "`{path}` is a link or a directory, not a file"
                )))
            }
            None => {
                return Err(TarRefusal::Layout(format!(
                    "`{path}` is named but missing: the tar is incomplete"
                )))
            }
        }
        let bytes = self.kept.get(path).ok_or_else(|| {
            TarRefusal::Layout(format!("`{path}` is not a JSON file of at most 8 MiB"))
        })?;
        if let Some(hex) = path.strip_prefix("blobs/sha256/") {
            let actual = hex::encode(Sha256::digest(bytes));
            if actual != hex {
                return Err(TarRefusal::BlobDigest {
                    path: path.into(),
                    actual,
                });
            }
        }
        Ok(bytes)
    }

    fn exists(&self, path: &str) -> bool {
        match self.nodes.get(path) {
            Some(Node::File) => true,
            // Docker 25+ links the legacy layer paths to their blobs
            Some(Node::Symlink(t)) => {
                let mut parts: Vec<&str> = path.split('/').collect();
                parts.pop();
                for c in t.split('/') {
                    match c {
                        "" | "." => {}
                        ".." => {
                            parts.pop();
                        }
                        c => parts.push(c),
                    }
                }
                matches!(self.nodes.get(&parts.join("/")), Some(Node::File))
            }
            _ => false,
        }
    }
}

/// The OCI index followed down to its one image manifest: (config path, layer paths).
fn follow_index(seen: &Seen, index: &Value) -> Result<(String, Vec<String>), TarRefusal> {
    let mut index = index.clone();
    for _ in 0..4 {
        let mut digests: Vec<&str> = index
            .get("manifests")
            .and_then(Value::as_array)
            .map(|v| {
                v.iter()
                    .filter_map(|m| m.get("digest").and_then(Value::as_str))
                    .collect()
            })
            .unwrap_or_default();
        digests.dedup();
        if digests.len() != 1 {
            return Err(TarRefusal::Images(digests.len()));
        }
        let path = blob_path(digests[0])
            .ok_or_else(|| TarRefusal::Layout(format!("bad digest `{}`", digests[0])))?;
        let blob = parse(&path, seen.json(&path)?)?;
        if blob.get("manifests").is_some() {
            index = blob;
            continue;
        }
        let config = blob
            .pointer("/config/digest")
            .and_then(Value::as_str)
            .and_then(blob_path)
            .ok_or_else(|| TarRefusal::Layout("the OCI manifest has no config".into()))?;
        let layers = blob
            .get("layers")
            .and_then(Value::as_array)
            .ok_or_else(|| TarRefusal::Layout("the OCI manifest has no layers".into()))?
            .iter()
            .map(|l| {
                l.get("digest")
                    .and_then(Value::as_str)
                    .and_then(blob_path)
                    .ok_or_else(|| TarRefusal::Layout("an OCI layer has a bad digest".into()))
            })
            .collect::<Result<_, _>>()?;
        return Ok((config, layers));
    }
    Err(TarRefusal::Layout("index.json nests too deep".into()))
}

const NAME_ANNOTATIONS: [&str; 2] = [
    "org.opencontainers.image.ref.name",
    "io.containerd.image.name",
];

fn strip_names(v: &mut Value) {
    if let Some(a) = v.get_mut("annotations").and_then(Value::as_object_mut) {
        for k in NAME_ANNOTATIONS {
            a.remove(k);
        }
    }
}

/// Which layout the tar has and its one image, whatever the order its entries came in.
pub fn find_layout(seen: &Seen) -> Result<Layout, TarRefusal> {
    let from_index = match &seen.index {
        Some(bytes) => {
            let mut index = parse("index.json", bytes)?;
            let (config, layers) = follow_index(seen, &index)?;
            strip_names(&mut index);
            if let Some(ms) = index.get_mut("manifests").and_then(Value::as_array_mut) {
                ms.iter_mut().for_each(strip_names);
            }
            Some((config, layers, index))
        }
        None => None,
    };
    let (manifest, config_path, layers) = match (&seen.manifest, &from_index) {
        (Some(bytes), _) => {
            let m = parse("manifest.json", bytes)?;
            let images = m
                .as_array()
                .ok_or_else(|| TarRefusal::Layout("manifest.json is not a list".into()))?;
            if images.len() != 1 {
                return Err(TarRefusal::Images(images.len()));
            }
            let mut image = images[0].clone();
            if !image.is_object() {
                return Err(TarRefusal::Layout(
                    "manifest.json's image is not an object".into(),
                ));
            }
            image["RepoTags"] = Value::Null;
            let config = image
                .get("Config")
                .and_then(Value::as_str)
                .ok_or_else(|| TarRefusal::Layout("manifest.json has no Config".into()))?
                .to_string();
            let layers: Vec<String> = image
                .get("Layers")
                .and_then(Value::as_array)
                .ok_or_else(|| TarRefusal::Layout("manifest.json has no Layers".into()))?
                .iter()
                .map(|l| l.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| TarRefusal::Layout("manifest.json has a bad layer".into()))?;
            (image, config, layers)
        }
        (None, Some((config, layers, _))) => (
            json!({"Config": config, "RepoTags": null, "Layers": layers}),
            config.clone(),
            layers.clone(),
        ),
        (None, None) => {
            return Err(TarRefusal::Layout(
                "it has neither manifest.json nor index.json".into(),
            ))
        }
    };
    // a daemon that reads index.json must find the same image as one that reads manifest.json
    if let (Some(_), Some((c, l, _))) = (&seen.manifest, &from_index) {
        if *c != config_path || *l != layers {
            return Err(TarRefusal::Layout(
                "manifest.json and index.json name different images".into(),
            ));
        }
    }
    for p in layers.iter().chain(std::iter::once(&config_path)) {
        clean_path(p.as_bytes(), false)?;
        if !seen.exists(p) {
            return Err(TarRefusal::Layout(format!(
                "`{p}` is named but missing: the tar is incomplete"
            )));
        }
    }
    Ok(Layout {
        manifest: serde_json::to_vec(&json!([manifest])).expect("JSON values serialize"),
        index: from_index.map(|(_, _, i)| serde_json::to_vec(&i).expect("JSON values serialize")),
        config_path,
        layers,
    })
}

/// What the image is: the digest of its config (the daemon's image ID) and its revision label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub config_digest: String,
    pub revision: Option<String>,
}

pub fn check_image(seen: &Seen, layout: &Layout) -> Result<Image, TarRefusal> {
    let bytes = seen.json(&layout.config_path)?;
    let config = parse(&layout.config_path, bytes)?;
    if !config.is_object() || config.get("rootfs").is_none() {
        return Err(TarRefusal::Layout(format!(
            "`{}` is not an image config",
            layout.config_path
        )));
    }
    let revision = config
        .pointer("/config/Labels")
        .and_then(|l| l.get(REVISION_LABEL))
        .and_then(Value::as_str)
        .map(str::to_string);
    Ok(Image {
        config_digest: format!("sha256:{}", hex::encode(Sha256::digest(bytes))),
        revision,
    })
}

/// The files that carried names, written without them, and the end of the tar.
pub fn finish<W: Write>(mut out: tar::Builder<W>, layout: &Layout) -> io::Result<W> {
    let mut files = vec![("manifest.json", layout.manifest.as_slice())];
    if let Some(i) = &layout.index {
        files.push(("index.json", i.as_slice()));
    }
    for (name, data) in files {
        let mut h = header_for(tar::EntryType::Regular, data.len() as u64, 0);
        out.append_data(&mut h, name, data)?;
    }
    out.into_inner()
}

/// A `docker save` tar written as an image's blobs stream by (`pull-with: client`): the layout
/// Docker 25+ writes (`blobs/sha256/<hex>`, `manifest.json` without names), with the entry
/// headers the artifact path writes. Digests are `sha256:<64 hex>`, checked by the caller.
pub mod save {
    use super::header_for;
    use serde_json::json;
    use std::io;

    fn blob_path(digest: &str) -> String {
        format!("blobs/sha256/{}", digest.trim_start_matches("sha256:"))
    }

    /// Entries written whole through tar-rs's own writer, without the end of the tar.
    fn entries(files: &[(&str, tar::EntryType, &[u8])]) -> io::Result<Vec<u8>> {
        let mut b = tar::Builder::new(Vec::new());
        for (path, kind, data) in files {
            let mut h = header_for(*kind, data.len() as u64, 0);
            b.append_data(&mut h, path, *data)?;
        }
        // taken before the builder is dropped: dropping it writes the end of the tar
        Ok(std::mem::take(b.get_mut()))
    }

    /// The tar's start: its directories and the config.
    pub fn start(config_digest: &str, config: &[u8]) -> io::Result<Vec<u8>> {
        let dir = tar::EntryType::Directory;
        entries(&[
            ("blobs/", dir, &[]),
            ("blobs/sha256/", dir, &[]),
            (&blob_path(config_digest), tar::EntryType::Regular, config),
        ])
    }

    /// A layer's header; its `size` bytes follow, then `padding(size)`.
    pub fn layer_header(digest: &str, size: u64) -> io::Result<Vec<u8>> {
        let mut h = header_for(tar::EntryType::Regular, size, 0);
        h.set_path(blob_path(digest))?;
        h.set_cksum();
        Ok(h.as_bytes().to_vec())
    }

    /// Zeros up to the next 512-byte block.
    pub fn padding(size: u64) -> &'static [u8] {
        &[0u8; 512][..((512 - size % 512) % 512) as usize]
    }

    /// The end: `manifest.json` naming the config and the layers (no tags), then the end of
    /// the tar. Sent last, so a load cut short never names an image.
    pub fn end(config_digest: &str, layers: &[&str]) -> io::Result<Vec<u8>> {
        let manifest = json!([{
            "Config": blob_path(config_digest),
            "RepoTags": null,
            "Layers": layers.iter().map(|l| blob_path(l)).collect::<Vec<_>>(),
        }]);
        let data = serde_json::to_vec(&manifest).map_err(io::Error::other)?;
        let mut b = tar::Builder::new(Vec::new());
        let mut h = header_for(tar::EntryType::Regular, data.len() as u64, 0);
        b.append_data(&mut h, "manifest.json", data.as_slice())?;
        b.into_inner()
    }
}

#[cfg(test)]
mod tests;
