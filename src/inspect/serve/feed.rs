//! The chart of a stream that grows as readings arrive: the whole stream is read once, then only
//! what came after the last entry read, so a sample costs what is new, not the whole day.
//!
//! ```text
//! XRANGE chennai - + COUNT ...            the first time, page by page
//! XRANGE chennai (1534377599000-0 + ...   then only what is new
//! ```

use super::super::chart::{self, Bucket, downsample};
use crate::error::Result;
use crate::server::Link;
use crate::server::streams::{self, Direction};
use crate::stream_id::StreamId;

/// Points kept before neighbours are merged (a stream running for weeks must not grow the
/// chart without bound): about 3 MB, far more than a projector has pixels.
const MAX_POINTS: usize = 200_000;

/// Entries read per round trip.
const PAGE: u64 = 10_000;

/// One stream's chart, kept up to date.
#[derive(Debug, Clone)]
pub struct Feed {
    /// The stream key.
    key: String,
    /// The numeric field charted: the one asked for, or chosen from the first entry that has
    /// one ([`chart::pick_field`]); `None` until then.
    field: Option<String>,
    /// Whether the field was asked for (`--field`), rather than chosen.
    asked: bool,
    /// The last entry read.
    last: Option<StreamId>,
    /// `(ms, value)` of every reading read, oldest first (merged pairwise past [`MAX_POINTS`]).
    points: Vec<(u64, f64)>,
}

impl Feed {
    /// A feed of `field` of `key` (`None`: chosen from the entries), empty until updated.
    pub fn new(key: &str, field: Option<&str>) -> Self {
        Feed {
            key: key.to_string(),
            field: field.map(str::to_string),
            asked: field.is_some(),
            last: None,
            points: Vec::new(),
        }
    }

    /// The field charted, once known.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }

    /// Reads what is new. `first`/`newest` are the stream's first and newest entry now: points
    /// before `first` were trimmed away and are dropped; a newest entry before the last one read
    /// means the stream was deleted and written again, so it is read afresh.
    pub fn update(
        &mut self,
        link: &mut Link,
        first: Option<StreamId>,
        newest: Option<StreamId>,
    ) -> Result<()> {
        let replaced = match (self.last, newest) {
            (Some(last), Some(newest)) => newest < last,
            (Some(_), None) => true,
            _ => false,
        };
        if replaced {
            let asked = self.field.clone().filter(|_| self.asked);
            *self = Feed::new(&self.key.clone(), asked.as_deref());
        }
        if let Some(first) = first {
            let kept = self.points.partition_point(|p| p.0 < first.ms);
            if kept > 0 {
                self.points.drain(..kept);
            }
        }
        let start = self
            .last
            .map_or_else(|| String::from("-"), |id| id.successor().to_string());
        let (points, last, field) = (&mut self.points, &mut self.last, &mut self.field);
        streams::range_pages(
            link,
            &self.key,
            (&start, "+"),
            Direction::Forward,
            PAGE,
            None,
            |page| {
                *last = page.ids().last().or(*last);
                for entry in page.iter() {
                    if field.is_none() {
                        *field = chart::pick_field(&entry);
                    }
                    let value = field.as_deref().and_then(|f| chart::value_of(&entry, f));
                    points.extend(value.map(|v| (entry.id.ms, v)));
                }
                Ok(true)
            },
        )?;
        while self.points.len() > MAX_POINTS {
            self.points = merge_pairs(&self.points);
        }
        Ok(())
    }

    /// The chart in `columns` slices of time, like `inspect chart`.
    pub fn buckets(&self, columns: usize) -> Vec<Option<Bucket>> {
        downsample(&self.points, columns)
    }
}

/// Halves the points: each pair becomes one at the first's time with their mean.
fn merge_pairs(points: &[(u64, f64)]) -> Vec<(u64, f64)> {
    points
        .chunks(2)
        .map(|pair| {
            let mean = pair.iter().map(|p| p.1).sum::<f64>() / pair.len() as f64;
            (pair[0].0, mean)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Merging keeps the time order and the mean of each pair.
    #[test]
    fn merges_pairs() {
        assert_eq!(
            merge_pairs(&[(0, 1.0), (1, 3.0), (2, 5.0)]),
            vec![(0, 2.0), (2, 5.0)]
        );
    }
}
