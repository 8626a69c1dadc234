//! Aligned columns: the human output of every subcommand.
//!
//! ```text
//! CONSUMER  PENDING  IDLE
//! alice           0  120ms
//! bob             1  4.1s
//! ```
//!
//! Columns are two spaces apart; numbers can be right-aligned; the last column is never padded,
//! so no line ends in spaces.

/// A header and rows of cells, rendered with every column as wide as its widest cell.
#[derive(Debug, Clone, Default)]
pub struct Table {
    /// Column titles.
    header: Vec<String>,
    /// Cells, one `Vec` per row (short rows are padded with empty cells).
    rows: Vec<Vec<String>>,
    /// Whether each column is right-aligned.
    right: Vec<bool>,
    /// Smallest width of each column, so separately rendered pages line up.
    min: Vec<usize>,
}

impl Table {
    /// An empty table with these column titles.
    pub fn new(header: &[&str]) -> Self {
        Table {
            header: header.iter().map(|h| h.to_string()).collect(),
            rows: Vec::new(),
            right: vec![false; header.len()],
            min: vec![0; header.len()],
        }
    }

    /// Right-aligns column `column` (for numbers).
    pub fn right(&mut self, column: usize) -> &mut Self {
        if let Some(right) = self.right.get_mut(column) {
            *right = true;
        }
        self
    }

    /// Makes column `column` at least `width` characters wide.
    pub fn min_width(&mut self, column: usize, width: usize) -> &mut Self {
        if let Some(min) = self.min.get_mut(column) {
            *min = width;
        }
        self
    }

    /// Appends a row.
    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as text, one line per row, with the header line first when `with_header`.
    pub fn render(&self, with_header: bool) -> String {
        let columns = self.header.len();
        let cell = |row: &[String], c: usize| row.get(c).map_or(0, |s| s.chars().count());
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                let widest = self.rows.iter().map(|r| cell(r, c)).max().unwrap_or(0);
                let title = if with_header {
                    cell(&self.header, c)
                } else {
                    0
                };
                widest.max(title).max(self.min[c])
            })
            .collect();
        let mut text = String::new();
        let lines = with_header
            .then_some(&self.header)
            .into_iter()
            .chain(&self.rows);
        for row in lines {
            let mut line = String::new();
            for (c, width) in widths.iter().enumerate() {
                let value = row.get(c).map_or("", String::as_str);
                let pad = width.saturating_sub(value.chars().count());
                let last = c + 1 == columns;
                if c > 0 {
                    line.push_str("  ");
                }
                if self.right[c] {
                    line.extend(std::iter::repeat_n(' ', pad));
                    line.push_str(value);
                } else {
                    line.push_str(value);
                    if !last {
                        line.extend(std::iter::repeat_n(' ', pad));
                    }
                }
            }
            text.push_str(line.trim_end());
            text.push('\n');
        }
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Columns line up, numbers align right, and no line ends in spaces.
    #[test]
    fn aligns_columns() {
        let mut table = Table::new(&["CONSUMER", "PENDING", "IDLE"]);
        table.right(1);
        table.row(vec!["alice".into(), "0".into(), "120ms".into()]);
        table.row(vec!["bob".into(), "12".into(), String::new()]);
        assert_eq!(
            table.render(true),
            "CONSUMER  PENDING  IDLE\n\
             alice           0  120ms\n\
             bob            12\n"
        );
        assert_eq!(table.render(false), "alice   0  120ms\nbob    12\n");
    }

    /// A minimum width holds even when every cell is narrower.
    #[test]
    fn minimum_width() {
        let mut table = Table::new(&["A", "B"]);
        table.min_width(0, 4);
        table.row(vec!["x".into(), "y".into()]);
        assert_eq!(table.render(false), "x     y\n");
    }
}
