//! `inspect chart STREAM [--field temperature]`: a field over a time range as a terminal chart,
//! e.g. the day's temperature curve, downsampled to the terminal width.
//!
//! ```text
//! XRANGE chennai - + COUNT 10000       pages of entries; each entry's field parsed as a number
//!
//! chennai temperature: 86400 readings, min 22.9, max 34.1
//!  34.1 ┤          ▂▅███▆▃
//!  28.5 ┤     ▃▆██████████████▇▄
//!  22.9 ┤▇███████████████████████
//!       └────────────────────────
//!        00:00      12:00     23:59
//!        times UTC; each column: the mean of 58m36s
//! ```
//!
//! Each column is the mean of the readings in its slice of time, drawn as a bar with eighth-block
//! resolution; the chart's floor sits just below the smallest mean, so the shape shows.

use std::io::Write;

use chrono::DateTime;

use super::bound::Bound;
use crate::error::{Error, Result};
use crate::server::Link;
use crate::server::streams::{self, Direction};

/// Entries fetched per round trip.
const PAGE: u64 = 10_000;

/// Partial blocks, from one eighth to seven eighths of a cell.
const EIGHTHS: [char; 8] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇'];

/// `chart`: which field of which stream over which range, and how big.
#[derive(Debug, Clone)]
pub struct Chart {
    /// The full stream key.
    pub key: String,
    /// The numeric field to draw.
    pub field: String,
    /// First entry to include.
    pub from: Bound,
    /// Last entry to include.
    pub to: Bound,
    /// Width of the whole chart in characters, axis labels included.
    pub width: usize,
    /// Height of the plot in rows.
    pub height: usize,
    /// The downsampled points as one JSON object instead of a drawing.
    pub json: bool,
}

/// The readings that fell into one column.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Time of the first reading in it, in Unix ms.
    pub start_ms: u64,
    /// Time of the last reading in it, in Unix ms.
    pub end_ms: u64,
    /// Smallest value.
    pub min: f64,
    /// Largest value.
    pub max: f64,
    /// Mean value.
    pub mean: f64,
    /// Readings in it.
    pub count: u64,
}

impl Chart {
    /// Reads the field over the range and writes the chart.
    pub fn run(&self, link: &mut Link, out: &mut impl Write) -> Result<()> {
        streams::require_stream(link, &self.key)?;
        let points = self.read_points(link)?;
        if points.is_empty() {
            return Err(Error::Usage(format!(
                "stream {} has no numeric --field {} between {} and {}",
                self.key,
                self.field,
                self.from.start_arg(),
                self.to.end_arg()
            )));
        }
        let columns = plot_width(self.width, &points);
        let buckets = downsample(&points, columns);
        let text = if self.json {
            format!(
                "{}\n",
                to_json(&self.key, &self.field, points.len(), &buckets)
            )
        } else {
            render(&self.key, &self.field, points.len(), &buckets, self.height)
        };
        super::emit(out, &text)
    }

    /// `(ms, value)` of every entry in range whose field parses as a number.
    fn read_points(&self, link: &mut Link) -> Result<Vec<(u64, f64)>> {
        let mut points = Vec::new();
        streams::range_pages(
            link,
            &self.key,
            (&self.from.start_arg(), &self.to.end_arg()),
            Direction::Forward,
            PAGE,
            None,
            |page| {
                points.extend(page.iter().filter_map(|m| {
                    let value = std::str::from_utf8(m.field(&self.field)?).ok()?;
                    Some((
                        m.id.ms,
                        value.trim().parse::<f64>().ok().filter(|v| v.is_finite())?,
                    ))
                }));
                Ok(true)
            },
        )?;
        Ok(points)
    }
}

/// Columns the plot gets once the axis labels took their share (at least 10).
fn plot_width(width: usize, points: &[(u64, f64)]) -> usize {
    let (lo, hi) = value_span(points.iter().map(|p| p.1));
    let gutter = label(lo).len().max(label(hi).len()) + 2;
    width.saturating_sub(gutter + 1).max(10)
}

