//! The build's artifact, on disk in a private temp dir: find the `docker save` tar in it (zip,
//! gzip or plain, told apart by magic bytes), check it holds exactly one image, and stream it to
//! the daemon with its names removed, so that a crafted tar cannot take over `node:20` or any
//! other local name. Nothing here holds more than a small JSON file in memory.

use crate::core::revision::REVISION_LABEL;
use bytes::Bytes;
use futures_util::Stream;
use serde_json::{json, Value};
use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// No artifact we accept inflates past this, whatever its entry claims.
const MAX_INFLATED: u64 = 32 << 30;
/// JSON files inside the tar (manifest, index, config) are small.
const MAX_JSON: u64 = 8 << 20;
const CHUNK: usize = 256 << 10;

#[derive(Debug, thiserror::Error)]
pub enum ArtifactError {
    #[error("the artifact is neither a zip, a gzip nor a tar (first bytes {0})")]
    UnknownFormat(String),
    #[error("the artifact has no .tar, .tar.gz or .tgz file (it has: {0}); set `artifact-file`")]
    NoTar(String),
    #[error("the artifact has several image tars ({0}); set `artifact-file` to one of them")]
    SeveralTars(String),
    #[error("the artifact has no file `{name}` (it has: {have})")]
    NoSuchEntry { name: String, have: String },
    #[error("the artifact's entry `{0}` is not a safe relative file name (absolute, `..`, drive letter or a link): refused")]
    UnsafeEntry(String),
    #[error("the artifact has the entry `{0}` more than once: refused")]
    DuplicateEntry(String),
    #[error("the artifact's entry `{name}` inflates past its declared {declared} bytes (a zip bomb?): refused")]
    Bomb { name: String, declared: u64 },
    #[error("the artifact is corrupt: {0}")]
    Corrupt(String),
    #[error("`{entry}` is not a `docker save` tar: {detail}")]
    NotDockerSave { entry: String, detail: String },
    #[error("`{entry}` holds {count} images; image-resolver loads exactly one")]
    SeveralImages { entry: String, count: usize },
    #[error("reading the artifact: {0}")]
    Io(#[from] io::Error),
}

#[derive(Debug, PartialEq, Eq)]
enum Kind {
    Zip,
    Gzip,
    Tar,
}

fn sniff(path: &Path) -> Result<Kind, ArtifactError> {
    let mut head = [0u8; 512];
    let mut f = File::open(path)?;
    let mut n = 0;
    while n < head.len() {
        let r = f.read(&mut head[n..])?;
        if r == 0 {
            break;
        }
        n += r;
    }
    if n >= 4 && head[..4] == *b"PK\x03\x04" {
        Ok(Kind::Zip)
    } else if n >= 2 && head[..2] == [0x1f, 0x8b] {
        Ok(Kind::Gzip)
    } else if n >= 262 && &head[257..262] == b"ustar" {
        Ok(Kind::Tar)
    } else {
        Err(ArtifactError::UnknownFormat(hex::encode(&head[..n.min(8)])))
    }
}

/// A tar ready to stream: byte ranges of the original file, and the bytes we write in place of
/// the names it carried.
pub struct Prepared {
    pub entry_name: String,
    /// `org.opencontainers.image.revision` from the image config inside the tar.
    pub revision: Option<String>,
    file: File,
    segments: Vec<Segment>,
}

#[derive(Debug)]
enum Segment {
    Range(u64, u64),
    Bytes(Vec<u8>),
}

impl Prepared {
    pub fn tar_len(&self) -> u64 {
        self.segments
            .iter()
            .map(|s| match s {
                Segment::Range(_, len) => *len,
                Segment::Bytes(b) => b.len() as u64,
            })
            .sum()
    }

    /// The rewritten tar as a byte stream, read from disk in chunks by a blocking thread; at most
    /// a few chunks are in flight.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes, io::Error>> + Send + 'static {
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, io::Error>>(4);
        let Prepared {
            mut file, segments, ..
        } = self;
        tokio::task::spawn_blocking(move || {
            let send = |item| tx.blocking_send(item).is_ok();
            for seg in segments {
                match seg {
                    Segment::Bytes(b) => {
                        if !send(Ok(Bytes::from(b))) {
                            return;
                        }
                    }
                    Segment::Range(mut off, mut len) => {
                        while len > 0 {
                            let n = (len as usize).min(CHUNK);
                            let mut buf = vec![0u8; n];
                            let r = file
                                .seek(SeekFrom::Start(off))
                                .and_then(|_| file.read_exact(&mut buf));
                            if let Err(e) = r {
                                let _ = send(Err(e));
                                return;
                            }
                            if !send(Ok(Bytes::from(buf))) {
                                return;
                            }
                            off += n as u64;
                            len -= n as u64;
                        }
                    }
                }
            }
        });
        futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|item| (item, rx))
        })
    }
}

