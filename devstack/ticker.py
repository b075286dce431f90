"""Publish a tick to a Pub/Sub topic every N seconds: the local stand-in for Cloud Scheduler."""

from __future__ import annotations

import argparse
import os
import time

from shared.adapters.pubsub_publisher import PubSubPublisher
from shared.domain.messages import Tick


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--every", type=float, default=5.0)
    args = parser.parse_args()
    publisher = PubSubPublisher(os.environ["GOOGLE_CLOUD_PROJECT"])
    while True:
        try:
            publisher.publish(args.topic, Tick(at=time.time()))
        except Exception as exc:
            print(f"tick not published: {exc}", flush=True)
        time.sleep(args.every)


if __name__ == "__main__":
    main()
