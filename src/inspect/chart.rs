//! `inspect chart STREAM [--field F]`: a field over a time range as a terminal chart, e.g. the
//! day's temperature curve, downsampled to the terminal width. Without `--field`: `temperature`
//! where the entries have one, else the first numeric field of the first entry that has one.
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
//! resolution; the chart's floor sits just below the smallest mean, so the shape shows. A slice
//! without readings stays blank: a gap in time is a gap in the chart. The times under it carry
//! the date, and the year when the span crosses one.

use std::io::Write;

use super::bound::Bound;
use crate::error::{Error, Result};
use crate::message::Entry;
use crate::server::Link;
use crate::server::streams::{self, Direction};
use crate::stream_id::StreamId;

/// Entries fetched per round trip.
const PAGE: u64 = 10_000;

/// `(ms, value)` of readings, oldest first.
type Points = Vec<(u64, f64)>;

/// Partial blocks, from one eighth to seven eighths of a cell.
const EIGHTHS: [char; 8] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇'];

/// `chart`: which field of which stream over which range, and how big.
#[derive(Debug, Clone)]
pub struct Chart {
    /// The full stream key.
    pub key: String,
    /// The numeric field to draw; `None`: chosen from the entries ([`pick_field`]).
    pub field: Option<String>,
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
        let (field, points) = self.read_points(link)?;
        let Some(field) = field.filter(|_| !points.is_empty()) else {
            let what = match &self.field {
                Some(field) => format!("numeric --field {field}"),
                None => String::from("numeric field"),
            };
            return Err(Error::Usage(format!(
                "stream {} has no {what} between {} and {}",
                self.key,
                self.from.start_arg(),
                self.to.end_arg()
            )));
        };
        let columns = plot_width(self.width, &points);
        let buckets = downsample(&points, columns);
        let text = if self.json {
            format!("{}\n", to_json(&self.key, &field, points.len(), &buckets))
        } else {
            render(&self.key, &field, points.len(), &buckets, self.height)
        };
        super::emit(out, &text)
    }

    /// The field drawn and `(ms, value)` of every entry in range whose field parses as a number.
    fn read_points(&self, link: &mut Link) -> Result<(Option<String>, Points)> {
        let mut points = Vec::new();
        let mut field = self.field.clone();
        streams::range_pages(
            link,
            &self.key,
            (&self.from.start_arg(), &self.to.end_arg()),
            Direction::Forward,
            PAGE,
            None,
            |page| {
                for entry in page.iter() {
                    if field.is_none() {
                        field = pick_field(&entry);
                    }
                    let value = field.as_deref().and_then(|f| value_of(&entry, f));
                    points.extend(value.map(|v| (entry.id.ms, v)));
                }
                Ok(true)
            },
        )?;
        Ok((field, points))
    }
}

/// The field a chart draws when none is asked for, judged on `entry`: `temperature` when it
/// has one, else its first field whose value is a number; `None` when it has neither.
pub fn pick_field(entry: &Entry<'_>) -> Option<String> {
    if entry.field("temperature").is_some() {
        return Some(String::from("temperature"));
    }
    entry.fields?.iter().find_map(|(name, value)| {
        let number = std::str::from_utf8(value).ok()?.trim().parse::<f64>();
        number.ok().filter(|v| v.is_finite())?;
        std::str::from_utf8(name).ok().map(str::to_string)
    })
}

/// The value of `field` in `entry` as a finite number, if it is one.
pub fn value_of(entry: &Entry<'_>, field: &str) -> Option<f64> {
    let value = std::str::from_utf8(entry.field(field)?).ok()?;
    value.trim().parse::<f64>().ok().filter(|v| v.is_finite())
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

/// How the times of a span from `first` to `last` (Unix ms) are written: always with the date,
/// with the year when the span crosses one, and without the time of day over a month or more.
pub fn time_format(first: u64, last: u64) -> &'static str {
    let year = |ms: u64| {
        StreamId::new(ms, 0)
            .time()
            .map(|t| chrono::Datelike::year(&t))
    };
    let long = last - first >= 30 * 86_400_000;
    match (year(first) != year(last), long) {
        (true, true) => "%Y-%m-%d",
        (true, false) => "%Y-%m-%d %H:%M",
        (false, true) => "%m-%d",
        (false, false) => "%m-%d %H:%M",
    }
}

