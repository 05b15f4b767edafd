//! Printing: one line per phase as it ends, then the summary table and the PRODUCT §9 ratios.

use crate::load::Replay;
use crate::stats::{PhaseResult, ms};

/// p99 the PRODUCT targets at half the measured authentication throughput, in milliseconds.
pub const P99_TARGET_MS: f64 = 5.0;
/// Authentication throughput as a share of the empty endpoint's that the PRODUCT targets.
pub const RATIO_TARGET: f64 = 0.5;

#[allow(clippy::cast_precision_loss)] // KiB counts far below 2^52
fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn verdict(ok: bool) -> &'static str {
    if ok { "met" } else { "MISSED" }
}

/// The line printed when a phase ends.
pub fn phase_line(r: &PhaseResult) {
    let t = &r.tally;
    println!(
        "[{}] {} requests in {:.2} s: {:.1} req/s ({:.1} as expected/s); errors {}, unexpected {}",
        r.name,
        t.requests,
        r.elapsed.as_secs_f64(),
        r.rate(),
        r.ok_rate(),
        t.errors,
        t.unexpected
    );
    if let Some(rate) = r.target_rate {
        println!(
            "    open loop at {rate:.1} req/s; latency counted from each request's scheduled time"
        );
    }
    println!(
        "    latency ms: p50 {}  p99 {}  max {}   (service time p50 {}  p99 {})",
        ms(t.latency.quantile(0.50)),
        ms(t.latency.quantile(0.99)),
        ms(t.latency.max()),
        ms(t.service.quantile(0.50)),
        ms(t.service.quantile(0.99)),
    );
    println!(
        "    server: {:.2} CPU s ({:.3} ms/request), peak RSS {:.1} MiB; harness: {:.2} CPU s; \
         machine: {:.0}% busy",
        r.server.cpu_secs,
        r.cpu_ms_per_request(),
        mib(r.server.peak_rss_kib),
        r.server.bench_cpu_secs,
        r.server.machine_busy_pct()
    );
    if let Some(e) = &t.first_error {
        println!("    first error: {e}");
    }
    if let Some(u) = &t.first_unexpected {
        println!("    first unexpected answer: {u}");
    }
}

/// What the summary needs besides the phases.
pub struct Context<'a> {
    /// `sqlite` or `postgres`.
    pub backend: &'a str,
    /// Number of nodes.
    pub nodes: usize,
    /// Name of the empty-endpoint phase.
    pub empty: &'a str,
    /// Name of the (all nodes) success phase.
    pub success: &'a str,
    /// Name of the one-node success phase, with several nodes.
    pub success_one: Option<&'a str>,
    /// Names of the half-load phase and of its control (the empty endpoint at the same
    /// rate), when run.
    pub half: Option<(&'a str, &'a str)>,
    /// The replay check, when run.
    pub replay: Option<&'a Replay>,
    /// Names of the RADIUS Status-Server and Access-Request phases, when run.
    pub radius: Option<(&'a str, &'a str)>,
    /// p50 and p99 of the disk's 4 KiB `fdatasync`, when measured.
    pub disk_fsync: Option<(std::time::Duration, std::time::Duration)>,
}

/// The summary table and the target lines.
pub fn summary(results: &[PhaseResult], c: &Context<'_>) {
    println!();
    println!("Summary ({} node(s), {}):", c.nodes, c.backend);
    println!(
        "{:<22} {:>9} {:>7} {:>6} {:>9} {:>8} {:>8} {:>8} {:>10} {:>8} {:>7}",
        "phase",
        "requests",
        "errors",
        "unexp",
        "req/s",
        "p50 ms",
        "p99 ms",
        "max ms",
        "srv ms/req",
        "RSS MiB",
        "busy %"
    );
    for r in results {
        let t = &r.tally;
        println!(
            "{:<22} {:>9} {:>7} {:>6} {:>9.1} {:>8} {:>8} {:>8} {:>10.3} {:>8.1} {:>7.0}",
            r.name,
            t.requests,
            t.errors,
            t.unexpected,
            r.rate(),
            ms(t.latency.quantile(0.50)),
            ms(t.latency.quantile(0.99)),
            ms(t.latency.max()),
            r.cpu_ms_per_request(),
            mib(r.server.peak_rss_kib),
            r.server.machine_busy_pct()
        );
    }
    println!();
    targets(results, c);
}

