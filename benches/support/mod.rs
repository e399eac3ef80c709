//! Reads criterion's estimates back and prints each benchmark as a ratio of a
//! baseline measured in the same run, against its target.

#![allow(dead_code)] // Each benchmark uses its own part of this module.

use std::path::PathBuf;

/// Median time per iteration, in nanoseconds, of `group/name` from the run just made
/// (the median, because this machine is shared and noisy).
pub fn median_ns(group: &str, name: &str) -> Option<f64> {
    let dir = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = dir
        .join("criterion")
        .join(group)
        .join(name)
        .join("new")
        .join("estimates.json");
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(path).ok()?).ok()?;
    json["median"]["point_estimate"].as_f64()
}

/// One line of the ratio table: `name` divided by `baseline`, and the most it may be.
pub struct Ratio<'a> {
    pub name: &'a str,
    pub baseline: &'a str,
    pub at_most: f64,
}

/// Prints `name / baseline` for each ratio with a pass/miss mark.
pub fn print_ratios(group: &str, ratios: &[Ratio<'_>]) {
    println!("\n{group}: ratios of median time per iteration, measured in this run");
    for Ratio {
        name,
        baseline,
        at_most,
    } in ratios
    {
        match (median_ns(group, name), median_ns(group, baseline)) {
            (Some(value), Some(base)) => {
                let ratio = value / base;
                let mark = if ratio <= *at_most { "ok" } else { "MISSED" };
                println!(
                    "  {name:<28} {value:>9.1} ns = {ratio:>5.2}x {baseline:<18} (target <= {at_most:.2}x) {mark}"
                );
            }
            _ => println!("  {name}: no estimate (was it filtered out?)"),
        }
    }
}

/// The median, over `rounds`, of how long `batch` calls of `candidate` take
/// against `batch` calls of `baseline`, run back to back in alternating order, so
/// that both see the same moment of a shared machine's load. Steadier than the
/// ratio of two medians measured seconds apart.
pub fn paired_ratio(
    baseline: impl FnMut(),
    candidate: impl FnMut(),
    rounds: usize,
    batch: usize,
) -> f64 {
    median(paired_batches(baseline, candidate, rounds, batch).map(|(base, value)| value / base))
}

/// The median, over `rounds` paired as in [`paired_ratio`], of how many
/// nanoseconds one call of `candidate` takes beyond one call of `baseline`.
pub fn paired_difference_ns(
    baseline: impl FnMut(),
    candidate: impl FnMut(),
    rounds: usize,
    batch: usize,
) -> f64 {
    let per_call = 1e9 / batch as f64;
    median(
        paired_batches(baseline, candidate, rounds, batch)
            .map(|(base, value)| (value - base) * per_call),
    )
}

/// Seconds taken by `batch` calls of `baseline` and of `candidate`, once per
/// round, the two run back to back and in alternating order.
fn paired_batches(
    mut baseline: impl FnMut(),
    mut candidate: impl FnMut(),
    rounds: usize,
    batch: usize,
) -> impl Iterator<Item = (f64, f64)> {
    let time = move |f: &mut dyn FnMut()| {
        let start = std::time::Instant::now();
        for _ in 0..batch {
            f();
        }
        start.elapsed().as_secs_f64()
    };
    let timings: Vec<(f64, f64)> = (0..rounds)
        .map(|round| {
            if round % 2 == 0 {
                let base = time(&mut baseline);
                (base, time(&mut candidate))
            } else {
                let value = time(&mut candidate);
                (time(&mut baseline), value)
            }
        })
        .collect();
    timings.into_iter()
}

fn median(values: impl Iterator<Item = f64>) -> f64 {
    let mut values: Vec<f64> = values.collect();
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Prints a paired ratio against its target.
pub fn print_paired(name: &str, baseline: &str, ratio: f64, at_most: f64) {
    let mark = if ratio <= at_most { "ok" } else { "MISSED" };
    println!("  {name:<28} {ratio:>5.2}x {baseline:<18} paired (target <= {at_most:.2}x) {mark}");
}
