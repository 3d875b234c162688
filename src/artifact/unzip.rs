//! The artifact zip, read front to back from its local headers as the bytes arrive. Entries whose
//! local header carries their sizes are read by the `zip` crate's streaming reader. Entries with a
//! data descriptor (sizes after the data, as streaming zip writers such as actions/upload-artifact
//! write them) are not: the `zip` crate refuses them, so they are inflated here with flate2's
//! buffered decoder, which stops exactly where the deflate stream ends, and checked against
//! their descriptor (CRC-32 and both sizes). The central directory, at the end, is compared with
//! the local headers and tells symlinks apart.

use super::{ArtifactError, Budget};
use std::io::{self, BufRead, Cursor, Read};

const LOCAL: u32 = 0x0403_4b50;
const CENTRAL: u32 = 0x0201_4b50;
const END: u32 = 0x0605_4b50;
const DESCRIPTOR: u32 = 0x0807_4b50;
/// An image artifact holds a handful of files.
const MAX_ENTRIES: usize = 10_000;
const LISTED: usize = 20;

/// Relative, no `..`, no drive letter or backslash: a name that could only ever live inside a folder.
pub fn is_safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains(['\\', ':', '\0'])
        && name.split('/').all(|c| c != "..")
}

pub fn is_image_tar(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.ends_with(".tar") || n.ends_with(".tar.gz") || n.ends_with(".tgz")
}

fn same_name(name: &str, wanted: &str) -> bool {
    name == wanted || name.trim_start_matches("./") == wanted.trim_start_matches("./")
}

pub fn list(v: &[String]) -> String {
    if v.is_empty() {
        return "nothing".into();
    }
    let mut s = v
        .iter()
        .take(LISTED)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    if v.len() > LISTED {
        s.push_str(&format!(" and {} more", v.len() - LISTED));
    }
    s
}

fn corrupt(detail: impl std::fmt::Display) -> ArtifactError {
    ArtifactError::Corrupt(detail.to_string())
}

fn u16_at(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn read_u32(r: &mut impl Read) -> io::Result<u32> {
    let mut b = [0u8; 4];
    r.read_exact(&mut b)?;
    Ok(u32::from_le_bytes(b))
}

fn read_vec(r: &mut impl Read, n: usize) -> io::Result<Vec<u8>> {
    let mut v = vec![0u8; n];
    r.read_exact(&mut v)?;
    Ok(v)
}

fn name_of(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw).into_owned()
}

/// Counts what an entry inflates to against the artifact's budget, and its CRC-32.
struct Inflated<'a, R> {
    inner: R,
    budget: &'a Budget,
    crc: crc32fast::Hasher,
    n: u64,
}

impl<R: Read> Read for Inflated<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.budget.spend(n as u64)?;
        self.crc.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

/// The entry chosen as the image, read by `image`; every other entry read and dropped.
pub struct Walk<'a> {
    pub wanted: Option<&'a str>,
    pub budget: &'a Budget,
}

/// What the walk found: the chosen entry's name.
pub struct Found {
    pub entry_name: String,
}

