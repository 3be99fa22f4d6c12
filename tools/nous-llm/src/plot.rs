//! The training-loss PNG (plotters, bitmap backend).
//!
//! Text needs a TrueType font; plotters' `ab_glyph` backend is given DejaVu Sans from the
//! usual system path. Without that font the plot is still drawn, only without labels.

use std::path::Path;

use anyhow::{Result, anyhow};
use plotters::prelude::*;

const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
];

fn register_font() -> bool {
    for p in FONT_PATHS {
        if let Ok(bytes) = std::fs::read(p) {
            // plotters keeps the font for the whole process, so it must be 'static.
            let leaked: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            if plotters::style::register_font("sans-serif", FontStyle::Normal, leaked).is_ok() {
                return true;
            }
        }
    }
    false
}

/// Draws training loss (and validation loss points, if any) against step.
pub fn loss_png(path: &Path, train: &[(u64, f32)], val: &[(u64, f32)], title: &str) -> Result<()> {
    let labels = register_font();
    let root = BitMapBackend::new(path, (900, 540)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow!("plot: {e}"))?;
    let max_step = train.last().map_or(1, |p| p.0).max(1);
    let max_loss = train.iter().chain(val).map(|p| p.1).fold(0.1f32, f32::max);
    let mut builder = ChartBuilder::on(&root);
    builder.margin(15);
    if labels {
        builder
            .caption(title, ("sans-serif", 22))
            .x_label_area_size(40)
            .y_label_area_size(55);
    }
    let mut chart = builder
        .build_cartesian_2d(0u64..max_step, 0f32..max_loss * 1.05)
        .map_err(|e| anyhow!("plot: {e}"))?;
    let mut mesh = chart.configure_mesh();
    if labels {
        mesh.x_desc("step").y_desc("cross-entropy (nats/token)");
    } else {
        mesh.x_labels(0).y_labels(0);
    }
    mesh.draw().map_err(|e| anyhow!("plot: {e}"))?;
    let train_series = chart
        .draw_series(LineSeries::new(train.iter().copied(), &BLUE))
        .map_err(|e| anyhow!("plot: {e}"))?;
    if labels {
        train_series
            .label("train (per step)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], BLUE));
    }
    if !val.is_empty() {
        let val_series = chart
            .draw_series(LineSeries::new(val.iter().copied(), RED.stroke_width(2)))
            .map_err(|e| anyhow!("plot: {e}"))?;
        if labels {
            val_series
                .label("validation")
                .legend(|(x, y)| PathElement::new([(x, y), (x + 20, y)], RED));
        }
    }
    if labels {
        chart
            .configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE)
            .draw()
            .map_err(|e| anyhow!("plot: {e}"))?;
    }
    root.present().map_err(|e| anyhow!("plot: {e}"))?;
    Ok(())
}
