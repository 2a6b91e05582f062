//! The load plan: how many VUs or iterations, for how long, in which stages.
//!
//! Part of `lower` (front ends → Draft → **lower** → Ir → compile → Program): the
//! `[load]` and `[[stages]]` values become one [`LoadPlan`], closed (a fixed or staged
//! number of VUs, each looping) or open (an arrival rate of iterations, VUs started as
//! needed). Settings of the other model are errors, not silently ignored. Durations
//! are parsed here for every setting that takes one.

use std::time::Duration;

use kaioken_grammar::{GrammarErrorKind, max_duration, parse_duration};

use super::{
    DEFAULT_DURATION, DEFAULT_MAX_VUS, DEFAULT_QUEUE_SIZE, DEFAULT_QUEUE_TIMEOUT, DEFAULT_VUS,
    Lowerer, MAX_VUS,
};
use crate::draft::Draft;
use crate::located::Located;
use crate::{Arrival, LoadPlan, Stage};

impl Lowerer<'_> {
    /// The load model: closed or open, stages, and their limits.
    pub(super) fn load(&mut self, d: &Draft) -> LoadPlan {
        let max_requests = match &d.max_requests {
            Some(m) if m.value < 1 => {
                self.out_of_range(m, "max_requests", "at least 1");
                None
            }
            m => m.as_ref().map(|m| m.value as u64),
        };
        let rate = match &d.rate {
            Some(r) if !(r.value.is_finite() && r.value > 0.0) => {
                self.out_of_range(r, "rate", "a positive number of requests per second");
                None
            }
            r => r.as_ref().map(|r| r.value),
        };
        let open = d.arrival_rate.is_some() || d.stages.iter().any(|s| s.target_rate.is_some());
        if open {
            if let Some(v) = &d.vus {
                self.conflict(&v.loc, "`vus` is for the closed model; with `arrival_rate`, VUs are started as needed up to `max_vus`");
            }
            if let Some(r) = &d.rate {
                self.conflict(
                    &r.loc,
                    "`rate` caps the closed model; with `arrival_rate` the schedule sets the rate",
                );
            }
            if let Some(r) = &d.ramp_up {
                self.conflict(&r.loc, "`ramp_up` is for the closed model; ramp an arrival rate with `[[stages]]` and `target_rate`");
            }
        } else {
            let open_only = [
                d.max_vus.as_ref().map(|v| (&v.loc, "max_vus")),
                d.pre_allocated_vus
                    .as_ref()
                    .map(|v| (&v.loc, "pre_allocated_vus")),
                d.queue_size.as_ref().map(|v| (&v.loc, "queue_size")),
                d.queue_timeout.as_ref().map(|v| (&v.loc, "queue_timeout")),
                d.latency_correction
                    .as_ref()
                    .map(|v| (&v.loc, "latency_correction")),
            ];
            for (loc, key) in open_only.into_iter().flatten() {
                self.conflict(loc, &format!("`{key}` applies to the arrival-rate model; set `arrival_rate` too, or use `vus` for the closed model"));
            }
        }

        let mut stages = Vec::new();
        for stage in &d.stages {
            let duration = match &stage.duration {
                Some(_) => self.duration(&stage.duration, "duration", Duration::from_secs(1), true),
                None => {
                    self.conflict(&stage.loc, "a stage needs a `duration`");
                    Duration::from_secs(1)
                }
            };
            let target = match (&stage.target, &stage.target_rate) {
                (Some(t), None) if open => {
                    self.conflict(&t.loc, "stages mix `target` (VUs) with `target_rate` (iterations per second); use one kind");
                    t.value
                }
                (Some(t), None) => {
                    if !(t.value.is_finite() && (0.0..=MAX_VUS as f64).contains(&t.value)) {
                        self.out_of_range(t, "target", "from 0 to 1000000 VUs");
                    }
                    t.value
                }
                (None, Some(t)) => {
                    if !(t.value.is_finite() && t.value >= 0.0) {
                        self.out_of_range(t, "target_rate", "zero or more iterations per second");
                    }
                    t.value
                }
                (Some(t), Some(_)) => {
                    self.conflict(&t.loc, "a stage has either `target` (VUs) or `target_rate` (iterations per second), not both");
                    t.value
                }
                (None, None) => {
                    self.conflict(
                        &stage.loc,
                        "a stage needs `target` (VUs) or `target_rate` (iterations per second)",
                    );
                    0.0
                }
            };
            stages.push(Stage {
                duration,
                target: target.max(0.0),
            });
        }
        if let (Some(dur), false) = (&d.duration, stages.is_empty()) {
            self.conflict(
                &dur.loc,
                "`duration` cannot be set with `[[stages]]`: the run lasts as long as its stages",
            );
        }
        if let (Some(ramp), false, false) = (&d.ramp_up, stages.is_empty(), open) {
            self.conflict(
                &ramp.loc,
                "`ramp_up` cannot be set with `[[stages]]`: the stages ramp the VUs (the first from `vus`, 0 by default, to its `target` over its `duration`)",
            );
        }
        let duration = if !stages.is_empty() {
            // Each stage is at most `MAX_DURATION`: their sum cannot come near
            // overflowing, but it is added up without a panic path all the same.
            Some(
                stages
                    .iter()
                    .fold(Duration::ZERO, |total, s| total.saturating_add(s.duration)),
            )
        } else {
            match (&d.duration, max_requests) {
                (None, Some(_)) => None,
                _ => Some(self.duration(&d.duration, "duration", DEFAULT_DURATION, true)),
            }
        };
        let ramp_up = self.duration(&d.ramp_up, "ramp_up", Duration::ZERO, false);
        let warmup = self.duration(&d.warmup, "warmup", Duration::ZERO, false);
        if let (Some(ramp), Some(total)) = (&d.ramp_up, duration)
            && ramp_up > total.saturating_add(warmup)
        {
            self.conflict(&ramp.loc, "`ramp_up` is longer than the whole run");
        }
        let peak =
            |start: f64, stages: &[Stage]| stages.iter().map(|s| s.target).fold(start, f64::max);

        if !open {
            let vus = match &d.vus {
                Some(v) if !(1..=MAX_VUS).contains(&v.value) => {
                    self.out_of_range(v, "vus", "from 1 to 1000000");
                    1
                }
                Some(v) => v.value,
                None if stages.is_empty() => DEFAULT_VUS,
                None => 0,
            };
            let start = vus as f64;
            if let (Some(w), true) = (&d.warmup, vus == 0 && !warmup.is_zero()) {
                self.conflict(&w.loc, "the warm-up runs at the starting level, and these stages start at 0 VUs: it would send nothing; set `vus` (where the first stage starts), or leave `warmup` out");
            }
            let most = peak(start, &stages).ceil() as u32;
            if most == 0
                && let Some(loc) = &d.stages_loc
            {
                self.conflict(
                    loc,
                    "these stages never start a VU; give a stage a `target` above 0",
                );
            }
            return LoadPlan {
                vus: most.max(1),
                duration,
                max_requests,
                rate,
                ramp_up,
                warmup,
                start,
                stages,
                arrival: None,
            };
        }

        let rate = match &d.arrival_rate {
            Some(r) if !(r.value.is_finite() && r.value > 0.0) => {
                self.out_of_range(
                    r,
                    "arrival_rate",
                    "a positive number of iterations per second",
                );
                1.0
            }
            Some(r) => r.value,
            None => 0.0,
        };
        if let (Some(w), true) = (&d.warmup, rate == 0.0 && !warmup.is_zero()) {
            self.conflict(&w.loc, "the warm-up runs at the starting level, and these stages start at 0 iterations a second: it would send nothing; set `arrival_rate` (where the first stage starts), or leave `warmup` out");
        }
        if peak(rate, &stages) <= 0.0
            && let Some(loc) = &d.stages_loc
        {
            self.conflict(
                loc,
                "these stages never start an iteration; give a stage a `target_rate` above 0",
            );
        }
        let max_vus = match &d.max_vus {
            Some(v) if !(1..=MAX_VUS).contains(&v.value) => {
                self.out_of_range(v, "max_vus", "from 1 to 1000000");
                1
            }
            Some(v) => v.value as u32,
            None => DEFAULT_MAX_VUS,
        };
        // Enough VUs for 50 ms responses at the peak rate, so the first second does
        // not pay for starting VUs; more are added when needed.
        let pre_allocated_vus = match &d.pre_allocated_vus {
            Some(v) if v.value < 1 || v.value > i64::from(max_vus) => {
                self.out_of_range(v, "pre_allocated_vus", "from 1 to `max_vus`");
                1
            }
            Some(v) => v.value as u32,
            None => ((peak(rate, &stages) / 20.0).ceil() as u32).clamp(1, max_vus),
        };
        let queue_size = match &d.queue_size {
            Some(q) if !(1..=10_000_000).contains(&q.value) => {
                self.out_of_range(q, "queue_size", "from 1 to 10000000");
                1
            }
            Some(q) => q.value as u32,
            None => DEFAULT_QUEUE_SIZE,
        };
        let queue_timeout = self.duration(
            &d.queue_timeout,
            "queue_timeout",
            DEFAULT_QUEUE_TIMEOUT,
            true,
        );
        let arrival = Arrival {
            rate,
            pre_allocated_vus,
            latency_correction: d.latency_correction.as_ref().is_none_or(|c| c.value),
            queue_size,
            queue_timeout,
        };
        LoadPlan {
            vus: max_vus,
            duration,
            max_requests,
            rate: None,
            ramp_up,
            warmup,
            start: rate,
            stages,
            arrival: Some(arrival),
        }
    }

    /// A duration setting: env-folded, parsed; must be non-zero when `positive`.
    pub(super) fn duration(
        &mut self,
        value: &Option<Located<String>>,
        what: &'static str,
        default: Duration,
        positive: bool,
    ) -> Duration {
        let Some(value) = value else { return default };
        let text = self.fold_env(value);
        match parse_duration(&text) {
            Ok(d) if positive && d.is_zero() => {
                self.out_of_range(value, what, "a duration above zero");
                default
            }
            Ok(d) => d,
            Err(e) => {
                let inner = (text == value.value).then_some(e.span);
                let message = if e.kind == GrammarErrorKind::DurationTooLong {
                    format!(
                        "duration `{text}` for `{what}` is longer than the maximum, {}",
                        max_duration()
                    )
                } else {
                    format!("invalid duration `{text}` for `{what}`")
                };
                self.grammar_error(message, e.help(), &value.loc, inner);
                default
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::lower::tests::{errors, ok};
    use crate::{Flags, Input, Stage, lower};

    const TARGET: &str = "[target]\nurl = \"http://h/\"\n";

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn closed_defaults() {
        let load = ok(TARGET).load;
        assert_eq!(load.vus, 50);
        assert_eq!(load.start, 50.0);
        assert_eq!(load.duration, Some(secs(10)));
        assert_eq!(
            (load.ramp_up, load.warmup),
            (Duration::ZERO, Duration::ZERO)
        );
        assert_eq!((load.max_requests, load.rate), (None, None));
        assert!(load.stages.is_empty());
        assert_eq!(load.arrival, None);
    }

    #[test]
    fn max_requests_alone_has_no_time_limit() {
        let load = ok(&format!(
            "{TARGET}[load]\nmax_requests = 100\nrate = 20.5\n"
        ))
        .load;
        assert_eq!(load.duration, None);
        assert_eq!(load.max_requests, Some(100));
        assert_eq!(load.rate, Some(20.5));
    }

    #[test]
    fn closed_stages_size_the_run_by_their_peak() {
        let load = ok(&format!(
            r#"{TARGET}
[[stages]]
duration = "10s"
target = 4.5

[[stages]]
duration = "1m"
target = 2
"#
        ))
        .load;
        // No `vus`: the run starts from none and needs as many as the highest target.
        assert_eq!(load.start, 0.0);
        assert_eq!(load.vus, 5);
        assert_eq!(load.duration, Some(secs(70)));
        assert_eq!(
            load.stages,
            [
                Stage {
                    duration: secs(10),
                    target: 4.5
                },
                Stage {
                    duration: secs(60),
                    target: 2.0
                },
            ]
        );
    }

    #[test]
    fn ramp_up_and_warmup() {
        let load = ok(&format!(
            "{TARGET}[load]\nvus = 8\nduration = \"20s\"\nramp_up = \"5s\"\nwarmup = \"2s\"\n"
        ))
        .load;
        assert_eq!((load.vus, load.ramp_up, load.warmup), (8, secs(5), secs(2)));
        // Warm-up counts: the ramp may last into it.
        ok(&format!(
            "{TARGET}[load]\nduration = \"10s\"\nramp_up = \"12s\"\nwarmup = \"2s\"\n"
        ));
        assert_eq!(
            errors(&format!(
                "{TARGET}[load]\nduration = \"10s\"\nramp_up = \"12s\"\n"
            )),
            ["5:12 [12s] `ramp_up` is longer than the whole run"]
        );
        assert_eq!(
            errors(&format!(
                "{TARGET}[load]\nramp_up = \"2s\"\n[[stages]]\nduration = \"3s\"\ntarget = 4\n"
            )),
            [
                "4:12 [2s] `ramp_up` cannot be set with `[[stages]]`: the stages ramp the VUs (the first from `vus`, 0 by default, to its `target` over its `duration`)"
            ]
        );
        // A warm-up at a starting level of nothing sends nothing.
        let stages = |stage: &str, start: &str| {
            format!(
                "{TARGET}[load]\nwarmup = \"1s\"\n{start}[[stages]]\nduration = \"3s\"\n{stage}\n"
            )
        };
        assert_eq!(
            errors(&stages("target = 4", "")),
            [
                "4:11 [1s] the warm-up runs at the starting level, and these stages start at 0 VUs: it would send nothing; set `vus` (where the first stage starts), or leave `warmup` out"
            ]
        );
        assert_eq!(
            errors(&stages("target_rate = 40", "")),
            [
                "4:11 [1s] the warm-up runs at the starting level, and these stages start at 0 iterations a second: it would send nothing; set `arrival_rate` (where the first stage starts), or leave `warmup` out"
            ]
        );
        ok(&stages("target = 4", "vus = 2\n"));
        ok(&stages("target_rate = 40", "arrival_rate = 10\n"));
    }

    #[test]
    fn arrival_rate_defaults() {
        let load = ok(&format!("{TARGET}[load]\narrival_rate = 50\n")).load;
        let arrival = load.arrival.unwrap();
        assert_eq!(arrival.rate, 50.0);
        // Enough VUs for 50 ms responses at 50/s.
        assert_eq!(arrival.pre_allocated_vus, 3);
        assert!(arrival.latency_correction);
        assert_eq!(arrival.queue_size, 10_000);
        assert_eq!(arrival.queue_timeout, secs(2));
        assert_eq!(load.vus, 1000, "up to `max_vus`");
        assert_eq!(load.start, 50.0);
        assert_eq!(load.rate, None);
    }

    #[test]
    fn ramping_arrival_rate() {
        let load = ok(&format!(
            r#"{TARGET}[load]
max_vus = 10
latency_correction = false

[[stages]]
duration = "30s"
target_rate = 400
"#
        ))
        .load;
        let arrival = load.arrival.unwrap();
        assert_eq!(arrival.rate, 0.0);
        // 400/s wants 20 VUs up front, but no more than `max_vus`.
        assert_eq!(arrival.pre_allocated_vus, 10);
        assert!(!arrival.latency_correction);
        assert_eq!(load.vus, 10);
        assert_eq!(load.duration, Some(secs(30)));
    }

    #[test]
    fn settings_of_the_other_model() {
        assert_eq!(
            errors(&format!(
                "{TARGET}[load]\narrival_rate = 5\nvus = 3\nrate = 2.0\nramp_up = \"1s\"\n"
            )),
            [
                "5:7 [3] `vus` is for the closed model; with `arrival_rate`, VUs are started as needed up to `max_vus`",
                "6:8 [2.0] `rate` caps the closed model; with `arrival_rate` the schedule sets the rate",
                "7:12 [1s] `ramp_up` is for the closed model; ramp an arrival rate with `[[stages]]` and `target_rate`",
            ]
        );
        assert_eq!(
            errors(&format!(
                "{TARGET}[load]\nmax_vus = 3\nqueue_timeout = \"1s\"\nlatency_correction = false\n"
            )),
            [
                "4:11 [3] `max_vus` applies to the arrival-rate model; set `arrival_rate` too, or use `vus` for the closed model",
                "5:18 [1s] `queue_timeout` applies to the arrival-rate model; set `arrival_rate` too, or use `vus` for the closed model",
                "6:22 [false] `latency_correction` applies to the arrival-rate model; set `arrival_rate` too, or use `vus` for the closed model",
            ]
        );
    }

    #[test]
    fn bad_stages() {
        assert_eq!(
            errors(&format!(
                r#"{TARGET}[load]
duration = "1m"

[[stages]]
target = 1

[[stages]]
duration = "1s"
target = 1
target_rate = 2

[[stages]]
duration = "1s"
"#
            )),
            [
                "6:1 [[[stages]]\ntarget = 1] a stage needs a `duration`",
                "7:10 [1] stages mix `target` (VUs) with `target_rate` (iterations per second); use one kind",
                "11:10 [1] a stage has either `target` (VUs) or `target_rate` (iterations per second), not both",
                "14:1 [[[stages]]\nduration = \"1s\"] a stage needs `target` (VUs) or `target_rate` (iterations per second)",
                "4:13 [1m] `duration` cannot be set with `[[stages]]`: the run lasts as long as its stages",
            ]
        );
        assert_eq!(
            errors(&format!(
                "{TARGET}[[stages]]\nduration = \"1s\"\ntarget = 0\n"
            )),
            [
                "3:1 [[[stages]]\nduration = \"1s\"\ntarget = 0] these stages never start a VU; give a stage a `target` above 0"
            ]
        );
    }

    #[test]
    fn out_of_range() {
        assert_eq!(
            errors(&format!(
                "{TARGET}[load]\nvus = 0\nmax_requests = 0\nduration = \"0s\"\n"
            )),
            [
                "5:16 [0] `max_requests` is out of range; expected at least 1",
                "6:13 [0s] `duration` is out of range; expected a duration above zero",
                "4:7 [0] `vus` is out of range; expected from 1 to 1000000",
            ]
        );
        assert_eq!(
            errors(&format!(
                "{TARGET}[load]\narrival_rate = -1.0\nmax_vus = 4\npre_allocated_vus = 5\nqueue_size = 0\n"
            )),
            [
                "4:16 [-1.0] `arrival_rate` is out of range; expected a positive number of iterations per second",
                "6:21 [5] `pre_allocated_vus` is out of range; expected from 1 to `max_vus`",
                "7:14 [0] `queue_size` is out of range; expected from 1 to 10000000",
            ]
        );
    }

    #[test]
    fn durations_are_parsed_and_env_folded() {
        let ir = crate::lower::tests::lower_env(
            &format!("{TARGET}[load]\nduration = \"${{RUN_FOR}}\"\n"),
            &[("RUN_FOR", "1m30s")],
        )
        .unwrap();
        assert_eq!(ir.load.duration, Some(secs(90)));
        assert_eq!(
            errors(&format!("{TARGET}[load]\nduration = \"10 parsecs\"\n")),
            ["4:13 [10 parsecs] invalid duration `10 parsecs` for `duration`"]
        );
    }

    /// A load model's flag overrides the file's model (`--help`: flags override the
    /// file): `--arrival-rate` on a file with `vus`, `-c` on a file with
    /// `arrival_rate` and `max_vus`. Both flags together are still a conflict.
    #[test]
    fn a_model_flag_overrides_the_files_model() {
        let file = |text: &str, flags: Flags| {
            lower(&Input {
                config: Some(crate::ConfigFile {
                    name: "s.toml".into(),
                    text: format!("{TARGET}[load]\n{text}"),
                }),
                flags,
                ..Input::default()
            })
        };
        let open = file(
            "vus = 4\nrate = 50.0\nramp_up = \"5s\"\n",
            Flags {
                arrival_rate: Some(100.0),
                ..Flags::default()
            },
        )
        .unwrap();
        assert_eq!(open.load.arrival.map(|a| a.rate), Some(100.0));
        let closed = file(
            "arrival_rate = 100\nmax_vus = 20\nlatency_correction = false\n",
            Flags {
                vus: Some(3),
                ..Flags::default()
            },
        )
        .unwrap();
        assert!(closed.load.arrival.is_none());
        assert_eq!(closed.load.vus, 3);
        let both = file(
            "",
            Flags {
                vus: Some(3),
                arrival_rate: Some(100.0),
                ..Flags::default()
            },
        );
        assert!(both.is_err());
        // The file's stages are of one model: a flag of the other cannot take them.
        let stages = |stage: &str, flags: Flags| {
            let e = lower(&Input {
                config: Some(crate::ConfigFile {
                    name: "s.toml".into(),
                    text: format!("{TARGET}[[stages]]\nduration = \"5s\"\n{stage}\n"),
                }),
                flags,
                ..Input::default()
            })
            .unwrap_err();
            e.errors
                .iter()
                .map(crate::lower::tests::located)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            stages(
                "target = 10",
                Flags {
                    arrival_rate: Some(100.0),
                    ..Flags::default()
                }
            ),
            [
                "1:1 [100] the scenario's `[[stages]]` set VUs (`target`): they cannot ramp an arrival rate; give `-c`, or stages with `target_rate`"
            ]
        );
        assert_eq!(
            stages(
                "target_rate = 10",
                Flags {
                    vus: Some(3),
                    ..Flags::default()
                }
            ),
            [
                "1:1 [3] the scenario's `[[stages]]` set an arrival rate (`target_rate`): they cannot ramp VUs; give `--arrival-rate`, or stages with `target`"
            ]
        );
    }

    #[test]
    fn a_bad_duration_flag_points_at_the_flag() {
        let e = lower(&Input {
            flags: Flags {
                url: Some("http://h/".into()),
                duration: Some("5 minutes".into()),
                ..Flags::default()
            },
            ..Input::default()
        })
        .unwrap_err();
        let located: Vec<_> = e.errors.iter().map(crate::lower::tests::located).collect();
        assert_eq!(
            located,
            ["1:1 [5 minutes] invalid duration `5 minutes` for `duration`"]
        );
    }

    #[test]
    fn latency_correction_is_refused_in_the_closed_model() {
        let e = lower(&Input {
            flags: Flags {
                url: Some("http://h/".into()),
                rate: Some(100.0),
                no_latency_correction: true,
                ..Flags::default()
            },
            ..Input::default()
        })
        .unwrap_err();
        let located: Vec<_> = e.errors.iter().map(crate::lower::tests::located).collect();
        assert_eq!(
            located,
            [
                "1:1 [--no-latency-correction] `latency_correction` applies to the arrival-rate model; set `arrival_rate` too, or use `vus` for the closed model"
            ]
        );
    }
}
