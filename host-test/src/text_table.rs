//! Plain-text tables for the CLI (`status`, `check --online`): columns separated by two
//! spaces, each as wide as its widest cell in characters, the last one not padded. Pure.

/// Renders `rows` (the first is the header) as aligned lines, each ending in a newline.
pub fn render<R: AsRef<[String]>>(rows: &[R]) -> String {
    let columns = rows.iter().map(|r| r.as_ref().len()).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.as_ref().get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let row = row.as_ref();
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                if i + 1 == row.len() {
                    cell.clone()
                } else {
                    format!("{cell:<w$}")
                }
            })
            .collect();
        out.push_str(cells.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_by_characters_and_leaves_the_last_column_alone() {
        let rows = vec![
            vec!["A".to_string(), "B".into(), "C".into()],
            vec!["été".to_string(), "x".into(), "long last cell".into()],
        ];
        assert_eq!(render(&rows), "A    B  C\nété  x  long last cell\n");
    }
}
