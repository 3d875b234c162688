//! A Sigstore of the suite's own, generated per test process without any network: a Fulcio-style
//! CA whose leaf certificates carry GitHub's certificate extensions and an embedded SCT of a CT
//! log, an RFC 3161 timestamp authority (how GitHub's instance for private repositories proves the
//! signing time), a Rekor-style transparency log (how the public-good instance does: a `dsse`
//! entry with its inclusion proof, signed checkpoint and signed entry timestamp), and the
//! `trusted_root.json` describing them all. It signs in-toto SLSA provenance statements in DSSE
//! envelopes as `actions/attest` does, for any digest and identity a test chooses, proven either
//! way.
//!
//! The binary accepts this root only when built with the `test-trust-root` feature, through
//! `IMAGE_RESOLVER_TEST_TRUST_ROOT` (src/provenance/trust/README.md).
//!
//! Every structure is composed with the `der`, `x509-cert` and `cms` crates; every signature and
//! key is ring's.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use const_oid::ObjectIdentifier as Oid;
use der::asn1::{BitString, GeneralizedTime, Ia5String, Int, OctetString, SetOfVec, UtcTime};
use der::{Any, Decode, Encode, Sequence};
use ring::rand::SystemRandom;
use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use x509_cert::attr::Attribute;
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, KeyUsages, SubjectAltName,
};
use x509_cert::ext::Extension;
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::time::{Time, Validity};
use x509_cert::{Certificate, TbsCertificate, Version};

/// The environment variable the `test-trust-root` build reads (a path to a trusted_root.json).
pub const TRUST_ROOT_VAR: &str = "IMAGE_RESOLVER_TEST_TRUST_ROOT";

const ECDSA_WITH_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");
const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
const PRIME256V1: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
const SHA256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");
const CODE_SIGNING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.3");
const TIME_STAMPING: Oid = Oid::new_unwrap("1.3.6.1.5.5.7.3.8");
const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
const TST_INFO: Oid = Oid::new_unwrap("1.2.840.113549.1.9.16.1.4");
const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
const TSA_POLICY: Oid = Oid::new_unwrap("1.3.6.1.4.1.57264.99.1");
const BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
const KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");
const EXT_KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.37");
const SUBJECT_ALT_NAME: Oid = Oid::new_unwrap("2.5.29.17");
const SCT_LIST: Oid = Oid::new_unwrap("1.3.6.1.4.1.11129.2.4.2");

/// Fulcio's certificate extensions (https://github.com/sigstore/fulcio/blob/main/docs/oid-info.md).
fn fulcio(n: u32) -> Oid {
    Oid::new_unwrap(&format!("1.3.6.1.4.1.57264.1.{n}"))
}

/// Who built the image, as the certificate says it. `server` is the GitHub the URIs are on.
#[derive(Debug, Clone)]
pub struct Identity {
    pub server: String,
    pub issuer: String,
    /// `owner/name`.
    pub repository: String,
    /// Source Repository Digest (.13): the commit built.
    pub commit: String,
    /// Source Repository Ref (.14).
    pub source_ref: String,
    /// Build Signer URI (.9) without the server: `owner/repo/.github/workflows/f.yml@ref`; also
    /// the SAN.
    pub signer: String,
    /// Build Config URI (.18) without the server: the caller workflow.
    pub caller: String,
    /// Runner Environment (.11): `github-hosted` or `self-hosted`.
    pub runner: String,
}

impl Identity {
    /// `acme/charon`'s `build.yml` on `main`, on a GitHub-hosted runner, built from `commit`.
    pub fn github(commit: &str) -> Identity {
        let workflow = "acme/charon/.github/workflows/build.yml@refs/heads/main".to_string();
        Identity {
            server: "https://github.com".into(),
            issuer: "https://token.actions.githubusercontent.com".into(),
            repository: "acme/charon".into(),
            commit: commit.into(),
            source_ref: "refs/heads/main".into(),
            signer: workflow.clone(),
            caller: workflow,
            runner: "github-hosted".into(),
        }
    }
}

struct Key {
    pair: EcdsaKeyPair,
    rng: SystemRandom,
}

impl Key {
    fn new() -> Key {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        Key { pair, rng }
    }

    fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.pair
            .sign(&self.rng, message)
            .unwrap()
            .as_ref()
            .to_vec()
    }

    /// A log's ID: the sha256 of its key's SubjectPublicKeyInfo (RFC 6962, Rekor).
    fn log_id(&self) -> [u8; 32] {
        sha256(&self.spki().to_der().unwrap()).try_into().unwrap()
    }

    fn spki(&self) -> SubjectPublicKeyInfoOwned {
        SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: EC_PUBLIC_KEY,
                parameters: Some(Any::encode_from(&PRIME256V1).unwrap()),
            },
            subject_public_key: BitString::from_bytes(self.pair.public_key().as_ref()).unwrap(),
        }
    }
}

fn ecdsa_sha256() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: ECDSA_WITH_SHA256,
        parameters: None,
    }
}

fn utc(t: SystemTime) -> Time {
    Time::UtcTime(UtcTime::from_unix_duration(secs(t)).unwrap())
}

fn secs(t: SystemTime) -> Duration {
    Duration::from_secs(t.duration_since(UNIX_EPOCH).unwrap().as_secs())
}

fn rfc3339(t: SystemTime) -> String {
    let g = GeneralizedTime::from_unix_duration(secs(t)).unwrap();
    let dt = g.to_date_time();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z",
        dt.year(),
        dt.month(),
        dt.day(),
        dt.hour(),
        dt.minutes(),
        dt.seconds()
    )
}

fn extension(oid: Oid, critical: bool, value: &impl Encode) -> Extension {
    Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der().unwrap()).unwrap(),
    }
}

/// Fulcio's claims from .8 on are DER UTF8Strings.
fn claim(n: u32, value: &str) -> Extension {
    extension(
        fulcio(n),
        false,
        &der::asn1::Utf8StringRef::new(value).unwrap(),
    )
}

/// A certificate for `subject`'s key, signed by `issuer_key` (itself for a root).
fn certificate(
    serial: u8,
    (issuer, issuer_key): (&Name, &Key),
    (subject, key): (&Name, &Key),
    (from, until): (SystemTime, SystemTime),
    extensions: Vec<Extension>,
) -> Certificate {
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&[serial]).unwrap(),
        signature: ecdsa_sha256(),
        issuer: issuer.clone(),
        validity: Validity {
            not_before: utc(from),
            not_after: utc(until),
        },
        subject: subject.clone(),
        subject_public_key_info: key.spki(),
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };
    let signature = issuer_key.sign(&tbs.to_der().unwrap());
    Certificate {
        tbs_certificate: tbs,
        signature_algorithm: ecdsa_sha256(),
        signature: BitString::from_bytes(&signature).unwrap(),
    }
}

fn ca_extensions() -> Vec<Extension> {
    vec![
        extension(
            BASIC_CONSTRAINTS,
            true,
            &BasicConstraints {
                ca: true,
                path_len_constraint: None,
            },
        ),
        extension(
            KEY_USAGE,
            true,
            &KeyUsage(KeyUsages::KeyCertSign | KeyUsages::CRLSign),
        ),
    ]
}

/// RFC 3161 TSTInfo, the fields sigstore-verify reads (accuracy, nonce and the rest are optional).
#[derive(Sequence)]
struct TstInfo {
    version: u8,
    policy: Oid,
    message_imprint: MessageImprint,
    serial_number: Int,
    gen_time: GeneralizedTime,
}

#[derive(Sequence)]
struct MessageImprint {
    hash_algorithm: AlgorithmIdentifierOwned,
    hashed_message: OctetString,
}

/// The CA, the timestamp authority, and the trusted root that names them.
pub struct TestSigstore {
    ca: Key,
    ca_name: Name,
    ca_cert: Certificate,
    tsa: Key,
    tsa_cert: Certificate,
    root_cert_tsa: Certificate,
    tsa_root_name: Name,
    /// The certificate transparency log whose SCT every leaf embeds.
    ct: Key,
    /// The transparency log.
    rekor: Key,
    /// When the authorities start: an hour ago.
    start: SystemTime,
}

/// How a bundle proves when it was signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// An RFC 3161 timestamp, no log entry (GitHub's instance).
    Timestamp,
    /// A transparency-log entry: inclusion proof, checkpoint, signed entry timestamp (Rekor v1,
    /// the public-good instance).
    Log,
}

impl Default for TestSigstore {
    fn default() -> Self {
        Self::new()
    }
}

