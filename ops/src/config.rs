//! `throng config`: what a client command would use — the endpoint, whether
//! a token is set (never the token), the output format — and every
//! `THRONG_` variable in the environment, with secrets redacted.

use serde_json::json;

use crate::cli::{Cli, Output};

/// Environment variables whose values are secrets, or name files of them.
fn is_secret(name: &str) -> bool {
    name.contains("TOKEN") || name.contains("SECRET") || name.contains("PASSWORD")
}

fn shown(name: &str, value: &str) -> String {
    if is_secret(name) && !name.ends_with("_FILE") {
        "***".to_string()
    } else {
        value.to_string()
    }
}

pub fn print(cli: &Cli, output: Output) {
    let token = cli.token.as_ref().map(|_| "***");
    let path = |p: &Option<std::path::PathBuf>| p.as_ref().map(|p| p.display().to_string());
    let (tls_ca, tls_cert) = (path(&cli.tls_ca), path(&cli.tls_cert));
    let mut environment: Vec<(String, String)> = std::env::vars()
        .filter(|(name, _)| name.starts_with("THRONG_") || name.starts_with("PLAYWRIGHT_"))
        .map(|(name, value)| {
            let value = shown(&name, &value);
            (name, value)
        })
        .collect();
    environment.sort();
    match output {
        Output::Json => println!(
            "{}",
            json!({
                "endpoint": cli.endpoint,
                "token": token,
                "tls_ca": tls_ca,
                "tls_cert": tls_cert,
                "output": format!("{:?}", cli.output).to_lowercase(),
                "environment": environment.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
            })
        ),
        Output::Table => {
            println!("endpoint  {}", cli.endpoint);
            println!("token     {}", token.unwrap_or("(none)"));
            println!("tls ca    {}", tls_ca.as_deref().unwrap_or("(public roots)"));
            println!("tls cert  {}", tls_cert.as_deref().unwrap_or("(none)"));
            println!("output    {:?}", cli.output);
            if environment.is_empty() {
                println!("no THRONG_ or PLAYWRIGHT_ variables set");
            }
            for (name, value) in environment {
                println!("{name}={value}");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_and_paths_shown() {
        assert_eq!(shown("THRONG_TOKEN", "abc"), "***");
        assert_eq!(shown("THRONG_CLUSTER_TOKEN_FILE", "/etc/t"), "/etc/t");
        assert_eq!(shown("THRONG_ETCD", "http://e:2379"), "http://e:2379");
    }
}
