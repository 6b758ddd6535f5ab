"""An independent Kafka consumer (confluent-kafka, which `.ci/run` installs
into target/kafka-venv): reads every message of the given topics, one
partition at a time from its start to its high watermark, and prints one
line per message: id, stream, key, the `id` and `stream` headers, partition.

    kafka_consume.py BOOTSTRAP TOPIC [TOPIC ...]

One partition at a time because the broker the tests use (tansu) answers a
fetch of several partitions for one of them only.
"""

import json
import sys
import time

from confluent_kafka import Consumer, TopicPartition

LIMIT_SECONDS = 600


def main():
    bootstrap, topics = sys.argv[1], sys.argv[2:]
    consumer = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": "throng-tests",
        "enable.auto.commit": False,
        # The broker may answer a fetch with little: ask again at once.
        "fetch.wait.max.ms": 10,
    })
    metadata = consumer.list_topics(timeout=30)
    start = time.time()
    for topic in topics:
        if topic not in metadata.topics:
            continue
        for partition in sorted(metadata.topics[topic].partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
            if high <= low:
                continue
            consumer.assign([TopicPartition(topic, partition, low)])
            while time.time() - start < LIMIT_SECONDS:
                message = consumer.poll(0.5)
                if message is None or message.error():
                    continue
                event = json.loads(message.value())
                headers = {k: v.decode() for k, v in (message.headers() or [])}
                key = message.key().decode() if message.key() else ""
                print(f"{event['id']}\t{event['stream']}\t{key}\t{headers.get('id', '')}\t"
                      f"{headers.get('stream', '')}\t{partition}")
                if message.offset() >= high - 1:
                    break
            consumer.unassign()
    consumer.close()


main()