impl TestSigstore {
    pub fn new() -> TestSigstore {
        let now = SystemTime::now();
        let start = now - Duration::from_secs(3600);
        let year = now + Duration::from_secs(365 * 86400);
        let ca = Key::new();
        let ca_name =
            Name::from_str("CN=image-resolver test Fulcio,O=image-resolver tests").unwrap();
        let ca_cert = certificate(
            1,
            (&ca_name, &ca),
            (&ca_name, &ca),
            (start, year),
            ca_extensions(),
        );
        let tsa_root = Key::new();
        let tsa_root_name =
            Name::from_str("CN=image-resolver test TSA root,O=image-resolver tests").unwrap();
        let root_cert_tsa = certificate(
            2,
            (&tsa_root_name, &tsa_root),
            (&tsa_root_name, &tsa_root),
            (start, year),
            ca_extensions(),
        );
        let tsa = Key::new();
        let tsa_name = Name::from_str("CN=image-resolver test TSA,O=image-resolver tests").unwrap();
        let tsa_cert = certificate(
            3,
            (&tsa_root_name, &tsa_root),
            (&tsa_name, &tsa),
            (start, year),
            vec![
                extension(
                    KEY_USAGE,
                    true,
                    &KeyUsage(KeyUsages::DigitalSignature.into()),
                ),
                extension(EXT_KEY_USAGE, true, &ExtendedKeyUsage(vec![TIME_STAMPING])),
            ],
        );
        TestSigstore {
            ca,
            ca_name,
            ca_cert,
            tsa,
            tsa_cert,
            root_cert_tsa,
            tsa_root_name,
            ct: Key::new(),
            rekor: Key::new(),
            start,
        }
    }

    /// `trusted_root.json`: the CA and the timestamp authority, no log (GitHub's instance shape).
    pub fn trusted_root(&self) -> Value {
        let der = |c: &Certificate| json!({"rawBytes": B64.encode(c.to_der().unwrap())});
        let valid = json!({"start": rfc3339(self.start)});
        json!({
            "mediaType": "application/vnd.dev.sigstore.trustedroot+json;version=0.1",
            "certificateAuthorities": [{
                "subject": {"organization": "image-resolver tests", "commonName": "image-resolver test Fulcio"},
                "uri": "fulcio.test.invalid",
                "certChain": {"certificates": [der(&self.ca_cert)]},
                "validFor": valid,
            }],
            "timestampAuthorities": [{
                "subject": {"organization": "image-resolver tests", "commonName": "image-resolver test TSA"},
                "uri": "timestamp.test.invalid",
                "certChain": {"certificates": [der(&self.tsa_cert), der(&self.root_cert_tsa)]},
                "validFor": valid,
            }],
            "tlogs": [self.log_json(&self.rekor, "https://rekor.test.invalid")],
            "ctlogs": [self.log_json(&self.ct, "https://ctfe.test.invalid")],
        })
    }

    fn log_json(&self, key: &Key, url: &str) -> Value {
        json!({
            "baseUrl": url,
            "hashAlgorithm": "SHA2_256",
            "publicKey": {
                "rawBytes": B64.encode(key.spki().to_der().unwrap()),
                "keyDetails": "PKIX_ECDSA_P256_SHA_256",
                "validFor": {"start": rfc3339(self.start)},
            },
            "logId": {"keyId": B64.encode(key.log_id())},
        })
    }

    /// Writes the trusted root into `dir`; the path is what `TRUST_ROOT_VAR` takes.
    pub fn write_root(&self, dir: &Path) -> PathBuf {
        let path = dir.join("trusted_root.json");
        std::fs::write(
            &path,
            serde_json::to_vec_pretty(&self.trusted_root()).unwrap(),
        )
        .unwrap();
        path
    }

