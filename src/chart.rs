//! What every PNG chart needs: the font plotters draws text with. A leaf, shared by the
//! eval and soak charts.

use std::sync::OnceLock;

use plotters::style::{FontStyle, register_font};

/// Debian's fonts-dejavu-core (installed by scripts/setup.sh).
pub const FONT: &str = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf";

pub fn font_ready() -> Result<(), String> {
    static READY: OnceLock<Result<(), String>> = OnceLock::new();
    READY
        .get_or_init(|| {
            let bytes = std::fs::read(FONT).map_err(|e| format!("font {FONT}: {e} (install fonts-dejavu-core)"))?;
            // plotters keeps fonts for the process' lifetime; this runs once.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            register_font("sans-serif", FontStyle::Normal, bytes).map_err(|_| format!("font {FONT} is not a TTF"))
        })
        .clone()
}

/// The legend both charts draw: lower right, on a translucent white box.
pub fn draw_legend<'a>(
    chart: &mut plotters::chart::ChartContext<
        'a,
        plotters::prelude::BitMapBackend<'a>,
        plotters::prelude::Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
    >,
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.8))
        .border_style(BLACK)
        .label_font(("sans-serif", 12))
        .draw()?;
    Ok(())
}
