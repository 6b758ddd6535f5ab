//! An agent's browser pool: the [`BrowserEngine`] its browser sessions
//! share, launched when the first one comes (an agent that only sends HTTP
//! traffic never starts Chromium), with at most so many visits at once.

use tokio::sync::{OnceCell, Semaphore};

use throng_engine::campaign::browsing::{Browsing, VisitFailure, VisitFuture, VisitPlan};

use crate::{BrowserConfig, BrowserEngine, BrowserError};

/// Visits one Chromium process serves at once: more contexts than this per
/// process and pages start to queue for its renderer threads.
pub const SESSIONS_PER_BROWSER: usize = 4;

pub struct BrowserPool {
    config: BrowserConfig,
    sessions: Semaphore,
    engine: OnceCell<BrowserEngine>,
}

impl std::fmt::Debug for BrowserPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrowserPool")
            .field("browsers", &self.config.browsers)
            .field("sessions", &self.sessions.available_permits())
            .finish()
    }
}

impl BrowserPool {
    /// A pool of `config.browsers` processes, each serving
    /// [`SESSIONS_PER_BROWSER`] visits at once.
    pub fn new(config: BrowserConfig) -> BrowserPool {
        let sessions = config.browsers.max(1) * SESSIONS_PER_BROWSER;
        BrowserPool {
            config,
            sessions: Semaphore::new(sessions),
            engine: OnceCell::new(),
        }
    }

    /// The pool an agent of `capacity` runs: one browser per unit, up to 8.
    pub fn for_capacity(mut config: BrowserConfig, capacity: u32) -> BrowserPool {
        config.browsers = capacity.clamp(1, 8) as usize;
        BrowserPool::new(config)
    }

    /// What stands in the way of browser sessions on this machine, said
    /// at start-up rather than at the first session.
    pub fn missing(&self) -> Option<BrowserError> {
        if !self.config.executable.is_file() {
            return Some(BrowserError::NoChromium {
                path: self.config.executable.display().to_string(),
            });
        }
        playwright_rs::server::driver::get_driver_executable()
            .err()
            .map(|e| BrowserError::NoDriver {
                reason: e.to_string(),
            })
    }

    /// Browsers launched to replace ones that died or hung.
    pub fn replaced(&self) -> usize {
        self.engine.get().map_or(0, BrowserEngine::replaced)
    }

    async fn run(
        &self,
        plan: VisitPlan,
    ) -> Result<throng_engine::campaign::browsing::VisitOutcome, VisitFailure> {
        let _turn = self.sessions.acquire().await.map_err(|_| VisitFailure {
            reason: "the browser pool is closed".into(),
            screenshot: None,
            attempts: 0,
        })?;
        let engine = self
            .engine
            .get_or_try_init(|| BrowserEngine::launch(&self.config))
            .await
            .map_err(|error| VisitFailure {
                reason: error.to_string(),
                screenshot: None,
                attempts: 0,
            })?;
        let (attempts, result) = engine.visit_counted(&plan).await;
        result.map_err(|error| {
            let screenshot = match &error {
                BrowserError::Visit { screenshot, .. } => {
                    screenshot.as_ref().map(|p| p.display().to_string())
                }
                _ => None,
            };
            VisitFailure {
                reason: error.to_string(),
                screenshot,
                attempts,
            }
        })
    }

    /// Closes the browsers.
    pub async fn close(self) {
        if let Some(engine) = self.engine.into_inner() {
            engine.close().await;
        }
    }
}

impl Browsing for BrowserPool {
    fn visit(&self, plan: VisitPlan) -> VisitFuture<'_> {
        Box::pin(self.run(plan))
    }

    fn screenshot(&self, name: &str) -> Option<Vec<u8>> {
        // Only names this pool gives its screenshots: nothing else on disk can be read.
        let hex = name.strip_prefix("visit-")?.strip_suffix(".png")?;
        if hex.len() != 16 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        std::fs::read(self.config.screenshots.as_ref()?.join(name)).ok()
    }
}
