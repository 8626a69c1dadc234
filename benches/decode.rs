//! Reply decoding and rendering: one consumer batch (500 entries) of an XREADGROUP reply.
//!
//! The consumer reads the reply's bytes straight into a batch (`Batch::read_streams`), framed
//! first as they arrive (`resp::Framer`); redis-rs's parser into a value tree is measured beside
//! it, for scale.

use std::hint::black_box;
use std::sync::Arc;

use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use monsoon::message;
use monsoon::reading::Weather;
use monsoon::schedule::Schedule;
use monsoon::server::{Batch, resp};

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
    let streams = [Arc::<str>::from("chennai")];
    let mut batch = Batch::new();
    batch.read_streams(&raw, &streams).unwrap_or_default();
    assert_eq!(batch.len(), BATCH);
    let mut out = Vec::with_capacity(64 * 1024);
    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("redis::parse_redis_value, 500 entries", |b| {
        b.iter(|| black_box(redis::parse_redis_value(black_box(&raw)).is_ok()))
    });
    group.bench_function("resp::Framer::scan, 500 entries", |b| {
        b.iter(|| black_box(resp::Framer::default().scan(black_box(&raw)).ok()))
    });
    let mut into = Batch::new();
    group.bench_function("Batch::read_streams (bytes to entries), 500 entries", |b| {
        b.iter(|| {
            black_box(into.read_streams(black_box(&raw), &streams).is_ok());
            black_box(into.len())
        })
    });
    group.bench_function("write_line x 500", |b| {
        b.iter(|| {
            out.clear();
            for entry in batch.iter() {
                message::write_line(&mut out, "alice", &entry);
            }
            black_box(out.len())
        })
    });
    group.bench_function("write_json x 500", |b| {
        b.iter(|| {
            out.clear();
            for entry in batch.iter() {
                message::write_json(&mut out, "alice", &entry);
            }
            black_box(out.len())
        })
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