impl Walk<'_> {
    /// Reads the zip whose first four bytes (`PK\x03\x04`) were already taken from `r`, to its
    /// central directory. `image` gets the chosen entry's bytes and must read them to the end.
    pub fn run<R: BufRead>(
        &self,
        r: &mut R,
        image: &mut dyn FnMut(&str, &mut dyn Read) -> Result<(), ArtifactError>,
    ) -> Result<Found, ArtifactError> {
        let mut names: Vec<String> = Vec::new();
        let mut chosen: Option<String> = None;
        // a chosen entry that is not a tar may be a symlink: the central directory tells
        let mut deferred: Option<ArtifactError> = None;
        let mut sig = LOCAL;
        while sig == LOCAL {
            if names.len() >= MAX_ENTRIES {
                return Err(corrupt(format!("it has more than {MAX_ENTRIES} entries")));
            }
            let fixed = read_vec(r, 26)?;
            let (flags, method) = (u16_at(&fixed, 2), u16_at(&fixed, 4));
            let raw_name = read_vec(r, u16_at(&fixed, 22) as usize)?;
            let extra = read_vec(r, u16_at(&fixed, 24) as usize)?;
            let name = name_of(&raw_name);
            if names.contains(&name) {
                return Err(ArtifactError::DuplicateEntry(name));
            }
            if flags & 1 != 0 {
                return Err(corrupt(format!("`{name}` is encrypted")));
            }
            let is_chosen = match self.wanted {
                Some(w) => same_name(&name, w),
                None => !name.ends_with('/') && is_image_tar(&name),
            };
            if is_chosen {
                if let Some(first) = &chosen {
                    return Err(if same_name(first, &name) {
                        ArtifactError::DuplicateEntry(name)
                    } else {
                        ArtifactError::SeveralTars(list(&[first.clone(), name]))
                    });
                }
                if !is_safe_name(&name) {
                    return Err(ArtifactError::UnsafeEntry(name));
                }
                chosen = Some(name.clone());
            }
            let mut sink = |_: &str, rd: &mut dyn Read| -> Result<(), ArtifactError> {
                io::copy(rd, &mut io::sink())?;
                Ok(())
            };
            let consumer: &mut dyn FnMut(&str, &mut dyn Read) -> Result<(), ArtifactError> =
                if is_chosen { image } else { &mut sink };
            let result = if flags & 8 == 0 {
                let mut header = Vec::with_capacity(30 + raw_name.len() + extra.len());
                header.extend_from_slice(&LOCAL.to_le_bytes());
                header.extend_from_slice(&fixed);
                header.extend_from_slice(&raw_name);
                header.extend_from_slice(&extra);
                self.sized(&mut Cursor::new(header).chain(&mut *r), &name, consumer)
            } else if method == 8 {
                self.described(r, &name, &extra, consumer)
            } else {
                // a stored entry's end is only known from the central directory
                Err(ArtifactError::Layout(format!(
                    "`{name}` is stored (not deflated) with its size after the data"
                )))
            };
            match result {
                Err(e @ ArtifactError::NotArchive { .. }) if is_chosen => deferred = Some(e),
                other => other?,
            }
            names.push(name);
            sig = read_u32(r)?;
        }
        let mut listed = Vec::new();
        while sig == CENTRAL {
            let fixed = read_vec(r, 42)?;
            let name = name_of(&read_vec(r, u16_at(&fixed, 24) as usize)?);
            let skip = u16_at(&fixed, 26) as u64 + u16_at(&fixed, 28) as u64;
            io::copy(&mut r.take(skip), &mut io::sink())?;
            let unix = u16_at(&fixed, 0) >> 8 == 3;
            let mode = u32_at(&fixed, 34) >> 16;
            if unix && mode & 0o170000 == 0o120000 && chosen.as_deref() == Some(name.as_str()) {
                return Err(ArtifactError::UnsafeEntry(name));
            }
            listed.push(name);
            sig = read_u32(r)?;
        }
        if listed != names {
            return Err(corrupt(format!(
                "its central directory lists {}, its entries are {}",
                list(&listed),
                list(&names)
            )));
        }
        if sig != END && sig != 0x0606_4b50 {
            return Err(corrupt("no end of central directory after the entries"));
        }
        if let Some(e) = deferred {
            return Err(e);
        }
        let entry_name = match (chosen, self.wanted) {
            (Some(n), _) => n,
            (None, Some(w)) => {
                return Err(ArtifactError::NoSuchEntry {
                    name: w.into(),
                    have: list(&names),
                })
            }
            (None, None) => return Err(ArtifactError::NoTar(list(&names))),
        };
        Ok(Found { entry_name })
    }

    /// An entry whose local header has its sizes: the `zip` crate reads it, checks its CRC and
    /// refuses it past its declared size.
    fn sized(
        &self,
        r: &mut impl Read,
        name: &str,
        consumer: &mut dyn FnMut(&str, &mut dyn Read) -> Result<(), ArtifactError>,
    ) -> Result<(), ArtifactError> {
        let mut file = zip::read::read_zipfile_from_stream(r)
            .map_err(|e| corrupt(format!("`{name}`: {e}")))?
            .ok_or_else(|| corrupt(format!("`{name}`: no local header")))?;
        let declared = file.size();
        let mut rd = Inflated {
            inner: &mut file,
            budget: self.budget,
            crc: crc32fast::Hasher::new(),
            n: 0,
        };
        let result = consumer(name, &mut rd).and_then(|()| {
            io::copy(&mut rd, &mut io::sink())?;
            Ok(())
        });
        result.map_err(|e| match e {
            // the zip crate notices a lying size itself, mid-read
            ArtifactError::Io(m) if m.contains("larger than its declared") => {
                ArtifactError::EntryBomb {
                    name: name.into(),
                    declared,
                }
            }
            ArtifactError::Io(m) => corrupt(format!("`{name}`: {m}")),
            e => e,
        })
    }

    /// A deflated entry with a data descriptor: inflated until its deflate stream ends, then
    /// checked against the descriptor that follows.
    fn described<R: BufRead>(
        &self,
        r: &mut R,
        name: &str,
        extra: &[u8],
        consumer: &mut dyn FnMut(&str, &mut dyn Read) -> Result<(), ArtifactError>,
    ) -> Result<(), ArtifactError> {
        let mut dec = flate2::bufread::DeflateDecoder::new(&mut *r);
        let mut rd = Inflated {
            inner: &mut dec,
            budget: self.budget,
            crc: crc32fast::Hasher::new(),
            n: 0,
        };
        consumer(name, &mut rd)?;
        io::copy(&mut rd, &mut io::sink()).map_err(|e| corrupt(format!("`{name}`: {e}")))?;
        let (crc, size) = (rd.crc.clone().finalize(), rd.n);
        let compressed = dec.total_in();
        let mut want_crc = read_u32(r)?;
        if want_crc == DESCRIPTOR {
            want_crc = read_u32(r)?;
        }
        // zip64 sizes when the local header says so, or when 32 bits cannot hold them
        let zip64 =
            has_zip64_extra(extra) || size >= u32::MAX as u64 || compressed >= u32::MAX as u64;
        let (want_compressed, want_size) = if zip64 {
            let b = read_vec(r, 16)?;
            (
                u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
                u64::from_le_bytes(b[8..].try_into().expect("8 bytes")),
            )
        } else {
            let b = read_vec(r, 8)?;
            (u32_at(&b, 0) as u64, u32_at(&b, 4) as u64)
        };
        if want_crc != crc || want_size != size || want_compressed != compressed {
            return Err(corrupt(format!(
                "`{name}` does not match its data descriptor (CRC-32 {crc:08x}, {size} bytes from {compressed}; it says {want_crc:08x}, {want_size} from {want_compressed})"
            )));
        }
        Ok(())
    }
}

fn has_zip64_extra(mut extra: &[u8]) -> bool {
    while extra.len() >= 4 {
        let (id, len) = (u16_at(extra, 0), u16_at(extra, 2) as usize);
        if id == 1 {
            return true;
        }
        extra = extra.get(4 + len..).unwrap_or_default();
    }
    false
}
