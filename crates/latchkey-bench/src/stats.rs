//! Latency samples and what a phase measured.
//!
//! Latencies are kept as whole microseconds in a plain vector and sorted once at the end of a
//! phase: a 10-second phase holds a few tens of thousands of samples, so exact percentiles
//! cost nothing worth a histogram dependency.

use std::time::Duration;

/// Latencies of one phase, in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Samples {
    us: Vec<u32>,
    sorted: bool,
}

impl Samples {
    /// An empty set with room for `n` samples.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            us: Vec::with_capacity(n),
            sorted: true,
        }
    }

    /// Adds one latency.
    pub fn record(&mut self, d: Duration) {
        self.us
            .push(u32::try_from(d.as_micros()).unwrap_or(u32::MAX));
        self.sorted = false;
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Samples) {
        self.us.extend_from_slice(&other.us);
        self.sorted = false;
    }

    /// Sorts the samples, once, before percentiles are read.
    pub fn finish(&mut self) {
        if !self.sorted {
            self.us.sort_unstable();
            self.sorted = true;
        }
    }

    /// The `q`-quantile (0.0–1.0), nearest rank; zero when empty. Call [`Samples::finish`] first.
    #[allow(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        clippy::cast_precision_loss
    )] // a rank into a vector far shorter than 2^52
    pub fn quantile(&self, q: f64) -> Duration {
        let n = self.us.len();
        if n == 0 {
            return Duration::ZERO;
        }
        let rank = ((q.clamp(0.0, 1.0) * n as f64).ceil() as usize).clamp(1, n);
        let us = self.us.get(rank - 1).copied().unwrap_or(0);
        Duration::from_micros(u64::from(us))
    }

    /// The largest sample.
    pub fn max(&self) -> Duration {
        Duration::from_micros(u64::from(self.us.iter().copied().max().unwrap_or(0)))
    }
}

/// Counts and latencies of one phase as the load tasks saw them.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    /// Requests that got an HTTP answer or a transport error.
    pub requests: u64,
    /// Answers with the outcome the phase expects (`SUCCESS`, `FAIL`, or 200 for health).
    pub expected: u64,
    /// Well-formed answers with another outcome (e.g. `FAIL` or `CHALLENGE` where `SUCCESS`
    /// was expected): a bug or a replay, never load.
    pub unexpected: u64,
    /// Transport errors, non-200 statuses and unreadable bodies.
    pub errors: u64,
    /// The first error seen, for the report.
    pub first_error: Option<String>,
    /// The first unexpected answer seen, for the report.
    pub first_unexpected: Option<String>,
    /// Latency of every answered request (from its scheduled time in open-loop phases).
    pub latency: Samples,
    /// Service time (send to answer) of every answered request.
    pub service: Samples,
}

impl Tally {
    /// An empty tally with room for `n` samples.
    pub fn with_capacity(n: usize) -> Self {
        Self {
            latency: Samples::with_capacity(n),
            service: Samples::with_capacity(n),
            ..Self::default()
        }
    }

    /// Records an error.
    pub fn error(&mut self, what: String) {
        self.requests += 1;
        self.errors += 1;
        if self.first_error.is_none() {
            self.first_error = Some(what);
        }
    }

    /// Records an answer that is not the expected one.
    pub fn unexpected(&mut self, what: String) {
        self.unexpected += 1;
        if self.first_unexpected.is_none() {
            self.first_unexpected = Some(what);
        }
    }

    /// Adds another task's tally.
    pub fn merge(&mut self, o: &Tally) {
        self.requests += o.requests;
        self.expected += o.expected;
        self.unexpected += o.unexpected;
        self.errors += o.errors;
        if self.first_error.is_none() {
            self.first_error.clone_from(&o.first_error);
        }
        if self.first_unexpected.is_none() {
            self.first_unexpected.clone_from(&o.first_unexpected);
        }
        self.latency.merge(&o.latency);
        self.service.merge(&o.service);
    }
}

/// What the server processes did during a phase, from `/proc`.
#[derive(Debug, Default, Clone, Copy)]
pub struct ServerUse {
    /// CPU seconds (user + system), summed over the nodes.
    pub cpu_secs: f64,
    /// Largest peak resident set (`VmHWM`) of any node so far, KiB.
    pub peak_rss_kib: u64,
    /// CPU seconds the harness itself used (it shares the cores with the server).
    pub bench_cpu_secs: f64,
    /// CPU seconds the whole machine spent busy (every core; includes PostgreSQL).
    pub machine_busy_secs: f64,
    /// CPU seconds the whole machine had (every core, busy or idle).
    pub machine_total_secs: f64,
}

impl ServerUse {
    /// Share of the machine's CPU time that was busy, in per cent.
    pub fn machine_busy_pct(&self) -> f64 {
        if self.machine_total_secs <= 0.0 {
            0.0
        } else {
            100.0 * self.machine_busy_secs / self.machine_total_secs
        }
    }
}

/// One phase's result, ready to print.
#[derive(Debug, Clone)]
pub struct PhaseResult {
    /// Short name for the table.
    pub name: String,
    /// Wall time from the first request to the last answer.
    pub elapsed: Duration,
    /// Counts and latencies.
    pub tally: Tally,
    /// Requested rate of an open-loop phase.
    pub target_rate: Option<f64>,
    /// Server resource use.
    pub server: ServerUse,
}

impl PhaseResult {
    /// Answered requests per second, whatever the answer.
    pub fn rate(&self) -> f64 {
        per_sec(self.tally.requests, self.elapsed)
    }

    /// Expected answers per second.
    pub fn ok_rate(&self) -> f64 {
        per_sec(self.tally.expected, self.elapsed)
    }

    /// Server CPU time per request, in milliseconds.
    #[allow(clippy::cast_precision_loss)] // request counts far below 2^52
    pub fn cpu_ms_per_request(&self) -> f64 {
        if self.tally.requests == 0 {
            return 0.0;
        }
        self.server.cpu_secs * 1000.0 / self.tally.requests as f64
    }
}

/// `n` per second over `d`.
#[allow(clippy::cast_precision_loss)] // request counts far below 2^52
pub fn per_sec(n: u64, d: Duration) -> f64 {
    let s = d.as_secs_f64();
    if s <= 0.0 { 0.0 } else { n as f64 / s }
}

/// A duration in milliseconds with two decimals.
pub fn ms(d: Duration) -> String {
    format!("{:.2}", d.as_secs_f64() * 1000.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_by_nearest_rank() {
        let mut s = Samples::with_capacity(100);
        for i in (1..=100).rev() {
            s.record(Duration::from_micros(i));
        }
        s.finish();
        assert_eq!(s.quantile(0.5), Duration::from_micros(50));
        assert_eq!(s.quantile(0.99), Duration::from_micros(99));
        assert_eq!(s.quantile(1.0), Duration::from_micros(100));
        assert_eq!(s.quantile(0.0), Duration::from_micros(1));
        assert_eq!(s.max(), Duration::from_micros(100));
        assert_eq!(Samples::default().quantile(0.99), Duration::ZERO);
    }

    #[test]
    fn rates() {
        assert!((per_sec(500, Duration::from_millis(250)) - 2000.0).abs() < 1e-9);
        assert!(per_sec(5, Duration::ZERO).abs() < f64::EPSILON);
    }
}
