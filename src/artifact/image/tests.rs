//! Each refusal on a tar built byte by byte in memory, and the two attacks that made dockerd
//! load something other than what was checked: a PAX size override and a PAX header with two
//! `path` records.

use super::*;
use std::io::Read;

/// One 512-byte header block, with any typeflag, name and size field we like.
fn header(kind: u8, name: &str, size: u64, link: &str) -> Vec<u8> {
    let mut h = tar::Header::new_ustar();
    h.as_mut_bytes()[..name.len()].copy_from_slice(name.as_bytes());
    h.set_size(size);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::new(kind));
    if !link.is_empty() {
        h.as_mut_bytes()[157..157 + link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_cksum();
    h.as_bytes().to_vec()
}

fn padded(data: &[u8]) -> Vec<u8> {
    let mut v = data.to_vec();
    v.resize(data.len().div_ceil(512) * 512, 0);
    v
}

fn file(name: &str, data: &[u8]) -> Vec<u8> {
    let mut v = header(b'0', name, data.len() as u64, "");
    v.extend(padded(data));
    v
}

fn pax(records: &[(&str, &str)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (k, v) in records {
        let rest = format!(" {k}={v}\n");
        // the length counts its own digits
        let mut n = rest.len() + 1;
        while format!("{n}{rest}").len() != n {
            n += 1;
        }
        body.extend(format!("{n}{rest}").into_bytes());
    }
    let mut v = header(b'x', "PaxHeaders/x", body.len() as u64, "");
    v.extend(padded(&body));
    v
}

fn end(mut tar: Vec<u8>) -> Vec<u8> {
    tar.extend([0u8; 1024]);
    tar
}

const CONFIG: &[u8] = br#"{"architecture":"amd64","os":"linux","config":{"Labels":{"org.opencontainers.image.revision":"checked"}},"rootfs":{"type":"layers","diff_ids":[]}}"#;
const EVIL: &[u8] = br#"{"architecture":"amd64","os":"linux","config":{"Labels":{"org.opencontainers.image.revision":"evil"}},"rootfs":{"type":"layers","diff_ids":[]}}"#;

fn layer() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(5);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "payload", &b"hello"[..]).unwrap();
    b.into_inner().unwrap()
}

