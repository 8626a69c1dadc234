//! Which entries a producer run writes: timestamps x sensors, and where a rerun resumes.
//!
//! Entries are ordered by time, then sensor, and carry the ID `<ms>-<sensor index>`, so the
//! stream's last ID says exactly how much of a run is already there.

use chrono::NaiveDate;

use crate::reading::{DAY_MS, Reading, Weather};
use crate::stream_id::StreamId;

/// The readings of one producer run for one city.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    /// Unix ms of the first timestamp.
    pub start_ms: u64,
    /// Milliseconds between timestamps (at least 1).
    pub interval_ms: u64,
    /// How many timestamps.
    pub count: u64,
    /// Sensors per timestamp (at least 1).
    pub sensors: u32,
}

/// What a rerun has left to do, given the stream's last ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resume {
    /// Write entries from this index (0 for an empty stream) to the end.
    From(u64),
    /// The stream already ends with this run's last entry: nothing to write.
    Complete,
    /// The stream ends after this run's last entry: it cannot be written (append-only).
    PastRange,
}

impl Schedule {
    /// The timestamps of `date` (UTC) at `interval_ms`; by default as many as fit in the day.
    pub fn day(date: NaiveDate, interval_ms: u64, count: Option<u64>, sensors: u32) -> Self {
        let start = date
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis());
        let interval_ms = interval_ms.max(1);
        Schedule {
            start_ms: start.and_then(|ms| u64::try_from(ms).ok()).unwrap_or(0),
            interval_ms,
            count: count.unwrap_or_else(|| DAY_MS.div_ceil(interval_ms)),
            sensors: sensors.max(1),
        }
    }

    /// How many entries the whole run writes.
    pub fn total(&self) -> u64 {
        self.count * u64::from(self.sensors)
    }

    /// The ID of entry `index` (0-based, in write order).
    pub fn id_at(&self, index: u64) -> StreamId {
        let sensors = u64::from(self.sensors);
        StreamId::new(
            self.start_ms + index / sensors * self.interval_ms,
            index % sensors,
        )
    }

    /// The ID of the last entry of the run.
    pub fn final_id(&self) -> StreamId {
        self.id_at(self.total().saturating_sub(1))
    }

    /// Where to start, given the stream's last ID (`None` for an empty or missing stream).
    pub fn resume(&self, last: Option<StreamId>) -> Resume {
        let Some(last) = last else {
            return Resume::From(0);
        };
        let end = self.final_id();
        if last > end {
            return Resume::PastRange;
        }
        if last == end || self.total() == 0 {
            return Resume::Complete;
        }
        if last.ms < self.start_ms {
            return Resume::From(0);
        }
        let sensors = u64::from(self.sensors);
        let step = (last.ms - self.start_ms) / self.interval_ms;
        let at = self.start_ms + step * self.interval_ms;
        let done = if at == last.ms {
            step * sensors + (last.seq + 1).min(sensors)
        } else {
            (step + 1) * sensors
        };
        Resume::From(done.min(self.total()))
    }

    /// Every entry of the run in write order, with its reading from `weather`.
    pub fn entries(self, mut weather: Weather) -> impl Iterator<Item = (StreamId, Reading)> {
        (0..self.total()).map(move |index| {
            let id = self.id_at(index);
            (id, weather.reading(id.seq as u32, id.ms))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(sensors: u32) -> Schedule {
        Schedule::day(
            NaiveDate::from_ymd_opt(2018, 8, 15).unwrap(),
            1000,
            None,
            sensors,
        )
    }

    /// A day at 1 s runs from 1534291200000-0 to 1534377599000-(sensors-1).
    #[test]
    fn a_day_of_ids() {
        let one = day(1);
        assert_eq!(one.total(), 86_400);
        assert_eq!(one.id_at(0), StreamId::new(1534291200000, 0));
        assert_eq!(one.final_id(), StreamId::new(1534377599000, 0));
        let ten = day(10);
        assert_eq!(ten.total(), 864_000);
        assert_eq!(ten.final_id(), StreamId::new(1534377599000, 9));
        let odd = Schedule::day(NaiveDate::from_ymd_opt(2018, 8, 15).unwrap(), 7000, None, 1);
        assert!(odd.final_id().ms < 1534377600000 && odd.final_id().ms + 7000 >= 1534377600000);
    }

    /// A rerun resumes right after the stream's last ID, whatever it is.
    #[test]
    fn resumes_after_the_streams_last_id() {
        let run = day(3);
        assert_eq!(run.resume(None), Resume::From(0));
        assert_eq!(run.resume(Some(StreamId::new(5, 0))), Resume::From(0));
        assert_eq!(run.resume(Some(run.id_at(0))), Resume::From(1));
        assert_eq!(run.resume(Some(run.id_at(5))), Resume::From(6));
        // Between two timestamps: everything up to the next timestamp is done.
        let between = StreamId::new(run.id_at(3).ms + 500, 0);
        assert_eq!(run.resume(Some(between)), Resume::From(6));
        assert_eq!(run.resume(Some(run.final_id())), Resume::Complete);
        assert_eq!(
            run.resume(Some(run.final_id().successor())),
            Resume::PastRange
        );
    }

    /// Entries skipped on resume are the same ones a full run would have written first.
    #[test]
    fn entries_are_stable() {
        let run = Schedule {
            count: 50,
            ..day(2)
        };
        let full: Vec<_> = run.entries(Weather::new(1, 2)).collect();
        let resumed: Vec<_> = run.entries(Weather::new(1, 2)).skip(31).collect();
        assert_eq!(&full[31..], &resumed[..]);
        assert!(full.windows(2).all(|w| w[0].0 < w[1].0));
    }
}
