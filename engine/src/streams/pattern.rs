//! Stream patterns, as subscribers and history queries name streams: every
//! stream (`*`), a domain (`customer.*`), a cadence tier (`high-frequency`),
//! one stream by name, or `anomalies` (every stream, only the events its hour's score flags).

use super::catalog::Catalog;
use super::definition::Cadence;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum StreamPattern {
    All,
    Domain(String),
    Cadence(Cadence),
    Stream(usize),
    Anomalies,
}

impl StreamPattern {
    /// Parses a pattern against a catalog; the error says what would do.
    pub fn parse(text: &str, catalog: &Catalog) -> Result<StreamPattern, String> {
        let text = text.trim();
        match text {
            "*" | "" => return Ok(StreamPattern::All),
            "anomalies" => return Ok(StreamPattern::Anomalies),
            "high-frequency" => return Ok(StreamPattern::Cadence(Cadence::High)),
            "medium-frequency" => return Ok(StreamPattern::Cadence(Cadence::Medium)),
            "low-frequency" => return Ok(StreamPattern::Cadence(Cadence::Low)),
            _ => {}
        }
        if let Some(domain) = text.strip_suffix(".*") {
            if catalog.streams.iter().any(|s| s.domain == domain) {
                return Ok(StreamPattern::Domain(domain.to_string()));
            }
            return Err(format!("no stream is in domain `{domain}`"));
        }
        catalog.stream(text).map(StreamPattern::Stream).ok_or_else(|| {
            format!(
                "`{text}` is not a stream; use `*`, a domain such as `customer.*`, \
                 `high-frequency`/`medium-frequency`/`low-frequency`, `anomalies` or a stream name"
            )
        })
    }

    /// Whether the pattern takes events of `stream` at all.
    pub fn matches(&self, catalog: &Catalog, stream: usize) -> bool {
        let def = &catalog.streams[stream];
        match self {
            StreamPattern::All | StreamPattern::Anomalies => true,
            StreamPattern::Domain(domain) => def.domain == *domain,
            StreamPattern::Cadence(cadence) => def.cadence == *cadence,
            StreamPattern::Stream(index) => *index == stream,
        }
    }
}

/// The streams any of `patterns` takes, in catalog order.
pub fn select(catalog: &Catalog, patterns: &[StreamPattern]) -> Vec<usize> {
    (0..catalog.streams.len())
        .filter(|s| patterns.iter().any(|p| p.matches(catalog, *s)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_parse_and_select() {
        let catalog = Catalog::builtin();
        let parse = |t: &str| StreamPattern::parse(t, &catalog);
        assert_eq!(select(&catalog, &[parse("*").expect("all")]).len(), 50);
        assert_eq!(
            select(&catalog, &[parse("customer.*").expect("domain")]).len(),
            10
        );
        let high = select(&catalog, &[parse("high-frequency").expect("tier")]);
        assert!(high.iter().all(|s| catalog.streams[*s].cadence == Cadence::High) && !high.is_empty());
        let one = parse("session.completed").expect("stream");
        assert_eq!(
            select(&catalog, &[one]),
            vec![catalog.stream("session.completed").unwrap_or(0)]
        );
        assert!(parse("nope.*").unwrap_err().contains("domain `nope`"));
        assert!(
            parse("customer.teleported")
                .unwrap_err()
                .contains("is not a stream")
        );
    }
}
