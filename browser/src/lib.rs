//! The browser engine: real Chromium driven through Playwright
//! (`playwright-rs` speaking to the `playwright-core` Node driver).
//!
//! One engine holds a few browser processes; every visit gets a fresh
//! context of its own (cookies, storage, viewport, user agent, locale and
//! time zone), so a browser serves many sessions. A visit navigates, moves
//! the mouse along the paths `throng_engine::behaviour::input` draws, clicks
//! real elements, types into real fields and scrolls with the wheel; the page
//! records what it saw (`capture.js`), which becomes the session's behaviour
//! data, its Web Vitals, and the bot detector's verdict.

mod pool;
mod visit;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use playwright_rs::{Browser, LaunchOptions, Playwright};

pub use pool::BrowserPool;
pub use throng_engine::campaign::browsing::{PageVitals, Step, VisitOutcome, VisitPlan};

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
    // Chromium honours only the last `--disable-features`, and this one
    // follows Playwright's own: it repeats Playwright's list, then turns off
    // the WebUI omnibox popup, which Chromium preloads for every window in a
    // renderer of its own (about 50 MB for each browser context, and a
    // quarter of a visit's CPU), though a headless window never shows it.
    "--disable-features=AvoidUnnecessaryBeforeUnloadCheckSync,DestroyProfileOnBrowserClose,\
     DialMediaRouteProvider,GlobalMediaControls,HttpsUpgrades,LensOverlay,MediaRouter,PaintHolding,\
     ThirdPartyStoragePartitioning,BlockOriginHeaderModificationOnRedirect,Translate,AutoDeElevate,\
     OptimizationHints,NetworkTimeServiceQuerying,AimEnabled,msForceBrowserSignIn,\
     msEdgeUpdateLaunchServicesPreferredVersion,WebUIOmniboxPopup,WebUIOmniboxFullPopup,\
     WebUIOmniboxAimPopup",
];

/// Where Chromium is and how many browser processes to share.
#[derive(Clone, Debug)]
pub struct BrowserConfig {
    pub executable: PathBuf,
    pub browsers: usize,
    /// Where a failed visit's screenshot goes (none: no screenshots).
    pub screenshots: Option<PathBuf>,
    /// Extra Chromium flags.
    pub extra_args: Vec<String>,
    /// The bot detector's rules each visit is judged by (the defaults, or
    /// the node's rules file, followed as it changes).
    pub rules: throng_engine::behaviour::rules_file::BehaviourRules,
}

