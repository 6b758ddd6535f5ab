//! Kafka: each event one message, keyed by its main entity (so one
//! entity's events stay in one partition, in order), its JSON as the
//! value, its stream and id in headers; a topic per stream or one topic.
//!
//! librdkafka's idempotent producer (`enable.idempotence`) keeps its own
//! retries from doubling or reordering messages; a batch sent again after
//! an outage repeats ids only, which consumers drop by the `id` header.
//! Topics the sink needs and the broker lacks are created (3 partitions)
//! when the sink opens.

use std::time::Duration;

use futures::future::join_all;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use throng_engine::delivery::{event_id_text, event_json};
use throng_engine::streams::sinks::{STREAM_PLACEHOLDER, name_for};
use throng_engine::telemetry::{StreamRecord, TelemetryError};

use crate::writer::{Destination, SendError};

/// How long a message may wait for the broker before its batch counts as
/// undelivered (and is spilled).
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);
const NEW_TOPIC_PARTITIONS: i32 = 3;

pub struct KafkaDestination {
    brokers: String,
    producer: FutureProducer,
    /// The topic, or its pattern with `{stream}`.
    topic: String,
    /// Topics still to create before the next send.
    topics_to_create: Vec<String>,
}

impl KafkaDestination {
    /// A producer for `brokers`; `streams` are those the sink takes (its
    /// topics, when there is one per stream).
    pub fn new(
        brokers: &[String],
        topic: &str,
        streams: &[String],
    ) -> Result<KafkaDestination, TelemetryError> {
        let brokers = brokers.join(",");
        let producer: FutureProducer =
            producer_config(&brokers)
                .create()
                .map_err(|e| TelemetryError::Unavailable {
                    endpoint: format!("kafka {brokers}"),
                    reason: e.to_string(),
                })?;
        let topics_to_create = if topic.contains(STREAM_PLACEHOLDER) {
            streams.iter().map(|s| name_for(topic, s, None)).collect()
        } else {
            vec![topic.to_string()]
        };
        Ok(KafkaDestination {
            brokers,
            producer,
            topic: topic.to_string(),
            topics_to_create,
        })
    }

    /// Creates the topics the sink writes that the broker lacks.
    async fn create_topics(&mut self) -> Result<(), SendError> {
        if self.topics_to_create.is_empty() {
            return Ok(());
        }
        let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
            .set("bootstrap.servers", &self.brokers)
            .create()
            .map_err(|e| SendError::Unavailable(e.to_string()))?;
        let new: Vec<NewTopic> = self
            .topics_to_create
            .iter()
            .map(|t| NewTopic::new(t, NEW_TOPIC_PARTITIONS, TopicReplication::Fixed(1)))
            .collect();
        let options = AdminOptions::new().operation_timeout(Some(MESSAGE_TIMEOUT));
        let results = admin
            .create_topics(&new, &options)
            .await
            .map_err(|e| SendError::Unavailable(format!("cannot create topics: {e}")))?;
        for result in results {
            match result {
                Ok(_) | Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
                Err((topic, code)) => {
                    return Err(SendError::Unavailable(format!(
                        "cannot create topic {topic}: {code}"
                    )));
                }
            }
        }
        self.topics_to_create.clear();
        Ok(())
    }
}

/// The producer's settings: idempotent, every in-sync replica acknowledges.
pub fn producer_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "50")
        .set("queue.buffering.max.messages", "1000000")
        .set("message.timeout.ms", MESSAGE_TIMEOUT.as_millis().to_string());
    config
}

fn is_refusal(error: &KafkaError) -> bool {
    matches!(
        error.rdkafka_error_code(),
        Some(
            RDKafkaErrorCode::MessageSizeTooLarge
                | RDKafkaErrorCode::InvalidTopic
                | RDKafkaErrorCode::InvalidMessage
                | RDKafkaErrorCode::TopicAuthorizationFailed
        )
    )
}

#[async_trait::async_trait]
impl Destination for KafkaDestination {
    async fn send(&mut self, batch: &[StreamRecord]) -> Result<(), SendError> {
        self.create_topics().await?;
        let per_stream = self.topic.contains(STREAM_PLACEHOLDER);
        let mut deliveries = Vec::with_capacity(batch.len());
        for record in batch {
            let topic = if per_stream {
                name_for(&self.topic, &record.stream, None)
            } else {
                self.topic.clone()
            };
            let id = event_id_text(record.event_id);
            let value = event_json(record);
            let headers = OwnedHeaders::new()
                .insert(Header {
                    key: "stream",
                    value: Some(record.stream.as_str()),
                })
                .insert(Header {
                    key: "id",
                    value: Some(id.as_str()),
                });
            let mut message = FutureRecord::to(&topic).payload(&value).headers(headers);
            if !record.key.is_empty() {
                message = message.key(&record.key);
            }
            // A full local queue: wait for what is in flight, then go on.
            let mut pending = message;
            loop {
                match self.producer.send_result(pending) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        pending = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((error, _)) if is_refusal(&error) => {
                        return Err(SendError::Rejected(error.to_string()));
                    }
                    Err((error, _)) => return Err(SendError::Unavailable(error.to_string())),
                }
            }
        }
        let mut refused = None;
        for outcome in join_all(deliveries).await {
            match outcome {
                Ok(Ok(_)) => {}
                Ok(Err((error, _))) if is_refusal(&error) => refused = Some(error.to_string()),
                Ok(Err((error, _))) => return Err(SendError::Unavailable(error.to_string())),
                Err(_) => return Err(SendError::Unavailable("the producer stopped".into())),
            }
        }
        match refused {
            Some(reason) => Err(SendError::Rejected(reason)),
            None => Ok(()),
        }
    }

    fn batch_size(&self) -> usize {
        10_000
    }

    fn describe(&self) -> String {
        format!("kafka {}", self.brokers)
    }
}
