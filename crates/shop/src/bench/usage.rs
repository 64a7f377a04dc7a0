//! What the shop's process spent on a scenario, per loop: its CPU time
//! (user and system) and its threads' context switches, read from Linux's
//! `/proc` at the start and the end of the measured span.
//!
//! These move less than a rate with what else the machine is doing (the
//! switches hardly at all; the CPU time still does, through caches a busy
//! neighbour empties): they say what one loop costs the shop, where the
//! rate says how many loops a busy or a quiet machine happened to fit in.

use std::path::Path;

/// Clock ticks per second of the times in `/proc/<pid>/stat` (`USER_HZ`,
/// 100 on every architecture Shop's images are built for).
const TICKS_PER_SECOND: f64 = 100.0;

/// A process's counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Usage {
    /// CPU time in user mode, in clock ticks (exited threads included).
    pub user_ticks: u64,
    /// CPU time in the kernel on its behalf, in clock ticks.
    pub system_ticks: u64,
    /// Voluntary and involuntary context switches of its live threads.
    pub switches: u64,
}

/// What a span cost, per loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PerLoop {
    /// CPU time, user and system, in microseconds.
    pub cpu_us: f64,
    /// The system's part of that CPU time, 0 to 1.
    pub system_share: f64,
    pub switches: f64,
}

impl Usage {
    /// The counters of process `pid` now; `None` where there is no
    /// `/proc` (not Linux) or the process is gone.
    pub fn of(pid: u32) -> Option<Usage> {
        let proc = Path::new("/proc").join(pid.to_string());
        let (user_ticks, system_ticks) = times(&std::fs::read_to_string(proc.join("stat")).ok()?)?;
        let mut switches = 0;
        for task in std::fs::read_dir(proc.join("task")).ok()?.flatten() {
            // A thread that ends meanwhile takes its switches along.
            if let Ok(status) = std::fs::read_to_string(task.path().join("status")) {
                switches += switches_of(&status);
            }
        }
        Some(Usage {
            user_ticks,
            system_ticks,
            switches,
        })
    }

    /// What was spent from `self` to `later` over `loops` loops; `None`
    /// without a loop.
    pub fn per_loop(&self, later: &Usage, loops: u64) -> Option<PerLoop> {
        if loops == 0 {
            return None;
        }
        let user = later.user_ticks.saturating_sub(self.user_ticks) as f64;
        let system = later.system_ticks.saturating_sub(self.system_ticks) as f64;
        let cpu = user + system;
        Some(PerLoop {
            cpu_us: cpu / TICKS_PER_SECOND * 1e6 / loops as f64,
            system_share: if cpu > 0.0 { system / cpu } else { 0.0 },
            switches: later.switches.saturating_sub(self.switches) as f64 / loops as f64,
        })
    }
}

/// `utime` and `stime` of a `/proc/<pid>/stat` line (fields 14 and 15,
/// counted after the command name, which may hold spaces and parentheses).
fn times(stat: &str) -> Option<(u64, u64)> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let user = fields.next()?.parse().ok()?;
    let system = fields.next()?.parse().ok()?;
    Some((user, system))
}

/// The voluntary and involuntary context switches of a thread's `status`.
fn switches_of(status: &str) -> u64 {
    status
        .lines()
        .filter_map(|line| {
            let (name, value) = line.split_once(':')?;
            matches!(
                name,
                "voluntary_ctxt_switches" | "nonvoluntary_ctxt_switches"
            )
            .then(|| value.trim().parse::<u64>().ok())?
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_read_after_a_command_name_with_spaces_and_parentheses() {
        let stat = "4242 (shop (up) x) S 1 4242 4242 0 -1 4194560 9 0 0 0 \
                    1234 567 0 0 20 0 9 0 100 1000 200 18446744073709551615";
        assert_eq!(times(stat), Some((1234, 567)));
        assert_eq!(times("4242 (shop) S 1"), None);
        assert_eq!(times("no parenthesis"), None);
    }

    #[test]
    fn switches_are_both_kinds_summed() {
        let status = "Name:\tshop\nvoluntary_ctxt_switches:\t120\n\
                      nonvoluntary_ctxt_switches:\t7\nThreads:\t9\n";
        assert_eq!(switches_of(status), 127);
        assert_eq!(switches_of("Name:\tshop\n"), 0);
    }

    #[test]
    fn a_span_is_divided_by_its_loops() {
        let before = Usage {
            user_ticks: 100,
            system_ticks: 50,
            switches: 1_000,
        };
        let after = Usage {
            user_ticks: 130,
            system_ticks: 120,
            switches: 61_000,
        };
        let spent = before.per_loop(&after, 1_000).unwrap();
        // 100 ticks of 10 ms over 1,000 loops: 1 ms each, 70 % system.
        assert!((spent.cpu_us - 1_000.0).abs() < 1e-9, "{spent:?}");
        assert!((spent.system_share - 0.7).abs() < 1e-9, "{spent:?}");
        assert!((spent.switches - 60.0).abs() < 1e-9, "{spent:?}");
        assert_eq!(before.per_loop(&after, 0), None);
    }

    #[test]
    fn this_process_is_measured() {
        let usage = Usage::of(std::process::id()).expect("Linux has /proc");
        assert!(usage.switches > 0, "{usage:?}");
        assert_eq!(Usage::of(u32::MAX), None);
    }
}