    /// A leaf certificate for `id`, valid ten minutes from a minute ago, as Fulcio issues them.
    fn leaf(&self, id: &Identity, key: &Key) -> Certificate {
        let now = SystemTime::now();
        let server = id.server.trim_end_matches('/');
        let signer = format!("{server}/{}", id.signer);
        let owner = id.repository.split('/').next().unwrap_or_default();
        let mut extensions = vec![
            extension(
                KEY_USAGE,
                true,
                &KeyUsage(KeyUsages::DigitalSignature.into()),
            ),
            extension(EXT_KEY_USAGE, false, &ExtendedKeyUsage(vec![CODE_SIGNING])),
            extension(
                SUBJECT_ALT_NAME,
                true,
                &SubjectAltName(vec![GeneralName::UniformResourceIdentifier(
                    Ia5String::new(&signer).unwrap(),
                )]),
            ),
        ];
        let caller_digest = "c".repeat(40);
        for (n, value) in [
            (8, id.issuer.clone()),
            (9, signer.clone()),
            (10, "d".repeat(40)),
            (11, id.runner.clone()),
            (12, format!("{server}/{}", id.repository)),
            (13, id.commit.clone()),
            (14, id.source_ref.clone()),
            (15, "1000".into()),
            (16, format!("{server}/{owner}")),
            (17, "2000".into()),
            (18, format!("{server}/{}", id.caller)),
            (19, caller_digest),
            (20, "push".into()),
            (
                21,
                format!("{server}/{}/actions/runs/1/attempts/1", id.repository),
            ),
            (22, "private".into()),
        ] {
            extensions.push(claim(n, &value));
        }
        let validity = (
            now - Duration::from_secs(60),
            now + Duration::from_secs(600),
        );
        // the CT log signs the certificate without its SCT (RFC 6962's precertificate entry)
        let pre = certificate(
            7,
            (&self.ca_name, &self.ca),
            (&Name::default(), key),
            validity,
            extensions.clone(),
        );
        extensions.push(self.sct(&pre.tbs_certificate, secs(now).as_millis() as u64));
        certificate(
            7,
            (&self.ca_name, &self.ca),
            (&Name::default(), key),
            validity,
            extensions,
        )
    }

    /// The SCT list extension for a precertificate's TBS: RFC 6962 section 3.2's signed data,
    /// framed as TLS structures.
    fn sct(&self, tbs: &TbsCertificate, millis: u64) -> Extension {
        use x509_cert::ext::pkix::sct::{
            DigitallySigned, HashAlgorithm, LogId, SerializedSct, SignatureAlgorithm,
            SignatureAndHashAlgorithm, SignedCertificateTimestamp, SignedCertificateTimestampList,
            Version as SctVersion,
        };
        let tbs = tbs.to_der().unwrap();
        let issuer_key = self.ca.spki().to_der().unwrap();
        let mut signed = vec![0u8, 0u8]; // v1, certificate_timestamp
        signed.extend(millis.to_be_bytes());
        signed.extend(1u16.to_be_bytes()); // precert_entry
        signed.extend(sha256(&issuer_key));
        signed.extend(&(tbs.len() as u32).to_be_bytes()[1..]); // opaque<1..2^24-1>
        signed.extend(&tbs);
        signed.extend(0u16.to_be_bytes()); // no extensions
        let sct = SignedCertificateTimestamp {
            version: SctVersion::V1,
            log_id: LogId {
                key_id: self.ct.log_id(),
            },
            timestamp: millis,
            extensions: tls_codec::TlsByteVecU16::new(Vec::new()),
            signature: DigitallySigned {
                algorithm: SignatureAndHashAlgorithm {
                    hash: HashAlgorithm::Sha256,
                    signature: SignatureAlgorithm::Ecdsa,
                },
                signature: tls_codec::TlsByteVecU16::new(self.ct.sign(&signed)),
            },
        };
        let list =
            SignedCertificateTimestampList::new(&[SerializedSct::new(sct).unwrap()]).unwrap();
        extension(SCT_LIST, false, &list)
    }

