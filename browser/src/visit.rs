//! One visit in a fresh browser context: navigate, then play each step with
//! the input a person (or a bot) would make, and collect what the pages saw.

use std::path::Path;
use std::time::Duration;

use playwright_rs::{Browser, BrowserContextOptions, Page, Viewport, WaitUntil};
use rand_core::Rng;
use serde::Deserialize;
use throng_engine::behaviour::input::{InputStyle, Point, mouse_path, scrolling, typing};
use throng_engine::behaviour::rules::Rules;
use throng_engine::behaviour::score::score_with;
use throng_engine::behaviour::signals::{
    BehaviourData, Device, FocusEvent, KeyEvent, KeyKind, MouseEvent, ScrollEvent,
};
use throng_engine::campaign::browsing::{PageError, PageVitals, Step, VisitOutcome, VisitPlan};
use throng_engine::campaign::traffic::persona::Device as DeviceKind;
use throng_engine::ids::{Part, rng_for, unit_f64};
use tokio::time::Instant;

use crate::BrowserError;

const CAPTURE: &str = throng_engine::behaviour::capture::RECORDER;
/// What a bot visit adds to every page: it does not hide the automation flag.
const AUTOMATION_VISIBLE: &str =
    "Object.defineProperty(Navigator.prototype, 'webdriver', { get: () => true });";

/// What `capture.js` collects, with times as epoch milliseconds.
#[derive(Deserialize)]
struct Captured {
    mouse: Vec<MouseEvent>,
    keys: Vec<KeyEvent>,
    scrolls: Vec<ScrollEvent>,
    focus: Vec<FocusEvent>,
    pages: Vec<PageVitals>,
    errors: Vec<PageError>,
    device: Device,
}

fn epoch_ms() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
}

fn failed(step: impl Into<String>) -> impl FnOnce(playwright_rs::Error) -> BrowserError {
    let step = step.into();
    move |e| BrowserError::Visit {
        step,
        reason: e.to_string(),
        screenshot: None,
    }
}

/// How a visit presents its device: what a real Chrome on it would say.
struct Emulation {
    user_agent: String,
    platform: &'static str,
    touch: bool,
    scale: f64,
}

/// `146.0.7680.80` → `146.0.0.0`, as Chrome reduces its user agent.
fn major_version(version: &str) -> String {
    format!("{}.0.0.0", version.split('.').next().unwrap_or(version))
}

impl Emulation {
    fn of(kind: DeviceKind, version: &str) -> Emulation {
        let v = major_version(version);
        match kind {
            DeviceKind::Desktop => Emulation {
                user_agent: format!(
                    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v} Safari/537.36"
                ),
                platform: "Win32",
                touch: false,
                scale: 1.0,
            },
            DeviceKind::Mobile => Emulation {
                user_agent: format!(
                    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v} Mobile Safari/537.36"
                ),
                platform: "Linux armv81",
                touch: true,
                scale: 2.625,
            },
            DeviceKind::Tablet => Emulation {
                user_agent: format!(
                    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{v} Safari/537.36"
                ),
                platform: "Linux armv81",
                touch: true,
                scale: 2.0,
            },
        }
    }
}

/// Plays input events at their times (milliseconds after `base`).
struct Player<'a> {
    page: &'a Page,
    base: Instant,
    /// Where the pointer is.
    pointer: Point,
    /// The viewport's size.
    viewport: Point,
}

