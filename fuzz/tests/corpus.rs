//! The fuzz harnesses on a stable toolchain: every seed (`fuzz/corpus` and
//! the files `fuzz/seeds.txt` names) and a fixed number of deterministic
//! mutations of each (bytes flipped, inserted, deleted, cut, spliced from
//! another seed). `fuzz/run` goes further with libFuzzer's coverage-guided
//! search.

use std::path::{Path, PathBuf};

use throng_fuzz::TARGETS;

/// Mutations per seed: enough to walk the parsers' error paths, few enough
/// for a debug build in CI.
const MUTATIONS: u64 = 200;

/// Every file below `dir`, with its bytes.
fn files_below(dir: &Path, into: &mut Vec<(PathBuf, Vec<u8>)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        if path.is_dir() {
            files_below(&path, into);
        } else {
            let bytes = std::fs::read(&path).expect("seed");
            into.push((path, bytes));
        }
    }
}

/// The target's seeds: its own `fuzz/corpus/<target>` and the project's
/// files that `fuzz/seeds.txt` names for it, as `fuzz/run` gives libFuzzer.
fn seeds(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let fuzz = Path::new(env!("CARGO_MANIFEST_DIR"));
    let root = fuzz.parent().expect("the repository");
    let map = std::fs::read_to_string(fuzz.join("seeds.txt")).expect("fuzz/seeds.txt");
    let shared = map
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| line.split_whitespace().collect::<Vec<_>>())
        .find(|words| words.first() == Some(&target))
        .unwrap_or_else(|| panic!("fuzz/seeds.txt has no line for {target}"));
    let mut seeds = Vec::new();
    files_below(&fuzz.join("corpus").join(target), &mut seeds);
    for dir in &shared[1..] {
        files_below(&root.join(dir), &mut seeds);
    }
    seeds.sort();
    seeds
}

/// xorshift64*: a fixed sequence, so a failure reproduces.
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that matter to YAML, JSON, patterns and tokens.
const INTERESTING: &[u8] = b"\0\n\t :-,.[]{}\"'#*&!|>%@`v19ef";

fn mutate(seed: &[u8], other: &[u8], dice: &mut Dice) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for _ in 0..1 + dice.below(4) {
        let at = dice.below(bytes.len() + 1);
        match dice.below(6) {
            0 if at < bytes.len() => bytes[at] ^= 1 << dice.below(8),
            1 => bytes.insert(at, INTERESTING[dice.below(INTERESTING.len())]),
            2 if at < bytes.len() => {
                let end = (at + 1 + dice.below(16)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => bytes.truncate(at),
            4 if !other.is_empty() => {
                let from = dice.below(other.len());
                let end = (from + 1 + dice.below(64)).min(other.len());
                bytes.splice(at..at, other[from..end].iter().copied());
            }
            _ if at < bytes.len() => {
                // A number where there was one: the extremes parsers trip on.
                let numbers: [&[u8]; 5] = [b"0", b"-1", b"1e308", b"18446744073709551616", b"NaN"];
                let number = numbers[dice.below(numbers.len())];
                bytes.splice(at..at, number.iter().copied());
            }
            _ => {}
        }
    }
    bytes
}

#[test]
fn every_harness_survives_its_corpus_and_mutations_of_it() {
    for (target, harness) in TARGETS {
        let seeds = seeds(target);
        assert!(!seeds.is_empty(), "{target} has seeds");
        let mut dice = Dice(0x7468_726f_6e67 ^ target.len() as u64);
        for (path, seed) in &seeds {
            let run = |input: &[u8]| {
                let result = std::panic::catch_unwind(|| harness(input));
                if result.is_err() {
                    panic!(
                        "{target} panicked on a mutation of {}; input:\n{}",
                        path.display(),
                        String::from_utf8_lossy(input)
                    );
                }
            };
            run(seed);
            for _ in 0..MUTATIONS {
                let other = &seeds[dice.below(seeds.len())].1;
                run(&mutate(seed, other, &mut dice));
            }
        }
    }
}

#[test]
fn valid_seeds_are_accepted_so_mutations_start_from_deep_inside() {
    use throng_engine::spec::ValidationContext;
    use throng_engine::workload::Workload;
    for target in ["workload", "matomo", "ga4"] {
        let valid = seeds(target)
            .iter()
            .filter(|(_, seed)| {
                let text = std::str::from_utf8(seed).expect("UTF-8 seed");
                Workload::parse(text, &ValidationContext::default()).is_ok()
            })
            .count();
        assert!(valid >= 1, "{target} has a valid seed to mutate");
    }
}
