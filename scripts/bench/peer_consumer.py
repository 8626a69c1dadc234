"""A plain redis-py + hiredis consumer, the peer monsoon's consumer is measured against.

    python3 peer_consumer.py URL STREAM GROUP COUNT_EXPECTED

Reads the group with XREADGROUP COUNT 1000 (no BLOCK once the stream is drained) and acks each
batch with one XACK, until COUNT_EXPECTED messages were acked. Prints its own timing, from the
first read to the last ack (start-up excluded): "<messages> <seconds>".
"""

import sys
import time

import redis


def main() -> None:
    url, stream, group, expected = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    client = redis.Redis.from_url(url)
    client.ping()
    done = 0
    started = time.perf_counter()
    while done < expected:
        reply = client.xreadgroup(group, "peer", {stream: ">"}, count=1000, block=1000)
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
