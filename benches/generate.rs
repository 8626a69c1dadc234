//! Reading generation: the weather of one sensor over a day, and a day's schedule of entries.

use std::hint::black_box;

use chrono::NaiveDate;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use monsoon::reading::Weather;
use monsoon::schedule::Schedule;

const DAY: u64 = 86_400;

fn day(sensors: u32) -> Schedule {
    let date = NaiveDate::from_ymd_opt(2018, 8, 15).unwrap_or_default();
    Schedule::day(date, 1000, None, sensors)
}

/// `Weather::reading` for one sensor, a reading per second over a day.
fn weather(c: &mut Criterion) {
    let mut group = c.benchmark_group("generate");
    group.throughput(Throughput::Elements(DAY));
    group.bench_function("Weather::reading x 86400", |b| {
        b.iter(|| {
            let mut weather = Weather::new(7, 1);
            let mut sum = 0i64;
            for second in 0..DAY {
                sum += i64::from(weather.reading(0, second * 1000).temperature_tenths);
            }
            black_box(sum)
        })
    });
    group.bench_function("Schedule::entries, a day x 1 sensor", |b| {
        b.iter(|| {
            let schedule = day(1);
            let sum: i64 = schedule
                .entries(Weather::new(7, 1))
                .map(|(id, reading)| id.ms as i64 + i64::from(reading.humidity))
                .sum();
            black_box(sum)
        })
    });
    group.finish();
}

criterion_group!(benches, weather);
criterion_main!(benches);
