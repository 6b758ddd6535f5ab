//! Browser sessions: what a campaign asks of an agent's browsers and what
//! comes back. A session of a `browser` target becomes a [`VisitPlan`]
//! (its journey as navigations, clicks, typing and reading, its persona as
//! a device, a locale and a time zone); the agent's browser pool, which
//! implements [`Browsing`] in `throng-browser`, plays it in real Chromium
//! and answers with a [`VisitOutcome`]. The actors only know the trait, so
//! nothing here depends on a browser being installed.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::behaviour::input::{HumanStyle, InputStyle};
use crate::behaviour::score::Verdict;
use crate::behaviour::signals::BehaviourData;
use crate::campaign::session::plan::SessionPlan;
use crate::campaign::traffic::journey::Action;
use crate::campaign::traffic::persona::Device;
use crate::ids::{self, Part};
use crate::spec::CampaignSpec;

/// One thing a visitor does in the browser.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// Navigate to a URL (a page the journey goes to).
    Goto { url: String },
    /// Read: scroll down about this many pixels, pausing as people do.
    Read { scroll_px: f64 },
    /// Switch to another tab for this many milliseconds, then come back.
    LookAway { ms: f64 },
    /// Move to an element matching the selector (one of them, picked as a
    /// visitor would) and click it.
    Click { selector: String },
    /// Click into the first field matching the selector and type the text.
    Type { selector: String, text: String },
}

/// Who visits, how, and what they do.
#[derive(Clone, Debug)]
pub struct VisitPlan {
    pub url: String,
    pub steps: Vec<Step>,
    pub style: InputStyle,
    /// Seeds the visit's input, so a visit plays the same each time.
    pub seed: u64,
    pub viewport: (u32, u32),
    /// The device the browser presents itself as (user agent, platform,
    /// touch); none leaves the browser as it is.
    pub device: Option<Device>,
    /// A user agent to send instead of the device's.
    pub user_agent: Option<String>,
    pub locale: String,
    pub timezone: String,
    /// Leaves `navigator.webdriver` set, as plain automation does.
    pub automation_visible: bool,
    /// Longest a navigation may take.
    pub timeout: Duration,
    /// How many times the visit runs in all when its browser dies under it.
    pub attempts: u32,
}

/// Timings of one page, in milliseconds from its navigation start.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct PageVitals {
    pub url: String,
    /// When its navigation began: epoch milliseconds by the browser's clock
    /// (0 when the browser does not say).
    pub started_ms: f64,
    /// The document's HTTP status (0 when the browser does not say).
    pub status: u16,
    pub ttfb_ms: f64,
    pub dom_ms: f64,
    pub load_ms: f64,
    /// Largest Contentful Paint.
    pub lcp_ms: f64,
    /// Cumulative Layout Shift.
    pub cls: f64,
    /// The slowest interaction (a proxy for Interaction to Next Paint).
    pub inp_ms: f64,
    /// The document's body size (0 when the browser does not say).
    pub bytes: u64,
}

/// A script error a page reported.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PageError {
    pub url: String,
    pub message: String,
}

/// What a visit left: its behaviour as the pages saw it, each page's
/// vitals, script errors, and the detector's verdict.
#[derive(Clone, Debug)]
pub struct VisitOutcome {
    /// 1, or more when a browser died under the visit and it ran again.
    pub attempts: u32,
    pub behaviour: BehaviourData,
    pub pages: Vec<PageVitals>,
    pub errors: Vec<PageError>,
    pub verdict: Verdict,
}

/// Why a visit did not finish.
#[derive(Clone, Debug, PartialEq)]
pub struct VisitFailure {
    /// The step that failed and why, said for a person.
    pub reason: String,
    /// A screenshot of the page when it failed.
    pub screenshot: Option<String>,
    /// How many times it ran.
    pub attempts: u32,
}

pub type VisitFuture<'a> = Pin<Box<dyn Future<Output = Result<VisitOutcome, VisitFailure>> + Send + 'a>>;

/// An agent's browsers, as sessions see them.
pub trait Browsing: Send + Sync + std::fmt::Debug {
    fn visit(&self, plan: VisitPlan) -> VisitFuture<'_>;

    /// The PNG a failed visit left, by the file name its report gave
    /// (`BrowserReport::screenshot`); none when it was not kept here.
    fn screenshot(&self, _name: &str) -> Option<Vec<u8>> {
        None
    }
}

/// What a browser session adds to its outcome.
#[derive(Clone, Debug, PartialEq)]
pub struct BrowserReport {
    /// The persona is a bot (so a HIGH risk is the detector being right).
    pub bot_persona: bool,
    pub attempts: u32,
    /// None when the visit failed before the pages could be read.
    pub verdict: Option<Verdict>,
    pub pages: Vec<PageVitals>,
    pub errors: Vec<PageError>,
    pub screenshot: Option<String>,
}