/// The ratios and figures the PRODUCT states targets for.
fn targets(results: &[PhaseResult], c: &Context<'_>) {
    let find = |name: &str| results.iter().find(|r| r.name == name);
    let embedded = c.backend == "sqlite";
    if let (Some(e), Some(s)) = (find(c.empty), find(c.success)) {
        let ratio = if e.ok_rate() > 0.0 {
            s.ok_rate() / e.ok_rate()
        } else {
            0.0
        };
        let judged = if embedded {
            format!(
                "target >= {RATIO_TARGET:.2}: {}",
                verdict(ratio >= RATIO_TARGET)
            )
        } else {
            "the target is stated for the embedded database; shown for information".to_owned()
        };
        println!(
            "success/empty ratio: {ratio:.3} ({:.1} SUCCESS/s vs {:.1} empty/s; {judged})",
            s.ok_rate(),
            e.ok_rate()
        );
    }
    half_load(results, c);
    if let (Some(one), Some(all)) = (c.success_one.and_then(find), find(c.success)) {
        let ratio = if one.ok_rate() > 0.0 {
            all.ok_rate() / one.ok_rate()
        } else {
            0.0
        };
        println!(
            "scale-out: {} nodes {:.1} SUCCESS/s vs node 1 alone {:.1} SUCCESS/s = {ratio:.2}x \
             (target > 1: {})",
            c.nodes,
            all.ok_rate(),
            one.ok_rate(),
            verdict(ratio > 1.0)
        );
    }
    if let Some((empty, success)) = c.radius
        && let (Some(e), Some(s), Some(rest)) = (find(empty), find(success), find(c.success))
    {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { 0.0 };
        println!(
            "RADIUS: {:.1} Access-Accept/s = {:.2}x the REST {:.1} SUCCESS/s, {:.3} of RADIUS \
             Status-Server {:.1}/s; p50 {} ms, p99 {} ms (REST p50 {} ms, p99 {} ms)",
            s.ok_rate(),
            ratio(s.ok_rate(), rest.ok_rate()),
            rest.ok_rate(),
            ratio(s.ok_rate(), e.ok_rate()),
            e.ok_rate(),
            ms(s.tally.latency.quantile(0.50)),
            ms(s.tally.latency.quantile(0.99)),
            ms(rest.tally.latency.quantile(0.50)),
            ms(rest.tally.latency.quantile(0.99)),
        );
    }
    if let Some(r) = c.replay {
        println!(
            "double-accepted codes: {} ({} fresh codes, each sent {} times at once across {} \
             node(s); never accepted: {}; errors: {})",
            r.double, r.codes, r.fanout, c.nodes, r.never, r.errors
        );
        if let Some(e) = &r.first_error {
            println!("    first replay-check error: {e}");
        }
    }
    if let Some(s) = find(c.success) {
        println!(
            "CPU during '{}': server {:.2} s, harness {:.2} s, whole machine {:.2} s busy of \
             {:.2} s ({:.0}%); load generator and server share the machine",
            s.name,
            s.server.cpu_secs,
            s.server.bench_cpu_secs,
            s.server.machine_busy_secs,
            s.server.machine_total_secs,
            s.server.machine_busy_pct()
        );
    }
    let peak = results
        .iter()
        .map(|r| r.server.peak_rss_kib)
        .max()
        .unwrap_or(0);
    println!("server peak RSS (largest node): {:.1} MiB", mib(peak));
}

/// The p99 at half load, and its control: the empty endpoint paced at the same rate.
fn half_load(results: &[PhaseResult], c: &Context<'_>) {
    if let Some((half, control)) = c.half
        && let Some(h) = results.iter().find(|r| r.name == half)
    {
        let p99 = h.tally.latency.quantile(0.99).as_secs_f64() * 1000.0;
        let disk = c.disk_fsync.map_or_else(String::new, |(_, p99)| {
            format!(
                "; this disk's fdatasync p99 is {:.2} ms",
                p99.as_secs_f64() * 1000.0
            )
        });
        println!(
            "p99 at half load: {p99:.2} ms at {:.1} req/s (target < {P99_TARGET_MS} ms: {}{disk})",
            h.target_rate.unwrap_or(0.0),
            verdict(p99 < P99_TARGET_MS)
        );
        if let Some(e) = results.iter().find(|r| r.name == control) {
            println!(
                "    control: the empty endpoint paced at the same rate has p99 {} ms (p50 {} ms): \
                 the part of the tail the harness and the shared machine add",
                ms(e.tally.latency.quantile(0.99)),
                ms(e.tally.latency.quantile(0.50)),
            );
        }
    }
}
