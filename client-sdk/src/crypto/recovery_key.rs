//! The recovery key of a key backup, as the spec writes it: the 32-byte
//! Curve25519 private key behind the prefix 0x8B 0x01 and a parity byte,
//! in Bitcoin's base58 alphabet, grouped by four characters.

const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const PREFIX: [u8; 2] = [0x8b, 0x01];

fn base58_encode(bytes: &[u8]) -> String {
    // Repeated division of a big-endian number by 58.
    let mut digits: Vec<u8> = Vec::new();
    for &byte in bytes {
        let mut carry = u32::from(byte);
        for digit in digits.iter_mut() {
            carry += u32::from(*digit) << 8;
            *digit = (carry % 58) as u8;
            carry /= 58;
        }
        while carry > 0 {
            digits.push((carry % 58) as u8);
            carry /= 58;
        }
    }
    let zeros = bytes.iter().take_while(|b| **b == 0).count();
    std::iter::repeat_n(b'1', zeros)
        .chain(digits.iter().rev().map(|d| ALPHABET[usize::from(*d)]))
        .map(char::from)
        .collect()
}

fn base58_decode(text: &str) -> Option<Vec<u8>> {
    let mut bytes: Vec<u8> = Vec::new();
    for c in text.bytes() {
        let mut carry = ALPHABET.iter().position(|a| *a == c)? as u32;
        for byte in bytes.iter_mut() {
            carry += u32::from(*byte) * 58;
            *byte = (carry & 0xff) as u8;
            carry >>= 8;
        }
        while carry > 0 {
            bytes.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    let zeros = text.bytes().take_while(|c| *c == b'1').count();
    Some(std::iter::repeat_n(0, zeros).chain(bytes.into_iter().rev()).collect())
}

/// Writes a private key as a recovery key.
pub(crate) fn encode(key: &[u8; 32]) -> String {
    let mut bytes = PREFIX.to_vec();
    bytes.extend_from_slice(key);
    let parity = bytes.iter().fold(0u8, |acc, b| acc ^ b);
    bytes.push(parity);
    let text = base58_encode(&bytes);
    text.as_bytes()
        .chunks(4)
        .map(|chunk| String::from_utf8_lossy(chunk).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Reads a recovery key back (spaces ignored); `None` if it is mistyped.
pub(crate) fn decode(text: &str) -> Option<[u8; 32]> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let bytes = base58_decode(&compact)?;
    if bytes.len() != 35 || bytes[..2] != PREFIX || bytes.iter().fold(0u8, |acc, b| acc ^ b) != 0 {
        return None;
    }
    bytes[2..34].try_into().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovery_keys_round_trip_and_catch_typos() {
        let key = [7u8; 32];
        let text = encode(&key);
        assert!(text.starts_with("Es"), "the spec's prefix shows: {text}");
        assert_eq!(decode(&text), Some(key));
        let mut typo = text.clone().into_bytes();
        typo[5] = if typo[5] == b'a' { b'b' } else { b'a' };
        assert_eq!(decode(&String::from_utf8(typo).expect("ascii")), None);
        let zeros = [0u8; 32];
        assert_eq!(decode(&encode(&zeros)), Some(zeros));
    }
}
