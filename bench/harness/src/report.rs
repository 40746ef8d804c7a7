//! Percentiles, and the table of figures against the targets of issue 5.

use std::time::Duration;

use serde_json::{json, Value};

pub fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

pub fn percentile(values: &mut [Duration], p: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    values.sort_unstable();
    let rank = ((p / 100.0) * values.len() as f64).ceil() as usize;
    values[rank.clamp(1, values.len()) - 1]
}

pub fn percentiles(values: &mut [Duration]) -> Value {
    json!({
        "p50": ms(percentile(values, 50.0)),
        "p90": ms(percentile(values, 90.0)),
        "p99": ms(percentile(values, 99.0)),
        "p99_9": ms(percentile(values, 99.9)),
        "max": ms(percentile(values, 100.0)),
    })
}

fn f(v: &Value) -> f64 {
    v.as_f64().unwrap_or(f64::NAN)
}

fn mb(v: &Value) -> String {
    v.as_u64().map_or_else(|| "not built".to_owned(), |b| format!("{:.2} MB", b as f64 / 1e6))
}

fn verdict(met: bool) -> &'static str {
    if met {
        "met"
    } else {
        "NOT MET"
    }
}

/// The Markdown table printed by `make bench` and kept in bench.md.
pub fn table(r: &Value) -> String {
    let (fc, bc) = (&r["function"]["cold"], &r["baseline"]["cold"]);
    let (fw, bw) = (&r["function"]["warm"], &r["baseline"]["warm"]);
    let c = &r["concurrency"];
    let cpu_ratio = f(&fc["init_cpu_ms"]) / f(&bc["init_cpu_ms"]);
    let wall_ratio = f(&fc["init_wall_ms"]) / f(&bc["init_wall_ms"]);
    let overhead_p50 = f(&fw["net_of_standin_ms"]["p50"]) - f(&bw["latency_ms"]["p50"]);
    let net_p99 = f(&fw["net_of_standin_ms"]["p99"]);
    let rss = fw["peak_rss_bytes"].as_u64().unwrap_or(u64::MAX);
    let arm = &r["function"]["arm64_bootstrap_bytes"];
    let zip = &r["function"]["arm64_zip_bytes"];
    let rows = [
        (
            "Init CPU time",
            format!("{:.2} ms", f(&fc["init_cpu_ms"])),
            format!("{:.2} ms", f(&bc["init_cpu_ms"])),
            format!("{cpu_ratio:.2}x"),
            "<= 3x",
            cpu_ratio <= 3.0,
        ),
        (
            "Init wall time (incl. secret fetch)",
            format!("{:.2} ms", f(&fc["init_wall_ms"])),
            format!("{:.2} ms", f(&bc["init_wall_ms"])),
            format!("{wall_ratio:.2}x"),
            "<= 5x",
            wall_ratio <= 5.0,
        ),
        (
            "first invocation / warm (median of cold starts)",
            format!("{:.2}x", f(&fc["first_to_warm_ratio"])),
            format!("{:.2}x", f(&bc["first_to_warm_ratio"])),
            String::new(),
            "<= 2x",
            f(&fc["first_to_warm_ratio"]) <= 2.0,
        ),
        (
            "warm latency p50 / p99",
            format!("{:.3} / {:.3} ms", f(&fw["latency_ms"]["p50"]), f(&fw["latency_ms"]["p99"])),
            format!("{:.3} / {:.3} ms", f(&bw["latency_ms"]["p50"]), f(&bw["latency_ms"]["p99"])),
            String::new(),
            "",
            true,
        ),
        (
            "own overhead p50 (net of stand-in, minus baseline)",
            format!("{overhead_p50:.3} ms"),
            String::new(),
            String::new(),
            "<= 0.2 ms",
            overhead_p50 <= 0.2,
        ),
        (
            "latency net of stand-in p99",
            format!("{net_p99:.3} ms"),
            String::new(),
            String::new(),
            "<= 1 ms",
            net_p99 <= 1.0,
        ),
        (
            "Secrets Manager calls in 2,000 warm invocations",
            fw["secret_fetches_during_warm"].to_string(),
            String::new(),
            String::new(),
            "0",
            fw["secret_fetches_during_warm"] == 0,
        ),
        (
            "upstream connections opened (Init and 2,000 warm invocations)",
            fw["upstream_connections"].to_string(),
            String::new(),
            String::new(),
            "1",
            fw["upstream_connections"] == 1,
        ),
        (
            "request after the stand-in dropped idle connections",
            fw["after_stale_connection_status"].to_string(),
            String::new(),
            String::new(),
            "201",
            fw["after_stale_connection_status"] == 201,
        ),
        (
            "peak RSS after 2,000 invocations",
            mb(&fw["peak_rss_bytes"]),
            mb(&bw["peak_rss_bytes"]),
            String::new(),
            "<= 12 MB",
            rss <= 12_000_000,
        ),
        (
            "bootstrap, arm64",
            mb(arm),
            String::new(),
            String::new(),
            "<= 8 MB",
            arm.as_u64().is_some_and(|b| b <= 8_000_000),
        ),
        (
            "deployment zip, arm64",
            mb(zip),
            String::new(),
            String::new(),
            "<= 4 MB",
            zip.as_u64().is_some_and(|b| b <= 4_000_000),
        ),
        (
            "throughput, 32 concurrent vs sequential (20 ms Parsec)",
            format!("{:.0}/s vs {:.0}/s", f(&c["concurrent_per_s"]), f(&c["sequential_per_s"])),
            String::new(),
            format!("{:.1}x", f(&c["ratio"])),
            ">= 25x",
            f(&c["ratio"]) >= 25.0 && c["all_201"] == true,
        ),
        (
            "… with one key cache: Secrets Manager calls",
            c["secret_fetches"].to_string(),
            String::new(),
            String::new(),
            "1 (Init)",
            c["secret_fetches"] == 1,
        ),
    ];
    let (b, q, s, sb) = (&r["brownout"], &r["quota"], &r["soak"]["function"], &r["soak"]["baseline"]);
    let rss = |i: usize| s["rss_bytes"][i].as_u64().unwrap_or(0);
    let fds = |i: usize| s["open_fds"][i].as_u64().unwrap_or(u64::MAX);
    let baseline_rss = |i: usize| sb["rss_bytes"][i].as_u64().unwrap_or(0);
    // The broker's own growth: its RSS growth beyond the empty function's (see soak()).
    let own_growth = (rss(1) as i64 - rss(0) as i64) - (baseline_rss(1) as i64 - baseline_rss(0) as i64);
    let quota_cost =
        f(&q["latency_ms"]["p50"]) - f(&fw["latency_ms"]["p50"]) - f(&q["moto_update_item_ms"]["p50"]);
    let d = &r["devices"];
    let (reuse, mint) = (&d["reuse"], &d["mint"]);
    let reuse_cost = f(&reuse["latency_ms"]["p50"]) - f(&d["dynalite_get_item_ms"]["p50"]);
    let (vc, vw) = (&r["verified"]["cold"], &r["verified"]["warm"]);
    let verified_init = f(&vc["init_cpu_ms"]) / f(&fc["init_cpu_ms"]);
    let verified_cost = f(&vw["net_of_standin_ms"]["p50"]) - f(&fw["net_of_standin_ms"]["p50"]);
    let rows = rows.into_iter().chain([
        (
            "Init CPU with token re-verification (JWKS served locally) / without",
            format!("{:.2} ms", f(&vc["init_cpu_ms"])),
            format!("{:.2} ms without", f(&fc["init_cpu_ms"])),
            format!("{verified_init:.2}x"),
            "<= 1.2x",
            verified_init <= 1.2,
        ),
        (
            "… Init wall time / first invocation over warm, re-verifying",
            format!("{:.2} ms / {:.2}x", f(&vc["init_wall_ms"]), f(&vc["first_to_warm_ratio"])),
            String::new(),
            String::new(),
            "",
            true,
        ),
        (
            "… warm cost of re-verifying a token p50 (net of stand-in, minus unverified)",
            format!("{verified_cost:.3} ms"),
            String::new(),
            String::new(),
            "<= 0.05 ms",
            verified_cost <= 0.05 && vw["all_201"] == true,
        ),
        (
            "… JWKS fetches in Init and 2,000 warm invocations",
            vw["jwks_fetches"].to_string(),
            String::new(),
            String::new(),
            "1 (Init)",
            vw["jwks_fetches"] == 1,
        ),
        (
            "Secrets Manager failing after the TTL: sessions, p99 (16 in flight, 3 s timeout)",
            format!("{}/{}, {:.1} ms", b["created"], b["requests"], f(&b["latency_ms"]["p99"])),
            String::new(),
            String::new(),
            "all, < 500 ms",
            b["created"] == b["requests"] && f(&b["latency_ms"]["p99"]) < 500.0,
        ),
        (
            "soak, 20,000 invocations, zero TTL: RSS and descriptors at 2,000 → 20,000",
            format!("{} → {}, {} → {} fds", mb(&s["rss_bytes"][0]), mb(&s["rss_bytes"][1]), fds(0), fds(1)),
            format!("{} → {}", mb(&sb["rss_bytes"][0]), mb(&sb["rss_bytes"][1])),
            String::new(),
            "report",
            true,
        ),
        (
            "… the broker's own RSS growth (its growth minus the empty function's), descriptors",
            format!("{:+.2} MB, {} → {} fds", own_growth as f64 / 1e6, fds(0), fds(1)),
            String::new(),
            String::new(),
            "<= 0.5 MB, fds equal",
            s["created"] == s["invocations"] && own_growth <= 500_000 && fds(1) <= fds(0),
        ),
        (
            "warm latency p50 / p99 with SESSION_QUOTA (moto's DynamoDB)",
            format!("{:.3} / {:.3} ms", f(&q["latency_ms"]["p50"]), f(&q["latency_ms"]["p99"])),
            String::new(),
            String::new(),
            "",
            q["all_201"] == true,
        ),
        (
            "… moto's own UpdateItem answer p50 (timed directly)",
            format!("{:.3} ms", f(&q["moto_update_item_ms"]["p50"])),
            String::new(),
            String::new(),
            "",
            true,
        ),
        (
            "… the quota's cost on the warm path p50, net of moto's answer",
            format!("{quota_cost:.3} ms"),
            String::new(),
            String::new(),
            "report",
            q["all_201"] == true,
        ),
        (
            "device session reuse hit p50 / p99 (dynalite; 200, the stored session)",
            format!("{:.3} / {:.3} ms", f(&reuse["latency_ms"]["p50"]), f(&reuse["latency_ms"]["p99"])),
            String::new(),
            String::new(),
            "",
            reuse["all_200"] == true,
        ),
        (
            "… Parsec calls during the reuse hits",
            format!("{}", reuse["parsec_calls"]),
            String::new(),
            String::new(),
            "0",
            reuse["parsec_calls"] == 0 && reuse["all_200"] == true,
        ),
        (
            "… dynalite's own consistent GetItem p50 (timed directly); the hit net of it",
            format!("{:.3} ms; {reuse_cost:.3} ms", f(&d["dynalite_get_item_ms"]["p50"])),
            String::new(),
            String::new(),
            "report",
            true,
        ),
        (
            "device session mint with the store on p50 / p99 (read, lease, Parsec, completing write)",
            format!("{:.3} / {:.3} ms", f(&mint["latency_ms"]["p50"]), f(&mint["latency_ms"]["p99"])),
            format!("{:.3} ms without a store", f(&fw["latency_ms"]["p50"])),
            String::new(),
            "one Parsec call each",
            mint["all_201"] == true && mint["parsec_calls"] == d["invocations"],
        ),
    ]);
    let rows = rows.chain(tls_rows(r)).chain(cpu_share_rows(r));
    let mut out = String::from("| figure | function | empty baseline | ratio | target | verdict |\n| --- | --- | --- | --- | --- | --- |\n");
    for (name, function, baseline, ratio, target, met) in rows {
        let v = if target.is_empty() { "" } else { verdict(met) };
        out.push_str(&format!("| {name} | {function} | {baseline} | {ratio} | {target} | {v} |\n"));
    }
    out
}

