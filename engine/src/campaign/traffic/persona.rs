//! Personas: behaviour profiles a session is drawn from.

use std::time::Duration;

use super::Weighted;

/// The kind of device a visitor uses; it decides user agent and viewport.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Device {
    Desktop,
    Mobile,
    Tablet,
}

impl Device {
    pub fn parse(name: &str) -> Option<Device> {
        match name {
            "desktop" => Some(Device::Desktop),
            "mobile" => Some(Device::Mobile),
            "tablet" => Some(Device::Tablet),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Device::Desktop => "desktop",
            Device::Mobile => "mobile",
            Device::Tablet => "tablet",
        }
    }

    /// User agents of current browsers on this kind of device.
    pub fn user_agents(self) -> &'static [&'static str] {
        match self {
            Device::Desktop => &[
                "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Safari/537.36",
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_6) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Safari/605.1.15",
                "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0",
            ],
            Device::Mobile => &[
                "Mozilla/5.0 (iPhone; CPU iPhone OS 18_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Mobile/15E148 Safari/604.1",
                "Mozilla/5.0 (Linux; Android 15; Pixel 9) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/156.0.0.0 Mobile Safari/537.36",
            ],
            Device::Tablet => &[
                "Mozilla/5.0 (iPad; CPU OS 18_2 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.2 Mobile/15E148 Safari/604.1",
            ],
        }
    }

    /// Common screen resolutions of this kind of device, as `WxH`.
    pub fn resolutions(self) -> &'static [&'static str] {
        match self {
            Device::Desktop => &["1920x1080", "1536x864", "2560x1440", "1366x768"],
            Device::Mobile => &["390x844", "412x915", "360x800"],
            Device::Tablet => &["820x1180", "768x1024"],
        }
    }
}

/// Where a visit came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ReferrerKind {
    Direct,
    Search,
    Social,
    Campaign,
}

impl ReferrerKind {
    pub fn parse(name: &str) -> Option<ReferrerKind> {
        match name {
            "direct" => Some(ReferrerKind::Direct),
            "search" => Some(ReferrerKind::Search),
            "social" => Some(ReferrerKind::Social),
            "campaign" => Some(ReferrerKind::Campaign),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            ReferrerKind::Direct => "direct",
            ReferrerKind::Search => "search",
            ReferrerKind::Social => "social",
            ReferrerKind::Campaign => "campaign",
        }
    }
}

/// A behaviour profile.
#[derive(Clone, Debug, PartialEq)]
pub struct Persona {
    pub name: String,
    /// Share of sessions, relative to the other personas.
    pub weight: f64,
    pub devices: Weighted<Device>,
    /// Language tags such as `en-US`.
    pub languages: Weighted<String>,
    /// Two-letter country codes (lower case, as Matomo's `country`).
    pub countries: Weighted<String>,
    pub referrers: Weighted<ReferrerKind>,
    /// Probability that a session is a returning visitor's.
    pub returning: f64,
    /// How many regular (returning) visitors the persona has.
    pub regulars: u64,
    /// Probability that a session ends after its first page.
    pub bounce: f64,
    pub pages_min: u64,
    pub pages_max: u64,
    pub think_min: Duration,
    pub think_max: Duration,
    /// Probability that a visitor who reaches checkout places the order.
    pub conversion: f64,
    /// Journeys by name, weighted.
    pub journeys: Weighted<String>,
    /// A bot, not a person: in a browser it moves in straight lines at
    /// constant speed, types at machine pace, does not scroll, and leaves
    /// the automation flag visible. The contrast the bot detector is judged on.
    pub bot: bool,
}

impl Persona {
    /// The persona of specs that give none: anyone, browsing.
    pub fn default_visitor(pages_min: u64, pages_max: u64, think_min: Duration, think_max: Duration) -> Self {
        Persona {
            name: "visitor".to_string(),
            weight: 1.0,
            devices: Weighted::new(vec![
                (Device::Desktop, 0.6),
                (Device::Mobile, 0.35),
                (Device::Tablet, 0.05),
            ]),
            languages: Weighted::new(vec![("en-US".to_string(), 1.0)]),
            countries: Weighted::new(vec![("us".to_string(), 1.0)]),
            referrers: Weighted::new(vec![(ReferrerKind::Direct, 1.0)]),
            returning: 0.0,
            regulars: 1_000,
            bounce: 0.0,
            pages_min,
            pages_max,
            think_min,
            think_max,
            conversion: 0.0,
            journeys: Weighted::new(vec![("browse".to_string(), 1.0)]),
            bot: false,
        }
    }
}
