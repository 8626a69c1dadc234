//! Reply decoding and rendering: one consumer batch (500 entries) of an XREADGROUP reply.
//!
//! The consumer's hot path reads the reply's bytes straight into messages (`resp::read_reply`);
//! `redis::parse_redis_value` and `decode_read` (the ordinary path, over TLS: the client
//! library's RESP parser, then our decoding of its values) are measured beside it.

use std::hint::black_box;
use std::sync::Arc;

use chrono::NaiveDate;
use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use monsoon::message::{self, Message};
use monsoon::reading::Weather;
use monsoon::schedule::Schedule;
use monsoon::server::{entries, resp};
use redis::Value;

const BATCH: usize = 500;

/// The RESP bytes of an XREADGROUP reply carrying `BATCH` entries of a generated day.
fn reply_bytes() -> Vec<u8> {
    let date = NaiveDate::from_ymd_opt(2018, 8, 15).unwrap_or_default();
    let mut out = format!("*1\r\n*2\r\n$7\r\nchennai\r\n*{BATCH}\r\n").into_bytes();
    let bulk = |out: &mut Vec<u8>, text: &str| {
        out.extend_from_slice(format!("${}\r\n{text}\r\n", text.len()).as_bytes());
    };
    for (id, reading) in Schedule::day(date, 1000, None, 1)
        .entries(Weather::new(7, 1))
        .take(BATCH)
    {
        out.extend_from_slice(b"*2\r\n");
        bulk(&mut out, &id.to_string());
        out.extend_from_slice(b"*6\r\n");
        bulk(&mut out, "sensor");
        bulk(&mut out, &reading.sensor.to_string());
        bulk(&mut out, "temperature");
        bulk(&mut out, &reading.temperature_text());
        bulk(&mut out, "humidity");
        bulk(&mut out, &reading.humidity.to_string());
    }
    out
}

fn decode(c: &mut Criterion) {
    let raw = reply_bytes();
    let reply = redis::parse_redis_value(&raw).unwrap_or(Value::Nil);
    let streams = [Arc::<str>::from("chennai")];
    let messages: Vec<Message> = entries::decode_read(reply.clone(), &streams).unwrap_or_default();
    assert_eq!(messages.len(), BATCH);
    let mut out = Vec::with_capacity(64 * 1024);

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("redis::parse_redis_value, 500 entries", |b| {
        b.iter(|| black_box(redis::parse_redis_value(black_box(&raw)).is_ok()))
    });
    group.bench_function(
        "resp::read_reply (the hot path: bytes to messages), 500 entries",
        |b| {
            b.iter(|| {
                black_box(match resp::read_reply(black_box(&raw), &streams) {
                    Ok(resp::Parsed::Done(resp::ReadReply::Messages(m), _)) => m.len(),
                    _ => 0,
                })
            })
        },
    );
    group.bench_function("decode_read, 500 entries", |b| {
        b.iter_batched(
            || reply.clone(),
            |reply| black_box(entries::decode_read(reply, &streams).map(|m| m.len())),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("write_line x 500", |b| {
        b.iter(|| {
            out.clear();
            for message in &messages {
                message::write_line(&mut out, "alice", message);
            }
            black_box(out.len())
        })
    });
    group.bench_function("write_json x 500", |b| {
        b.iter(|| {
            out.clear();
            for message in &messages {
                message::write_json(&mut out, "alice", message);
            }
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
