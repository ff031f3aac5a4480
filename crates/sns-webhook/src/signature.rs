//! A signing certificate and the RSA PKCS#1 v1.5 check of a message's
//! signature with its public key: SHA1withRSA for SignatureVersion 1,
//! SHA256withRSA for 2. X.509 parsing by rustls-webpki, RSA by aws-lc-rs
//! (both already in the tree through the AWS SDK's TLS stack); no maintained
//! Rust crate verifies SNS messages (only Perl, Python, Go and Elixir ones
//! turned up), so the glue is here.

use aws_lc_rs::signature::{self, UnparsedPublicKey};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{AlgorithmIdentifier, CertificateDer, InvalidSignature, alg_id};
use webpki::EndEntityCert;

use crate::message::SignatureVersion;

/// A parsed signing certificate (DER).
#[derive(Debug, Clone)]
pub struct SigningCert {
    der: CertificateDer<'static>,
}

/// The certificate could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a usable X.509 certificate: {0}")]
pub struct CertError(String);

/// The signature does not match the message under the certificate's key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("the signature does not match the message")]
pub struct BadSignature;

impl SigningCert {
    /// The first certificate of a PEM document (what SigningCertURL serves).
    pub fn from_pem(pem: &[u8]) -> Result<Self, CertError> {
        let der = CertificateDer::from_pem_slice(pem).map_err(|e| CertError(e.to_string()))?;
        EndEntityCert::try_from(&der).map_err(|e| CertError(e.to_string()))?;
        Ok(Self { der })
    }

    /// Checks `signature` over `canonical` with the algorithm of `version`.
    pub fn verify(
        &self,
        version: SignatureVersion,
        canonical: &[u8],
        signature: &[u8],
    ) -> Result<(), BadSignature> {
        let cert = EndEntityCert::try_from(&self.der).map_err(|_| BadSignature)?;
        let algorithm: &dyn rustls_pki_types::SignatureVerificationAlgorithm = match version {
            SignatureVersion::V1 => &RSA_SHA1,
            SignatureVersion::V2 => &RSA_SHA256,
        };
        cert.verify_signature(algorithm, canonical, signature)
            .map_err(|_| BadSignature)
    }
}

/// RSA PKCS#1 v1.5 over one hash, keys of 2048 to 8192 bits (webpki has no
/// SHA-1 algorithm, and SignatureVersion 1 needs one).
#[derive(Debug)]
struct RsaPkcs1 {
    params: &'static signature::RsaParameters,
    signature_alg_id: AlgorithmIdentifier,
}

/// `sha1WithRSAEncryption` (1.2.840.113549.1.1.5) with NULL parameters, the
/// DER body of the AlgorithmIdentifier as pki-types spells its own constants.
const RSA_PKCS1_SHA1_ALG_ID: &[u8] = &[
    0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x05, 0x05, 0x00,
];

static RSA_SHA1: RsaPkcs1 = RsaPkcs1 {
    params: &signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
    signature_alg_id: AlgorithmIdentifier::from_slice(RSA_PKCS1_SHA1_ALG_ID),
};

static RSA_SHA256: RsaPkcs1 = RsaPkcs1 {
    params: &signature::RSA_PKCS1_2048_8192_SHA256,
    signature_alg_id: alg_id::RSA_PKCS1_SHA256,
};

impl rustls_pki_types::SignatureVerificationAlgorithm for RsaPkcs1 {
    fn verify_signature(
        &self,
        public_key: &[u8],
        message: &[u8],
        signature: &[u8],
    ) -> Result<(), InvalidSignature> {
        UnparsedPublicKey::new(self.params, public_key)
            .verify(message, signature)
            .map_err(|_| InvalidSignature)
    }

    fn public_key_alg_id(&self) -> AlgorithmIdentifier {
        alg_id::RSA_ENCRYPTION
    }

    fn signature_alg_id(&self) -> AlgorithmIdentifier {
        self.signature_alg_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::SnsMessage;

    const CERT: &[u8] = include_bytes!("../testdata/cert.pem");

    fn fixture(name: &str) -> SnsMessage {
        let path = format!("{}/testdata/{name}", env!("CARGO_MANIFEST_DIR"));
        let body = std::fs::read(&path).expect("fixture");
        SnsMessage::parse(&body).expect("valid fixture").1
    }

    fn verify(m: &SnsMessage) -> Result<(), BadSignature> {
        SigningCert::from_pem(CERT).expect("cert").verify(
            m.signature_version,
            m.canonical_string().as_bytes(),
            &m.signature,
        )
    }

    #[test]
    fn fixtures_signed_with_sha1_and_sha256_verify() {
        for name in [
            "notification-v1.json",
            "notification-v2.json",
            "subscription-confirmation-v2.json",
        ] {
            assert_eq!(verify(&fixture(name)), Ok(()), "{name}");
        }
        assert_eq!(
            fixture("notification-v1.json").signature_version,
            SignatureVersion::V1
        );
    }

    #[test]
    fn any_change_breaks_the_signature() {
        let original = fixture("notification-v1.json");
        let mut changed = original.clone();
        changed.message.push(' ');
        assert_eq!(verify(&changed), Err(BadSignature));
        let mut other_subject = original.clone();
        other_subject.subject = None;
        assert_eq!(verify(&other_subject), Err(BadSignature));
        let mut other_version = original;
        other_version.signature_version = SignatureVersion::V2;
        assert_eq!(
            verify(&other_version),
            Err(BadSignature),
            "v1 signature read as v2"
        );
        let mut confirmation = fixture("subscription-confirmation-v2.json");
        confirmation.subscribe_url = Some("https://sns.us-east-1.amazonaws.com/?other".into());
        assert_eq!(verify(&confirmation), Err(BadSignature));
    }

    #[test]
    fn garbage_is_not_a_certificate() {
        assert!(SigningCert::from_pem(b"not a pem").is_err());
        assert!(
            SigningCert::from_pem(
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
            )
            .is_err()
        );
    }
}
