//! What a session needs from the agent that runs it.

use crate::campaign::browsing::Browsing;
use crate::clock::WallClock;
use crate::generator::GeneratorMonitor;
use crate::http::HttpEngines;
use crate::lease::LeaseGuard;

/// Everything a session needs from its agent.
#[derive(Clone, Debug)]
pub struct SessionContext {
    /// The agent's shared HTTP clients.
    pub engines: HttpEngines,
    pub lease: LeaseGuard,
    pub clock: WallClock,
    /// The agent's browsers, for `browser` targets (none: this agent runs none).
    pub browsers: Option<std::sync::Arc<dyn Browsing>>,
    /// The agent's watch on whether it keeps up: each session says how late it started.
    pub generator: GeneratorMonitor,
}
