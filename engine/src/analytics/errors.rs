//! A campaign's failed requests grouped by what went wrong: class and
//! message, how many, first and last seen, and an example path and status.
//!
//! The number of groups is bounded: a target that puts ids or times in its
//! error messages would otherwise make one group per request. Past
//! [`MAX_GROUPS`] distinct messages, the rest are counted as other.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

/// The most distinct messages a report keeps.
pub const MAX_GROUPS: usize = 1_000;

/// Failed requests that share a class and a message.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorGroup {
    /// What kind of failure: `http` for an error status, else the engine's
    /// class (`connect`, `timeout`, `browser`, `ga4 validation`, …).
    pub class: String,
    pub message: String,
    pub requests: u64,
    /// When the first and the last of them were meant to start (epoch ms).
    pub first_ms: u64,
    pub last_ms: u64,
    pub example_path: String,
    /// The status of the example (0: no answer).
    pub example_status: u16,
    /// The start of an example's body, for an error answer.
    pub example_excerpt: String,
}

/// One request of a group, shown as its example.
#[derive(Clone, Copy, Debug)]
pub struct Example<'a> {
    pub path: &'a str,
    pub status: u16,
    pub excerpt: &'a str,
}

/// Every failed request of a campaign, grouped.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorReport {
    /// Most requests first.
    pub groups: Vec<ErrorGroup>,
    /// Failed requests whose message came after the first [`MAX_GROUPS`].
    pub other_requests: u64,
    /// Every failed request: the groups' and the others' together.
    pub failed_requests: u64,
}

/// The class and message of a failed request's record: an error status
/// without a message is `http` and its status; a recorded error is
/// `class: message` (as the engines write it).
pub fn classify(status: u16, error: &str) -> (String, String) {
    if error.is_empty() {
        return ("http".to_string(), format!("http {status}"));
    }
    match error.split_once(": ") {
        Some((class, message)) => (class.to_string(), message.to_string()),
        None => (error.to_string(), error.to_string()),
    }
}

/// Builds an [`ErrorReport`] one failed request at a time.
#[derive(Debug, Default)]
pub struct ErrorGroups {
    groups: HashMap<(String, String), ErrorGroup>,
    other_requests: u64,
}

impl ErrorGroups {
    /// Counts `count` failed requests of one class and message; `first_ms`
    /// and `last_ms` are when the first and last of them were meant to start.
    pub fn add(&mut self, class: &str, message: &str, count: u64, span_ms: (u64, u64), example: Example<'_>) {
        let key = (class.to_string(), message.to_string());
        if let Some(group) = self.groups.get_mut(&key) {
            group.requests += count;
            group.first_ms = group.first_ms.min(span_ms.0);
            group.last_ms = group.last_ms.max(span_ms.1);
            return;
        }
        if self.groups.len() >= MAX_GROUPS {
            self.other_requests += count;
            return;
        }
        self.groups.insert(
            key,
            ErrorGroup {
                class: class.to_string(),
                message: message.to_string(),
                requests: count,
                first_ms: span_ms.0,
                last_ms: span_ms.1,
                example_path: example.path.to_string(),
                example_status: example.status,
                example_excerpt: example.excerpt.to_string(),
            },
        );
    }

    /// Counts failed requests beyond the groups' bound.
    pub fn add_other(&mut self, count: u64) {
        self.other_requests += count;
    }

    /// The report: most requests first, then by class and message.
    pub fn report(self) -> ErrorReport {
        let mut groups: Vec<ErrorGroup> = self.groups.into_values().collect();
        groups.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then_with(|| (&a.class, &a.message).cmp(&(&b.class, &b.message)))
        });
        let failed_requests = groups.iter().map(|g| g.requests).sum::<u64>() + self.other_requests;
        ErrorReport {
            groups,
            other_requests: self.other_requests,
            failed_requests,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_engine_errors_are_classed() {
        assert_eq!(classify(503, ""), ("http".into(), "http 503".into()));
        assert_eq!(
            classify(0, "connect: connection refused"),
            ("connect".into(), "connection refused".into())
        );
        assert_eq!(
            classify(0, "browser: click ul a on http://x/p: no element"),
            ("browser".into(), "click ul a on http://x/p: no element".into())
        );
        assert_eq!(classify(0, "odd"), ("odd".into(), "odd".into()));
    }

    #[test]
    fn groups_count_span_and_keep_their_first_example() {
        let mut groups = ErrorGroups::default();
        groups.add(
            "http",
            "http 503",
            1,
            (30, 30),
            Example {
                path: "/a",
                status: 503,
                excerpt: "",
            },
        );
        groups.add(
            "http",
            "http 503",
            2,
            (10, 20),
            Example {
                path: "/b",
                status: 503,
                excerpt: "",
            },
        );
        groups.add(
            "timeout",
            "no answer in 5 s",
            1,
            (15, 15),
            Example {
                path: "/c",
                status: 0,
                excerpt: "",
            },
        );
        let report = groups.report();
        assert_eq!(report.failed_requests, 4);
        assert_eq!(report.other_requests, 0);
        let first = &report.groups[0];
        assert_eq!((first.requests, first.first_ms, first.last_ms), (3, 10, 30));
        assert_eq!(first.example_path, "/a");
        assert_eq!(report.groups[1].class, "timeout");
    }

    #[test]
    fn messages_past_the_bound_are_counted_as_other() {
        let mut groups = ErrorGroups::default();
        for i in 0..MAX_GROUPS + 50 {
            groups.add(
                "http",
                &format!("order {i} not found"),
                2,
                (0, 0),
                Example {
                    path: "/",
                    status: 404,
                    excerpt: "",
                },
            );
        }
        groups.add(
            "http",
            "order 0 not found",
            1,
            (0, 0),
            Example {
                path: "/",
                status: 404,
                excerpt: "",
            },
        );
        let report = groups.report();
        assert_eq!(report.groups.len(), MAX_GROUPS);
        assert_eq!(report.other_requests, 100);
        assert_eq!(report.failed_requests, 2 * (MAX_GROUPS as u64 + 50) + 1);
        assert_eq!(
            report.groups[0].requests, 3,
            "a known message still counts in its group"
        );
    }
}
