//! Web traffic campaigns: a spec cut into shards, each shard launching
//! sessions on a schedule, each session a persona's visit told to its
//! target. Mirrors [`crate::streams`], the other kind of workload.
//!
//! - [`plan`]: a campaign cut into shards, and its load: arrival schedules
//!   (open model, rate changes, daily caps) and closed-model users.
//! - [`shard`]: one shard's launch schedule and checkpoint watermark.
//! - [`traffic`]: who visits, what they do, and how a visit is told to an
//!   analytics collector (Matomo, GA4).
//! - [`session`]: one session's plan, its run against the target through a
//!   speaker per target kind (a browser target's on the agent's browsers),
//!   its outcome and its trace.
//! - [`browsing`]: what a real browser is asked to do (a visit plan) and
//!   answers, and the `Browsing` trait an agent's browsers implement.
//! - [`thresholds`]: pass/fail rules judged on a campaign's merged stats.

pub mod browsing;
pub mod load;
pub mod plan;
pub mod session;
pub mod shard;
pub mod thresholds;
pub mod traffic;
