//! The red wine quality set (Cortez et al. 2009, UCI, CC BY 4.0), embedded: 1,599 wines, 11
//! physico-chemical measurements and the tasters' `quality` (see `data/README.md`).

use super::table::Table;
use crate::error::Result;

const WINE_CSV: &[u8] = include_bytes!("../../data/winequality-red.csv");

/// The column to predict.
pub const TARGET: &str = "quality";

pub fn red_wine() -> Result<Table> {
    Table::parse_csv("<embedded winequality-red.csv>", WINE_CSV, b',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wine_set_has_1599_rows_of_12_columns() {
        let t = red_wine().unwrap();
        assert_eq!(t.rows.len(), 1599);
        assert_eq!(t.columns.len(), 12);
        let q = t.column_index(TARGET).unwrap();
        assert!(t.rows.iter().all(|r| (3.0..=8.0).contains(&r[q])));
    }
}
