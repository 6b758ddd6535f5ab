//! The traffic model: who visits (personas, visitors), what they do
//! (journeys over pages and actions), and how a visit is told to an
//! analytics collector (Matomo, GA4). Plain data and pure functions: every
//! choice is drawn from a session's own deterministic generator.

pub mod ga4;
pub mod journey;
pub mod matomo;
pub mod persona;
pub mod visit;
pub mod visitor;

use rand_core::Rng;

use crate::ids;

/// A weighted choice among items. Weights are non-negative and not all zero
/// (the spec reader guarantees it).
#[derive(Clone, Debug, PartialEq)]
pub struct Weighted<T> {
    items: Vec<(T, f64)>,
    total: f64,
}

impl<T> Weighted<T> {
    pub fn new(items: Vec<(T, f64)>) -> Self {
        let total = items.iter().map(|(_, w)| w.max(0.0)).sum();
        Weighted { items, total }
    }

    /// One item with its weight's share of the probability.
    pub fn choose(&self, rng: &mut impl Rng) -> &T {
        let mut point = ids::unit_f64(rng) * self.total;
        for (item, weight) in &self.items {
            let weight = weight.max(0.0);
            if point < weight {
                return item;
            }
            point -= weight;
        }
        // Rounding at the very top of the range: the last item with weight.
        &self
            .items
            .iter()
            .rev()
            .find(|(_, w)| *w > 0.0)
            .unwrap_or(&self.items[self.items.len() - 1])
            .0
    }

    pub fn items(&self) -> &[(T, f64)] {
        &self.items
    }

    /// The probability of the item at `index`.
    pub fn share(&self, index: usize) -> f64 {
        self.items
            .get(index)
            .map_or(0.0, |(_, w)| w.max(0.0) / self.total)
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// True with probability `p`.
pub fn chance(rng: &mut impl Rng, p: f64) -> bool {
    ids::unit_f64(rng) < p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{Part, rng_for};

    #[test]
    fn choices_follow_weights() {
        let weighted = Weighted::new(vec![("a", 1.0), ("b", 3.0), ("never", 0.0)]);
        let mut rng = rng_for(&[Part::Str("weighted")]);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            match *weighted.choose(&mut rng) {
                "a" => counts[0] += 1,
                "b" => counts[1] += 1,
                _ => counts[2] += 1,
            }
        }
        assert_eq!(counts[2], 0);
        let share_a = f64::from(counts[0]) / 40_000.0;
        assert!((share_a - 0.25).abs() < 0.01, "{share_a}");
        assert!((weighted.share(1) - 0.75).abs() < 1e-12);
    }
}