fn manifest(config: &str, tags: &str) -> Vec<u8> {
    format!(r#"[{{"Config":"{config}","RepoTags":{tags},"Layers":["l1/layer.tar"]}}]"#).into_bytes()
}

/// A legacy `docker save` tar, entries in the given order.
fn legacy(manifest_first: bool) -> Vec<u8> {
    let parts = [
        header(b'5', "l1/", 0, ""),
        file("l1/layer.tar", &layer()),
        file("cfg.json", CONFIG),
        file("repositories", br#"{"victim":{"latest":"x"}}"#),
    ];
    let m = file(
        "manifest.json",
        &manifest("cfg.json", r#"["victim:latest"]"#),
    );
    let mut tar = Vec::new();
    if manifest_first {
        tar.extend(m.clone());
    }
    for p in parts {
        tar.extend(p);
    }
    if !manifest_first {
        tar.extend(m);
    }
    end(tar)
}

/// Runs both passes and the checks, as the pipeline does, in memory.
fn run(input: &[u8]) -> Result<(Vec<u8>, Image), TarRefusal> {
    let mut framed = Vec::new();
    frame(input, &mut framed)?;
    let mut b = tar::Builder::new(Vec::new());
    let seen = read_entries(framed.as_slice(), &mut b)?;
    let layout = find_layout(&seen)?;
    let image = check_image(&seen, &layout)?;
    Ok((finish(b, &layout).unwrap(), image))
}

fn files(tar: &[u8]) -> HashMap<String, Vec<u8>> {
    let mut out = HashMap::new();
    for e in tar::Archive::new(tar).entries().unwrap() {
        let mut e = e.unwrap();
        let mut v = Vec::new();
        e.read_to_end(&mut v).unwrap();
        out.insert(e.path().unwrap().to_string_lossy().into_owned(), v);
    }
    out
}

#[test]
fn a_legacy_tar_loads_without_its_names_in_either_order() {
    for first in [true, false] {
        let (out, image) = run(&legacy(first)).unwrap();
        assert_eq!(image.revision.as_deref(), Some("checked"));
        assert_eq!(
            image.config_digest,
            format!("sha256:{}", hex::encode(Sha256::digest(CONFIG)))
        );
        let f = files(&out);
        assert!(!f.contains_key("repositories"), "repositories dropped");
        let m: Value = serde_json::from_slice(&f["manifest.json"]).unwrap();
        assert_eq!(m[0]["RepoTags"], Value::Null);
        assert_eq!(m[0]["Config"], "cfg.json");
        assert_eq!(f["cfg.json"], CONFIG);
        assert_eq!(f["l1/layer.tar"], layer());
    }
}

fn oci(manifest_json_first: bool, with_manifest_json: bool) -> Vec<u8> {
    let blob = |b: &[u8]| format!("blobs/sha256/{}", hex::encode(Sha256::digest(b)));
    let l = layer();
    let m = format!(
        r#"{{"schemaVersion":2,"config":{{"digest":"sha256:{}","size":1}},"layers":[{{"digest":"sha256:{}","size":1}}]}}"#,
        hex::encode(Sha256::digest(CONFIG)),
        hex::encode(Sha256::digest(&l))
    );
    let index = format!(
        r#"{{"schemaVersion":2,"manifests":[{{"digest":"sha256:{}","size":1,"annotations":{{"io.containerd.image.name":"docker.io/library/victim:latest","org.opencontainers.image.ref.name":"latest","keep":"me"}}}}]}}"#,
        hex::encode(Sha256::digest(m.as_bytes()))
    );
    let legacy_m = format!(
        r#"[{{"Config":"{}","RepoTags":["victim:latest"],"Layers":["{}"]}}]"#,
        blob(CONFIG),
        blob(&l)
    );
    let mut head = Vec::new();
    if with_manifest_json && manifest_json_first {
        head.extend(file("manifest.json", legacy_m.as_bytes()));
        head.extend(file("index.json", index.as_bytes()));
    }
    let mut tar = head;
    tar.extend(header(b'5', "blobs/", 0, ""));
    tar.extend(header(b'5', "blobs/sha256/", 0, ""));
    tar.extend(file(&blob(CONFIG), CONFIG));
    tar.extend(file(&blob(&l), &l));
    tar.extend(file(&blob(m.as_bytes()), m.as_bytes()));
    tar.extend(file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#));
    if !(with_manifest_json && manifest_json_first) {
        tar.extend(file("index.json", index.as_bytes()));
        if with_manifest_json {
            tar.extend(file("manifest.json", legacy_m.as_bytes()));
        }
    }
    end(tar)
}

#[test]
fn an_oci_tar_loads_without_its_names_in_either_order_or_bare() {
    for (first, with) in [(true, true), (false, true), (false, false)] {
        let (out, image) = run(&oci(first, with)).unwrap();
        assert_eq!(image.revision.as_deref(), Some("checked"));
        let f = files(&out);
        let index = String::from_utf8(f["index.json"].clone()).unwrap();
        assert!(
            !index.contains("victim") && !index.contains("ref.name"),
            "{index}"
        );
        assert!(index.contains("keep"), "other annotations stay: {index}");
        let m: Value = serde_json::from_slice(&f["manifest.json"]).unwrap();
        assert_eq!(m.as_array().unwrap().len(), 1);
        assert_eq!(m[0]["RepoTags"], Value::Null);
    }
}

#[test]
fn a_pax_size_override_is_refused() {
    // the attack of the hardening issue: a PAX `size` makes parsers that honour it read a hidden
    // manifest.json inside what the ustar size says is the first entry's data
    let hidden = file(
        "manifest.json",
        &manifest("evil.json", r#"["p7victim:latest"]"#),
    );
    let mut data = hidden.clone();
    data.extend(file("evil.json", EVIL));
    let mut tar = pax(&[("size", "0")]);
    tar.extend(header(b'0', "junk", data.len() as u64, ""));
    tar.extend(padded(&data));
    tar.extend(legacy(false)[..legacy(false).len() - 1024].to_vec());
    let e = run(&end(tar)).unwrap_err();
    assert!(matches!(e, TarRefusal::PaxSize { pax: 0, .. }), "{e}");
    // and one that agrees with its ustar field is fine
    let mut ok = pax(&[("size", "8"), ("mtime", "1.5")]);
    ok.extend(file("notes", b"12345678"));
    ok.extend(legacy(false)[..legacy(false).len() - 1024].to_vec());
    run(&end(ok)).unwrap();
}

#[test]
fn a_pax_header_with_two_paths_is_refused() {
    // tar-rs reads the first `path`, Go the last: the daemon would load the other config
    let mut tar = pax(&[("path", "cfg.json"), ("path", "evil-cfg.json")]);
    tar.extend(file("x", CONFIG));
    tar.extend(legacy(false)[..legacy(false).len() - 1024].to_vec());
    assert_eq!(
        run(&end(tar)).unwrap_err(),
        TarRefusal::PaxDuplicate { key: "path".into() }
    );
}

#[test]
fn whatever_the_pax_path_the_output_names_what_was_checked() {
    // a single PAX path renames the entry: the output carries the renamed entry under a plain
    // header, so the daemon's reader sees exactly the name we checked
    let mut tar = pax(&[("path", "cfg.json")]);
    tar.extend(file("decoy.json", CONFIG));
    let rest: Vec<u8> = legacy(false)[..legacy(false).len() - 1024]
        .chunks(512)
        .collect::<Vec<_>>()
        .concat();
    // drop the original cfg.json from the rest to avoid a duplicate
    let mut without = Vec::new();
    let mut ar = tar::Archive::new(rest.as_slice());
    let mut b = tar::Builder::new(&mut without);
    for e in ar.entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().into_owned();
        if p.to_str() == Some("cfg.json") {
            continue;
        }
        let mut h = e.header().clone();
        let mut v = Vec::new();
        e.read_to_end(&mut v).unwrap();
        b.append_data(&mut h, p, v.as_slice()).unwrap();
    }
    b.into_inner().unwrap();
    tar.extend(without[..without.len() - 1024].to_vec());
    let (out, image) = run(&end(tar)).unwrap();
    assert_eq!(image.revision.as_deref(), Some("checked"));
    // the output has no PAX header left, and a raw ustar reader agrees with tar-rs on every name
    let raw: Vec<String> = tar::Archive::new(out.as_slice())
        .entries()
        .unwrap()
        .raw(true)
        .map(|e| String::from_utf8_lossy(&e.unwrap().header().path_bytes()).into_owned())
        .collect();
    assert!(raw.contains(&"cfg.json".to_string()), "{raw:?}");
    assert!(
        !raw.iter()
            .any(|p| p.contains("decoy") || p.contains("PaxHeaders")),
        "{raw:?}"
    );
}

#[test]
fn global_headers_sparse_entries_and_links_are_refused() {
    let mut g = header(b'g', "pax_global_header", 0, "");
    g.extend(legacy(false));
    assert_eq!(run(&g).unwrap_err(), TarRefusal::GlobalHeader);

    let mut s = header(b'S', "sparse", 0, "");
    s.extend(legacy(false));
    assert!(matches!(run(&s).unwrap_err(), TarRefusal::Sparse(_)));

    let mut s = pax(&[("GNU.sparse.map", "0,1")]);
    s.extend(file("x", b"a"));
    s.extend(legacy(false));
    assert!(matches!(run(&s).unwrap_err(), TarRefusal::Sparse(_)));

    let mut h = header(b'1', "hard", 0, "cfg.json");
    h.extend(legacy(false));
    assert!(matches!(run(&h).unwrap_err(), TarRefusal::EntryType { .. }));

    let mut c = header(b'3', "dev", 0, "");
    c.extend(legacy(false));
    assert!(matches!(run(&c).unwrap_err(), TarRefusal::EntryType { .. }));
}

#[test]
fn unsafe_paths_duplicates_and_escaping_links_are_refused() {
    for bad in ["/etc/passwd", "../up", "a/../../b", "a//b"] {
        let mut t = file(bad, b"x");
        t.extend(legacy(false));
        assert!(
            matches!(run(&t).unwrap_err(), TarRefusal::UnsafePath(_)),
            "{bad}"
        );
    }
    // the same name twice: the daemon would keep the last, we checked the first
    let mut t = file("cfg.json", EVIL);
    t.extend(legacy(false));
    assert_eq!(
        run(&t).unwrap_err(),
        TarRefusal::Duplicate("cfg.json".into())
    );
    // two manifest.json
    let mut t = file("manifest.json", &manifest("cfg.json", "null"));
    t.extend(legacy(false));
    assert_eq!(
        run(&t).unwrap_err(),
        TarRefusal::Duplicate("manifest.json".into())
    );
    let mut t = header(b'2', "out", 0, "../../etc");
    t.extend(legacy(false));
    assert!(matches!(
        run(&t).unwrap_err(),
        TarRefusal::LinkEscapes { .. }
    ));
    // nothing is written through a symlinked directory
    let mut t = header(b'2', "dir", 0, "l1");
    t.extend(file("dir/cfg2.json", CONFIG));
    t.extend(legacy(false));
    assert!(matches!(run(&t).unwrap_err(), TarRefusal::UnderLink(_)));
}

#[test]
fn the_config_must_be_a_checked_file() {
    // a manifest pointing at a symlink: the daemon would follow it to another config
    let mut t = header(b'2', "link.json", 0, "evil.json");
    t.extend(file("evil.json", EVIL));
    t.extend(header(b'5', "l1/", 0, ""));
    t.extend(file("l1/layer.tar", &layer()));
    t.extend(file("manifest.json", &manifest("link.json", "null")));
    assert!(matches!(run(&end(t)).unwrap_err(), TarRefusal::Layout(_)));
    // a blob that does not hash to its name
    let mut tar = oci(false, false);
    let name = format!("blobs/sha256/{}", hex::encode(Sha256::digest(CONFIG)));
    let at = tar.windows(CONFIG.len()).position(|w| w == CONFIG).unwrap();
    tar[at + 50] ^= 1;
    let _ = name;
    assert!(matches!(
        run(&tar).unwrap_err(),
        TarRefusal::BlobDigest { .. }
    ));
}

#[test]
fn exactly_one_image() {
    let two = br#"[{"Config":"cfg.json","Layers":["l1/layer.tar"]},{"Config":"cfg.json","Layers":["l1/layer.tar"]}]"#;
    let mut t = header(b'5', "l1/", 0, "");
    t.extend(file("l1/layer.tar", &layer()));
    t.extend(file("cfg.json", CONFIG));
    t.extend(file("manifest.json", two));
    assert_eq!(run(&end(t)).unwrap_err(), TarRefusal::Images(2));
    // neither manifest.json nor index.json
    let t = end(file("cfg.json", CONFIG));
    assert!(matches!(run(&t).unwrap_err(), TarRefusal::Layout(_)));
    // a missing layer
    let t = end([
        file("cfg.json", CONFIG),
        file("manifest.json", &manifest("cfg.json", "null")),
    ]
    .concat());
    assert!(matches!(run(&t).unwrap_err(), TarRefusal::Layout(_)));
}

#[test]
fn manifest_json_and_index_json_must_agree() {
    let mut tar = oci(false, true);
    // point manifest.json's Config at another (valid) file
    let other = format!("blobs/sha256/{}", hex::encode(Sha256::digest(EVIL)));
    let mut extra = file(&other, EVIL);
    extra.extend(tar[..tar.len() - 1024].to_vec());
    tar = end(extra);
    let s = String::from_utf8_lossy(&tar).into_owned();
    let cfg = format!("blobs/sha256/{}", hex::encode(Sha256::digest(CONFIG)));
    // rebuild with a manifest.json naming `other`
    let mut out = Vec::new();
    let mut b = tar::Builder::new(&mut out);
    for e in tar::Archive::new(tar.as_slice()).entries().unwrap() {
        let mut e = e.unwrap();
        let p = e.path().unwrap().into_owned();
        let mut v = Vec::new();
        e.read_to_end(&mut v).unwrap();
        if p.to_str() == Some("manifest.json") {
            v = String::from_utf8(v)
                .unwrap()
                .replace(&cfg, &other)
                .into_bytes();
        }
        let mut h = e.header().clone();
        h.set_size(v.len() as u64);
        b.append_data(&mut h, p, v.as_slice()).unwrap();
    }
    b.into_inner().unwrap();
    assert!(s.contains("index.json"));
    let e = run(&out).unwrap_err();
    assert!(e.to_string().contains("different images"), "{e}");
}

#[test]
fn oversized_metadata_and_extension_headers_are_refused_without_reading_them_whole() {
    // a PAX header claiming 1 GiB: refused from its size field
    let mut t = header(b'x', "PaxHeaders/x", 1 << 30, "");
    t.extend([0u8; 512]);
    assert_eq!(run(&t).unwrap_err(), TarRefusal::LargeExtension(1 << 30));
    let mut t = header(b'L', "././@LongLink", 1 << 30, "");
    t.extend([0u8; 512]);
    assert_eq!(run(&t).unwrap_err(), TarRefusal::LargeExtension(1 << 30));
    let t = header(b'0', "manifest.json", MAX_JSON + 1, "");
    assert!(matches!(
        run(&t).unwrap_err(),
        TarRefusal::LargeMetadata { .. } | TarRefusal::Malformed(_)
    ));
}

#[test]
fn a_gnu_long_name_that_contradicts_the_pax_path_is_refused() {
    let long = "l".repeat(200);
    let mut t = pax(&[("path", "cfg.json")]);
    t.extend(header(b'L', "././@LongLink", long.len() as u64 + 1, ""));
    t.extend(padded(format!("{long}\0").as_bytes()));
    t.extend(file("short", CONFIG));
    t.extend(legacy(false));
    let e = run(&t).unwrap_err();
    assert!(matches!(e, TarRefusal::PaxConflict { .. }), "{e}");
}