/// From the downloaded file to a `Prepared` tar. Everything written goes under `dir`, at names
/// chosen here: entry names from the zip are never used as paths.
pub fn prepare(
    download: &Path,
    artifact_file: Option<&str>,
    dir: &Path,
) -> Result<Prepared, ArtifactError> {
    let (tar_source, entry_name, kind) = match sniff(download)? {
        Kind::Zip => {
            let (inner, name) = extract_from_zip(download, artifact_file, dir)?;
            let kind = sniff(&inner).ok();
            (inner, name, kind)
        }
        kind => (
            download.to_path_buf(),
            "(the artifact itself)".to_string(),
            Some(kind),
        ),
    };
    let tar_path = match kind {
        Some(Kind::Tar) => tar_source,
        Some(Kind::Gzip) => {
            let out = dir.join("image.tar");
            gunzip(&tar_source, &out, &entry_name)?;
            if tar_source != download {
                let _ = std::fs::remove_file(&tar_source);
            }
            out
        }
        Some(Kind::Zip) | None => {
            return Err(ArtifactError::NotDockerSave {
                entry: entry_name,
                detail: "not a tar or gzip".into(),
            })
        }
    };
    index_tar(&tar_path, entry_name)
}

/// Relative, no `..`, no drive letter or backslash: a name that could only ever live inside a folder.
fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains(['\\', ':', '\0'])
        && name.split('/').all(|c| c != "..")
}

fn is_image_tar(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with(".tar") || n.ends_with(".tar.gz") || n.ends_with(".tgz")
}

fn extract_from_zip(
    zip_path: &Path,
    wanted: Option<&str>,
    dir: &Path,
) -> Result<(PathBuf, String), ArtifactError> {
    let corrupt = |e: zip::result::ZipError| ArtifactError::Corrupt(e.to_string());
    let mut zip = zip::ZipArchive::new(File::open(zip_path)?).map_err(corrupt)?;
    // the zip crate indexes entries by name and keeps the last of duplicates: count them ourselves
    if let Some(declared) = central_directory_entries(zip_path)? {
        if declared != zip.len() {
            return Err(ArtifactError::DuplicateEntry(format!(
                "(the central directory lists {declared} entries, {} distinct names)",
                zip.len()
            )));
        }
    }
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut all = Vec::new();
    let mut candidates = Vec::new();
    for i in 0..zip.len() {
        let e = zip.by_index_raw(i).map_err(corrupt)?;
        let name = e.name().map_err(corrupt)?.to_string();
        *seen.entry(name.clone()).or_default() += 1;
        all.push(name.clone());
        let safe = e.enclosed_name().is_some() && !e.is_symlink() && is_safe_name(&name);
        let chosen = match wanted {
            Some(w) => name == w || name.trim_start_matches("./") == w.trim_start_matches("./"),
            None => !e.is_dir() && is_image_tar(&name),
        };
        if chosen {
            if !safe {
                return Err(ArtifactError::UnsafeEntry(name));
            }
            candidates.push((i, name));
        }
    }
    let list = |v: &[String]| {
        if v.is_empty() {
            "nothing".to_string()
        } else {
            v.iter()
                .map(|n| format!("`{n}`"))
                .collect::<Vec<_>>()
                .join(", ")
        }
    };
    let (index, name) = match candidates.len() {
        0 => {
            return Err(match wanted {
                Some(w) => ArtifactError::NoSuchEntry {
                    name: w.into(),
                    have: list(&all),
                },
                None => ArtifactError::NoTar(list(&all)),
            })
        }
        1 => candidates.remove(0),
        _ if candidates.iter().all(|(_, n)| n == &candidates[0].1) => {
            return Err(ArtifactError::DuplicateEntry(candidates[0].1.clone()))
        }
        _ => {
            return Err(ArtifactError::SeveralTars(list(
                &candidates.into_iter().map(|(_, n)| n).collect::<Vec<_>>(),
            )))
        }
    };
    if seen.get(&name).copied().unwrap_or(0) > 1 {
        return Err(ArtifactError::DuplicateEntry(name));
    }
    let mut entry = zip.by_index(index).map_err(corrupt)?;
    let declared = entry.size();
    let out_path = dir.join("entry.bin");
    let mut out = File::create(&out_path)?;
    // one byte past the declared size tells a lying entry; the CRC is checked at its end
    let copied = io::copy(
        &mut (&mut entry).take(declared.min(MAX_INFLATED) + 1),
        &mut out,
    )
    .map_err(|e| {
        // the zip crate notices the lie itself, mid-read
        if e.to_string().contains("larger than its declared") {
            ArtifactError::Bomb {
                name: name.clone(),
                declared,
            }
        } else {
            ArtifactError::Corrupt(format!("`{name}`: {e}"))
        }
    })?;
    if copied > declared {
        drop(out);
        let _ = std::fs::remove_file(&out_path);
        return Err(ArtifactError::Bomb { name, declared });
    }
    out.flush()?;
    Ok((out_path, name))
}

