//! What the bench prints and writes: a table, `results.json`, and the throughput chart.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

/// The median of some values (0 for none).
pub fn median(values: &[f64]) -> f64 {
    let mut sorted: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if sorted.is_empty() {
        return 0.0;
    }
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if !sorted.len().is_multiple_of(2) {
        sorted[mid]
    } else {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    }
}

/// Latency percentiles, in milliseconds.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub samples: usize,
    /// Median.
    pub p50_ms: f64,
    /// 95th percentile.
    pub p95_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Percentiles {
    /// The nearest-rank percentiles of `samples`.
    pub fn of(samples: &[Duration]) -> Percentiles {
        let mut ms: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1e3).collect();
        ms.sort_by(f64::total_cmp);
        let at = |p: f64| {
            if ms.is_empty() {
                return 0.0;
            }
            let rank = ((p / 100.0) * ms.len() as f64).ceil() as usize;
            ms[rank.clamp(1, ms.len()) - 1]
        };
        Percentiles {
            samples: ms.len(),
            p50_ms: at(50.0),
            p95_ms: at(95.0),
            p99_ms: at(99.0),
            max_ms: ms.last().copied().unwrap_or(0.0),
        }
    }
}

/// One line of the printed table.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    /// The scenario.
    pub scenario: String,
    /// The backend.
    pub backend: String,
    /// The SDK's figure.
    pub sdk: String,
    /// raw apalis's figure, when measured.
    pub apalis: String,
    /// SDK / apalis, when it means something.
    pub ratio: String,
    /// The target, if any.
    pub target: String,
    /// `yes`, `NO` or empty.
    pub met: String,
}

/// One target and whether it is met.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// What is measured.
    pub name: String,
    /// The target, in words.
    pub target: String,
    /// The measured value, in words.
    pub value: String,
    /// Whether it is met.
    pub met: bool,
}

/// The table, aligned.
pub fn table(lines: &[Line]) -> String {
    table_against("raw apalis", "SDK/apalis", lines)
}

