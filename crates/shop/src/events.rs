//! `shop events tail`: follow the order events on Kafka, one JSON per line,
//! so users need no separate Kafka client.

use std::io::Write;
use std::time::Duration;

use clap::Args;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::{Message, Offset, TopicPartitionList};

use crate::Failure;

#[derive(Debug, Args)]
pub struct TailArgs {
    /// Kafka bootstrap servers.
    #[arg(
        long,
        env = "KAFKA_BOOTSTRAP_SERVERS",
        default_value = "127.0.0.1:9092"
    )]
    bootstrap: String,
    /// The topic the order service publishes to.
    #[arg(long, env = "KAFKA_TOPIC", default_value = "order-events")]
    topic: String,
    /// Print the events already on the topic first, not only new ones.
    #[arg(long)]
    from_beginning: bool,
    /// Stop after this many events.
    #[arg(long)]
    max: Option<u64>,
}

fn kafka_error(err: impl std::fmt::Display) -> Failure {
    Failure::Start(format!("kafka: {err}"))
}

/// The topic's partitions, waiting (and saying so once) until it exists.
async fn partitions(consumer: &StreamConsumer, topic: &str) -> Result<Vec<i32>, Failure> {
    let mut told = false;
    loop {
        let metadata = consumer
            .fetch_metadata(Some(topic), Duration::from_secs(10))
            .map_err(kafka_error)?;
        let found: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic && t.error().is_none())
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .collect();
        if !found.is_empty() {
            return Ok(found);
        }
        if !told {
            eprintln!("shop: waiting for topic {topic} to exist");
            told = true;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

pub async fn tail(args: TailArgs) -> Result<(), Failure> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", &args.bootstrap)
        .set(
            "group.id",
            format!("shop-events-tail-{}", std::process::id()),
        )
        .set("enable.auto.commit", "false")
        .set("log_level", "3")
        .create()
        .map_err(kafka_error)?;
    let start = if args.from_beginning {
        Offset::Beginning
    } else {
        Offset::End
    };
    // Assigned partitions need no group coordination: nothing is committed.
    let mut assignment = TopicPartitionList::new();
    for partition in partitions(&consumer, &args.topic).await? {
        assignment
            .add_partition_offset(&args.topic, partition, start)
            .map_err(kafka_error)?;
    }
    consumer.assign(&assignment).map_err(kafka_error)?;

    let mut printed = 0u64;
    let stdout = std::io::stdout();
    while args.max.is_none_or(|max| printed < max) {
        let message = tokio::select! {
            message = consumer.recv() => message.map_err(kafka_error)?,
            _ = tokio::signal::ctrl_c() => break,
        };
        let line = message
            .payload_view::<str>()
            .and_then(Result::ok)
            .unwrap_or("");
        let mut out = stdout.lock();
        if writeln!(out, "{line}").and_then(|()| out.flush()).is_err() {
            // The reader went away (e.g. `| head`): done.
            break;
        }
        printed += 1;
    }
    Ok(())
}
