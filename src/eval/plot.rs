//! The eval chart: rank-1 and TAR@FAR 1e-3 against face width, a line per recognizer ×
//! gallery (solid: detected alignment, dashed: oracle), one row of panels per set.

use std::path::Path;

use plotters::prelude::*;

use super::EvalError;
use super::config::Alignment;
use super::report::{EvalReport, Row, gallery_name};
use crate::chart::{draw_legend, font_ready};

type Metric = (&'static str, fn(&Row) -> Option<f64>);
const METRICS: [Metric; 2] = [
    ("rank-1", |r| Some(r.rank1)),
    ("TAR @ FAR 1e-3", |r| r.tar_far_1e3.rate),
];

pub fn draw(report: &EvalReport, path: &Path) -> Result<(), EvalError> {
    let plot_error = |message: String| EvalError::Plot {
        path: path.to_path_buf(),
        message,
    };
    font_ready().map_err(plot_error)?;
    let sets: Vec<&str> = report.sets.iter().map(|s| s.name.as_str()).collect();
    if sets.is_empty() {
        return Err(plot_error("no labelled set in the report to chart".into()));
    }
    let height = 420 * sets.len() as u32;
    let root = BitMapBackend::new(path, (1200, height)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| plot_error(e.to_string()))?;
    let panels = root.split_evenly((sets.len(), METRICS.len()));
    for (i, panel) in panels.iter().enumerate() {
        let set = sets[i / METRICS.len()];
        let metric = METRICS[i % METRICS.len()];
        draw_panel(report, set, metric, panel).map_err(|e| plot_error(e.to_string()))?;
    }
    root.present().map_err(|e| plot_error(e.to_string()))
}

fn draw_panel(
    report: &EvalReport,
    set: &str,
    (label, value): Metric,
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
) -> Result<(), Box<dyn std::error::Error>> {
    let rows: Vec<&Row> = report.rows.iter().filter(|r| r.set == set).collect();
    let max_px = rows.iter().map(|r| r.px).max().unwrap_or(40) as f64;
    let min_px = rows.iter().map(|r| r.px).min().unwrap_or(8) as f64;
    let mut chart = ChartBuilder::on(area)
        .caption(format!("{set}: {label}"), ("sans-serif", 20))
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(48)
        .build_cartesian_2d(min_px - 1.0..max_px + 1.0, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("face width (px)")
        .y_desc(label)
        .label_style(("sans-serif", 13))
        .draw()?;
    let mut lines: Vec<(String, crate::eval::GalleryKind)> = Vec::new();
    for r in &rows {
        if !lines.iter().any(|(rec, g)| rec == &r.recognizer && *g == r.gallery) {
            lines.push((r.recognizer.clone(), r.gallery));
        }
    }
    for (n, (recognizer, gallery)) in lines.iter().enumerate() {
        let colour = Palette99::pick(n).to_rgba();
        for alignment in [Alignment::Detected, Alignment::Oracle] {
            let mut points: Vec<(f64, f64)> = rows
                .iter()
                .filter(|r| &r.recognizer == recognizer && r.gallery == *gallery && r.alignment == alignment)
                .filter_map(|r| value(r).map(|v| (r.px as f64, v)))
                .collect();
            points.sort_by(|a, b| a.0.total_cmp(&b.0));
            let style = ShapeStyle::from(colour).stroke_width(2);
            if alignment == Alignment::Detected {
                chart
                    .draw_series(LineSeries::new(points.clone(), style))?
                    .label(format!("{recognizer} {} (detected)", gallery_name(*gallery)))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
                chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, style.filled())))?;
            } else {
                chart
                    .draw_series(DashedLineSeries::new(points, 6, 4, style))?
                    .label(format!("{recognizer} {} (oracle)", gallery_name(*gallery)))
                    .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 8, y)], style));
            }
        }
    }
    draw_legend(&mut chart)
}
