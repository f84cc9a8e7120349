//! What `neurons serve` asks of a lab: a trained model kept in memory that answers the page's
//! requests ([`Served`]), and the reading of those requests' JSON fields, each refused by name.

use serde_json::Value;

use crate::error::{Error, Result};

/// A trained model that `neurons serve` keeps in memory, answering the page's requests.
pub trait Served: Send {
    /// What the page offers for it: `draw-digit`, `latent-plane`, `digit-generator`,
    /// `generator` or `text`.
    fn kind(&self) -> &'static str;
    /// What the page needs to show it: class names, the latent plane's size...
    fn describe(&self) -> Value {
        Value::Object(Default::default())
    }
    /// Answers one request; an [`Error::Usage`] for a request it cannot answer (a 400).
    fn answer(&self, request: &Value) -> Result<Value>;
}

fn bad(reason: String) -> Error {
    Error::Usage(reason)
}

/// The numbers of field `name`: at most `max` of them, each finite.
pub fn floats(request: &Value, name: &str, max: usize) -> Result<Vec<f32>> {
    let items = request
        .get(name)
        .and_then(Value::as_array)
        .ok_or_else(|| bad(format!("{name:?}: an array of numbers is expected")))?;
    if items.len() > max {
        return Err(bad(format!(
            "{name:?}: {} numbers, at most {max}",
            items.len()
        )));
    }
    items
        .iter()
        .map(|v| {
            v.as_f64()
                .filter(|x| x.is_finite())
                .map(|x| x as f32)
                .ok_or_else(|| bad(format!("{name:?}: {v} is not a finite number")))
        })
        .collect()
}

/// The whole number of field `name`, within `range`; `default` when it is absent.
pub fn integer(
    request: &Value,
    name: &str,
    range: std::ops::RangeInclusive<u64>,
    default: Option<u64>,
) -> Result<u64> {
    match request.get(name) {
        None | Some(Value::Null) => default.ok_or_else(|| bad(format!("{name:?} is needed"))),
        Some(v) => v.as_u64().filter(|n| range.contains(n)).ok_or_else(|| {
            bad(format!(
                "{name:?}: {v} is not a whole number from {} to {}",
                range.start(),
                range.end()
            ))
        }),
    }
}

/// The text of field `name`, at most `max` characters.
pub fn text<'a>(request: &'a Value, name: &str, max: usize) -> Result<&'a str> {
    let text = request
        .get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| bad(format!("{name:?}: a string is expected")))?;
    if text.chars().count() > max {
        return Err(bad(format!("{name:?}: more than {max} characters")));
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_or_refused_by_name() {
        let request =
            serde_json::json!({"z": [0.5, -1], "count": 3, "text": "hi", "bad": [1, "x"]});
        assert_eq!(floats(&request, "z", 2).unwrap(), vec![0.5, -1.0]);
        assert!(
            floats(&request, "z", 1)
                .unwrap_err()
                .to_string()
                .contains("at most 1")
        );
        assert!(
            floats(&request, "bad", 5)
                .unwrap_err()
                .to_string()
                .contains("\"x\"")
        );
        assert!(
            floats(&request, "none", 5)
                .unwrap_err()
                .to_string()
                .contains("\"none\"")
        );
        assert_eq!(integer(&request, "count", 1..=16, None).unwrap(), 3);
        assert!(integer(&request, "count", 4..=16, None).is_err());
        assert_eq!(integer(&request, "seed", 0..=9, Some(7)).unwrap(), 7);
        assert_eq!(text(&request, "text", 10).unwrap(), "hi");
        assert!(text(&request, "text", 1).is_err());
    }
}
