//! Time zones for daily caps and time-of-day profiles: a fixed offset
//! (`+02:00`) or an IANA name (`Europe/Paris`) whose offset follows daylight
//! saving time.
//!
//! Names resolve against the time zone database bundled into the binary, not
//! the machine's copy, so the same spec plans the same day windows on every
//! node whatever its operating system has installed.

use jiff::Timestamp;
use jiff::civil::Date;
use jiff::tz::TimeZone;

const DAY_MS: i64 = 86_400_000;

/// A time zone as a spec gives it.
#[derive(Clone, Debug)]
pub enum Zone {
    /// Minutes east of UTC, all year round.
    Fixed(i32),
    /// An IANA zone, by name.
    Named { name: String, zone: TimeZone },
}

impl Default for Zone {
    fn default() -> Self {
        Zone::Fixed(0)
    }
}

impl PartialEq for Zone {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (Zone::Fixed(a), Zone::Fixed(b)) => a == b,
            (Zone::Named { name: a, .. }, Zone::Named { name: b, .. }) => a == b,
            _ => false,
        }
    }
}

impl Eq for Zone {}

impl Zone {
    /// `UTC`, `Z`, a fixed offset such as `+02:00`, or an IANA name such as
    /// `Europe/Paris`.
    pub fn parse(text: &str) -> Result<Zone, String> {
        if text == "UTC" || text == "Z" {
            return Ok(Zone::Fixed(0));
        }
        if let Some(sign @ ('+' | '-')) = text.chars().next() {
            return match parse_offset(&text[1..]) {
                Some(minutes) if minutes <= 14 * 60 => {
                    Ok(Zone::Fixed(if sign == '-' { -minutes } else { minutes }))
                }
                _ => Err(format!("{text:?} is not an offset between -14:00 and +14:00")),
            };
        }
        TimeZone::get(text)
            .map(|zone| Zone::Named {
                name: text.to_string(),
                zone,
            })
            .map_err(|_| {
                format!("{text:?} is not a known time zone (e.g. \"Europe/Paris\", \"UTC\", \"+02:00\")")
            })
    }

    /// Milliseconds to add to a UTC instant to get local time at `at_ms`.
    pub fn offset_ms_at(&self, at_ms: u64) -> i64 {
        match self {
            Zone::Fixed(minutes) => i64::from(*minutes) * 60_000,
            Zone::Named { zone, .. } => Timestamp::from_millisecond(at_ms as i64)
                .map_or(0, |at| i64::from(zone.to_offset(at).seconds()) * 1000),
        }
    }

    /// The local hour of the day (0-23) at `at_ms`.
    pub fn local_hour(&self, at_ms: u64) -> usize {
        let local = at_ms as i64 + self.offset_ms_at(at_ms);
        (local.div_euclid(3_600_000) % 24) as usize
    }

    /// The instant (epoch milliseconds) at which the local day holding
    /// `at_ms` began, days starting `day_start_minutes` past local midnight.
    /// On the day clocks change, the day is an hour shorter or longer.
    pub fn day_start_ms(&self, at_ms: u64, day_start_minutes: u32) -> u64 {
        match self {
            Zone::Fixed(minutes) => {
                let shift = (i64::from(*minutes) - i64::from(day_start_minutes)) * 60_000;
                let local = at_ms as i64 + shift;
                (local.div_euclid(DAY_MS) * DAY_MS - shift).max(0) as u64
            }
            Zone::Named { zone, .. } => {
                named_day_start(zone, at_ms, day_start_minutes).unwrap_or_else(|| {
                    Zone::Fixed((self.offset_ms_at(at_ms) / 60_000) as i32)
                        .day_start_ms(at_ms, day_start_minutes)
                })
            }
        }
    }
}