type Row = (&'static str, String, String, String, &'static str, bool);

/// The TLS rows: the broker (`bench-broker`) and the TLS baseline with both stand-ins over
/// TLS, one handshake on its own, and aws-lc without its jitter entropy source.
fn tls_rows(r: &Value) -> Vec<Row> {
    let t = &r["tls"];
    let (fc, bc, fw) = (&t["function"]["cold"], &t["baseline"]["cold"], &t["function"]["warm"]);
    let (plain_f, plain_b) = (&r["function"]["cold"], &r["baseline"]["cold"]);
    let cpu_ratio = f(&fc["init_cpu_ms"]) / f(&bc["init_cpu_ms"]);
    let wall_ratio = f(&fc["init_wall_ms"]) / f(&bc["init_wall_ms"]);
    let h = &t["handshake"];
    let mut rows: Vec<Row> = vec![
        (
            "TLS: Init CPU time, Secrets Manager and Parsec over TLS (baseline: one TLS request)",
            format!("{:.2} ms", f(&fc["init_cpu_ms"])),
            format!("{:.2} ms", f(&bc["init_cpu_ms"])),
            format!("{cpu_ratio:.2}x"),
            "<= 3x",
            cpu_ratio <= 3.0 && fc["first_all_201"] == true,
        ),
        (
            "… Init wall time over TLS",
            format!("{:.2} ms", f(&fc["init_wall_ms"])),
            format!("{:.2} ms", f(&bc["init_wall_ms"])),
            format!("{wall_ratio:.2}x"),
            "<= 5x",
            wall_ratio <= 5.0,
        ),
        (
            "… what TLS adds to Init CPU (over TLS minus plain HTTP)",
            format!("{:+.2} ms", f(&fc["init_cpu_ms"]) - f(&plain_f["init_cpu_ms"])),
            format!("{:+.2} ms", f(&bc["init_cpu_ms"]) - f(&plain_b["init_cpu_ms"])),
            String::new(),
            "report",
            true,
        ),
        (
            "… TLS handshakes during Init",
            fc["init_tls_handshakes"].to_string(),
            bc["init_tls_handshakes"].to_string(),
            String::new(),
            "2 / 1",
            fc["init_tls_handshakes"] == 2 && bc["init_tls_handshakes"] == 1,
        ),
        (
            "… first invocation / warm over TLS (median of cold starts)",
            format!("{:.2}x", f(&fc["first_to_warm_ratio"])),
            format!("{:.2}x", f(&bc["first_to_warm_ratio"])),
            String::new(),
            "<= 2x",
            f(&fc["first_to_warm_ratio"]) <= 2.0,
        ),
        (
            "… warm latency p50 / p99 over kept-alive TLS",
            format!("{:.3} / {:.3} ms", f(&fw["latency_ms"]["p50"]), f(&fw["latency_ms"]["p99"])),
            String::new(),
            String::new(),
            "report",
            fw["all_201"] == true,
        ),
        (
            "… connections and TLS handshakes in Init and 2,000 warm invocations",
            format!("{} and {}", fw["upstream_connections"], fw["tls_handshakes"]),
            String::new(),
            String::new(),
            "1 and 2 (Parsec; + Secrets Manager)",
            fw["upstream_connections"] == 1
                && fw["tls_handshakes"] == 2
                && fw["secret_fetches_during_warm"] == 0,
        ),
        (
            "… request after the TLS stand-in dropped idle connections",
            fw["after_stale_connection_status"].to_string(),
            String::new(),
            String::new(),
            "201",
            fw["after_stale_connection_status"] == 201,
        ),
        (
            "one full TLS handshake alone, client CPU p50 / wall p50 (warm process, no resumption)",
            format!("{:.3} / {:.3} ms", f(&h["client_cpu_ms"]["p50"]), f(&h["wall_ms"]["p50"])),
            String::new(),
            String::new(),
            "report",
            true,
        ),
        (
            "… of which verifying the certificate chain, CPU p50",
            format!("{:.3} ms", f(&h["chain_verification_cpu_ms"]["p50"])),
            String::new(),
            String::new(),
            "report",
            true,
        ),
    ];
    let j = &t["jitter"];
    if j.is_null() {
        rows.push((
            "aws-lc with its jitter entropy (its default): Init CPU over TLS",
            "not built (BENCH_JITTER_DIR)".into(),
            String::new(),
            String::new(),
            "",
            true,
        ));
    } else {
        let (jf, jb) = (&j["function"], &j["baseline"]);
        rows.push((
            "aws-lc with its jitter entropy (its default, before): Init CPU over TLS (what it adds)",
            format!(
                "{:.2} ms ({:+.2} ms)",
                f(&jf["init_cpu_ms"]),
                f(&jf["init_cpu_ms"]) - f(&fc["init_cpu_ms"])
            ),
            format!(
                "{:.2} ms ({:+.2} ms)",
                f(&jb["init_cpu_ms"]),
                f(&jb["init_cpu_ms"]) - f(&bc["init_cpu_ms"])
            ),
            format!("{:.2}x", f(&jf["init_cpu_ms"]) / f(&jb["init_cpu_ms"])),
            "report",
            jf["first_all_201"] == true,
        ));
    }
    rows
}

