#!/usr/bin/env python3
"""A `consumer --pipe` handler for any stream of daily rows: per year, the days, the total of
one field and the highest of another, standard library only.

    consumer alice --stream seattle --json --pipe 'python3 scripts/examples/yearly.py precipitation temp_max'

It reads one JSON message per line on stdin, counts it, and only then answers `ack STREAM ID`,
so a message is acknowledged once it is counted. A row whose fields are not numbers answers
`fail`. When its input ends (the consumer stops), it prints one line per year:
`YEAR days=N total_FIELD=T max_FIELD=M`, which the consumer passes on to its own stdout.
"""
import json
import sys

total_field, max_field = sys.argv[1], sys.argv[2]
years = {}  # year -> [days, total, highest]

for line in sys.stdin:
    message = json.loads(line)
    stream, entry_id, fields = message["stream"], message["id"], message["fields"]
    try:
        total, highest = float(fields[total_field]), float(fields[max_field])
    except (KeyError, TypeError, ValueError):
        print("fail", stream, entry_id, f"no numeric {total_field} and {max_field}", flush=True)
        continue
    year = message["time"][:4]
    days, sum_so_far, high = years.get(year, [0, 0.0, highest])
    years[year] = [days + 1, sum_so_far + total, max(high, highest)]
    print("ack", stream, entry_id, flush=True)

for year, (days, total, highest) in sorted(years.items()):
    print(f"{year} days={days} total_{total_field}={total:.1f} max_{max_field}={highest:.1f}")