/// Chance a person, after reading a page, looks at another tab for a while.
pub const TAB_SWITCH: f64 = 0.2;

/// The link a `click` without a selector follows: any link within the site.
pub const ANY_SITE_LINK: &str = "a[href^='/']:visible";
/// The button a `form_submit` without a selector presses.
pub const SUBMIT: &str = "form button:visible, form [type=submit]:visible";
/// The field a `form_submit` without fields types the visitor's address into.
pub const FIRST_FIELD: &str = "form input:not([type=hidden]):not([type=submit]):visible";

/// A time zone for a two-letter country code (UTC for ones not listed).
pub fn timezone_for(country: &str) -> &'static str {
    match country {
        "us" => "America/New_York",
        "ca" => "America/Toronto",
        "br" => "America/Sao_Paulo",
        "mx" => "America/Mexico_City",
        "gb" | "ie" => "Europe/London",
        "de" | "at" | "ch" => "Europe/Berlin",
        "fr" | "be" => "Europe/Paris",
        "es" => "Europe/Madrid",
        "it" => "Europe/Rome",
        "nl" => "Europe/Amsterdam",
        "se" | "no" | "dk" => "Europe/Stockholm",
        "pl" => "Europe/Warsaw",
        "in" => "Asia/Kolkata",
        "jp" => "Asia/Tokyo",
        "cn" => "Asia/Shanghai",
        "au" => "Australia/Sydney",
        _ => "UTC",
    }
}

fn viewport(resolution: &str) -> (u32, u32) {
    resolution
        .split_once('x')
        .and_then(|(w, h)| Some((w.parse().ok()?, h.parse().ok()?)))
        .unwrap_or((1366, 768))
}