/// The entry count of the end-of-central-directory record; `None` for zip64 (0xFFFF).
fn central_directory_entries(path: &Path) -> io::Result<Option<usize>> {
    let mut f = File::open(path)?;
    let len = f.metadata()?.len();
    let tail = len.min(65_557);
    f.seek(SeekFrom::Start(len - tail))?;
    let mut buf = vec![0u8; tail as usize];
    f.read_exact(&mut buf)?;
    let Some(at) = buf.windows(4).rposition(|w| w == b"PK\x05\x06") else {
        return Ok(None);
    };
    let Some(count) = buf.get(at + 10..at + 12) else {
        return Ok(None);
    };
    let count = u16::from_le_bytes([count[0], count[1]]);
    Ok((count != u16::MAX).then_some(count as usize))
}

fn gunzip(src: &Path, dst: &Path, entry: &str) -> Result<(), ArtifactError> {
    let mut dec = flate2::read::GzDecoder::new(io::BufReader::new(File::open(src)?));
    let mut out = io::BufWriter::new(File::create(dst)?);
    let n = io::copy(&mut (&mut dec).take(MAX_INFLATED + 1), &mut out)
        .map_err(|e| ArtifactError::Corrupt(format!("`{entry}` does not decompress: {e}")))?;
    if n > MAX_INFLATED {
        return Err(ArtifactError::Bomb {
            name: entry.into(),
            declared: MAX_INFLATED,
        });
    }
    out.flush()?;
    Ok(())
}

struct TarEntry {
    path: String,
    /// Where this entry's headers (with any long-name or PAX headers) begin.
    start: u64,
    data: u64,
    size: u64,
    /// Past the data's padding.
    end: u64,
}

fn read_at(file: &mut File, e: &TarEntry, entry: &str) -> Result<Vec<u8>, ArtifactError> {
    if e.size > MAX_JSON {
        return Err(ArtifactError::NotDockerSave {
            entry: entry.into(),
            detail: format!("`{}` is {} bytes, too large for metadata", e.path, e.size),
        });
    }
    let mut buf = vec![0u8; e.size as usize];
    file.seek(SeekFrom::Start(e.data))?;
    file.read_exact(&mut buf)?;
    Ok(buf)
}

fn blob_path(digest: &str) -> Option<String> {
    let hex = digest.strip_prefix("sha256:")?;
    (hex.len() == 64 && hex.bytes().all(|c| c.is_ascii_hexdigit()))
        .then(|| format!("blobs/sha256/{hex}"))
}

