//! Bench helper for bench/attestation.py: verifies one Sigstore bundle N times in one process.
//! The harness reads the process's CPU time for N = 0, 1 and many, so start-up, the first
//! verification (trust roots parsed) and each further one come apart without a timer in here.
//!
//! usage: verify_attestation BUNDLE_JSON sha256:DIGEST OWNER/REPO N

use image_resolver::provenance::{verify, Policy};

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, bundle, digest, repository, n] = args.as_slice() else {
        eprintln!("usage: verify_attestation BUNDLE_JSON sha256:DIGEST OWNER/REPO N");
        std::process::exit(2);
    };
    let bundle = std::fs::read(bundle).unwrap_or_else(|e| {
        eprintln!("reading `{bundle}`: {e}");
        std::process::exit(2);
    });
    let n: u32 = n.parse().unwrap_or_else(|_| {
        eprintln!("N `{n}` is not a count");
        std::process::exit(2);
    });
    let policy = Policy::new(repository, None);
    for _ in 0..n {
        if let Err(e) = verify(&bundle, digest, &policy) {
            eprintln!("attestation of `{digest}` is invalid: {e}");
            std::process::exit(1);
        }
    }
}
