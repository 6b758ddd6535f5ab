//! A Goose load test for the peer comparison: hits one path as fast as it
//! can, or, with GOOSE_THINK_SECS set, waits that long between requests
//! (idle users, for memory per user).
use goose::prelude::*;
use std::time::Duration;

async fn hit(user: &mut GooseUser) -> TransactionResult {
    let _ = user.get("track").await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), GooseError> {
    let mut scenario = scenario!("Track").register_transaction(transaction!(hit));
    if let Some(think) = std::env::var("GOOSE_THINK_SECS").ok().and_then(|s| s.parse::<u64>().ok()) {
        scenario = scenario.set_wait_time(Duration::from_secs(think), Duration::from_secs(think))?;
    }
    GooseAttack::initialize()?
        .register_scenario(scenario)
        .execute()
        .await?;
    Ok(())
}
