//! Stable hashing and derived seeds: the keystone of determinism.
//!
//! Everything random in Throng is drawn from a ChaCha8 stream seeded by a hash
//! of its key (seed, campaign, shard, sequence…). The hash is FNV-1a followed
//! by the SplitMix64 finaliser, written out here so its output can never
//! change under us with a dependency or compiler release (unlike
//! `DefaultHasher`). Golden tests below pin it.

use rand_chacha::ChaCha8Rng;
use rand_core::{Rng, SeedableRng};

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// One part of a hashed key.
#[derive(Clone, Copy, Debug)]
pub enum Part<'a> {
    Str(&'a str),
    U64(u64),
}

impl<'a> From<&'a str> for Part<'a> {
    fn from(value: &'a str) -> Self {
        Part::Str(value)
    }
}

impl From<u64> for Part<'_> {
    fn from(value: u64) -> Self {
        Part::U64(value)
    }
}

impl From<u32> for Part<'_> {
    fn from(value: u32) -> Self {
        Part::U64(u64::from(value))
    }
}

/// SplitMix64's finaliser: spreads FNV's weak low bits over the whole word.
pub fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A stable 64-bit hash of a sequence of parts. Parts are length- and
/// type-prefixed, so `("ab","c")` and `("a","bc")` differ.
pub fn stable_hash(parts: &[Part<'_>]) -> u64 {
    let mut hash = FNV_OFFSET;
    let mut feed = |bytes: &[u8]| {
        for byte in bytes {
            hash ^= u64::from(*byte);
            hash = hash.wrapping_mul(FNV_PRIME);
        }
    };
    for part in parts {
        match part {
            Part::Str(s) => {
                feed(&[1]);
                feed(&(s.len() as u64).to_le_bytes());
                feed(s.as_bytes());
            }
            Part::U64(v) => {
                feed(&[2]);
                feed(&v.to_le_bytes());
            }
        }
    }
    mix64(hash)
}

/// A ChaCha8 generator seeded from the stable hash of `parts`.
pub fn rng_for(parts: &[Part<'_>]) -> ChaCha8Rng {
    let base = stable_hash(parts);
    let mut seed = [0u8; 32];
    for (i, chunk) in seed.chunks_mut(8).enumerate() {
        chunk.copy_from_slice(&mix64(base.wrapping_add(i as u64)).to_le_bytes());
    }
    ChaCha8Rng::from_seed(seed)
}

/// A uniform float in [0, 1) from 53 random bits.
pub fn unit_f64(rng: &mut impl Rng) -> f64 {
    (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64
}

/// A uniform integer in `[low, high]` (inclusive); `low` when the range is empty.
pub fn uniform_u64(rng: &mut impl Rng, low: u64, high: u64) -> u64 {
    if high <= low {
        return low;
    }
    let span = high - low + 1;
    // Multiply-shift keeps the bias below 2^-64 * span: negligible here.
    low + ((u128::from(rng.next_u64()) * u128::from(span)) >> 64) as u64
}

/// The id of session `seq` of shard `shard` of a campaign keyed by `campaign_key`.
pub fn session_id(seed: u64, campaign_key: &str, shard: u32, seq: u64) -> u64 {
    stable_hash(&[
        Part::Str("session"),
        Part::U64(seed),
        Part::Str(campaign_key),
        Part::U64(u64::from(shard)),
        Part::U64(seq),
    ])
}

/// The id of request `index` of a session. (The hashed label stays "visit"
/// so ids recorded before requests covered tracking hits keep their value.)
pub fn request_id(session_id: u64, index: u32) -> u64 {
    stable_hash(&[
        Part::Str("visit"),
        Part::U64(session_id),
        Part::U64(u64::from(index)),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Golden values: if these change, every recorded id changes. Never update
    /// them to make a test pass.
    #[test]
    fn stable_hash_is_pinned() {
        assert_eq!(
            format!("{:016x}", session_id(42, "demo", 3, 7)),
            GOLDEN_SESSION_ID
        );
        let mut rng = rng_for(&[Part::Str("golden"), Part::U64(1)]);
        assert_eq!(rng.next_u64(), GOLDEN_RNG_FIRST);
    }

    const GOLDEN_SESSION_ID: &str = "286698dc4ce53028";
    const GOLDEN_RNG_FIRST: u64 = 9_836_912_602_919_400_896;

    #[test]
    fn parts_are_delimited() {
        assert_ne!(
            stable_hash(&[Part::Str("ab"), Part::Str("c")]),
            stable_hash(&[Part::Str("a"), Part::Str("bc")])
        );
        assert_ne!(stable_hash(&[Part::U64(1)]), stable_hash(&[Part::Str("\u{1}")]));
    }

    #[test]
    fn uniform_stays_in_range_and_covers_it() {
        let mut rng = rng_for(&[Part::Str("range")]);
        let mut seen = [false; 5];
        for _ in 0..1000 {
            let v = uniform_u64(&mut rng, 3, 7);
            assert!((3..=7).contains(&v));
            seen[(v - 3) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
        assert_eq!(uniform_u64(&mut rng, 5, 5), 5);
        let f = unit_f64(&mut rng);
        assert!((0.0..1.0).contains(&f));
    }
}
