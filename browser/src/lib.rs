//! The browser engine: real Chromium driven through Playwright
//! (`playwright-rs` speaking to the `playwright-core` Node driver).
//!
//! One engine holds a few browser processes; every visit gets a fresh
//! context of its own (cookies, storage, viewport, user agent, locale and
//! time zone), so a browser serves many sessions. A visit navigates, moves
//! the mouse along the paths `throng_actors::behaviour::input` draws, clicks
//! real elements, types into real fields and scrolls with the wheel; the page
//! records what it saw (`capture.js`), which becomes the session's behaviour
//! data, its Web Vitals, and the bot detector's verdict.

mod visit;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use playwright_rs::{Browser, LaunchOptions, Playwright};

pub use visit::{PageVitals, Step, VisitOutcome, VisitPlan};

/// Chromium flags for a closed network: no background traffic, no sandbox
/// (containers), and the automation flag off (bot visits set it themselves).
const CHROMIUM_ARGS: &[&str] = &[
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-blink-features=AutomationControlled",
];

/// Where Chromium is and how many browser processes to share.
#[derive(Clone, Debug)]
pub struct BrowserConfig {
    pub executable: PathBuf,
    pub browsers: usize,
}

impl Default for BrowserConfig {
    fn default() -> Self {
        BrowserConfig {
            executable: PathBuf::from("/usr/bin/chromium"),
            browsers: 1,
        }
    }
}

/// What went wrong, said so a user can act on it.
#[derive(Debug, thiserror::Error)]
pub enum BrowserError {
    #[error("no Chromium at {path}: install it (`apt-get install chromium`) or give its path")]
    NoChromium { path: String },
    #[error(
        "the Playwright driver did not start ({reason}): run `npm install` in ops/browser and set \
         PLAYWRIGHT_NODE_EXE and PLAYWRIGHT_CLI_JS (docs/behaviour.md)"
    )]
    NoDriver { reason: String },
    #[error("Chromium did not start: {0}")]
    Launch(String),
    #[error("{step}: {reason}")]
    Visit { step: String, reason: String },
}

/// A few Chromium processes behind one Playwright driver.
pub struct BrowserEngine {
    // Kept alive: dropping it stops the driver.
    _playwright: Playwright,
    browsers: Vec<Browser>,
    next: AtomicUsize,
}

impl BrowserEngine {
    pub async fn launch(config: &BrowserConfig) -> Result<BrowserEngine, BrowserError> {
        if !Path::new(&config.executable).is_file() {
            return Err(BrowserError::NoChromium {
                path: config.executable.display().to_string(),
            });
        }
        let playwright = Playwright::launch().await.map_err(|e| BrowserError::NoDriver {
            reason: e.to_string(),
        })?;
        let mut browsers = Vec::new();
        for _ in 0..config.browsers.max(1) {
            let options = LaunchOptions::new()
                .executable_path(config.executable.display().to_string())
                .headless(true)
                .args(CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect());
            let browser = playwright
                .chromium()
                .launch_with_options(options)
                .await
                .map_err(|e| BrowserError::Launch(e.to_string()))?;
            browsers.push(browser);
        }
        Ok(BrowserEngine {
            _playwright: playwright,
            browsers,
            next: AtomicUsize::new(0),
        })
    }

    /// The browser the next visit uses, in turn.
    fn browser(&self) -> &Browser {
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.browsers.len();
        &self.browsers[i]
    }

    /// Runs one visit in a fresh context of one of the browsers.
    pub async fn visit(&self, plan: &VisitPlan) -> Result<VisitOutcome, BrowserError> {
        visit::run(self.browser(), plan).await
    }

    pub async fn close(self) {
        for browser in self.browsers {
            let _ = browser.close().await;
        }
    }
}