/// The table, aligned, with `peer` and `ratio` as the titles of the third and fourth
/// columns (the system the SDK is compared with).
pub fn table_against(peer: &str, ratio: &str, lines: &[Line]) -> String {
    let header = Line {
        scenario: "scenario".into(),
        backend: "backend".into(),
        sdk: "SDK".into(),
        apalis: peer.into(),
        ratio: ratio.into(),
        target: "target".into(),
        met: "met".into(),
    };
    let cells = |l: &Line| {
        [
            l.scenario.clone(),
            l.backend.clone(),
            l.sdk.clone(),
            l.apalis.clone(),
            l.ratio.clone(),
            l.target.clone(),
            l.met.clone(),
        ]
    };
    let rows: Vec<[String; 7]> = std::iter::once(&header).chain(lines).map(cells).collect();
    let mut widths = [0usize; 7];
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for (i, row) in rows.iter().enumerate() {
        let text: Vec<String> = row
            .iter()
            .zip(widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        let _ = writeln!(out, "{}", text.join("  ").trim_end());
        if i == 0 {
            let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
            let _ = writeln!(out, "{}", rule.join("  "));
        }
    }
    out
}

/// A number of jobs per second, rounded for reading.
pub fn per_second(rate: f64) -> String {
    if rate >= 100.0 {
        format!("{} /s", thousands(rate.round() as u64))
    } else {
        format!("{rate:.1} /s")
    }
}

/// `12345` as `12,345`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A series of the chart: its name, colour, dash and points (concurrency, jobs/s).
pub struct Series {
    /// The legend.
    pub name: String,
    /// The stroke colour.
    pub colour: &'static str,
    /// Dashed (raw apalis) or solid (SDK).
    pub dashed: bool,
    /// (concurrency, jobs per second).
    pub points: Vec<(u32, f64)>,
}

/// The throughput-against-concurrency chart: log-log axes, one line per series, and a
/// thin horizontal line per target `(label, jobs per second, colour)`.
pub fn svg(title: &str, series: &[Series], targets: &[(&str, f64, &str)]) -> String {
    let (width, height) = (760.0, 440.0);
    let (left, right, top, bottom) = (80.0, 200.0, 40.0, 60.0);
    let plot_w = width - left - right;
    let plot_h = height - top - bottom;
    let xs: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| f64::from(p.0)))
        .collect();
    let ys: Vec<f64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.1))
        .chain(targets.iter().map(|t| t.1))
        .filter(|y| *y > 0.0)
        .collect();
    let (x_min, x_max) = bounds(&xs, 1.0, 1024.0);
    let (mut y_lo, mut y_hi) = bounds(&ys, 100.0, 100_000.0);
    y_lo = 10f64.powf(y_lo.log10().floor());
    y_hi = 10f64.powf(y_hi.log10().ceil());
    let x_lo = 2f64.powf(x_min.log2().floor());
    let x_hi = 2f64.powf(x_max.log2().ceil().max(x_min.log2().floor() + 1.0));
    let x_of = |x: f64| left + (x.log2() - x_lo.log2()) / (x_hi.log2() - x_lo.log2()) * plot_w;
    let y_of =
        |y: f64| top + plot_h - (y.log10() - y_lo.log10()) / (y_hi.log10() - y_lo.log10()) * plot_h;
    let mut out = String::new();
    let _ = writeln!(
        out,
        r##"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">"##
    );
    let _ = writeln!(
        out,
        r##"<rect width="{width}" height="{height}" fill="#ffffff"/><text x="{}" y="22" text-anchor="middle" font-size="15">{}</text>"##,
        left + plot_w / 2.0,
        escape(title)
    );
    // Grid and axes.
    let mut y = y_lo;
    while y <= y_hi * 1.0001 {
        let py = y_of(y);
        let _ = writeln!(
            out,
            r##"<line x1="{left}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="#dddddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + plot_w,
            left - 6.0,
            py + 4.0,
            thousands(y as u64)
        );
        y *= 10.0;
    }
    let mut x = x_lo;
    while x <= x_hi * 1.0001 {
        let px = x_of(x);
        let _ = writeln!(
            out,
            r##"<line x1="{px:.1}" y1="{top}" x2="{px:.1}" y2="{:.1}" stroke="#eeeeee"/><text x="{px:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            top + plot_h,
            top + plot_h + 16.0,
            x as u64
        );
        x *= 2.0;
    }
    let _ = writeln!(
        out,
        r##"<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333333"/>"##
    );
    let _ = writeln!(
        out,
        r##"<text x="{:.1}" y="{:.1}" text-anchor="middle">concurrency (tasks at once per runner, log scale)</text>"##,
        left + plot_w / 2.0,
        height - 18.0
    );
    let _ = writeln!(
        out,
        r##"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">drained jobs per second (log scale)</text>"##,
        top + plot_h / 2.0
    );
    for (label, value, colour) in targets {
        let py = y_of(*value);
        let _ = writeln!(
            out,
            r##"<line x1="{left}" y1="{py:.1}" x2="{:.1}" y2="{py:.1}" stroke="{colour}" stroke-width="1" stroke-dasharray="2 3"/><text x="{:.1}" y="{:.1}" text-anchor="end" fill="{colour}">{}</text>"##,
            left + plot_w,
            left + plot_w - 4.0,
            py - 4.0,
            escape(label)
        );
    }
    // Lines and legend.
    for (i, s) in series.iter().enumerate() {
        let points: Vec<String> = s
            .points
            .iter()
            .filter(|p| p.1 > 0.0)
            .map(|&(c, r)| format!("{:.1},{:.1}", x_of(f64::from(c)), y_of(r)))
            .collect();
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = writeln!(
            out,
            r##"<polyline points="{}" fill="none" stroke="{}" stroke-width="2"{dash}/>"##,
            points.join(" "),
            s.colour
        );
        for p in &points {
            let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(
                out,
                r##"<circle cx="{px}" cy="{py}" r="3" fill="{}"/>"##,
                s.colour
            );
        }
        let ly = top + 10.0 + 20.0 * i as f64;
        let lx = left + plot_w + 14.0;
        let _ = writeln!(
            out,
            r##"<line x1="{lx}" y1="{ly}" x2="{}" y2="{ly}" stroke="{}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"##,
            lx + 26.0,
            s.colour,
            lx + 32.0,
            ly + 4.0,
            escape(&s.name)
        );
    }
    out.push_str("</svg>\n");
    out
}

fn bounds(values: &[f64], default_lo: f64, default_hi: f64) -> (f64, f64) {
    let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if lo.is_finite() && hi.is_finite() && lo > 0.0 {
        (lo, hi.max(lo * 1.01))
    } else {
        (default_lo, default_hi)
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&[]), 0.0);
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        let p = Percentiles::of(&samples);
        assert_eq!(
            (p.p50_ms, p.p95_ms, p.p99_ms, p.max_ms),
            (50.0, 95.0, 99.0, 100.0)
        );
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(thousands(12), "12");
        assert_eq!(per_second(25_000.4), "25,000 /s");
    }

    #[test]
    fn the_chart_is_an_svg_with_every_series() {
        let chart = svg(
            "t",
            &[Series {
                name: "SDK <SQLite>".into(),
                colour: "#1f77b4",
                dashed: false,
                points: vec![(16, 1000.0), (256, 20_000.0)],
            }],
            &[("target", 10_000.0, "#1f77b4")],
        );
        assert!(chart.starts_with("<svg") && chart.trim_end().ends_with("</svg>"));
        assert!(chart.contains("SDK &lt;SQLite&gt;"));
        assert_eq!(chart.matches("<polyline").count(), 1);
    }
}