/// Smallest and largest of `values`.
fn value_span(values: impl Iterator<Item = f64>) -> (f64, f64) {
    values.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
        (lo.min(v), hi.max(v))
    })
}

fn label(value: f64) -> String {
    format!("{value:.1}")
}

/// Splits the points' time span into `columns` equal slices and summarises each; a slice with no
/// reading is `None`. Points must be in time order, as XRANGE returns them.
pub fn downsample(points: &[(u64, f64)], columns: usize) -> Vec<Option<Bucket>> {
    let mut buckets: Vec<Option<Bucket>> = vec![None; columns];
    let (Some(first), Some(last)) = (points.first(), points.last()) else {
        return buckets;
    };
    let span = u128::from(last.0 - first.0) + 1;
    for &(ms, value) in points {
        let column = (u128::from(ms - first.0) * columns as u128 / span) as usize;
        let Some(slot) = buckets.get_mut(column) else {
            continue;
        };
        match slot {
            None => {
                *slot = Some(Bucket {
                    start_ms: ms,
                    end_ms: ms,
                    min: value,
                    max: value,
                    mean: value,
                    count: 1,
                })
            }
            Some(b) => {
                b.count += 1;
                b.end_ms = ms;
                b.min = b.min.min(value);
                b.max = b.max.max(value);
                b.mean += (value - b.mean) / b.count as f64;
            }
        }
    }
    buckets
}

/// The chart for people: a title, bars of each column's mean on a labelled axis, and times.
pub fn render(
    stream: &str,
    field: &str,
    readings: usize,
    buckets: &[Option<Bucket>],
    height: usize,
) -> String {
    let height = height.max(2);
    let present: Vec<&Bucket> = buckets.iter().flatten().collect();
    let (min, max) = value_span(present.iter().flat_map(|b| [b.min, b.max]));
    let (lo_mean, hi_mean) = value_span(present.iter().map(|b| b.mean));
    // The floor sits a little below the lowest mean, so even the lowest column shows a sliver.
    let pad = ((hi_mean - lo_mean) * 0.05).max(0.5);
    let (lo, hi) = (lo_mean - pad, hi_mean);
    let first = present.first().map_or(0, |b| b.start_ms);
    let last = present.last().map_or(0, |b| b.end_ms);
    let slice = (last - first + 1) / buckets.len().max(1) as u64;
    let mut text = format!(
        "{stream} {field}: {readings} readings, min {}, max {}\n",
        label(min),
        label(max)
    );
    let levels = height * 8;
    let level = |mean: f64| -> usize {
        let fraction = if hi > lo {
            (mean - lo) / (hi - lo)
        } else {
            1.0
        };
        ((fraction * levels as f64).round() as usize).clamp(1, levels)
    };
    let gutter = label(lo).len().max(label(hi).len());
    for row in 0..height {
        let floor = (height - 1 - row) * 8;
        let labelled = row == 0 || row == height - 1 || row == height / 2;
        let top = lo + (hi - lo) * (height - row) as f64 / height as f64;
        let tag = if labelled { label(top) } else { String::new() };
        let mut line = format!("{tag:>gutter$} ┤");
        for bucket in buckets {
            line.push(match bucket.map(|b| level(b.mean)) {
                Some(l) if l >= floor + 8 => '█',
                Some(l) if l > floor => EIGHTHS[l - floor],
                _ => ' ',
            });
        }
        text.push_str(line.trim_end());
        text.push('\n');
    }
    text.push_str(&format!("{:gutter$} └{}\n", "", "─".repeat(buckets.len())));
    text.push_str(&time_axis(first, last, buckets.len(), gutter + 2));
    text.push_str(&format!(
        "{:gutter$}  times UTC; each column: the mean of {}\n",
        "",
        super::human_ms(slice)
    ));
    text
}

