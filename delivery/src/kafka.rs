//! Kafka: each event one message, keyed by its main entity (so one
//! entity's events stay in one partition, in order), its JSON as the
//! value, its stream and id in headers; a topic per stream or one topic.
//!
//! librdkafka's idempotent producer (`enable.idempotence`) keeps its own
//! retries from doubling or reordering messages. A batch is handed to it
//! a megabyte at a time ([`CHUNK_BYTES`]), each chunk delivered before the
//! next; a batch is done when librdkafka holds none of its messages any
//! more; failures come back through a callback (no future per message).
//! A batch sent again after
//! an outage repeats ids only, which consumers drop by the `id` header.
//! Topics the sink needs and the broker lacks are created (3 partitions)
//! when the sink opens.

use std::borrow::Cow;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use rdkafka::ClientConfig;
use rdkafka::ClientContext;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use throng_engine::delivery::write_event_json;
use throng_engine::streams::sinks::{STREAM_PLACEHOLDER, name_for};
use throng_engine::telemetry::{StreamRecord, TelemetryError};

use crate::writer::{Destination, SendError};

/// How long a message may wait for the broker before its batch counts as
/// undelivered (and is spilled).
const MESSAGE_TIMEOUT: Duration = Duration::from_secs(10);
const NEW_TOPIC_PARTITIONS: i32 = 3;

/// Keeps the first delivery failure librdkafka reports (on its own
/// thread). Only failures are reported (`delivery.report.only.error`): a
/// report per delivered message cost the agent more CPU than producing it.
#[derive(Default)]
pub struct Deliveries {
    /// The first failure since the batch began.
    failure: Mutex<Option<KafkaError>>,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        if let Err((error, _)) = result {
            self.failure
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .get_or_insert_with(|| error.clone());
        }
    }
}

/// How often a batch's end is looked for while its messages are in flight.
const SETTLE_POLL: Duration = Duration::from_millis(5);

/// Waits until every message produced is delivered or failed, serving
/// librdkafka's reports (failures, logs) meanwhile.
async fn settled(producer: &BaseProducer<Deliveries>) {
    producer.poll(Duration::ZERO);
    while producer.in_flight_count() > 0 {
        tokio::time::sleep(SETTLE_POLL).await;
        producer.poll(Duration::ZERO);
    }
}

/// Bytes produced before the sink waits for them to be delivered: what
/// one request to a partition carries (librdkafka's `batch.size`, 1 MB,
/// within Kafka's default `message.max.bytes`), so no partition ever has
/// more messages waiting than one request takes.
///
/// Why: an idempotent librdkafka producer sends a partition's next request
/// only once the one before is answered, yet while those messages wait
/// (their `linger.ms` past) its broker thread asks to be woken at once,
/// again and again — a busy loop for every round trip to the broker. With
/// whole 10,000-event batches handed over at once, that loop was four fifths
/// of the agent's CPU in the Kafka benchmark (`docs/benchmarks.md`).
const CHUNK_BYTES: usize = 900_000;

/// Messages produced between two servings of librdkafka's reports.
const POLL_EVERY: usize = 1_000;

pub struct KafkaDestination {
    brokers: String,
    producer: BaseProducer<Deliveries>,
    /// A batch failed: the next one goes through a new producer. An
    /// idempotent producer whose broker lost or refuses its sequence state
    /// (a broker restarted mid-batch, a fatal idempotence error) would
    /// otherwise repeat the refused batch for ever; a new one starts a new
    /// sequence, and what it sends again repeats ids only.
    renew: bool,
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
        let producer = new_producer(&brokers).map_err(|e| TelemetryError::Unavailable {
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
            renew: false,
            topic: topic.to_string(),
            topics_to_create,
        })
    }

    /// Creates the topics the sink writes that the broker lacks.
    async fn create_topics(&mut self) -> Result<(), SendError> {
        if self.topics_to_create.is_empty() {
            return Ok(());
        }
        create_topics(&self.brokers, &self.topics_to_create).await?;
        self.topics_to_create.clear();
        Ok(())
    }
}

