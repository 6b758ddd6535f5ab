//! Retention for ClickHouse tables partitioned by month of `event_date`.
//!
//! ClickHouse 18.16 has no `TTL` clause, so retention drops whole monthly
//! partitions instead: portable, and far cheaper than deleting rows. A
//! partition goes once every day in it is older than the retention period,
//! so up to a month more than the period is kept.

use clickhouse::Client;

use super::clickhouse::client;
use super::{ClickHouseConfig, TelemetryError};

/// Tables whose `event_date` is a wall-clock date. Stream events are dated
/// by simulated time (a backfill writes last year today), so they are not
/// expired by the calendar.
pub const EXPIRING_TABLES: &[&str] = &["sessions", "requests", "agent_metrics"];

/// The first day after month `yyyymm` (e.g. 202601), as days since 1970.
fn day_after_month(yyyymm: u32) -> Option<i64> {
    let (year, month) = ((yyyymm / 100) as i16, (yyyymm % 100) as i8);
    let next = if month == 12 {
        jiff::civil::date(year.checked_add(1)?, 1, 1)
    } else {
        jiff::civil::Date::new(year, month.checked_add(1)?, 1).ok()?
    };
    let epoch = jiff::civil::date(1970, 1, 1);
    Some(i64::from(epoch.until(next).ok()?.get_days()))
}

/// Drops the partitions of `tables` whose days are all older than
/// `keep_days` before `today` (days since 1970); returns `table/partition`
/// of each dropped one.
pub async fn drop_expired(
    config: &ClickHouseConfig,
    tables: &[&str],
    keep_days: u32,
    today: i64,
) -> Result<Vec<String>, TelemetryError> {
    let db: Client = client(config).with_database(config.database.clone());
    let failed = |table: &str, e: clickhouse::error::Error| TelemetryError::Unavailable {
        endpoint: config.url.clone(),
        reason: format!("retention of {table}: {e}"),
    };
    let mut dropped = Vec::new();
    for table in tables {
        let partitions: Vec<String> = db
            .query("SELECT DISTINCT partition FROM system.parts WHERE database = ? AND table = ? AND active")
            .bind(&config.database)
            .bind(*table)
            .fetch_all()
            .await
            .map_err(|e| failed(table, e))?;
        for partition in partitions {
            let Some(after) = partition.parse::<u32>().ok().and_then(day_after_month) else {
                continue;
            };
            if after + i64::from(keep_days) <= today {
                db.query(&format!("ALTER TABLE {table} DROP PARTITION {partition}"))
                    .execute()
                    .await
                    .map_err(|e| failed(table, e))?;
                dropped.push(format!("{table}/{partition}"));
            }
        }
    }
    Ok(dropped)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn months_end_where_the_calendar_says() {
        // 2026-02-01 is day 20485.
        assert_eq!(day_after_month(202601), Some(20_485));
        assert_eq!(day_after_month(202512), Some(20_454));
        assert_eq!(day_after_month(197001), Some(31));
        assert_eq!(day_after_month(202613), None);
    }
}
