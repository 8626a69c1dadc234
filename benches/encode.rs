//! Entry encoding: one producer batch of XADDs into the reused RESP buffer.

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use monsoon::reading::Weather;
use monsoon::schedule::Schedule;
use monsoon::server::xadd::XaddEncoder;

const BATCH: usize = 1000;

/// `XaddEncoder::push` of a 1000-entry batch, readings generated beforehand.
fn encode(c: &mut Criterion) {
    let date = NaiveDate::from_ymd_opt(2018, 8, 15).unwrap_or_default();
    let entries: Vec<_> = Schedule::day(date, 1000, None, 1)
        .entries(Weather::new(7, 1))
        .take(BATCH)
        .collect();
    let encoder = XaddEncoder::new("chennai", None);
    let mut buffer = Vec::with_capacity(BATCH * 128);
    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("XaddEncoder::push x 1000", |b| {
        b.iter(|| {
            buffer.clear();
            for (id, reading) in &entries {
                encoder.push(&mut buffer, Some(*id), reading);
            }
            black_box(buffer.len())
        })
    });
    group.finish();
}

criterion_group!(benches, encode);
criterion_main!(benches);
