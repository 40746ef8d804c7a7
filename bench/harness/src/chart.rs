//! An SVG bar chart of warm latency percentiles, function against baseline.

use serde_json::Value;

pub fn latency_svg(results: &Value) -> String {
    let series = [
        ("empty baseline", &results["baseline"]["warm"]["latency_ms"], "#9aa5b1"),
        ("session broker", &results["function"]["warm"]["latency_ms"], "#2f6fde"),
        ("session broker, net of stand-in", &results["function"]["warm"]["net_of_standin_ms"], "#7fb069"),
    ];
    let keys = ["p50", "p90", "p99", "p99_9"];
    let max = series
        .iter()
        .flat_map(|(_, v, _)| keys.iter().map(move |k| v[k].as_f64().unwrap_or(0.0)))
        .fold(0.01, f64::max);
    let (width, height, left, bottom) = (720.0, 360.0, 60.0, 300.0);
    let group = (width - left - 20.0) / keys.len() as f64;
    let bar = group / (series.len() as f64 + 1.0);
    let mut svg = format!(
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">
<text x="{left}" y="20" font-size="14">Warm invocation latency, {n} invocations (ms)</text>
<line x1="{left}" y1="{bottom}" x2="{}" y2="{bottom}" stroke="black"/>
"#,
        width - 20.0,
        n = 2000
    );
    for (g, key) in keys.iter().enumerate() {
        let x0 = left + g as f64 * group;
        svg.push_str(&format!(
            r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
            x0 + group / 2.0,
            bottom + 16.0,
            key.replace('_', ".")
        ));
        for (i, (_, values, colour)) in series.iter().enumerate() {
            let v = values[key].as_f64().unwrap_or(0.0);
            let h = (v / max) * (bottom - 40.0);
            let x = x0 + bar * (i as f64 + 0.5);
            svg.push_str(&format!(
                r#"<rect x="{x:.1}" y="{:.1}" width="{:.1}" height="{h:.1}" fill="{colour}"/><text x="{:.1}" y="{:.1}" text-anchor="middle" font-size="10">{v:.3}</text>"#,
                bottom - h, bar * 0.9, x + bar * 0.45, bottom - h - 3.0
            ));
            svg.push('\n');
        }
    }
    for (i, (name, _, colour)) in series.iter().enumerate() {
        let y = bottom + 34.0 + i as f64 * 14.0;
        svg.push_str(&format!(r#"<rect x="{left}" y="{}" width="10" height="10" fill="{colour}"/><text x="{}" y="{y}">{name}</text>"#, y - 9.0, left + 16.0));
        svg.push('\n');
    }
    svg.push_str("</svg>\n");
    svg
}