    /// An RFC 3161 token (CMS SignedData over a TSTInfo) for the hash of `signature`.
    fn timestamp(&self, signature: &[u8]) -> Vec<u8> {
        let tst = TstInfo {
            version: 1,
            policy: TSA_POLICY,
            message_imprint: MessageImprint {
                hash_algorithm: AlgorithmIdentifierOwned {
                    oid: SHA256,
                    parameters: None,
                },
                hashed_message: OctetString::new(sha256(signature)).unwrap(),
            },
            serial_number: Int::new(&[0x2a]).unwrap(),
            gen_time: GeneralizedTime::from_unix_duration(secs(SystemTime::now())).unwrap(),
        }
        .to_der()
        .unwrap();
        let attribute = |oid: Oid, value: Any| Attribute {
            oid,
            values: SetOfVec::try_from(vec![value]).unwrap(),
        };
        let signed_attrs = SetOfVec::try_from(vec![
            attribute(CONTENT_TYPE, Any::encode_from(&TST_INFO).unwrap()),
            attribute(
                MESSAGE_DIGEST,
                Any::encode_from(&OctetString::new(sha256(&tst)).unwrap()).unwrap(),
            ),
        ])
        .unwrap();
        let signature = self.tsa.sign(&signed_attrs.to_der().unwrap());
        let signer = cms::signed_data::SignerInfo {
            version: cms::content_info::CmsVersion::V1,
            sid: cms::signed_data::SignerIdentifier::IssuerAndSerialNumber(
                cms::cert::IssuerAndSerialNumber {
                    issuer: self.tsa_root_name.clone(),
                    serial_number: self.tsa_cert.tbs_certificate.serial_number.clone(),
                },
            ),
            digest_alg: AlgorithmIdentifierOwned {
                oid: SHA256,
                parameters: None,
            },
            signed_attrs: Some(signed_attrs),
            signature_algorithm: ecdsa_sha256(),
            signature: OctetString::new(signature).unwrap(),
            unsigned_attrs: None,
        };
        let signed = cms::signed_data::SignedData {
            version: cms::content_info::CmsVersion::V3,
            digest_algorithms: SetOfVec::try_from(vec![AlgorithmIdentifierOwned {
                oid: SHA256,
                parameters: None,
            }])
            .unwrap(),
            encap_content_info: cms::signed_data::EncapsulatedContentInfo {
                econtent_type: TST_INFO,
                econtent: Some(Any::new(der::Tag::OctetString, tst).unwrap()),
            },
            certificates: None,
            crls: None,
            signer_infos: cms::signed_data::SignerInfos(SetOfVec::try_from(vec![signer]).unwrap()),
        };
        cms::content_info::ContentInfo {
            content_type: SIGNED_DATA,
            content: Any::encode_from(&signed).unwrap(),
        }
        .to_der()
        .unwrap()
    }

    /// A Sigstore bundle (v0.3, DSSE) of a SLSA provenance v1 statement for `digest`
    /// (`sha256:<hex>`), signed as `id`, timestamped by the TSA (GitHub's instance).
    pub fn sign(&self, digest: &str, id: &Identity) -> Vec<u8> {
        self.sign_statement(&statement(digest, id), id, Proof::Timestamp)
    }

    /// The same, entered in the transparency log instead (the public-good instance).
    pub fn sign_logged(&self, digest: &str, id: &Identity) -> Vec<u8> {
        self.sign_statement(&statement(digest, id), id, Proof::Log)
    }

    /// A bundle of any in-toto statement.
    pub fn sign_statement(&self, statement: &Value, id: &Identity, proof: Proof) -> Vec<u8> {
        const TYPE: &str = "application/vnd.in-toto+json";
        let key = Key::new();
        let cert = self.leaf(id, &key).to_der().unwrap();
        let payload = serde_json::to_vec(statement).unwrap();
        let mut pae = format!("DSSEv1 {} {TYPE} {} ", TYPE.len(), payload.len()).into_bytes();
        pae.extend_from_slice(&payload);
        let signature = key.sign(&pae);
        let envelope = json!({
            "payload": B64.encode(&payload),
            "payloadType": TYPE,
            "signatures": [{"sig": B64.encode(&signature), "keyid": ""}],
        });
        let (tlog, timestamps) = match proof {
            Proof::Timestamp => (
                vec![],
                vec![json!({"signedTimestamp": B64.encode(self.timestamp(&signature))})],
            ),
            Proof::Log => (
                vec![self.log_entry(&envelope, &payload, &signature, &cert)],
                vec![],
            ),
        };
        let bundle = json!({
            "mediaType": "application/vnd.dev.sigstore.bundle.v0.3+json",
            "verificationMaterial": {
                "certificate": {"rawBytes": B64.encode(&cert)},
                "tlogEntries": tlog,
                "timestampVerificationData": {"rfc3161Timestamps": timestamps},
            },
            "dsseEnvelope": envelope,
        });
        serde_json::to_vec(&bundle).unwrap()
    }

