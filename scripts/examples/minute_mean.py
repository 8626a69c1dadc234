#!/usr/bin/env python3
"""A `consumer --pipe` handler: the mean temperature per city and minute, standard library only.

    consumer alice --json --pipe 'python3 scripts/examples/minute_mean.py'

It reads one JSON message per line on stdin, counts it, and only then answers
`ack STREAM ID`, so a message is acknowledged once it is in the mean. When a minute of a city
is complete (a reading of a later minute arrives), it prints `mean CITY MINUTE TEMPERATURE`;
the consumer passes that line on to its own stdout. A reading without a number answers `fail`.
"""
import json
import sys
from datetime import datetime, timezone

sums = {}  # (stream, minute) -> [total, count]
latest = {}  # stream -> the newest minute seen


def minute_of(entry_id):
    ms = int(entry_id.split("-")[0])
    return datetime.fromtimestamp(ms / 1000, timezone.utc).strftime("%Y-%m-%dT%H:%M")


for line in sys.stdin:
    message = json.loads(line)
    stream, entry_id = message["stream"], message["id"]
    try:
        temperature = float(message["fields"]["temperature"])
    except (KeyError, ValueError):
        print("fail", stream, entry_id, "no temperature to average", flush=True)
        continue
    minute = minute_of(entry_id)
    previous = latest.get(stream)
    if previous is not None and minute > previous and (stream, previous) in sums:
        total, count = sums.pop((stream, previous))
        print(f"mean {stream} {previous} {total / count:.2f}")
    latest[stream] = max(minute, previous or minute)
    entry = sums.setdefault((stream, minute), [0.0, 0])
    entry[0] += temperature
    entry[1] += 1
    print("ack", stream, entry_id, flush=True)

# Stdin closed (the consumer is stopping): the minutes still open are as complete as they get.
for (stream, minute), (total, count) in sorted(sums.items()):
    print(f"mean {stream} {minute} {total / count:.2f}")
