//! The bench's report: one row per figure with its target, extra tables,
//! the same in JSON, written to `<out>.md` and `<out>.json`.

use std::path::Path;

/// One figure: what was measured, its target and whether it was met.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What is measured.
    pub figure: String,
    /// The measured value, with its unit.
    pub value: String,
    /// The target, empty when none.
    pub target: String,
    /// Whether the target was met (`None`: no target).
    pub met: Option<bool>,
}

/// A row with a target that was met or not.
pub fn checked(figure: impl Into<String>, value: String, target: &str, met: bool) -> Row {
    Row {
        figure: figure.into(),
        value,
        target: target.into(),
        met: Some(met),
    }
}

/// A row without a target.
pub fn info(figure: impl Into<String>, value: String) -> Row {
    Row {
        figure: figure.into(),
        value,
        target: String::new(),
        met: None,
    }
}

/// Everything measured so far.
#[derive(Debug, Default)]
pub struct Report {
    /// The summary table's rows.
    pub rows: Vec<Row>,
    /// Markdown shown after the summary table (e.g. the drain runs, one by one).
    pub sections: Vec<String>,
    /// The figures as JSON, by figure.
    pub json: serde_json::Map<String, serde_json::Value>,
}

impl Report {
    /// The report as Markdown, under `header`.
    pub fn markdown(&self, header: &str) -> String {
        let mut md = format!("{header}\n\n| Figure | Value | Target | Met |\n|---|---|---|---|\n");
        for r in &self.rows {
            let met = match r.met {
                Some(true) => "yes",
                Some(false) => "**no**",
                None => "",
            };
            md.push_str(&format!(
                "| {} | {} | {} | {met} |\n",
                cell(&r.figure),
                cell(&r.value),
                cell(&r.target)
            ));
        }
        for section in &self.sections {
            md.push('\n');
            md.push_str(section.trim_end());
            md.push('\n');
        }
        md
    }

    /// Writes `<out>.md` (the Markdown under `header`) and `<out>.json`.
    pub fn write(&self, out: &str, header: &str) -> std::io::Result<String> {
        if let Some(dir) = Path::new(out).parent()
            && !dir.as_os_str().is_empty()
        {
            std::fs::create_dir_all(dir)?;
        }
        let md = self.markdown(header);
        std::fs::write(format!("{out}.md"), &md)?;
        let json = serde_json::to_string_pretty(&self.json).map_err(std::io::Error::other)?;
        std::fs::write(format!("{out}.json"), json + "\n")?;
        Ok(md)
    }
}

/// A Markdown table with `head` columns and `rows`.
pub fn table(head: &[&str], rows: &[Vec<String>]) -> String {
    let mut md = format!("| {} |\n", head.join(" | "));
    md.push_str(&format!("|{}\n", "---|".repeat(head.len())));
    for row in rows {
        let cells: Vec<String> = row.iter().map(|c| cell(c)).collect();
        md.push_str(&format!("| {} |\n", cells.join(" | ")));
    }
    md
}

/// A value that cannot break a table row.
fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// The median of `values` (the mean of the two middle ones for an even
/// count; 0 for none).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| !v.is_nan()).collect();
    sorted.sort_by(f64::total_cmp);
    match sorted.len() {
        0 => 0.0,
        n if n % 2 == 1 => sorted[n / 2],
        n => (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_of_odd_even_and_no_values() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), 2.5);
        assert_eq!(median(&[7.0]), 7.0);
        assert_eq!(median(&[]), 0.0);
        assert_eq!(median(&[f64::NAN, 5.0]), 5.0, "NaN is left out");
    }

    #[test]
    fn markdown_has_the_summary_then_the_sections() {
        let report = Report {
            rows: vec![
                checked("Throughput", "0.95×".into(), "≥ 0.9×", true),
                checked("RSS", "16.0 MiB".into(), "≤ 15 MiB", false),
                info("Order", "floor | worker".into()),
            ],
            sections: vec![table(&["Run", "msg/s"], &[vec!["1".into(), "812".into()]])],
            json: serde_json::Map::new(),
        };
        assert_eq!(
            report.markdown("Measured today."),
            "Measured today.\n\n\
             | Figure | Value | Target | Met |\n|---|---|---|---|\n\
             | Throughput | 0.95× | ≥ 0.9× | yes |\n\
             | RSS | 16.0 MiB | ≤ 15 MiB | **no** |\n\
             | Order | floor \\| worker |  |  |\n\
             \n| Run | msg/s |\n|---|---|\n| 1 | 812 |\n"
        );
    }

    #[test]
    fn write_creates_the_directory_and_both_files() {
        let dir = std::env::temp_dir().join(format!("bench-report-{}", std::process::id()));
        let out = dir.join("nested/results");
        let mut report = Report::default();
        report.rows.push(info("x", "1".into()));
        report
            .json
            .insert("x".into(), serde_json::json!({"value": 1}));
        let md = report
            .write(out.to_str().expect("utf-8 path"), "Header.")
            .expect("written");
        assert_eq!(
            std::fs::read_to_string(out.with_extension("md")).expect("md"),
            md
        );
        let json: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out.with_extension("json")).expect("json"),
        )
        .expect("valid json");
        assert_eq!(json, serde_json::json!({"x": {"value": 1}}));
        let _ = std::fs::remove_dir_all(dir);
    }
}