    /// A Rekor v1 `dsse` entry, alone in its log: index 0 of a tree of one, so the root is the
    /// leaf's hash and the proof has no hashes; the checkpoint and the signed entry timestamp
    /// are signed by the log's key.
    fn log_entry(&self, envelope: &Value, payload: &[u8], signature: &[u8], cert: &[u8]) -> Value {
        let body = serde_json::to_vec(&json!({
            "apiVersion": "0.0.1",
            "kind": "dsse",
            "spec": {
                "envelopeHash": {"algorithm": "sha256",
                                 "value": hex::encode(sha256(&serde_json::to_vec(envelope).unwrap()))},
                "payloadHash": {"algorithm": "sha256", "value": hex::encode(sha256(payload))},
                "signatures": [{"signature": B64.encode(signature),
                                "verifier": B64.encode(pem(cert))}],
            },
        }))
        .unwrap();
        let log_id = self.rekor.log_id();
        // a few seconds ago: within the leaf's validity, never in the future
        let integrated = secs(SystemTime::now()).as_secs() - 5;
        // RFC 6962 leaf hash; a tree of one has it as its root
        let mut leaf = vec![0u8];
        leaf.extend_from_slice(&body);
        let root = sha256(&leaf);
        let origin = "rekor.test.invalid - 1";
        let note = format!("{origin}\n1\n{}\n", B64.encode(&root));
        let mut signed_note = log_id[..4].to_vec();
        signed_note.extend(self.rekor.sign(note.as_bytes()));
        // the signature line names the log's key, the origin's first word
        let checkpoint = format!(
            "{note}\n\u{2014} rekor.test.invalid {}\n",
            B64.encode(&signed_note)
        );
        // the signed entry timestamp: canonical JSON, keys in order
        let set = format!(
            r#"{{"body":"{}","integratedTime":{integrated},"logID":"{}","logIndex":0}}"#,
            B64.encode(&body),
            hex::encode(log_id)
        );
        json!({
            "logIndex": "0",
            "logId": {"keyId": B64.encode(log_id)},
            "kindVersion": {"kind": "dsse", "version": "0.0.1"},
            "integratedTime": integrated.to_string(),
            "inclusionPromise": {"signedEntryTimestamp": B64.encode(self.rekor.sign(set.as_bytes()))},
            "inclusionProof": {
                "logIndex": "0",
                "rootHash": B64.encode(&root),
                "treeSize": "1",
                "hashes": [],
                "checkpoint": {"envelope": checkpoint},
            },
            "canonicalizedBody": B64.encode(&body),
        })
    }
}

/// A certificate as PEM, as Rekor stores a verifier.
fn pem(der: &[u8]) -> String {
    let b64 = B64.encode(der);
    let lines: Vec<&str> = b64
        .as_bytes()
        .chunks(64)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect();
    format!(
        "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
        lines.join("\n")
    )
}

/// `actions/attest-build-provenance`'s statement, reduced to what a verifier reads.
pub fn statement(digest: &str, id: &Identity) -> Value {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    let server = id.server.trim_end_matches('/');
    json!({
        "_type": "https://in-toto.io/Statement/v1",
        "subject": [{"name": "image", "digest": {"sha256": hex}}],
        "predicateType": "https://slsa.dev/provenance/v1",
        "predicate": {
            "buildDefinition": {
                "buildType": "https://actions.github.io/buildtypes/workflow/v1",
                "externalParameters": {"workflow": {
                    "ref": id.source_ref, "repository": format!("{server}/{}", id.repository),
                    "path": ".github/workflows/build.yml"}},
                "resolvedDependencies": [{
                    "uri": format!("git+{server}/{}@{}", id.repository, id.source_ref),
                    "digest": {"gitCommit": id.commit}}],
            },
            "runDetails": {
                "builder": {"id": format!("{server}/actions/runner/{}", id.runner)},
                "metadata": {"invocationId": format!("{server}/{}/actions/runs/1/attempts/1", id.repository)},
            },
        },
    })
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .to_vec()
}

/// The leaf certificate of a bundle, parsed (to check what a test signed).
pub fn leaf_of(bundle: &[u8]) -> Certificate {
    let v: Value = serde_json::from_slice(bundle).unwrap();
    let raw = v["verificationMaterial"]["certificate"]["rawBytes"]
        .as_str()
        .unwrap();
    Certificate::from_der(&B64.decode(raw).unwrap()).unwrap()
}