/// Creates those of `topics` the broker lacks, with [`NEW_TOPIC_PARTITIONS`].
pub async fn create_topics(brokers: &str, topics: &[String]) -> Result<(), SendError> {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .map_err(|e| SendError::Unavailable(e.to_string()))?;
    let new: Vec<NewTopic> = topics
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
    Ok(())
}

fn new_producer(brokers: &str) -> Result<BaseProducer<Deliveries>, KafkaError> {
    producer_config(brokers).create_with_context(Deliveries::default())
}

/// The producer's settings: idempotent, every in-sync replica acknowledges.
/// Two requests in flight per broker, not librdkafka's five: with five, the
/// busy loop described at [`CHUNK_BYTES`] is met far more often (four times
/// the CPU for the same messages at the same speed, docs/benchmarks.md).
pub fn producer_config(brokers: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", brokers)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("delivery.report.only.error", "true")
        .set("max.in.flight.requests.per.connection", "2")
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
        if self.renew {
            let fresh = new_producer(&self.brokers).map_err(|e| SendError::Unavailable(e.to_string()))?;
            let old = std::mem::replace(&mut self.producer, fresh);
            // Closing it waits for librdkafka's threads: off the runtime's workers.
            tokio::task::block_in_place(|| drop(old));
            self.renew = false;
        }
        let result = self.send_batch(batch).await;
        self.renew = result.is_err();
        result
    }

    fn batch_size(&self) -> usize {
        10_000
    }

    fn describe(&self) -> String {
        format!("kafka {}", self.brokers)
    }
}

impl KafkaDestination {
    /// Produces every message of `batch` and waits until each is reported.
    async fn send_batch(&mut self, batch: &[StreamRecord]) -> Result<(), SendError> {
        let deliveries = self.producer.context();
        // What an earlier batch left in flight (it failed before all its
        // messages were reported) settles first, so counts start clean.
        settled(&self.producer).await;
        *deliveries.failure.lock().unwrap_or_else(|e| e.into_inner()) = None;
        let per_stream = self.topic.contains(STREAM_PLACEHOLDER);
        let (mut value, mut id) = (String::new(), String::new());
        let mut chunk_bytes = 0;
        for (n, record) in batch.iter().enumerate() {
            if chunk_bytes >= CHUNK_BYTES {
                settled(&self.producer).await;
                chunk_bytes = 0;
                // A chunk that failed fails the batch now: the rest would
                // only wait out the same outage, chunk by chunk.
                if deliveries
                    .failure
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .is_some()
                {
                    break;
                }
            }
            if n % POLL_EVERY == 0 {
                self.producer.poll(Duration::ZERO);
            }
            // One topic for all: named as it is, no copy per message.
            let topic: Cow<str> = if per_stream {
                Cow::Owned(name_for(&self.topic, &record.stream, None))
            } else {
                Cow::Borrowed(&self.topic)
            };
            id.clear();
            let _ = write!(id, "{:016x}", record.event_id);
            value.clear();
            write_event_json(&mut value, record);
            let headers = OwnedHeaders::new_with_capacity(2)
                .insert(Header {
                    key: "stream",
                    value: Some(record.stream.as_str()),
                })
                .insert(Header {
                    key: "id",
                    value: Some(id.as_str()),
                });
            chunk_bytes += value.len() + record.key.len() + record.stream.len() + id.len();
            let mut message = BaseRecord::to(&topic).payload(&value).headers(headers);
            if !record.key.is_empty() {
                message = message.key(&record.key);
            }
            loop {
                match self.producer.send(message) {
                    Ok(()) => break,
                    // A full local queue: let deliveries drain, then again.
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        message = back;
                        self.producer.poll(Duration::ZERO);
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((error, _)) => {
                        return Err(if is_refusal(&error) {
                            SendError::Rejected(error.to_string())
                        } else {
                            SendError::Unavailable(error.to_string())
                        });
                    }
                }
            }
        }
        settled(&self.producer).await;
        match deliveries
            .failure
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
        {
            None => Ok(()),
            Some(error) if is_refusal(&error) => Err(SendError::Rejected(error.to_string())),
            Some(error) => Err(SendError::Unavailable(error.to_string())),
        }
    }
}
