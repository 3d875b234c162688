//! The artifact zip, read front to back from its local headers as the bytes arrive. Entries whose
//! local header carries their sizes are read by the `zip` crate's streaming reader. Entries with a
//! data descriptor (sizes after the data, as streaming zip writers such as actions/upload-artifact
//! write them) are not: the `zip` crate refuses them, so they are inflated here with flate2's
//! buffered decoder, which stops exactly where the deflate stream ends, and checked against
//! their descriptor (CRC-32 and both sizes). The central directory, at the end, is compared with
//! the local headers and tells symlinks apart. A stored (not deflated) entry with a data
//! descriptor (upload-artifact with `compression-level: 0`) has no end that its bytes tell: there
//! the rest of the zip is spooled to a private temp file, the entry's size read from the central
//! directory, and the walk goes on from the spool.

use super::{ArtifactError, Budget};
use std::io::{self, BufRead, BufReader, Cursor, Read, Seek, SeekFrom};

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
    /// The spool's directory: `RUNNER_TEMP` (a container action has no TMPDIR), else `/tmp`.
    pub temp_dir: &'a std::path::Path,
    /// The most a spool may hold: the artifact's listed size (the download is capped there too).
    pub spool_limit: u64,
}

/// What the walk found: the chosen entry's name, and a note when the layout forced a spool.
pub struct Found {
    pub entry_name: String,
    pub note: Option<String>,
}

/// Where the walk reads: the download as it streams, or, after a spool, the temp file.
enum Src<'r, R> {
    Stream(&'r mut R),
    Spool(BufReader<std::fs::File>),
}

impl<R: BufRead> Read for Src<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Src::Stream(r) => r.read(buf),
            Src::Spool(f) => f.read(buf),
        }
    }
}

impl<R: BufRead> BufRead for Src<'_, R> {
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        match self {
            Src::Stream(r) => r.fill_buf(),
            Src::Spool(f) => f.fill_buf(),
        }
    }
    fn consume(&mut self, n: usize) {
        match self {
            Src::Stream(r) => r.consume(n),
            Src::Spool(f) => f.consume(n),
        }
    }
}

/// Free disk a spool must leave behind (the contract: never into the last GiB).
const KEEP_FREE: u64 = 1 << 30;

