//! How the host writes the units a config is written in, for messages that quote a bound or a
//! value back to the operator. A leaf module: config and limits both use it.

use std::time::Duration;

/// A duration as one would write it in the config: the largest whole unit (`"400d"`, `"90s"`;
/// humantime would write `"1year 1month 4days 7h 26m 24s"`), else humantime's form.
pub fn show_duration(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() == 0 && secs > 0 {
        for (unit, size) in [("d", 24 * 3600), ("h", 3600), ("m", 60), ("s", 1)] {
            if secs.is_multiple_of(size) {
                return format!("{}{unit}", secs / size);
            }
        }
    }
    humantime::format_duration(d).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_are_shown_in_their_largest_whole_unit() {
        assert_eq!(show_duration(Duration::from_secs(400 * 24 * 3600)), "400d");
        assert_eq!(show_duration(Duration::from_secs(90)), "90s");
        assert_eq!(show_duration(Duration::from_secs(7200)), "2h");
        assert_eq!(show_duration(Duration::from_millis(1500)), "1s 500ms");
    }
}
