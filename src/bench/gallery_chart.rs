//! The threshold-vs-gallery-size chart of `squint bench-gallery --chart`: the similarity a
//! stranger reaches against some template of n, modelled from real impostor scores, with
//! the percentiles measured on the benchmark's galleries as points.

use std::path::Path;

use plotters::prelude::*;

use super::gallery::{GalleryBenchReport, StrangerScores};
use crate::chart::{draw_legend, font_ready};

/// Which measured percentile a series shows.
type Pick = fn(&StrangerScores) -> f64;

/// False candidates per probe drawn as curves.
const RATES: [f64; 3] = [0.1, 0.01, 0.001];

pub fn draw(report: &GalleryBenchReport, path: &Path) -> anyhow::Result<()> {
    font_ready().map_err(anyhow::Error::msg)?;
    let root = BitMapBackend::new(path, (900, 600)).into_drawing_area();
    root.fill(&WHITE)?;
    plot(report, &root).map_err(|e| anyhow::anyhow!("chart {}: {e}", path.display()))?;
    root.present()?;
    Ok(())
}

fn plot(
    report: &GalleryBenchReport,
    area: &DrawingArea<BitMapBackend<'_>, plotters::coord::Shift>,
) -> Result<(), Box<dyn std::error::Error>> {
    let model = report.impostor_real;
    let mut chart = ChartBuilder::on(area)
        .caption(
            format!(
                "threshold for a false-candidate rate vs gallery size ({})",
                report.space
            ),
            ("sans-serif", 18),
        )
        .margin(12)
        .x_label_area_size(36)
        .y_label_area_size(52)
        .build_cartesian_2d(2.0..7.0, 0.0..1.0)?;
    chart
        .configure_mesh()
        .x_desc("identities enrolled (one template each)")
        .y_desc("cosine similarity")
        .x_labels(6)
        .x_label_formatter(&|x| format!("10^{x:.0}"))
        .label_style(("sans-serif", 12))
        .draw()?;
    for (n, rate) in RATES.iter().enumerate() {
        let style = ShapeStyle::from(Palette99::pick(n).to_rgba()).stroke_width(2);
        let curve = (0..=100).map(|i| {
            let log_n = 2.0 + 5.0 * i as f64 / 100.0;
            (log_n, model.threshold(*rate, 10f64.powf(log_n) as usize))
        });
        chart
            .draw_series(LineSeries::new(curve, style))?
            .label(format!("model, {rate} false candidates per probe"))
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], style));
    }
    let measured = |pick: Pick| {
        report
            .sizes
            .iter()
            .map(move |s| ((s.identities as f64).log10(), pick(&s.stranger_best)))
            .collect::<Vec<_>>()
    };
    let marks: [(&str, usize, Pick); 4] = [
        ("measured p90, real strangers", 0, |s| s.real_p90),
        ("measured p99, real strangers", 1, |s| s.real_p99),
        ("measured p90, synthetic strangers", 0, |s| s.synthetic_p90),
        ("measured p99, synthetic strangers", 1, |s| s.synthetic_p99),
    ];
    for (i, (label, colour, pick)) in marks.into_iter().enumerate() {
        let color = Palette99::pick(colour).to_rgba();
        let points = measured(pick);
        if i < 2 {
            chart
                .draw_series(points.into_iter().map(move |p| Circle::new(p, 5, color.filled())))?
                .label(label)
                .legend(move |(x, y)| Circle::new((x + 10, y), 5, color.filled()));
        } else {
            chart
                .draw_series(points.into_iter().map(move |p| TriangleMarker::new(p, 6, color)))?
                .label(label)
                .legend(move |(x, y)| TriangleMarker::new((x + 10, y), 6, color));
        }
    }
    draw_legend(&mut chart)
}