impl Player<'_> {
    async fn at(&self, t: f64) {
        tokio::time::sleep_until(self.base + Duration::from_secs_f64(t.max(0.0) / 1000.0)).await;
    }

    fn elapsed_ms(&self) -> f64 {
        self.base.elapsed().as_secs_f64() * 1000.0
    }

    async fn click(
        &mut self,
        selector: &str,
        style: &InputStyle,
        rng: &mut impl Rng,
    ) -> Result<(), BrowserError> {
        let step = format!("click {selector}");
        let matches = self.page.locator(selector);
        // Checked first: waiting for an element that is not there would
        // take the whole action timeout.
        let count = matches.count().await.map_err(failed(step.clone()))?;
        if count == 0 {
            return Err(BrowserError::Visit {
                step,
                reason: format!("no element matches `{selector}` on {}", self.page.url()),
                screenshot: None,
            });
        }
        // Of several (the links of a page), a visitor picks one.
        let pick = (unit_f64(rng) * count as f64) as usize;
        let locator = matches.nth(pick.min(count - 1) as i32);
        let bounds = || async {
            locator
                .bounding_box()
                .await
                .map_err(failed(step.clone()))?
                .ok_or_else(|| BrowserError::Visit {
                    step: step.clone(),
                    reason: format!("no visible element matches `{selector}` on {}", self.page.url()),
                    screenshot: None,
                })
        };
        let mut target = bounds().await?;
        if target.y < 0.0 || target.y + target.height > self.viewport.1 {
            // Out of view: people (and bots that pose as them) wheel
            // towards it, plain bots jump.
            match style {
                InputStyle::Human(_) | InputStyle::Evasive => {
                    let distance = target.y - self.viewport.1 / 3.0;
                    let start = self.elapsed_ms();
                    let (scrolls, end) = scrolling(style, distance.abs(), start, rng);
                    let mouse = self.page.mouse();
                    for event in scrolls {
                        self.at(event.t).await;
                        mouse
                            .wheel(0.0, event.dy.copysign(distance))
                            .await
                            .map_err(failed(step.clone()))?;
                    }
                    self.at(end.min(self.elapsed_ms() + 400.0)).await;
                }
                InputStyle::Robotic => locator
                    .scroll_into_view_if_needed()
                    .await
                    .map_err(failed(step.clone()))?,
            }
            target = bounds().await?;
        }
        let point = (
            target.x + target.width * (0.3 + 0.4 * unit_f64(rng)),
            target.y + target.height * (0.3 + 0.4 * unit_f64(rng)),
        );
        let start = self.elapsed_ms();
        let (moves, end) = mouse_path(
            style,
            self.pointer,
            point,
            target.width.min(target.height),
            start,
            rng,
        );
        let mouse = self.page.mouse();
        for event in moves {
            self.at(event.t).await;
            mouse
                .move_to(event.x, event.y, None)
                .await
                .map_err(failed(step.clone()))?;
        }
        self.pointer = point;
        self.at(end).await;
        mouse.down(None).await.map_err(failed(step.clone()))?;
        let hold = match style {
            InputStyle::Human(_) | InputStyle::Evasive => 60.0 + 80.0 * unit_f64(rng),
            InputStyle::Robotic => 5.0,
        };
        self.at(end + hold).await;
        mouse.up(None).await.map_err(failed(step))?;
        Ok(())
    }

    async fn type_text(
        &mut self,
        text: &str,
        style: &InputStyle,
        rng: &mut impl Rng,
    ) -> Result<(), BrowserError> {
        let start = self.elapsed_ms() + 250.0;
        let (keys, _) = typing(style, text, start, rng);
        let keyboard = self.page.keyboard();
        for key in keys {
            self.at(key.t).await;
            let name = if key.key == " " { "Space" } else { key.key.as_str() };
            let result = match key.kind {
                KeyKind::Down => keyboard.down(name).await,
                KeyKind::Up => keyboard.up(name).await,
            };
            result.map_err(failed(format!("type {text:?}")))?;
        }
        Ok(())
    }

    async fn read(
        &mut self,
        scroll_px: f64,
        style: &InputStyle,
        rng: &mut impl Rng,
    ) -> Result<(), BrowserError> {
        let start = self.elapsed_ms();
        let (scrolls, end) = scrolling(style, scroll_px, start, rng);
        let mouse = self.page.mouse();
        for event in scrolls {
            self.at(event.t).await;
            mouse.wheel(0.0, event.dy).await.map_err(failed("read"))?;
        }
        self.at(end).await;
        Ok(())
    }

    /// Switches to another tab for `away_ms` and back: the page sees a real
    /// blur, then focus. Playwright tells every page it has focus; for the
    /// switch the page is told the truth, then the emulation resumes (so
    /// the other sessions sharing the browser keep their focus).
    async fn look_away(&mut self, away_ms: f64) -> Result<(), BrowserError> {
        let step = "switch tabs";
        let context = self.page.context().map_err(failed(step))?;
        let cdp = context.new_cdp_session(self.page).await.map_err(failed(step))?;
        let emulate = |enabled: bool| {
            cdp.send(
                "Emulation.setFocusEmulationEnabled",
                Some(serde_json::json!({ "enabled": enabled })),
            )
        };
        emulate(false).await.map_err(failed(step))?;
        let other = context.new_page().await.map_err(failed(step))?;
        other.bring_to_front().await.map_err(failed(step))?;
        self.at(self.elapsed_ms() + away_ms).await;
        self.page.bring_to_front().await.map_err(failed(step))?;
        let _ = other.close().await;
        emulate(true).await.map_err(failed(step))?;
        Ok(())
    }
}