/// Times under the chart: the first at the left, the last at the right, and the middle one
/// between them when there is room.
fn time_axis(first: u64, last: u64, columns: usize, indent: usize) -> String {
    let format = if last - first < 86_400_000 {
        "%H:%M"
    } else {
        "%m-%d %H:%M"
    };
    let at = |ms: u64| {
        i64::try_from(ms)
            .ok()
            .and_then(DateTime::from_timestamp_millis)
            .map_or_else(String::new, |t| t.format(format).to_string())
    };
    let (left, middle, right) = (at(first), at(first + (last - first) / 2), at(last));
    let mut line = format!("{:indent$}{left}", "");
    let right_at = (indent + columns)
        .saturating_sub(right.len())
        .max(line.len() + 2);
    let middle_at = indent + (columns / 2).saturating_sub(middle.len() / 2);
    if middle_at >= line.len() + 2 && middle_at + middle.len() + 2 <= right_at {
        line.push_str(&format!("{:1$}{middle}", "", middle_at - line.len()));
    }
    line.push_str(&format!("{:1$}{right}", "", right_at - line.len()));
    format!("{line}\n")
}

/// The downsampled chart as one JSON object: `stream`, `field`, `readings`, and `points` (one per
/// non-empty column: `time`, `min`, `max`, `mean`, `count`).
pub fn to_json(
    stream: &str,
    field: &str,
    readings: usize,
    buckets: &[Option<Bucket>],
) -> serde_json::Value {
    let points: Vec<serde_json::Value> = buckets
        .iter()
        .flatten()
        .map(|b| {
            serde_json::json!({
                "time": crate::StreamId::new(b.start_ms, 0).iso_time(),
                "min": b.min,
                "max": b.max,
                "mean": (b.mean * 100.0).round() / 100.0,
                "count": b.count,
            })
        })
        .collect();
    serde_json::json!({"stream": stream, "field": field, "readings": readings, "points": points})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Points fall into equal slices of time, each summarised by min, max, mean and count.
    #[test]
    fn downsamples_by_time() {
        let points: Vec<(u64, f64)> = (0..10).map(|i| (i * 1000, i as f64)).collect();
        let buckets = downsample(&points, 5);
        assert_eq!(buckets.len(), 5);
        assert_eq!(
            buckets[0],
            Some(Bucket {
                start_ms: 0,
                end_ms: 1000,
                min: 0.0,
                max: 1.0,
                mean: 0.5,
                count: 2
            })
        );
        assert_eq!(buckets[4].map(|b| b.count), Some(2));
        let sparse = downsample(&[(0, 1.0), (9000, 2.0)], 3);
        assert_eq!(sparse[1], None);
        assert!(downsample(&[], 4).iter().all(Option::is_none));
    }

    /// The drawing has a title, one line per row, an axis and times, and rises with the values.
    #[test]
    fn renders_rising_bars() {
        let points: Vec<(u64, f64)> = (0..4)
            .map(|i| (1534291200000 + i * 3_600_000, 20.0 + i as f64))
            .collect();
        let buckets = downsample(&points, 4);
        let text = render("chennai", "temperature", 4, &buckets, 4);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 4 + 3, "{text}");
        assert!(lines[0].starts_with("chennai temperature: 4 readings, min 20.0, max 23.0"));
        assert_eq!(lines[1], "23.0 ┤   █");
        assert_eq!(lines[4], "20.4 ┤▅███");
        assert_eq!(lines[5], "     └────");
        assert_eq!(lines[6], "      00:00  03:00");
        assert_eq!(lines[7], "      times UTC; each column: the mean of 45m00s");
        let wide = time_axis(1534291200000, 1534377599000, 40, 6);
        assert_eq!(wide, format!("{:6}00:00{:13}11:59{:12}23:59\n", "", "", ""));
    }

    /// The JSON has one point per non-empty column.
    #[test]
    fn json_points() {
        let buckets = downsample(&[(1534291200000, 27.4), (1534291201000, 27.6)], 1);
        let json = to_json("chennai", "temperature", 2, &buckets);
        assert_eq!(
            json,
            serde_json::json!({"stream": "chennai", "field": "temperature", "readings": 2,
                "points": [{"time": "2018-08-15T00:00:00Z", "min": 27.4, "max": 27.6,
                    "mean": 27.5, "count": 2}]})
        );
    }
}
