//! `os/arch[/variant]`: which manifest of a multi-platform index to resolve.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Platform {
    pub fn parse(s: &str) -> Option<Platform> {
        let parts: Vec<&str> = s.trim().split('/').collect();
        let ok = |p: &&str| {
            !p.is_empty()
                && p.bytes()
                    .all(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
        };
        let (os, arch, variant) = match parts.as_slice() {
            [os, arch] if ok(os) && ok(arch) => (os, arch, None),
            [os, arch, v] if ok(os) && ok(arch) && ok(v) => (os, arch, Some(v.to_string())),
            _ => return None,
        };
        Some(Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant,
        })
    }

    /// What hosted runners are, and what we pick when neither input nor daemon says otherwise.
    pub fn linux_amd64() -> Platform {
        Platform {
            os: "linux".into(),
            architecture: "amd64".into(),
            variant: None,
        }
    }

    /// The `platform` input, else the daemon's own (`os/arch` from its /version), else linux/amd64.
    pub fn choose(input: Option<&Platform>, daemon: Option<&str>) -> Platform {
        input
            .cloned()
            .or_else(|| daemon.and_then(Platform::parse))
            .unwrap_or_else(Platform::linux_amd64)
    }
}

impl std::fmt::Display for Platform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::Platform;

    #[test]
    fn parses_and_chooses() {
        assert_eq!(
            Platform::parse("linux/arm64/v8").unwrap().to_string(),
            "linux/arm64/v8"
        );
        for bad in ["amd64", "linux/", "linux/amd64/v8/x", "linux/am d64"] {
            assert_eq!(Platform::parse(bad), None, "{bad}");
        }
        let arm = Platform::parse("linux/arm64").unwrap();
        let cases = [
            (Some(&arm), Some("linux/amd64"), "linux/arm64"),
            (None, Some("linux/arm64"), "linux/arm64"),
            (None, Some("garbage"), "linux/amd64"),
            (None, None, "linux/amd64"),
        ];
        for (input, daemon, want) in cases {
            assert_eq!(Platform::choose(input, daemon).to_string(), want);
        }
    }
}
