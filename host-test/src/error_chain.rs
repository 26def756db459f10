//! An error and its causes as one line, for logs and messages: `what: why: deeper why`, each
//! cause left out when the text before already says it.

use std::error::Error;

/// `e` and every error in its `source()` chain, joined by `": "`.
pub fn one_line(e: &(dyn Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        let more = cause.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn causes_follow_unless_already_said() {
        let e = Outer(std::io::Error::other("inner"));
        assert_eq!(one_line(&e), "outer: inner");
        let said = std::io::Error::other("inner");
        assert_eq!(one_line(&said), "inner");
    }
}