/// The span of a chart's times as the page shows it: `08-15 00:00 – 08-15 23:59 UTC`, in
/// [`time_format`]'s form.
pub fn span_label(first: u64, last: u64) -> String {
    let format = time_format(first, last);
    format!("{} – {} UTC", written(first, format), written(last, format))
}

/// The time `ms` (Unix ms) written in `format`; empty past what chrono can represent.
fn written(ms: u64, format: &str) -> String {
    StreamId::new(ms, 0)
        .time()
        .map_or_else(String::new, |t| t.format(format).to_string())
}

/// Times under the chart: the first at the left, the last at the right, and the middle one
/// between them when there is room.
fn time_axis(first: u64, last: u64, columns: usize, indent: usize) -> String {
    let format = time_format(first, last);
    let at = |ms: u64| written(ms, format);
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
        assert_eq!(lines[6], "      08-15 00:00  08-15 03:00");
        assert_eq!(lines[7], "      times UTC; each column: the mean of 45m00s");
        let wide = time_axis(1534291200000, 1534377599000, 40, 6);
        assert_eq!(
            wide,
            format!(
                "{:6}08-15 00:00{:4}08-15 11:59{:3}08-15 23:59\n",
                "", "", ""
            )
        );
    }

    /// The times carry the date; the year when the span crosses one; no time of day over a
    /// month or more (four years of daily rows read 2012-01-01 .. 2015-12-31).
    #[test]
    fn time_labels_carry_date_and_year() {
        let day = |date: &str| {
            chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d")
                .unwrap()
                .and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_millis() as u64
        };
        let years = time_axis(day("2012-01-01"), day("2015-12-31"), 40, 0);
        assert!(years.starts_with("2012-01-01"), "{years}");
        assert!(years.trim_end().ends_with("2015-12-31"), "{years}");
        let winter = time_axis(day("2012-12-31"), day("2013-01-02"), 40, 0);
        assert!(winter.starts_with("2012-12-31 00:00"), "{winter}");
        let spring = time_axis(day("2013-03-01"), day("2013-06-30"), 40, 0);
        assert!(spring.starts_with("03-01"), "{spring}");
        assert!(spring.trim_end().ends_with("06-30"), "{spring}");
        assert_eq!(super::super::human_ms(20 * 86_400_000), "20d00h");
    }

    /// A slice of time without readings stays blank: a gap is a gap, not joined over.
    #[test]
    fn gaps_stay_gaps() {
        let hour = 3_600_000;
        let mut points: Vec<(u64, f64)> = (0..10).map(|i| (i * hour, 20.0)).collect();
        points.extend((30..40).map(|i| (i * hour, 21.0)));
        let buckets = downsample(&points, 40);
        let text = render("x", "t", points.len(), &buckets, 2);
        let bottom = text.lines().nth(2).unwrap();
        let bars: Vec<char> = bottom.chars().skip_while(|c| *c != '┤').skip(1).collect();
        assert_eq!(bars.len(), 40, "{text}");
        assert!(bars[..10].iter().all(|c| *c != ' '), "{text}");
        assert!(
            bars[10..30].iter().all(|c| *c == ' '),
            "the gap is blank: {text}"
        );
        assert!(bars[30..].iter().all(|c| *c != ' '), "{text}");
    }

    /// Without `--field`: temperature where the entry has one, else its first numeric field.
    #[test]
    fn picks_a_field() {
        use crate::message::Message;
        let message = |fields: &[(&[u8], &[u8])]| Message {
            stream: std::sync::Arc::from("s"),
            id: crate::StreamId::new(1, 0),
            fields: Some(fields.iter().copied().collect()),
            deliveries: 1,
        };
        let pick = |fields: &[(&[u8], &[u8])]| pick_field(&message(fields).entry());
        assert_eq!(
            pick(&[(b"humidity", b"40"), (b"temperature", b"x")]).as_deref(),
            Some("temperature")
        );
        assert_eq!(
            pick(&[(b"weather", b"rain"), (b"temp_max", b"12.8")]).as_deref(),
            Some("temp_max")
        );
        assert_eq!(pick(&[(b"weather", b"rain")]), None);
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
