//! A Goose load test for the peer comparison: hits one path as fast as it
//! can; with GOOSE_SESSION_PAGES=N, each user's loop is a session of N
//! pages in order (`/`, `/p1`, … `/pN-1`), as Throng's campaigns run them;
//! with GOOSE_THINK_SECS set, waits that long between requests (idle users,
//! for memory per user).
use goose::prelude::*;
use std::time::Duration;

async fn hit(user: &mut GooseUser) -> TransactionResult {
    let _ = user.get("track").await?;
    Ok(())
}

async fn page_0(user: &mut GooseUser) -> TransactionResult {
    let _ = user.get("").await?;
    Ok(())
}

async fn page_1(user: &mut GooseUser) -> TransactionResult {
    let _ = user.get("p1").await?;
    Ok(())
}

async fn page_2(user: &mut GooseUser) -> TransactionResult {
    let _ = user.get("p2").await?;
    Ok(())
}

async fn page_3(user: &mut GooseUser) -> TransactionResult {
    let _ = user.get("p3").await?;
    Ok(())
}

async fn page_4(user: &mut GooseUser) -> TransactionResult {
    let _ = user.get("p4").await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), GooseError> {
    let pages = std::env::var("GOOSE_SESSION_PAGES").ok().and_then(|s| s.parse::<usize>().ok());
    let mut scenario = match pages {
        Some(pages) => {
            let mut scenario = scenario!("Session");
            let steps = [
                transaction!(page_0),
                transaction!(page_1),
                transaction!(page_2),
                transaction!(page_3),
                transaction!(page_4),
            ];
            for (order, step) in steps.into_iter().take(pages).enumerate() {
                scenario = scenario.register_transaction(step.set_sequence(order + 1));
            }
            scenario
        }
        None => scenario!("Track").register_transaction(transaction!(hit)),
    };
    if let Some(think) = std::env::var("GOOSE_THINK_SECS").ok().and_then(|s| s.parse::<u64>().ok()) {
        scenario = scenario.set_wait_time(Duration::from_secs(think), Duration::from_secs(think))?;
    }
    GooseAttack::initialize()?
        .register_scenario(scenario)
        .execute()
        .await?;
    Ok(())
}