fn index_tar(tar_path: &Path, entry_name: String) -> Result<Prepared, ArtifactError> {
    let bad = |detail: String| ArtifactError::NotDockerSave {
        entry: entry_name.clone(),
        detail,
    };
    let mut entries: Vec<TarEntry> = Vec::new();
    {
        let mut ar = tar::Archive::new(File::open(tar_path)?);
        let mut prev_end = 0u64;
        for e in ar.entries_with_seek().map_err(|e| bad(e.to_string()))? {
            let e = e.map_err(|e| bad(e.to_string()))?;
            let path = e
                .path()
                .map_err(|e| bad(e.to_string()))?
                .to_string_lossy()
                .trim_start_matches("./")
                .to_string();
            let data = e.raw_file_position();
            let size = e.header().entry_size().unwrap_or(0);
            let end = data + size.div_ceil(512) * 512;
            entries.push(TarEntry {
                path,
                start: prev_end,
                data,
                size,
                end,
            });
            prev_end = end;
        }
    }
    let mut file = File::open(tar_path)?;
    let by_path: HashMap<&str, usize> = entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.path.as_str(), i))
        .collect();
    let read_json = |file: &mut File, path: &str| -> Result<Value, ArtifactError> {
        let i = *by_path
            .get(path)
            .ok_or_else(|| bad(format!("`{path}` is missing")))?;
        let bytes = read_at(file, &entries[i], &entry_name)?;
        serde_json::from_slice(&bytes).map_err(|e| bad(format!("`{path}` is not JSON: {e}")))
    };
    let new_manifest = if by_path.contains_key("manifest.json") {
        // the `docker save` layout every Docker writes (Docker 25+ beside its OCI layout)
        let m = read_json(&mut file, "manifest.json")?;
        let images = m
            .as_array()
            .ok_or_else(|| bad("manifest.json is not a list".into()))?;
        if images.len() != 1 {
            return Err(ArtifactError::SeveralImages {
                entry: entry_name,
                count: images.len(),
            });
        }
        let mut image = images[0].clone();
        // the names the tar carries are never applied
        image["RepoTags"] = Value::Null;
        image
    } else if by_path.contains_key("index.json") {
        // a bare OCI layout: follow index.json to the one image manifest
        let mut index = read_json(&mut file, "index.json")?;
        let manifest = loop {
            let mut digests: Vec<String> = index
                .get("manifests")
                .and_then(Value::as_array)
                .map(|v| {
                    v.iter()
                        .filter_map(|m| m.get("digest").and_then(Value::as_str).map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            digests.dedup();
            if digests.len() != 1 {
                return Err(ArtifactError::SeveralImages {
                    entry: entry_name,
                    count: digests.len(),
                });
            }
            let path =
                blob_path(&digests[0]).ok_or_else(|| bad(format!("bad digest {}", digests[0])))?;
            let blob = read_json(&mut file, &path)?;
            if blob.get("manifests").is_some() {
                index = blob;
                continue;
            }
            break blob;
        };
        let config = manifest
            .pointer("/config/digest")
            .and_then(Value::as_str)
            .and_then(blob_path);
        let layers: Option<Vec<String>> =
            manifest.get("layers").and_then(Value::as_array).map(|ls| {
                ls.iter()
                    .filter_map(|l| l.get("digest").and_then(Value::as_str).and_then(blob_path))
                    .collect()
            });
        match (config, layers) {
            (Some(c), Some(l)) => json!({"Config": c, "RepoTags": null, "Layers": l}),
            _ => return Err(bad("the OCI manifest has no config or layers".into())),
        }
    } else {
        return Err(bad("it has neither manifest.json nor index.json".into()));
    };
    let config_path = new_manifest
        .get("Config")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("manifest.json has no Config".into()))?
        .to_string();
    let layers: Vec<String> = new_manifest
        .get("Layers")
        .and_then(Value::as_array)
        .map(|v| {
            v.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    for p in layers.iter().chain(std::iter::once(&config_path)) {
        if p.starts_with('/') || p.split('/').any(|c| c == "..") {
            return Err(bad(format!("manifest.json names an unsafe path `{p}`")));
        }
        if !by_path.contains_key(p.as_str()) {
            return Err(bad(format!(
                "`{p}` is named in the manifest but missing: the tar is incomplete"
            )));
        }
    }
    let config_bytes = {
        let i = by_path[config_path.as_str()];
        read_at(&mut file, &entries[i], &entry_name)?
    };
    let config: Value = serde_json::from_slice(&config_bytes)
        .map_err(|e| bad(format!("the image config is not JSON: {e}")))?;
    let revision = config
        .pointer("/config/Labels")
        .and_then(|l| l.get(REVISION_LABEL))
        .and_then(Value::as_str)
        .map(str::to_string);

    // every entry but the ones that carry names, byte for byte; then our own manifest.json
    let mut segments: Vec<Segment> = Vec::new();
    for e in &entries {
        if matches!(
            e.path.as_str(),
            "manifest.json" | "repositories" | "index.json"
        ) {
            continue;
        }
        match segments.last_mut() {
            Some(Segment::Range(off, len)) if *off + *len == e.start => *len += e.end - e.start,
            _ => segments.push(Segment::Range(e.start, e.end - e.start)),
        }
    }
    let body = serde_json::to_vec(&json!([new_manifest])).expect("JSON values serialize");
    segments.push(Segment::Bytes(tar_file("manifest.json", &body)?));
    segments.push(Segment::Bytes(vec![0u8; 1024]));
    Ok(Prepared {
        entry_name,
        revision,
        file,
        segments,
    })
}

/// One regular-file tar entry: header, data, padding.
fn tar_file(name: &str, data: &[u8]) -> io::Result<Vec<u8>> {
    let mut h = tar::Header::new_ustar();
    h.set_path(name)?;
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_entry_type(tar::EntryType::Regular);
    h.set_cksum();
    let mut out = h.as_bytes().to_vec();
    out.extend_from_slice(data);
    out.resize(out.len().div_ceil(512) * 512, 0);
    Ok(out)
}
