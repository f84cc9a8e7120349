//! Fisher's Iris (1936), embedded: 150 flowers, 4 measurements, 3 species (see `data/README.md`).

use super::table::Table;
use crate::error::Result;

const IRIS_CSV: &[u8] = include_bytes!("../../data/iris.csv");

/// The names of the species, in the order of the `species` column's codes.
pub const SPECIES: [&str; 3] = ["setosa", "versicolor", "virginica"];

/// The Iris table: `sepal_length, sepal_width, petal_length, petal_width, species`.
pub fn iris() -> Result<Table> {
    Table::parse_csv("<embedded iris.csv>", IRIS_CSV, b',')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iris_has_150_flowers_50_of_each_species() {
        let t = iris().unwrap();
        assert_eq!(t.rows.len(), 150);
        assert_eq!(t.columns[4], "species");
        for s in 0..3 {
            assert_eq!(t.rows.iter().filter(|r| r[4] == s as f64).count(), 50);
        }
    }
}
