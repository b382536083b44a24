//! The soak chart: RSS, threads and open files, event latency p50/p99, and gallery and spool
//! size against time, one panel each.

use std::path::Path;

use plotters::prelude::*;

use super::soak::SoakSample;
use crate::chart::{draw_legend, font_ready};

type Series = (&'static str, fn(&SoakSample) -> f64);
type Panel = (&'static str, [Option<Series>; 2]);

const PANELS: [Panel; 4] = [
    ("RSS (MiB)", [Some(("rss", |s| s.rss_mib)), None]),
    (
        "threads and open files",
        [
            Some(("threads", |s| s.threads as f64)),
            Some(("fds", |s| s.open_fds as f64)),
        ],
    ),
    (
        "event latency (ms)",
        [Some(("p50", |s| s.latency_p50_ms)), Some(("p99", |s| s.latency_p99_ms))],
    ),
    (
        "disk (MiB)",
        [
            Some(("gallery", |s| s.gallery_bytes as f64 / 1048576.0)),
            Some(("spool", |s| s.spool_bytes as f64 / 1048576.0)),
        ],
    ),
];

pub fn draw(samples: &[SoakSample], path: &Path) -> anyhow::Result<()> {
    font_ready().map_err(anyhow::Error::msg)?;
    anyhow::ensure!(!samples.is_empty(), "no samples to chart");
    let root = BitMapBackend::new(path, (1200, 800)).into_drawing_area();
    root.fill(&WHITE)?;
    for (panel, area) in PANELS.iter().zip(root.split_evenly((2, 2)).iter()) {
        draw_panel(samples, panel, area).map_err(|e| anyhow::anyhow!("chart {}: {e}", path.display()))?;
    }
    root.present()?;
    Ok(())
}

fn draw_panel(
    samples: &[SoakSample],
    (title, series): &Panel,
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
) -> Result<(), Box<dyn std::error::Error>> {
    let minutes = |s: &SoakSample| s.at_s / 60.0;
    let end = samples.iter().map(minutes).fold(0.0, f64::max).max(0.1);
    let top = series
        .iter()
        .flatten()
        .flat_map(|(_, value)| samples.iter().map(value))
        .fold(0.0, f64::max)
        * 1.15;
    let mut chart = ChartBuilder::on(area)
        .caption(*title, ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(52)
        .build_cartesian_2d(0.0..end, 0.0..top.max(1.0))?;
    chart
        .configure_mesh()
        .x_desc("minutes")
        .label_style(("sans-serif", 12))
        .draw()?;
    for (n, (label, value)) in series.iter().flatten().enumerate() {
        let style = ShapeStyle::from(Palette99::pick(n).to_rgba()).stroke_width(2);
        let points = samples.iter().map(|s| (minutes(s), value(s)));
        chart
            .draw_series(LineSeries::new(points, style))?
            .label(*label)
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    draw_legend(&mut chart)
}