impl Walk<'_> {
    /// Reads the zip whose first four bytes (`PK\x03\x04`) were already taken from `r`, to its
    /// central directory. `image` gets the chosen entry's bytes and must read them to the end.
    pub fn run<R: BufRead>(
        &self,
        r: &mut R,
        image: &mut dyn FnMut(&str, &mut dyn Read) -> Result<(), ArtifactError>,
    ) -> Result<Found, ArtifactError> {
        let mut src = Src::Stream(r);
        let mut note = None;
        let mut names: Vec<String> = Vec::new();
        let mut chosen: Option<String> = None;
        // a chosen entry that is not a tar may be a symlink: the central directory tells
        let mut deferred: Option<ArtifactError> = None;
        let mut sig = LOCAL;
        while sig == LOCAL {
            if names.len() >= MAX_ENTRIES {
                return Err(corrupt(format!("it has more than {MAX_ENTRIES} entries")));
            }
            let fixed = read_vec(&mut src, 26)?;
            let (flags, method) = (u16_at(&fixed, 2), u16_at(&fixed, 4));
            let raw_name = read_vec(&mut src, u16_at(&fixed, 22) as usize)?;
            let extra = read_vec(&mut src, u16_at(&fixed, 24) as usize)?;
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
                self.sized(&mut Cursor::new(header).chain(&mut src), &name, consumer)
            } else if method == 8 {
                self.described(&mut src, &name, &extra, consumer)
            } else if method == 0 {
                // a stored entry's end is only known from the central directory, at the end
                let (spool, size, crc) = self.spool(&mut src, &name)?;
                note = Some(format!(
                    "`{name}` is stored (not deflated) with its size after the data, as `compression-level: 0` writes it: its end is only in the zip's central directory, so the rest of the artifact went through a private temp file"
                ));
                src = Src::Spool(spool);
                self.stored(&mut src, &name, size, crc, consumer)
            } else {
                Err(corrupt(format!(
                    "`{name}` uses compression method {method}"
                )))
            };
            match result {
                Err(e @ ArtifactError::NotArchive { .. }) if is_chosen => deferred = Some(e),
                other => other?,
            }
            names.push(name);
            sig = read_u32(&mut src)?;
        }
        let mut listed = Vec::new();
        while sig == CENTRAL {
            let fixed = read_vec(&mut src, 42)?;
            let name = name_of(&read_vec(&mut src, u16_at(&fixed, 24) as usize)?);
            let skip = u16_at(&fixed, 26) as u64 + u16_at(&fixed, 28) as u64;
            io::copy(&mut (&mut src).take(skip), &mut io::sink())?;
            let unix = u16_at(&fixed, 0) >> 8 == 3;
            let mode = u32_at(&fixed, 34) >> 16;
            if unix && mode & 0o170000 == 0o120000 && chosen.as_deref() == Some(name.as_str()) {
                return Err(ArtifactError::UnsafeEntry(name));
            }
            listed.push(name);
            sig = read_u32(&mut src)?;
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
        Ok(Found { entry_name, note })
    }

    /// The rest of the zip into a private temp file (bounded, and never into the last GiB of free
    /// disk); returns it at the entry's first byte, with the entry's size and CRC-32 from the
    /// central directory.
    fn spool(
        &self,
        r: &mut impl Read,
        name: &str,
    ) -> Result<(BufReader<std::fs::File>, u64, u32), ArtifactError> {
        let dir = self.temp_dir;
        let free = rustix::fs::statvfs(dir)
            .map(|v| v.f_bavail.saturating_mul(v.f_frsize))
            .map_err(|e| ArtifactError::Io(format!("free space of `{}`: {e}", dir.display())))?;
        if free < self.spool_limit.saturating_add(KEEP_FREE) {
            return Err(ArtifactError::Layout(format!(
                "`{name}` is stored with its size after the data, so the artifact must be spooled to `{}`, which has {} free: it would leave less than 1 GiB",
                dir.display(),
                crate::core::size::human(free)
            )));
        }
        let mut file = tempfile::tempfile_in(dir)
            .map_err(|e| ArtifactError::Io(format!("a temp file in `{}`: {e}", dir.display())))?;
        let n = io::copy(&mut r.take(self.spool_limit + 1), &mut file)?;
        if n > self.spool_limit {
            return Err(corrupt("it is larger than GitHub lists it"));
        }
        let (size, crc) = central_entry(&mut file, n, name)?;
        file.seek(SeekFrom::Start(0))?;
        Ok((BufReader::new(file), size, crc))
    }

    /// A stored entry of a size known from the central directory, checked against its CRC-32
    /// and then against the data descriptor that follows it.
    fn stored<R: BufRead>(
        &self,
        r: &mut R,
        name: &str,
        size: u64,
        want_crc: u32,
        consumer: &mut dyn FnMut(&str, &mut dyn Read) -> Result<(), ArtifactError>,
    ) -> Result<(), ArtifactError> {
        let mut data = (&mut *r).take(size);
        let mut rd = Inflated {
            inner: &mut data,
            budget: self.budget,
            crc: crc32fast::Hasher::new(),
            n: 0,
        };
        consumer(name, &mut rd)?;
        io::copy(&mut rd, &mut io::sink()).map_err(|e| corrupt(format!("`{name}`: {e}")))?;
        let (crc, got) = (rd.crc.clone().finalize(), rd.n);
        if got != size || crc != want_crc {
            return Err(corrupt(format!(
                "`{name}` does not match its central directory (CRC-32 {crc:08x}, {got} bytes; it says {want_crc:08x}, {size})"
            )));
        }
        let mut d_crc = read_u32(r)?;
        if d_crc == DESCRIPTOR {
            d_crc = read_u32(r)?;
        }
        let sizes = if size >= u32::MAX as u64 {
            let b = read_vec(r, 16)?;
            [
                u64::from_le_bytes(b[..8].try_into().expect("8 bytes")),
                u64::from_le_bytes(b[8..].try_into().expect("8 bytes")),
            ]
        } else {
            let b = read_vec(r, 8)?;
            [u32_at(&b, 0) as u64, u32_at(&b, 4) as u64]
        };
        if d_crc != crc || sizes != [size, size] {
            return Err(corrupt(format!(
                "`{name}`'s data descriptor disagrees with its central directory"
            )));
        }
        Ok(())
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

/// The size and CRC-32 of `name` from the central directory at the end of `file` (`len` bytes,
/// the tail of a zip: offsets inside it are not the zip's, so the directory is found from its end).
fn central_entry(
    file: &mut std::fs::File,
    len: u64,
    name: &str,
) -> Result<(u64, u32), ArtifactError> {
    let tail_len = len.min(65_557 + 76) as usize;
    file.seek(SeekFrom::Start(len - tail_len as u64))?;
    let tail = read_vec(file, tail_len)?;
    let end = tail
        .windows(4)
        .rposition(|w| w == END.to_le_bytes())
        .filter(|at| at + 22 <= tail.len())
        .ok_or_else(|| corrupt("no end of central directory"))?;
    let mut dir_end = (len - tail_len as u64) + end as u64;
    let mut dir_size = u32_at(&tail, end + 12) as u64;
    // zip64: the locator sits just before the end record, the zip64 end record before it
    if end >= 20 + 56 && u32_at(&tail, end - 20) == 0x0706_4b50 {
        let rec = end - 20 - 56;
        if u32_at(&tail, rec) == 0x0606_4b50 {
            dir_size = u64::from_le_bytes(tail[rec + 40..rec + 48].try_into().expect("8 bytes"));
            dir_end = (len - tail_len as u64) + rec as u64;
        }
    }
    let start = dir_end
        .checked_sub(dir_size)
        .ok_or_else(|| corrupt("its central directory does not fit"))?;
    if dir_size > 64 << 20 {
        return Err(corrupt("its central directory is larger than 64 MiB"));
    }
    file.seek(SeekFrom::Start(start))?;
    let dir = read_vec(file, dir_size as usize)?;
    let mut at = 0;
    while at + 46 <= dir.len() && u32_at(&dir, at) == CENTRAL {
        let (crc, csize, usize_) = (
            u32_at(&dir, at + 16),
            u32_at(&dir, at + 20),
            u32_at(&dir, at + 24),
        );
        let (n, e, c) = (
            u16_at(&dir, at + 28) as usize,
            u16_at(&dir, at + 30) as usize,
            u16_at(&dir, at + 32) as usize,
        );
        let raw = dir
            .get(at + 46..at + 46 + n)
            .ok_or_else(|| corrupt("a truncated central directory"))?;
        if name_of(raw) == name {
            let extra = dir.get(at + 46 + n..at + 46 + n + e).unwrap_or_default();
            let mut size = csize as u64;
            if csize == u32::MAX {
                // zip64 extra: the uncompressed size first when it overflowed too, then this one
                let fields = zip64_fields(extra)
                    .ok_or_else(|| corrupt(format!("`{name}` has no zip64 size")))?;
                let skip = usize::from(usize_ == u32::MAX);
                size = *fields
                    .get(skip)
                    .ok_or_else(|| corrupt(format!("`{name}` has no zip64 size")))?;
            }
            return Ok((size, crc));
        }
        at += 46 + n + e + c;
    }
    Err(corrupt(format!("`{name}` is not in its central directory")))
}

fn zip64_fields(mut extra: &[u8]) -> Option<Vec<u64>> {
    while extra.len() >= 4 {
        let (id, len) = (u16_at(extra, 0), u16_at(extra, 2) as usize);
        let body = extra.get(4..4 + len)?;
        if id == 1 {
            return Some(
                body.chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
                    .collect(),
            );
        }
        extra = extra.get(4 + len..).unwrap_or_default();
    }
    None
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
