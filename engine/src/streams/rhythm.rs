//! Rhythms: how a stream's rate moves with the hour, the weekday, the
//! academic calendar and growth. A rhythm is a pure function of local time.

use jiff::Timestamp;
use jiff::civil::Weekday;

use crate::zone::Zone;

/// Growth is counted from this instant (2026-01-01T00:00Z), so the same
/// catalog gives the same rates whenever it is generated.
const GROWTH_EPOCH_MS: i64 = 1_767_225_600_000;
const MONTH_MS: f64 = 30.436_875 * 86_400_000.0;

/// Months of the year with their own multiplier (exam seasons, summer).
#[derive(Clone, Debug, PartialEq)]
pub struct Season {
    pub name: String,
    pub months: Vec<u32>,
    pub multiplier: f64,
}

/// Days of the year (`from` to `to`, both inclusive, wrapping at new year)
/// with their own multiplier.
#[derive(Clone, Debug, PartialEq)]
pub struct Holiday {
    pub name: String,
    pub from: (u32, u32),
    pub to: (u32, u32),
    pub multiplier: f64,
}

impl Holiday {
    fn contains(&self, month: u32, day: u32) -> bool {
        let at = (month, day);
        if self.from <= self.to {
            self.from <= at && at <= self.to
        } else {
            at >= self.from || at <= self.to
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct Rhythm {
    /// Multipliers by local hour, averaging 1 over the day.
    pub hours: [f64; 24],
    /// Multiplier on Saturdays and Sundays.
    pub weekend: f64,
    pub seasons: Vec<Season>,
    pub holidays: Vec<Holiday>,
    /// Compound growth of the rate per month.
    pub growth_per_month: f64,
}

/// The parts of a local instant a rhythm reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTime {
    pub hour: usize,
    pub weekend: bool,
    pub month: u32,
    pub day: u32,
}

impl LocalTime {
    pub fn at(at_ms: i64, zone: &Zone) -> LocalTime {
        let local = at_ms + zone.offset_ms_at(at_ms.max(0) as u64);
        let civil = Timestamp::from_millisecond(local)
            .unwrap_or(Timestamp::UNIX_EPOCH)
            .to_zoned(jiff::tz::TimeZone::UTC)
            .datetime();
        LocalTime {
            hour: civil.hour() as usize,
            weekend: matches!(civil.weekday(), Weekday::Saturday | Weekday::Sunday),
            month: civil.month() as u32,
            day: civil.day() as u32,
        }
    }
}

impl Rhythm {
    /// A rhythm that never changes.
    pub fn flat() -> Rhythm {
        Rhythm {
            hours: [1.0; 24],
            weekend: 1.0,
            seasons: Vec::new(),
            holidays: Vec::new(),
            growth_per_month: 0.0,
        }
    }

    /// The multiplier in force at `at_ms`, whose local time is `local`.
    pub fn factor(&self, at_ms: i64, local: LocalTime) -> f64 {
        let mut factor = self.hours[local.hour];
        if local.weekend {
            factor *= self.weekend;
        }
        for season in &self.seasons {
            if season.months.contains(&local.month) {
                factor *= season.multiplier;
            }
        }
        for holiday in &self.holidays {
            if holiday.contains(local.month, local.day) {
                factor *= holiday.multiplier;
            }
        }
        if self.growth_per_month != 0.0 {
            let months = (at_ms - GROWTH_EPOCH_MS) as f64 / MONTH_MS;
            factor *= (1.0 + self.growth_per_month).powf(months);
        }
        factor
    }

    /// The seasons and holidays in force on a local day, by name.
    pub fn calendar_names(&self, local: LocalTime) -> Vec<&str> {
        let seasons = self
            .seasons
            .iter()
            .filter(|s| s.months.contains(&local.month))
            .map(|s| s.name.as_str());
        let holidays = self
            .holidays
            .iter()
            .filter(|h| h.contains(local.month, local.day))
            .map(|h| h.name.as_str());
        seasons.chain(holidays).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::streams::catalog::Catalog;

    fn ms(text: &str) -> i64 {
        text.parse::<Timestamp>().expect("timestamp").as_millisecond()
    }

    fn rhythm(name: &str) -> Rhythm {
        let catalog = Catalog::builtin();
        catalog
            .rhythms
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.clone())
            .expect("rhythm")
    }

    #[test]
    fn the_calendar_shapes_demand() {
        let demand = rhythm("demand");
        let utc = Zone::default();
        let at = |t: &str| demand.factor(ms(t), LocalTime::at(ms(t), &utc));
        // Peak hours against the night, on a plain weekday (Tue 2026-03-10).
        assert!(at("2026-03-10T17:00:00Z") / at("2026-03-10T03:00:00Z") > 10.0);
        // Saturday against the Friday before, same hour: the weekend uplift.
        let weekend = at("2026-03-14T15:00:00Z") / at("2026-03-13T15:00:00Z");
        assert!((weekend - 1.4).abs() < 0.01, "{weekend}");
        // Exam season (May) against late April, and summer against late April.
        let exam = at("2026-05-19T15:00:00Z") / at("2026-04-21T15:00:00Z");
        assert!((exam / 1.03f64.powf(28.0 / 30.44) - 1.5).abs() < 0.01, "{exam}");
        let summer = at("2026-07-14T15:00:00Z") / at("2026-04-14T15:00:00Z");
        assert!((0.7..0.8).contains(&(summer / 1.03f64.powi(3))), "{summer}");
        // Winter break halves the exam-season rate; it wraps the new year.
        let break_day = at("2026-12-29T15:00:00Z") / at("2026-12-15T15:00:00Z");
        assert!((break_day - 0.5).abs() < 0.01, "{break_day}");
        assert!(
            demand
                .calendar_names(LocalTime::at(ms("2027-01-01T12:00:00Z"), &utc))
                .contains(&"winter-break")
        );
        // Growth: 3 % a month, compounded.
        let year = at("2027-03-09T15:00:00Z") / at("2026-03-10T15:00:00Z");
        assert!((year - 1.03f64.powf(364.0 / 30.436_875)).abs() < 0.01, "{year}");
    }

    #[test]
    fn hours_follow_the_catalog_zone() {
        let demand = rhythm("demand");
        let paris = Zone::parse("Europe/Paris").expect("zone");
        // 16:00Z is 17:00 in Paris in March (UTC+1).
        let local = LocalTime::at(ms("2026-03-10T16:00:00Z"), &paris);
        assert_eq!(local.hour, 17);
        assert_eq!(
            demand.factor(0, local),
            demand.factor(0, LocalTime { hour: 17, ..local })
        );
    }
}
