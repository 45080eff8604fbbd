//! SHA-256 from the crypto backend the build compiles (aws-lc or RustCrypto), so that no
//! second implementation is carried.

pub const SHA256_LEN: usize = 32;

#[cfg(feature = "aws-lc")]
pub fn sha256(bytes: &[u8]) -> [u8; SHA256_LEN] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    let mut out = [0; SHA256_LEN];
    out.copy_from_slice(digest.as_ref());
    out
}

#[cfg(not(feature = "aws-lc"))]
pub fn sha256(bytes: &[u8]) -> [u8; SHA256_LEN] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha256_gives_the_published_test_vectors() {
        let hex = |digest: [u8; SHA256_LEN]| -> String {
            digest.iter().map(|b| format!("{b:02x}")).collect()
        };
        // FIPS 180-2, appendix B.1 and B.2.
        assert_eq!(
            hex(sha256(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            hex(sha256(
                b"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"
            )),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        );
    }
}
