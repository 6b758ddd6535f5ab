//! A Goose load test hitting one path as fast as it can, for the peer comparison.
use goose::prelude::*;

async fn hit(user: &mut GooseUser) -> TransactionResult {
    let _ = user.get("track").await?;
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), GooseError> {
    GooseAttack::initialize()?
        .register_scenario(scenario!("Track").register_transaction(transaction!(hit)))
        .execute()
        .await?;
    Ok(())
}
