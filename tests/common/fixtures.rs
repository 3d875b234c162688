//! Artifact fixtures: `docker save` tars in both layouts, zipped as actions/upload-artifact does.

use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;

pub fn sha256(b: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(b)))
}

/// All regular files of a tar, by path.
pub fn read_tar(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut ar = tar::Archive::new(bytes);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        if e.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let p = e.path().unwrap().to_string_lossy().to_string();
        let mut v = Vec::new();
        e.read_to_end(&mut v).unwrap();
        out.insert(p, v);
    }
    out
}

pub fn write_tar(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (p, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, p, data.as_slice()).unwrap();
    }
    b.into_inner().unwrap()
}

/// Rewrites a legacy `docker save` tar's manifest.json with other RepoTags.
pub fn retag_legacy(tar: &[u8], tags: Value) -> Vec<u8> {
    let files = read_tar(tar);
    let mut m: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    m[0]["RepoTags"] = tags;
    let mut out: Vec<(String, Vec<u8>)> = files
        .into_iter()
        .filter(|(p, _)| p != "manifest.json")
        .collect();
    out.push(("manifest.json".into(), serde_json::to_vec(&m).unwrap()));
    write_tar(&out)
}

/// The layout Docker 25+ writes, built by hand from the OCI image-layout spec: blobs/sha256,
/// index.json naming the image, oci-layout, and (unless `bare`) the compatible manifest.json.
pub fn oci_from_legacy(tar: &[u8], name: &str, bare: bool) -> Vec<u8> {
    let files = read_tar(tar);
    let legacy: Value = serde_json::from_slice(&files["manifest.json"]).unwrap();
    let config = files[legacy[0]["Config"].as_str().unwrap()].clone();
    let mut blobs: Vec<(String, Vec<u8>)> = Vec::new();
    let mut layers = Vec::new();
    for l in legacy[0]["Layers"].as_array().unwrap() {
        let data = files[l.as_str().unwrap()].clone();
        let d = sha256(&data);
        layers.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": d, "size": data.len()}));
        blobs.push((d, data));
    }
    let config_digest = sha256(&config);
    let manifest = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest, "size": config.len()},
        "layers": layers});
    let manifest_bytes = serde_json::to_vec(&manifest).unwrap();
    let manifest_digest = sha256(&manifest_bytes);
    let index = json!({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": manifest_digest,
                       "size": manifest_bytes.len(),
                       "annotations": {"io.containerd.image.name": format!("docker.io/library/{name}"),
                                       "org.opencontainers.image.ref.name": name.split(':').nth(1).unwrap_or("latest")}}]});
    blobs.push((config_digest.clone(), config));
    blobs.push((manifest_digest, manifest_bytes));
    let path = |d: &str| format!("blobs/sha256/{}", d.trim_start_matches("sha256:"));
    let mut out: Vec<(String, Vec<u8>)> = blobs.iter().map(|(d, b)| (path(d), b.clone())).collect();
    out.push((
        "oci-layout".into(),
        br#"{"imageLayoutVersion":"1.0.0"}"#.to_vec(),
    ));
    out.push(("index.json".into(), serde_json::to_vec(&index).unwrap()));
    if !bare {
        let layer_paths: Vec<String> = layers
            .iter()
            .map(|l| path(l["digest"].as_str().unwrap()))
            .collect();
        let m =
            json!([{"Config": path(&config_digest), "RepoTags": [name], "Layers": layer_paths}]);
        out.push(("manifest.json".into(), serde_json::to_vec(&m).unwrap()));
    }
    write_tar(&out)
}

pub fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// A zip as actions/upload-artifact makes it: deflate, level 6.
pub fn zip(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(6));
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

pub fn write(dir: &Path, name: &str, data: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, data).unwrap();
    p
}

fn patch_u32(zip: &mut [u8], sig: &[u8; 4], field: usize, value: u32) {
    let mut at = 0;
    while let Some(p) = zip[at..].windows(4).position(|w| w == sig) {
        let o = at + p + field;
        zip[o..o + 4].copy_from_slice(&value.to_le_bytes());
        at += p + 4;
    }
}

/// Every entry claims `declared` uncompressed bytes (local header and central directory).
pub fn zip_lie_about_size(mut zip: Vec<u8>, declared: u32) -> Vec<u8> {
    patch_u32(&mut zip, b"PK\x03\x04", 22, declared);
    patch_u32(&mut zip, b"PK\x01\x02", 24, declared);
    zip
}

/// Every entry's CRC-32 is wrong.
pub fn zip_bad_crc(mut zip: Vec<u8>) -> Vec<u8> {
    patch_u32(&mut zip, b"PK\x03\x04", 14, 0xdead_beef);
    patch_u32(&mut zip, b"PK\x01\x02", 16, 0xdead_beef);
    zip
}

/// Renames every occurrence of one name to another of the same length, making duplicates.
pub fn zip_rename(mut zip: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    assert_eq!(from.len(), to.len());
    let mut at = 0;
    while let Some(p) = zip[at..].windows(from.len()).position(|w| w == from) {
        zip[at + p..at + p + to.len()].copy_from_slice(to);
        at += p + from.len();
    }
    zip
}

pub fn zip_symlink(name: &str, target: &str) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    w.add_symlink(name, target, zip::write::SimpleFileOptions::default())
        .unwrap();
    w.finish().unwrap().into_inner()
}

/// A zip as streaming writers make it (actions/upload-artifact's among them): each entry's sizes
/// and CRC in a data descriptor after its data, none in its local header.
pub fn zip_streamed(entries: &[(&str, &[u8])], method: zip::CompressionMethod) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut w = zip::ZipWriter::new_stream(&mut out);
        let opts = zip::write::SimpleFileOptions::default().compression_method(method);
        for (name, data) in entries {
            w.start_file(*name, opts).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap();
    }
    // the local headers really carry no sizes: bit 3 set on every entry
    let mut at = 0;
    while let Some(p) = out[at..].windows(4).position(|w| w == b"PK\x03\x04") {
        assert_ne!(out[at + p + 6] & 8, 0, "a data descriptor on every entry");
        at += p + 4;
    }
    out
}

/// The same tar with the named entries moved to the front (or, with `last`, to the end).
pub fn reorder(tar: &[u8], names: &[&str], last: bool) -> Vec<u8> {
    let mut picked = Vec::new();
    let mut rest = Vec::new();
    let mut ar = tar::Archive::new(tar);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().to_string_lossy().to_string();
        let mut h = e.header().clone();
        let mut v = Vec::new();
        e.read_to_end(&mut v).unwrap();
        let item = (p.clone(), h.clone(), v);
        h.set_cksum();
        if names.contains(&p.as_str()) {
            picked.push(item);
        } else {
            rest.push(item);
        }
    }
    let all: Vec<_> = if last {
        rest.into_iter().chain(picked).collect()
    } else {
        picked.into_iter().chain(rest).collect()
    };
    let mut b = tar::Builder::new(Vec::new());
    for (p, mut h, v) in all {
        if h.entry_type() == tar::EntryType::Symlink {
            let target = h.link_name().unwrap().unwrap().into_owned();
            b.append_link(&mut h, &p, target).unwrap();
        } else {
            b.append_data(&mut h, &p, v.as_slice()).unwrap();
        }
    }
    b.into_inner().unwrap()
}

/// Names of a tar's entries, in order.
pub fn tar_order(tar: &[u8]) -> Vec<String> {
    let mut ar = tar::Archive::new(tar);
    ar.entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().to_string())
        .collect()
}