/// The browser visit of a session of a `browser` target: each journey step
/// as what a visitor does in a browser, with the persona's device, language,
/// country and input style.
pub fn visit_plan(plan: &SessionPlan, spec: &CampaignSpec, attempts: u32) -> VisitPlan {
    let base = &spec.targets[plan.target].url;
    let persona = &spec.personas[plan.persona];
    let journey = spec.journey(&plan.journey);
    let mut rng = ids::rng_for(&[Part::Str("browser-plan"), Part::U64(plan.session_id)]);
    let style = if persona.bot {
        InputStyle::Robotic
    } else {
        InputStyle::Human(HumanStyle::draw(&mut rng))
    };
    let email = format!("visitor-{:x}@example.com", plan.who.visitor.id);
    let human = !persona.bot;
    let read = |rng: &mut _, steps: &mut Vec<Step>| {
        steps.push(Step::Read {
            scroll_px: 300.0 + 900.0 * ids::unit_f64(rng),
        });
        if human && ids::unit_f64(rng) < TAB_SWITCH {
            steps.push(Step::LookAway {
                ms: 1_500.0 + 4_500.0 * ids::unit_f64(rng),
            });
        }
    };
    let mut url = format!("{base}/");
    let mut steps = Vec::new();
    for (index, step) in plan.steps.iter().enumerate() {
        let declared = journey.and_then(|j| {
            let name = step.name.rsplit('.').next().unwrap_or_default();
            j.steps.get(name)
        });
        let selector = declared.and_then(|d| d.selector.clone());
        let page_url = format!("{base}{}", step.path);
        if index == 0 {
            // The visit lands on the first step's page, whatever its action.
            url = page_url.clone();
            if step.action != Action::FormSubmit {
                read(&mut rng, &mut steps);
                continue;
            }
        }
        match step.action {
            // Leaving the site, or an analytics-only event: a moment's reading.
            Action::Outlink | Action::Event => read(&mut rng, &mut steps),
            Action::Click | Action::Download => {
                steps.push(Step::Click {
                    selector: selector.unwrap_or_else(|| ANY_SITE_LINK.to_string()),
                });
                if step.action == Action::Click {
                    read(&mut rng, &mut steps);
                }
            }
            Action::FormSubmit => {
                if index > 0 {
                    steps.push(Step::Goto { url: page_url });
                }
                let fields = declared.map(|d| d.fields.clone()).unwrap_or_default();
                let fields = if fields.is_empty() {
                    vec![(FIRST_FIELD.to_string(), email.clone())]
                } else {
                    fields
                        .into_iter()
                        .map(|(selector, text)| (selector, text.replace("{email}", &email)))
                        .collect()
                };
                for (selector, text) in fields {
                    steps.push(Step::Type { selector, text });
                }
                steps.push(Step::Click {
                    selector: selector.unwrap_or_else(|| SUBMIT.to_string()),
                });
            }
            _ => {
                steps.push(Step::Goto { url: page_url });
                read(&mut rng, &mut steps);
            }
        }
    }
    VisitPlan {
        url,
        steps,
        style,
        seed: plan.session_id,
        viewport: viewport(&plan.who.resolution),
        device: (!persona.bot).then_some(plan.who.device),
        user_agent: None,
        locale: plan.who.language.clone(),
        timezone: timezone_for(&plan.who.country).to_string(),
        automation_visible: persona.bot,
        timeout: spec.request_timeout,
        attempts,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::ValidationContext;

    fn spec() -> CampaignSpec {
        CampaignSpec::parse(
            r##"
name: browse
seed: 3
target: {url: "http://127.0.0.1:1", kind: browser, retries: 2}
pages: ["/", "/contact"]
load: {rate: 1, sessions: 10}
personas:
  - {name: reader, countries: {de: 1}, languages: {de-DE: 1}, devices: {mobile: 1}, journeys: {contact: 1}}
  - {name: scraper, behaviour: bot, journeys: {contact: 1}}
journeys:
  - name: contact
    start: home
    steps:
      home: {action: page_view, path: "/", next: {about: 1}}
      about: {action: click, selector: "#about", next: {write: 1}}
      write:
        action: form_submit
        path: /contact
        selector: "#send"
        fields: {"#email": "{email}", "#message": "hello"}
"##,
            &ValidationContext::default(),
        )
        .expect("valid spec")
    }

    #[test]
    fn browser_fields_in_the_wrong_place_are_rejected_with_their_paths() {
        let bad = r##"
name: bad
target: {url: "http://127.0.0.1:1", kind: browser, retries: 9, http2: true}
targets_extra: 1
load: {rate: 1, sessions: 1}
personas:
  - {name: p, behaviour: robot, journeys: {j: 1}}
journeys:
  - name: j
    start: a
    steps:
      a: {action: form_submit, path: /, fields: {"#email": 3}}
      b: {action: click, fields: {}}
"##;
        let errors = CampaignSpec::parse(bad, &ValidationContext::default())
            .expect_err("invalid")
            .0;
        let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
        for path in [
            "target.retries",
            "target.http2",
            "targets_extra",
            "personas[0].behaviour",
            "journeys[0].steps.a.fields.#email",
            "journeys[0].steps.b.fields",
        ] {
            assert!(paths.contains(&path), "{path} in {errors:?}");
        }
        let http = "name: h\ntarget: {url: 'http://127.0.0.1:1', retries: 1}\nload: {rate: 1, sessions: 1}\n";
        let errors = CampaignSpec::parse(http, &ValidationContext::default())
            .expect_err("retries on http")
            .0;
        assert_eq!(errors[0].path, "target.retries");
        assert!(errors[0].message.contains("browser"), "{errors:?}");
    }

    #[test]
    fn a_journey_becomes_navigations_clicks_and_typing() {
        let spec = spec();
        let (mut person, mut bot) = (None, None);
        let mut looked_away = [0, 0];
        for seq in 0..40 {
            let plan = SessionPlan::new(&spec, 0, seq);
            let visit = visit_plan(&plan, &spec, 3);
            let kind = usize::from(spec.personas[plan.persona].bot);
            looked_away[kind] += visit
                .steps
                .iter()
                .filter(|s| matches!(s, Step::LookAway { .. }))
                .count();
            match spec.personas[plan.persona].bot {
                true => bot = Some(visit),
                false => person = Some(visit),
            }
        }
        let person = person.expect("a person's visit");
        assert_eq!(person.url, "http://127.0.0.1:1/");
        assert!(matches!(person.style, InputStyle::Human(_)));
        assert_eq!(person.device, Some(Device::Mobile));
        assert_eq!(
            (person.locale.as_str(), person.timezone.as_str()),
            ("de-DE", "Europe/Berlin")
        );
        assert!(
            person.viewport.0 < 500,
            "a phone's viewport: {:?}",
            person.viewport
        );
        assert!(!person.automation_visible);
        assert_eq!(person.attempts, 3);
        let kinds: Vec<String> = person
            .steps
            .iter()
            .filter(|s| !matches!(s, Step::LookAway { .. }))
            .map(|s| match s {
                Step::Goto { url } => format!("goto {url}"),
                Step::Read { .. } => "read".into(),
                Step::LookAway { .. } => unreachable!("filtered out"),
                Step::Click { selector } => format!("click {selector}"),
                Step::Type { selector, text } => format!("type {selector} {text}"),
            })
            .collect();
        assert_eq!(kinds[0..3], ["read", "click #about", "read"]);
        assert_eq!(kinds[3], "goto http://127.0.0.1:1/contact");
        assert!(kinds[4].starts_with("type #email visitor-") && kinds[4].ends_with("@example.com"));
        assert_eq!(kinds[5..], ["type #message hello", "click #send"]);

        assert!(looked_away[0] > 0, "people sometimes switch tabs");
        assert_eq!(looked_away[1], 0, "bots never do");
        let bot = bot.expect("a bot's visit");
        assert_eq!(bot.style, InputStyle::Robotic);
        assert!(bot.automation_visible);
        assert_eq!(bot.device, None);
    }
}