impl Default for BrowserConfig {
    fn default() -> Self {
        BrowserConfig {
            executable: PathBuf::from("/usr/bin/chromium"),
            browsers: 1,
            screenshots: None,
            extra_args: Vec::new(),
            rules: Default::default(),
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
    #[error("{step}: {reason}{}", screenshot_note(.screenshot))]
    Visit {
        step: String,
        reason: String,
        /// A screenshot of the page when it failed, if one was taken.
        screenshot: Option<PathBuf>,
    },
}

fn screenshot_note(screenshot: &Option<PathBuf>) -> String {
    screenshot
        .as_ref()
        .map(|p| format!(" (screenshot {})", p.display()))
        .unwrap_or_default()
}

/// A few Chromium processes behind one Playwright driver. A browser that
/// crashes is replaced, and the visit it broke runs again on the new one.
pub struct BrowserEngine {
    playwright: Playwright,
    config: BrowserConfig,
    /// Each slot's browser, and how many times the slot has been refilled.
    browsers: tokio::sync::Mutex<Vec<(Browser, u64)>>,
    next: AtomicUsize,
    replaced: AtomicUsize,
}

/// Whether `browser` has died: the driver may report the lost connection
/// just after the calls that failed because of it.
async fn died(browser: &Browser) -> bool {
    for _ in 0..10 {
        if !browser.is_connected() {
            return true;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    false
}

/// How long a browser may take to open a context before it counts as hung.
const HUNG_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

async fn launch_browser(playwright: &Playwright, config: &BrowserConfig) -> Result<Browser, BrowserError> {
    let mut args: Vec<String> = CHROMIUM_ARGS.iter().map(|a| a.to_string()).collect();
    args.extend(config.extra_args.iter().cloned());
    let options = LaunchOptions::new()
        .executable_path(config.executable.display().to_string())
        .headless(true)
        .args(args);
    // A launch that never answers (a machine out of memory, a driver in a
    // bad state) must not hold the slot, and every visit waiting on it, forever.
    let launch = playwright.chromium().launch_with_options(options);
    match tokio::time::timeout(LAUNCH_WITHIN, launch).await {
        Ok(launched) => launched.map_err(|e| BrowserError::Launch(e.to_string())),
        Err(_) => Err(BrowserError::Launch(format!(
            "Chromium did not start within {} s",
            LAUNCH_WITHIN.as_secs()
        ))),
    }
}

/// How long a Chromium may take to start.
const LAUNCH_WITHIN: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a whole visit may take: its steps' limit, plus room to open
/// and close the context and take a screenshot. Past it the browser is
/// taken for hung, whichever call it stopped answering.
fn visit_limit(plan: &VisitPlan) -> std::time::Duration {
    visit::steps_limit(plan) + std::time::Duration::from_secs(30)
}

impl BrowserEngine {
    pub async fn launch(config: &BrowserConfig) -> Result<BrowserEngine, BrowserError> {
        if !Path::new(&config.executable).is_file() {
            return Err(BrowserError::NoChromium {
                path: config.executable.display().to_string(),
            });
        }
        let playwright = match tokio::time::timeout(LAUNCH_WITHIN, Playwright::launch()).await {
            Ok(launched) => launched.map_err(|e| BrowserError::NoDriver {
                reason: e.to_string(),
            })?,
            Err(_) => {
                return Err(BrowserError::NoDriver {
                    reason: format!("the driver did not start within {} s", LAUNCH_WITHIN.as_secs()),
                });
            }
        };
        let mut browsers = Vec::new();
        for _ in 0..config.browsers.max(1) {
            browsers.push((launch_browser(&playwright, config).await?, 0));
        }
        Ok(BrowserEngine {
            playwright,
            config: config.clone(),
            browsers: tokio::sync::Mutex::new(browsers),
            next: AtomicUsize::new(0),
            replaced: AtomicUsize::new(0),
        })
    }

    /// Browsers launched to replace ones that died.
    pub fn replaced(&self) -> usize {
        self.replaced.load(Ordering::Relaxed)
    }

    /// The browser the next visit uses, in turn, its slot and generation.
    /// A visit never starts on a browser already known to be dead: when a
    /// crash took every browser, a retry would otherwise fail again at once.
    async fn browser(&self) -> Result<(usize, u64, Browser), BrowserError> {
        let mut browsers = self.browsers.lock().await;
        let slot = self.next.fetch_add(1, Ordering::Relaxed) % browsers.len();
        self.relaunch_if_dead(&mut browsers, slot).await?;
        Ok((slot, browsers[slot].1, browsers[slot].0.clone()))
    }

    /// Launches a new browser in `slot` if the one there has died.
    async fn replace_if_dead(&self, slot: usize) -> Result<(), BrowserError> {
        let mut browsers = self.browsers.lock().await;
        self.relaunch_if_dead(&mut browsers, slot).await
    }

    async fn relaunch_if_dead(
        &self,
        browsers: &mut [(Browser, u64)],
        slot: usize,
    ) -> Result<(), BrowserError> {
        if browsers[slot].0.is_connected() {
            return Ok(());
        }
        tracing::warn!(slot, "a Chromium process died; launching a new one");
        let browser = launch_browser(&self.playwright, &self.config).await?;
        browsers[slot] = (browser, browsers[slot].1 + 1);
        self.replaced.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    /// Launches a new browser in `slot` in place of `hung`, unless another
    /// visit already did; the hung one is closed in the background (the
    /// driver kills it when it does not close gracefully).
    async fn replace_hung(&self, slot: usize, generation: u64) -> Result<(), BrowserError> {
        let mut browsers = self.browsers.lock().await;
        if browsers[slot].1 != generation {
            return Ok(());
        }
        tracing::warn!(slot, "a Chromium process stopped answering; launching a new one");
        let browser = launch_browser(&self.playwright, &self.config).await?;
        let (old, _) = std::mem::replace(&mut browsers[slot], (browser, generation + 1));
        self.replaced.fetch_add(1, Ordering::Relaxed);
        tokio::spawn(async move {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(60), old.close()).await;
        });
        Ok(())
    }

    /// Closes the browser in `slot` if it no longer opens a context in
    /// time (hung), and launches a new one in its place.
    async fn replace_if_hung(
        &self,
        slot: usize,
        generation: u64,
        browser: &Browser,
    ) -> Result<bool, BrowserError> {
        let probe = async {
            let context = browser.new_context().await?;
            context.close().await
        };
        if matches!(tokio::time::timeout(HUNG_AFTER, probe).await, Ok(Ok(()))) {
            return Ok(false);
        }
        self.replace_hung(slot, generation).await?;
        Ok(true)
    }

    /// Runs one visit in a fresh context of one of the browsers. If the
    /// browser dies (or hangs) during it, it is replaced and the visit runs
    /// again, up to `plan.attempts` times in all.
    pub async fn visit(&self, plan: &VisitPlan) -> Result<VisitOutcome, BrowserError> {
        self.visit_counted(plan).await.1
    }

    /// [`BrowserEngine::visit`], and how many times the visit ran.
    pub async fn visit_counted(&self, plan: &VisitPlan) -> (u32, Result<VisitOutcome, BrowserError>) {
        let mut attempt = 1;
        loop {
            let (slot, generation, browser) = match self.browser().await {
                Ok(chosen) => chosen,
                Err(error) => return (attempt, Err(error)),
            };
            let rules = self.config.rules.rules();
            let visit = visit::run(&browser, plan, self.config.screenshots.as_deref(), &rules);
            let limit = visit_limit(plan);
            let result = match tokio::time::timeout(limit, visit).await {
                Ok(result) => result,
                Err(_) => Err(BrowserError::Visit {
                    step: plan.url.clone(),
                    reason: format!("the browser did not answer within {} s", limit.as_secs()),
                    screenshot: None,
                }),
            };
            let broken = match &result {
                Ok(_) => false,
                Err(_) if died(&browser).await => match self.replace_if_dead(slot).await {
                    Ok(()) => true,
                    Err(error) => return (attempt, Err(error)),
                },
                Err(BrowserError::Visit { .. }) => {
                    match self.replace_if_hung(slot, generation, &browser).await {
                        Ok(hung) => hung,
                        Err(error) => return (attempt, Err(error)),
                    }
                }
                Err(_) => false,
            };
            match result {
                Ok(mut outcome) => {
                    outcome.attempts = attempt;
                    return (attempt, Ok(outcome));
                }
                Err(error) if broken && attempt < plan.attempts.max(1) => {
                    tracing::warn!(%error, attempt, "visit failed with its browser; running it again");
                    attempt += 1;
                }
                Err(error) => return (attempt, Err(error)),
            }
        }
    }

    pub async fn close(self) {
        for (browser, _) in self.browsers.into_inner() {
            let _ = browser.close().await;
        }
    }
}
