//! The target allowlist: traffic only goes to hosts an operator allowed, so a
//! load generator cannot be pointed at someone else's site by accident.

use std::net::Ipv4Addr;

/// Hosts campaigns may target. The default allows loopback only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Allowlist {
    rules: Vec<Rule>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum Rule {
    Any,
    Exact(String),
    Suffix(String),
    Ipv4Net(u32, u32),
}

impl Default for Allowlist {
    fn default() -> Self {
        Allowlist::loopback()
    }
}

impl Allowlist {
    /// `localhost`, `127.0.0.0/8` and `::1`.
    pub fn loopback() -> Self {
        Allowlist::parse(&["localhost".into(), "127.0.0.0/8".into(), "::1".into()])
            .unwrap_or(Allowlist { rules: Vec::new() })
    }

    /// Any host: for checks made after an operator's allowlist already
    /// admitted the spec (agents, views of stored campaigns).
    pub fn any() -> Self {
        Allowlist {
            rules: vec![Rule::Any],
        }
    }

    /// Parses rules: `*` (anything), `*.example.com`, an exact host or IP, or an IPv4 CIDR.
    pub fn parse(rules: &[String]) -> Result<Self, String> {
        let mut parsed = Vec::new();
        for rule in rules {
            let rule = rule.trim().to_ascii_lowercase();
            if rule.is_empty() {
                return Err("empty allowlist rule".into());
            }
            parsed.push(if rule == "*" {
                Rule::Any
            } else if let Some(suffix) = rule.strip_prefix("*.") {
                Rule::Suffix(format!(".{suffix}"))
            } else if let Some((ip, bits)) = rule.split_once('/') {
                let ip: Ipv4Addr = ip.parse().map_err(|_| format!("bad CIDR `{rule}`"))?;
                let bits: u32 = bits.parse().map_err(|_| format!("bad CIDR `{rule}`"))?;
                if bits > 32 {
                    return Err(format!("bad CIDR `{rule}`"));
                }
                let mask = if bits == 0 { 0 } else { u32::MAX << (32 - bits) };
                Rule::Ipv4Net(u32::from(ip) & mask, mask)
            } else {
                Rule::Exact(rule.trim_matches(|c| c == '[' || c == ']').to_string())
            });
        }
        Ok(Allowlist { rules: parsed })
    }

    /// Whether `host` (a name or an IP literal, brackets allowed) may be targeted.
    pub fn allows(&self, host: &str) -> bool {
        let host = host.trim_matches(|c| c == '[' || c == ']').to_ascii_lowercase();
        let ipv4: Option<Ipv4Addr> = host.parse().ok();
        self.rules.iter().any(|rule| match rule {
            Rule::Any => true,
            Rule::Exact(exact) => *exact == host,
            Rule::Suffix(suffix) => host.ends_with(suffix.as_str()),
            Rule::Ipv4Net(net, mask) => ipv4.is_some_and(|ip| u32::from(ip) & mask == *net),
        })
    }
}

impl std::fmt::Display for Allowlist {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rules: Vec<String> = self
            .rules
            .iter()
            .map(|rule| match rule {
                Rule::Any => "*".to_string(),
                Rule::Exact(host) => host.clone(),
                Rule::Suffix(suffix) => format!("*{suffix}"),
                Rule::Ipv4Net(net, mask) => {
                    format!("{}/{}", Ipv4Addr::from(*net), mask.count_ones())
                }
            })
            .collect();
        write!(f, "{}", rules.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_by_default() {
        let list = Allowlist::default();
        assert!(list.allows("127.0.0.1"));
        assert!(list.allows("127.3.2.1"));
        assert!(list.allows("localhost"));
        assert!(list.allows("[::1]"));
        assert!(!list.allows("10.0.0.1"));
        assert!(!list.allows("example.com"));
    }

    #[test]
    fn rules_of_every_kind() {
        let list = Allowlist::parse(&["*.shop.test".into(), "10.1.0.0/16".into(), "api.test".into()])
            .expect("valid rules");
        assert!(list.allows("www.shop.test"));
        assert!(!list.allows("shop.test.evil"));
        assert!(list.allows("10.1.200.3"));
        assert!(!list.allows("10.2.0.1"));
        assert!(list.allows("API.test"));
        assert!(Allowlist::parse(&["1.2.3.4/40".into()]).is_err());
        assert_eq!(list.to_string(), "*.shop.test, 10.1.0.0/16, api.test");
    }
}