/// The 128 MB rows: wall-clock Init and first invocation with the function's process held
/// to a 128 MB function's share of one CPU (`cpu_share.rs`).
fn cpu_share_rows(r: &Value) -> Vec<Row> {
    let l = &r["cpu_share_128mb"];
    let cell = |v: &Value| {
        let (wall, p90) = (f(&v["init_wall_ms"]), f(&v["init_wall_p90_ms"]));
        // Only a cgroup reports how long its quota held the process back.
        let throttled =
            v["init_throttled_ms"].as_f64().map_or_else(|| "n/a".to_owned(), |t| format!("{t:.1}"));
        format!("{wall:.1} ms (p90 {p90:.1}; throttled {throttled}) / {:.1} ms", f(&v["first_ms"]))
    };
    let mut rows: Vec<Row> = vec![
        (
            "128 MB CPU share: Init wall p50 (p90; of which throttled p50) / first invocation p50, plain HTTP",
            cell(&l["function"]),
            cell(&l["baseline"]),
            format!("{:.2}x", f(&l["function"]["init_wall_ms"]) / f(&l["baseline"]["init_wall_ms"])),
            "report",
            l["function"]["first_all_201"] == true,
        ),
        (
            "… over TLS to both stand-ins (baseline: one TLS request)",
            cell(&l["tls_function"]),
            cell(&l["tls_baseline"]),
            format!("{:.2}x", f(&l["tls_function"]["init_wall_ms"]) / f(&l["tls_baseline"]["init_wall_ms"])),
            "report",
            l["tls_function"]["first_all_201"] == true,
        ),
        (
            "… over TLS: first invocation / warm at that share",
            format!("{:.2}x", f(&l["tls_function"]["first_to_warm_ratio"])),
            format!("{:.2}x", f(&l["tls_baseline"]["first_to_warm_ratio"])),
            String::new(),
            "report",
            true,
        ),
    ];
    if !l["tls_function_jitter"].is_null() {
        rows.push((
            "… over TLS, aws-lc with its jitter entropy (its default, before)",
            cell(&l["tls_function_jitter"]),
            cell(&l["tls_baseline_jitter"]),
            format!(
                "{:.2}x",
                f(&l["tls_function_jitter"]["init_wall_ms"]) / f(&l["tls_baseline_jitter"]["init_wall_ms"])
            ),
            "report",
            l["tls_function_jitter"]["first_all_201"] == true,
        ));
    }
    rows.push((
        "… the share, per 100 ms period, and how it was held",
        format!("{:.1} % of one CPU ({})", f(&l["cpu_percent"]), l["how"].as_str().unwrap_or("")),
        String::new(),
        String::new(),
        "",
        true,
    ));
    rows
}