fn named_day_start(zone: &TimeZone, at_ms: u64, day_start_minutes: u32) -> Option<u64> {
    let at = Timestamp::from_millisecond(at_ms as i64).ok()?;
    let (hour, minute) = ((day_start_minutes / 60) as i8, (day_start_minutes % 60) as i8);
    // A start time that falls in a spring-forward gap moves to after it.
    let start_of = |date: Date| -> Option<i64> {
        let start = date.at(hour, minute, 0, 0).to_zoned(zone.clone()).ok()?;
        Some(start.timestamp().as_millisecond())
    };
    let date = at.to_zoned(zone.clone()).date();
    let today = start_of(date)?;
    let start = if today <= at_ms as i64 {
        today
    } else {
        start_of(date.yesterday().ok()?)?
    };
    Some(start.max(0) as u64)
}

/// `HH:MM` as minutes.
fn parse_offset(text: &str) -> Option<i32> {
    let (h, m) = text.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h >= 0 && (0..60).contains(&m)).then_some(h * 60 + m)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(text: &str) -> u64 {
        text.parse::<Timestamp>().expect("timestamp").as_millisecond() as u64
    }

    #[test]
    fn fixed_offsets_and_names_parse() {
        assert_eq!(Zone::parse("+02:00"), Ok(Zone::Fixed(120)));
        assert_eq!(Zone::parse("-05:30"), Ok(Zone::Fixed(-330)));
        assert_eq!(Zone::parse("UTC"), Ok(Zone::Fixed(0)));
        assert!(matches!(Zone::parse("Europe/Paris"), Ok(Zone::Named { .. })));
        assert!(
            Zone::parse("Mars/Olympus")
                .unwrap_err()
                .contains("not a known time zone")
        );
        assert!(Zone::parse("+15:00").is_err());
    }

    #[test]
    fn a_named_zone_follows_daylight_saving_time() {
        let paris = Zone::parse("Europe/Paris").expect("zone");
        // Winter: UTC+1; summer: UTC+2.
        assert_eq!(paris.local_hour(ms("2026-01-15T11:00:00Z")), 12);
        assert_eq!(paris.local_hour(ms("2026-07-15T11:00:00Z")), 13);
        // Days start at local midnight: 23:00Z in winter, 22:00Z in summer.
        assert_eq!(
            paris.day_start_ms(ms("2026-01-15T11:00:00Z"), 0),
            ms("2026-01-14T23:00:00Z")
        );
        assert_eq!(
            paris.day_start_ms(ms("2026-07-15T11:00:00Z"), 0),
            ms("2026-07-14T22:00:00Z")
        );
        // Before 06:00 local, the day began yesterday at 06:00.
        assert_eq!(
            paris.day_start_ms(ms("2026-07-15T03:00:00Z"), 6 * 60),
            ms("2026-07-14T04:00:00Z")
        );
    }

    #[test]
    fn the_day_clocks_spring_forward_is_23_hours_long() {
        let paris = Zone::parse("Europe/Paris").expect("zone");
        // 2026-03-29: 02:00 local becomes 03:00.
        let start = paris.day_start_ms(ms("2026-03-29T12:00:00Z"), 0);
        let next = paris.day_start_ms(ms("2026-03-30T12:00:00Z"), 0);
        assert_eq!(start, ms("2026-03-28T23:00:00Z"));
        assert_eq!(next - start, 23 * 3_600_000);
        // A 02:30 day start does not exist that day; the day starts after the gap.
        assert_eq!(
            paris.day_start_ms(ms("2026-03-29T12:00:00Z"), 150),
            ms("2026-03-29T01:30:00Z")
        );
    }

    #[test]
    fn fixed_offsets_keep_their_arithmetic() {
        let zone = Zone::Fixed(120);
        // 2026-01-01T04:30Z is 06:30 at +02:00.
        let window = ms("2026-01-01T04:30:00Z");
        assert_eq!(zone.day_start_ms(window + 5_000, 390), window);
        assert_eq!(zone.day_start_ms(window - 5_000, 390), window - 86_400_000);
    }
}
