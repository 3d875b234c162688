//! Sizes as people read them in logs and errors.

/// `240.0 MB`, `512 B`: decimal units, as registries and Docker print them.
pub fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["kB", "MB", "GB", "TB", "PB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1000.0;
    let mut unit = 0;
    while v >= 1000.0 && unit + 1 < UNITS.len() {
        v /= 1000.0;
        unit += 1;
    }
    format!("{v:.1} {}", UNITS[unit])
}

#[cfg(test)]
mod tests {
    #[test]
    fn human_sizes() {
        for (n, want) in [
            (0, "0 B"),
            (999, "999 B"),
            (1000, "1.0 kB"),
            (65_536, "65.5 kB"),
            (240_000_000, "240.0 MB"),
            (1 << 30, "1.1 GB"),
            (u64::MAX, "18446.7 PB"),
        ] {
            assert_eq!(super::human(n), want, "{n}");
        }
    }
}