/// The current document's identity (its time origin), or none while the
/// page is between documents.
async fn document_id(page: &Page) -> Option<f64> {
    let probe = page.evaluate::<(), f64>("() => performance.timeOrigin", None);
    tokio::time::timeout(Duration::from_secs(2), probe)
        .await
        .ok()?
        .ok()
}

/// After a click: if it starts a navigation (a link, a form), waits until the
/// new document has loaded; otherwise returns after a short look.
async fn settle(page: &Page, before: Option<f64>, timeout: Duration) {
    let look = Instant::now() + Duration::from_millis(1_000);
    while Instant::now() < look {
        let now = document_id(page).await;
        if now.is_some() && now != before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = tokio::time::timeout(timeout, page.wait_for_load_state(Some(WaitUntil::Load))).await;
}

/// What the pages recorded, once the last one answers.
async fn collect(page: &Page, timeout: Duration) -> Result<Captured, BrowserError> {
    let deadline = Instant::now() + timeout;
    loop {
        // A page that sends its behaviour itself (a site embedding the
        // capture script) sends the rest first, as a closing tab would.
        let probe = page.evaluate::<(), Captured>(
            "async () => { if (window.__throngBehaviour) await window.__throngBehaviour.flush(); return window.__throng.collect(); }",
            None,
        );
        let error = match tokio::time::timeout(Duration::from_secs(2), probe).await {
            Ok(Ok(captured)) => return Ok(captured),
            Ok(Err(e)) => e.to_string(),
            Err(_) => "the page did not answer".to_string(),
        };
        if Instant::now() >= deadline {
            return Err(BrowserError::Visit {
                step: "collect behaviour".into(),
                reason: error,
                screenshot: None,
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `plan` in a new context of `browser`; on failure, a screenshot of
/// the page goes to `screenshots` (when given) and its path into the error.
pub async fn run(
    browser: &Browser,
    plan: &VisitPlan,
    screenshots: Option<&Path>,
    rules: &Rules,
) -> Result<VisitOutcome, BrowserError> {
    let mut options = BrowserContextOptions::builder()
        .viewport(Viewport {
            width: plan.viewport.0,
            height: plan.viewport.1,
        })
        .locale(plan.locale.clone())
        .timezone_id(plan.timezone.clone());
    // Headless Chromium names itself `HeadlessChrome`; a visit that does not
    // mean to look automated shows the user agent of the same browser with a
    // screen, on the device it emulates.
    let emulation = plan.device.map(|kind| Emulation::of(kind, browser.version()));
    let user_agent = plan.user_agent.clone().or_else(|| match &emulation {
        Some(emulation) => Some(emulation.user_agent.clone()),
        None => (!plan.automation_visible).then(|| {
            format!(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{} Safari/537.36",
                major_version(browser.version())
            )
        }),
    });
    if let Some(user_agent) = user_agent {
        options = options.user_agent(user_agent);
    }
    if let Some(emulation) = &emulation {
        options = options
            .is_mobile(emulation.touch)
            .has_touch(emulation.touch)
            .device_scale_factor(emulation.scale);
    }
    let context = browser
        .new_context_with_options(options.build())
        .await
        .map_err(failed("open a browser context"))?;
    let platform = emulation.map(|e| e.platform);
    let outcome = match open_page(&context, plan, platform).await {
        Ok(page) => match bounded(&page, plan, rules).await {
            // A failure says on which page it happened, and shows it when
            // screenshots are kept.
            Err(BrowserError::Visit { step, reason, .. }) => {
                let step = match page.url() {
                    url if url.is_empty() || url == "about:blank" || step.contains(&url) => step,
                    url => format!("{step} on {url}"),
                };
                let screenshot = match screenshots {
                    Some(dir) => {
                        let path = dir.join(format!("visit-{:016x}.png", plan.seed));
                        let shot = page.screenshot_to_file(&path, None);
                        let taken = tokio::time::timeout(Duration::from_secs(5), shot).await;
                        matches!(taken, Ok(Ok(_))).then_some(path)
                    }
                    None => None,
                };
                Err(BrowserError::Visit {
                    step,
                    reason,
                    screenshot,
                })
            }
            outcome => outcome,
        },
        Err(error) => Err(error),
    };
    let _ = tokio::time::timeout(Duration::from_secs(10), context.close()).await;
    outcome
}

/// How long a visit's steps may take: each step its timeout, plus the
/// landing and the measurements.
pub(crate) fn steps_limit(plan: &VisitPlan) -> Duration {
    plan.timeout * (plan.steps.len() as u32 + 2)
}

/// However a page behaves, a visit ends: each step may take `timeout`.
async fn bounded(page: &Page, plan: &VisitPlan, rules: &Rules) -> Result<VisitOutcome, BrowserError> {
    let limit = steps_limit(plan);
    match tokio::time::timeout(limit, run_in(page, plan, rules)).await {
        Ok(outcome) => outcome,
        Err(_) => Err(BrowserError::Visit {
            step: plan.url.clone(),
            reason: format!("the visit did not finish within {} s", limit.as_secs()),
            screenshot: None,
        }),
    }
}

async fn open_page(
    context: &playwright_rs::BrowserContext,
    plan: &VisitPlan,
    platform: Option<&str>,
) -> Result<Page, BrowserError> {
    // A visitor closes alerts and says no to confirms and prompts; a page
    // that opens one never stalls the visit.
    context
        .on_dialog(|dialog| async move { dialog.dismiss().await })
        .await
        .map_err(failed("handle dialogs"))?;
    let page = context.new_page().await.map_err(failed("open a page"))?;
    // What every document of the visit runs before its own scripts. It is
    // installed through Chromium's DevTools protocol rather than Playwright's
    // `addInitScript`: since Playwright 1.59 that call answers with a
    // `Disposable` object the client crate does not model, and each one
    // would be an error on the driver connection.
    let mut script = String::from(CAPTURE);
    if let Some(platform) = platform {
        script.push_str(&format!(
            "\nObject.defineProperty(Navigator.prototype, 'platform', {{ get: () => '{platform}' }});"
        ));
    }
    if plan.automation_visible {
        script.push('\n');
        script.push_str(AUTOMATION_VISIBLE);
    }
    let devtools = context
        .new_cdp_session(&page)
        .await
        .map_err(failed("install capture"))?;
    // Chromium runs a session's new-document scripts only once the session
    // has enabled its Page domain.
    devtools
        .send("Page.enable", None)
        .await
        .map_err(failed("install capture"))?;
    devtools
        .send(
            "Page.addScriptToEvaluateOnNewDocument",
            Some(serde_json::json!({ "source": script })),
        )
        .await
        .map_err(failed("install capture"))?;
    Ok(page)
}

async fn run_in(page: &Page, plan: &VisitPlan, rules: &Rules) -> Result<VisitOutcome, BrowserError> {
    let mut rng = rng_for(&[Part::Str("browser-visit"), Part::U64(plan.seed)]);
    let started_ms = epoch_ms();
    let goto = playwright_rs::GotoOptions::new()
        .timeout(plan.timeout)
        .wait_until(WaitUntil::Load);
    page.goto(&plan.url, goto)
        .await
        .map_err(failed(format!("open {}", plan.url)))?;
    let mut player = Player {
        page,
        base: Instant::now(),
        pointer: (f64::from(plan.viewport.0) / 2.0, f64::from(plan.viewport.1) / 2.0),
        viewport: (f64::from(plan.viewport.0), f64::from(plan.viewport.1)),
    };
    if let InputStyle::Human(_) = plan.style {
        // A person looks at a new page before doing anything.
        let glance = 600.0 + 900.0 * unit_f64(&mut rng);
        player.at(glance).await;
    }
    for step in &plan.steps {
        match step {
            Step::Goto { url } => {
                let goto = playwright_rs::GotoOptions::new()
                    .timeout(plan.timeout)
                    .wait_until(WaitUntil::Load);
                page.goto(url, goto)
                    .await
                    .map_err(failed(format!("open {url}")))?;
                if let InputStyle::Human(_) = plan.style {
                    let glance = player.elapsed_ms() + 400.0 + 700.0 * unit_f64(&mut rng);
                    player.at(glance).await;
                }
            }
            Step::LookAway { ms } => player.look_away(*ms).await?,
            Step::Read { scroll_px } => player.read(*scroll_px, &plan.style, &mut rng).await?,
            Step::Click { selector } => {
                let before = document_id(page).await;
                player.click(selector, &plan.style, &mut rng).await?;
                settle(page, before, plan.timeout).await;
            }
            Step::Type { selector, text } => {
                let first = format!("{selector} >> nth=0");
                player.click(&first, &plan.style, &mut rng).await?;
                player.type_text(text, &plan.style, &mut rng).await?;
            }
        }
        // A moment between steps: people look, bots do not (an evasive
        // one waits a fixed-looking while).
        let pause = match plan.style {
            InputStyle::Human(_) => 400.0 + 900.0 * unit_f64(&mut rng),
            InputStyle::Robotic => 20.0,
            InputStyle::Evasive => 250.0 + 100.0 * unit_f64(&mut rng),
        };
        let now = player.elapsed_ms();
        player.at(now + pause).await;
    }
    let captured = collect(page, plan.timeout).await?;
    let relative = |t: f64| t - started_ms;
    let behaviour = BehaviourData {
        duration_ms: epoch_ms() - started_ms,
        mouse: captured
            .mouse
            .into_iter()
            .map(|m| MouseEvent {
                t: relative(m.t),
                ..m
            })
            .collect(),
        keys: captured
            .keys
            .into_iter()
            .map(|k| KeyEvent {
                t: relative(k.t),
                ..k
            })
            .collect(),
        scrolls: captured
            .scrolls
            .into_iter()
            .map(|s| ScrollEvent {
                t: relative(s.t),
                ..s
            })
            .collect(),
        focus: captured
            .focus
            .into_iter()
            .map(|f| FocusEvent {
                t: relative(f.t),
                ..f
            })
            .collect(),
        device: captured.device,
        network: Default::default(),
    };
    let verdict = score_with(&behaviour, rules);
    Ok(VisitOutcome {
        attempts: 1,
        behaviour,
        pages: captured.pages,
        errors: captured.errors,
        verdict,
    })
}
