"""A plain redis-py + hiredis consumer, the peer monsoon's consumer is measured against.

    python3 peer_consumer.py URL STREAM GROUP N

Reads the group with XREADGROUP COUNT 1000 (no BLOCK: the stream is full before it starts) and
acks each batch with one XACK (two round trips per batch: what a Python user would write), until
a read returns nothing or N messages were acked (N 0: no limit). scripts/bench.sh times the whole
process, net of the same run on a group with nothing to read (start, connect, one read, exit).
Prints "<messages acked> <seconds from the first read to the last ack>".
"""

import sys
import time

import redis


def main() -> None:
    url, stream, group, limit = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    client = redis.Redis.from_url(url)
    client.ping()
    done = 0
    started = time.perf_counter()
    while not limit or done < limit:
        reply = client.xreadgroup(group, "peer", {stream: ">"}, count=1000)
        if not reply:
            break
        for _name, entries in reply:
            ids = [entry_id for entry_id, _fields in entries]
            client.xack(stream, group, *ids)
            done += len(ids)
    elapsed = time.perf_counter() - started
    print(done, f"{elapsed:.6f}")


if __name__ == "__main__":
    main()
