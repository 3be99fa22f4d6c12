//! The evaluation line format shared by the kernel (`crashctl eval`) and the simulator, its
//! parser, and the summary the bench prints. One line per run:
//!
//! ```text
//! eval run=<i> scenario=<kind> seed=<s> ladder=<on|off> oom=<yes|no> oom_ms=<t|-> pred_ms=<t|-> earlyoom_ms=<t|-> psi_ms=<t|-> killed=<role|-> right=<yes|no|->
//! ```
//!
//! then `eval done`. Times are ms since the run started, `-` = never. Two optional trailing
//! fields extend it without breaking older parsers: `largest=<role>` (the killable owner a
//! largest-first killer would pick when the first policy fires, or at the OOM) and, for
//! `ladder`, the values `earlyoom` and `psi` (the simulator's runs in which a baseline
//! triggers its own native response, killing the largest owner).
//!
//! [`summarize`] computes the issue's figures per policy: recall at ≥ 5 s lead and median lead
//! (ladder-off OOM runs), false-positive rate (ladder-off benign runs), the share of OOMs
//! averted with the response on versus off, and the right-victim share.

use alloc::vec::Vec;
use core::fmt;

use crate::scenario::{Role, ScenarioKind};

/// Lead a prediction needs to count for the recall figure.
pub const MIN_LEAD_MS: u64 = 5_000;

/// Which response ran during a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LadderMode {
    /// No response: every policy watches in shadow mode (`off`).
    Off,
    /// Our predictor drives the response ladder (`on`).
    On,
    /// The earlyoom rule triggers its native response: kill the largest owner (`earlyoom`).
    EarlyOom,
    /// The PSI rule triggers oomd's response: kill the largest owner (`psi`).
    Psi,
}

impl LadderMode {
    /// The field value.
    pub fn name(self) -> &'static str {
        match self {
            LadderMode::Off => "off",
            LadderMode::On => "on",
            LadderMode::EarlyOom => "earlyoom",
            LadderMode::Psi => "psi",
        }
    }

    fn parse(s: &str) -> Option<LadderMode> {
        [
            LadderMode::Off,
            LadderMode::On,
            LadderMode::EarlyOom,
            LadderMode::Psi,
        ]
        .into_iter()
        .find(|m| m.name() == s)
    }
}

/// One run's result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EvalRecord {
    /// Run index.
    pub run: u32,
    /// Scenario kind.
    pub scenario: ScenarioKind,
    /// Scenario seed.
    pub seed: u64,
    /// Response during the run.
    pub ladder: LadderMode,
    /// First OOM kill, ms since the start.
    pub oom_ms: Option<u64>,
    /// First crash prediction of our predictor.
    pub pred_ms: Option<u64>,
    /// First firing of the earlyoom rule.
    pub earlyoom_ms: Option<u64>,
    /// First firing of the PSI rule.
    pub psi_ms: Option<u64>,
    /// Role of the first owner the response killed.
    pub killed: Option<Role>,
    /// Whether that was the culprit (`None` when nothing was killed).
    pub right: Option<bool>,
    /// Optional: the owner a largest-first killer would have picked.
    pub largest: Option<Role>,
    /// Optional: the run's further counts (written by drivers since issue 13).
    pub extra: Option<RunExtra>,
}

/// Optional trailing fields of an `eval` line: `hit_ms=<t|-> kills=<n> bystander_kills=<n>
/// alarms=<n> withdrawn=<n>`, all present or all absent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RunExtra {
    /// When the prediction the predictor resolved as a hit at the OOM was made (inside its
    /// own horizon; `None` when the OOM came with no alarm pending, or without an OOM).
    pub hit_ms: Option<u64>,
    /// Kills the response made.
    pub kills: u32,
    /// Kills of owners that were not culprits.
    pub bystander_kills: u32,
    /// Alarms (predictions) the predictor opened.
    pub alarms: u32,
    /// Alarms withdrawn because the growth that raised them stopped.
    pub withdrawn: u32,
}

struct Opt(Option<u64>);

impl fmt::Display for Opt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(v) => write!(f, "{v}"),
            None => f.write_str("-"),
        }
    }
}

impl fmt::Display for EvalRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "eval run={} scenario={} seed={} ladder={} oom={} oom_ms={} pred_ms={} earlyoom_ms={} psi_ms={} killed={} right={}",
            self.run,
            self.scenario.name(),
            self.seed,
            self.ladder.name(),
            if self.oom_ms.is_some() { "yes" } else { "no" },
            Opt(self.oom_ms),
            Opt(self.pred_ms),
            Opt(self.earlyoom_ms),
            Opt(self.psi_ms),
            self.killed.map_or("-", Role::name),
            match self.right {
                Some(true) => "yes",
                Some(false) => "no",
                None => "-",
            },
        )?;
        if let Some(role) = self.largest {
            write!(f, " largest={}", role.name())?;
        }
        if let Some(x) = self.extra {
            write!(
                f,
                " hit_ms={} kills={} bystander_kills={} alarms={} withdrawn={}",
                Opt(x.hit_ms),
                x.kills,
                x.bystander_kills,
                x.alarms,
                x.withdrawn
            )?;
        }
        Ok(())
    }
}

/// A parsed line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalLine {
    /// One run.
    Run(EvalRecord),
    /// `eval done`.
    Done,
}

/// Why a line did not parse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EvalParseError {
    /// The line does not start with `eval `.
    NotEval,
    /// A required field is missing (its name).
    Missing(&'static str),
    /// A field has a bad value (its name).
    BadValue(&'static str),
    /// `oom=` disagrees with `oom_ms=`.
    Inconsistent,
}

impl fmt::Display for EvalParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalParseError::NotEval => write!(f, "not an eval line"),
            EvalParseError::Missing(k) => write!(f, "field {k}= missing"),
            EvalParseError::BadValue(k) => write!(f, "field {k}= has a bad value"),
            EvalParseError::Inconsistent => write!(f, "oom= disagrees with oom_ms="),
        }
    }
}

fn field<'a>(line: &'a str, key: &'static str) -> Option<&'a str> {
    line.split_ascii_whitespace().find_map(|word| {
        word.strip_prefix(key)
            .and_then(|rest| rest.strip_prefix('='))
    })
}

fn required<'a>(line: &'a str, key: &'static str) -> Result<&'a str, EvalParseError> {
    field(line, key).ok_or(EvalParseError::Missing(key))
}

fn opt_ms(line: &str, key: &'static str) -> Result<Option<u64>, EvalParseError> {
    match required(line, key)? {
        "-" => Ok(None),
        v => v
            .parse()
            .map(Some)
            .map_err(|_| EvalParseError::BadValue(key)),
    }
}

fn opt_role(value: Option<&str>, key: &'static str) -> Result<Option<Role>, EvalParseError> {
    match value {
        None | Some("-") => Ok(None),
        Some(v) => Role::from_name(v)
            .map(Some)
            .ok_or(EvalParseError::BadValue(key)),
    }
}

/// Parses one line (surrounding whitespace and a trailing `\r` are ignored).
pub fn parse_line(line: &str) -> Result<EvalLine, EvalParseError> {
    let line = line.trim();
    if line == "eval done" {
        return Ok(EvalLine::Done);
    }
    let Some(rest) = line.strip_prefix("eval ") else {
        return Err(EvalParseError::NotEval);
    };
    let run = required(rest, "run")?
        .parse()
        .map_err(|_| EvalParseError::BadValue("run"))?;
    let scenario = required(rest, "scenario")?
        .parse()
        .map_err(|_| EvalParseError::BadValue("scenario"))?;
    let seed = required(rest, "seed")?
        .parse()
        .map_err(|_| EvalParseError::BadValue("seed"))?;
    let ladder =
        LadderMode::parse(required(rest, "ladder")?).ok_or(EvalParseError::BadValue("ladder"))?;
    let oom = match required(rest, "oom")? {
        "yes" => true,
        "no" => false,
        _ => return Err(EvalParseError::BadValue("oom")),
    };
    let oom_ms = opt_ms(rest, "oom_ms")?;
    if oom != oom_ms.is_some() {
        return Err(EvalParseError::Inconsistent);
    }
    let right = match required(rest, "right")? {
        "yes" => Some(true),
        "no" => Some(false),
        "-" => None,
        _ => return Err(EvalParseError::BadValue("right")),
    };
    Ok(EvalLine::Run(EvalRecord {
        run,
        scenario,
        seed,
        ladder,
        oom_ms,
        pred_ms: opt_ms(rest, "pred_ms")?,
        earlyoom_ms: opt_ms(rest, "earlyoom_ms")?,
        psi_ms: opt_ms(rest, "psi_ms")?,
        killed: opt_role(Some(required(rest, "killed")?), "killed")?,
        right,
        largest: opt_role(field(rest, "largest"), "largest")?,
        extra: match field(rest, "kills") {
            None => None,
            Some(_) => Some(RunExtra {
                hit_ms: opt_ms(rest, "hit_ms")?,
                kills: count(rest, "kills")?,
                bystander_kills: count(rest, "bystander_kills")?,
                alarms: count(rest, "alarms")?,
                withdrawn: count(rest, "withdrawn")?,
            }),
        },
    }))
}

fn count(line: &str, key: &'static str) -> Result<u32, EvalParseError> {
    required(line, key)?
        .parse()
        .map_err(|_| EvalParseError::BadValue(key))
}

/// The three policies compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// Our crash predictor.
    Predictor,
    /// The earlyoom rule.
    EarlyOom,
    /// The PSI/oomd rule.
    Psi,
}

impl Policy {
    /// All three, in table order.
    pub const ALL: [Policy; 3] = [Policy::Predictor, Policy::EarlyOom, Policy::Psi];

    /// Display name.
    pub fn name(self) -> &'static str {
        match self {
            Policy::Predictor => "predictor",
            Policy::EarlyOom => "earlyoom",
            Policy::Psi => "psi",
        }
    }

    /// This policy's first firing in a record.
    pub fn fire_ms(self, r: &EvalRecord) -> Option<u64> {
        match self {
            Policy::Predictor => r.pred_ms,
            Policy::EarlyOom => r.earlyoom_ms,
            Policy::Psi => r.psi_ms,
        }
    }

    /// The ladder mode in which this policy drives the response.
    pub fn mode(self) -> LadderMode {
        match self {
            Policy::Predictor => LadderMode::On,
            Policy::EarlyOom => LadderMode::EarlyOom,
            Policy::Psi => LadderMode::Psi,
        }
    }
}

/// A ratio `num / den` (kept as counts so tables can show both).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ratio {
    /// Numerator.
    pub num: u32,
    /// Denominator.
    pub den: u32,
}

impl Ratio {
    /// The value, `None` when the denominator is 0.
    pub fn value(self) -> Option<f64> {
        (self.den > 0).then(|| f64::from(self.num) / f64::from(self.den))
    }
}

/// One policy's figures.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct PolicySummary {
    /// The policy.
    pub policy: Policy,
    /// Ladder-off OOM runs in which the policy fired ≥ 5 s before the OOM.
    pub recall_5s: Ratio,
    /// Ladder-off OOM runs in which it fired at all before the OOM.
    pub detected: Ratio,
    /// Median lead over the runs it detected.
    pub median_lead_ms: Option<u64>,
    /// Ladder-off benign runs in which it fired.
    pub false_positives: Ratio,
    /// OOM-bound runs with this policy driving the response that ended without an OOM
    /// (`den` = 0 when no such runs were made).
    pub averted: Ratio,
    /// Of the OOM-bound runs it predicted with the response off, how many its response
    /// averted (paired by scenario and seed).
    pub predicted_averted: Ratio,
    /// Kills made by its response that hit the culprit.
    pub right_kills: Ratio,
    /// Benign runs with its response on in which it killed something.
    pub benign_kills: Ratio,
}

/// Figures for all policies.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// Per policy, in [`Policy::ALL`] order.
    pub policies: Vec<PolicySummary>,
    /// Ladder-off OOM-bound runs that ended in an OOM (the ladder-off "averted" share is the rest).
    pub off_ooms: Ratio,
    /// Ladder-off OOM runs where the largest owner (when the first policy fired or at the
    /// OOM) was the culprit: how often a largest-first killer would be right.
    pub largest_right: Ratio,
}

fn median(values: &mut [u64]) -> Option<u64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable();
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2
    })
}

/// Computes the summary of a set of runs.
pub fn summarize(records: &[EvalRecord]) -> Summary {
    let off: Vec<&EvalRecord> = records
        .iter()
        .filter(|r| r.ladder == LadderMode::Off)
        .collect();
    let off_bound = off.iter().filter(|r| r.scenario.is_oom_bound());
    let off_oom: Vec<&&EvalRecord> = off_bound.clone().filter(|r| r.oom_ms.is_some()).collect();
    let off_benign: Vec<&&EvalRecord> = off.iter().filter(|r| !r.scenario.is_oom_bound()).collect();
    let mut policies = Vec::new();
    for policy in Policy::ALL {
        let mut leads = Vec::new();
        let mut recall = Ratio {
            num: 0,
            den: off_oom.len() as u32,
        };
        for r in &off_oom {
            if let (Some(fire), Some(oom)) = (policy.fire_ms(r), r.oom_ms)
                && fire <= oom
            {
                leads.push(oom - fire);
                if oom - fire >= MIN_LEAD_MS {
                    recall.num += 1;
                }
            }
        }
        let detected = Ratio {
            num: leads.len() as u32,
            den: off_oom.len() as u32,
        };
        let false_positives = Ratio {
            num: off_benign
                .iter()
                .filter(|r| policy.fire_ms(r).is_some())
                .count() as u32,
            den: off_benign.len() as u32,
        };
        let driven: Vec<&EvalRecord> = records
            .iter()
            .filter(|r| r.ladder == policy.mode())
            .collect();
        let driven_bound = driven.iter().filter(|r| r.scenario.is_oom_bound());
        let averted = Ratio {
            num: driven_bound.clone().filter(|r| r.oom_ms.is_none()).count() as u32,
            den: driven_bound.clone().count() as u32,
        };
        let mut predicted_averted = Ratio::default();
        for r in &off_oom {
            let predicted = matches!((policy.fire_ms(r), r.oom_ms), (Some(f), Some(o)) if f <= o);
            let twin = driven
                .iter()
                .find(|d| d.scenario == r.scenario && d.seed == r.seed);
            if let (true, Some(twin)) = (predicted, twin) {
                predicted_averted.den += 1;
                if twin.oom_ms.is_none() {
                    predicted_averted.num += 1;
                }
            }
        }
        let right_kills = Ratio {
            num: driven.iter().filter(|r| r.right == Some(true)).count() as u32,
            den: driven.iter().filter(|r| r.killed.is_some()).count() as u32,
        };
        let benign_driven = driven.iter().filter(|r| !r.scenario.is_oom_bound());
        let benign_kills = Ratio {
            num: benign_driven.clone().filter(|r| r.killed.is_some()).count() as u32,
            den: benign_driven.count() as u32,
        };
        policies.push(PolicySummary {
            policy,
            recall_5s: recall,
            detected,
            median_lead_ms: median(&mut leads),
            false_positives,
            averted,
            predicted_averted,
            right_kills,
            benign_kills,
        });
    }
    let bound_count = off.iter().filter(|r| r.scenario.is_oom_bound()).count() as u32;
    let with_largest: Vec<&&EvalRecord> = off_oom
        .iter()
        .copied()
        .filter(|r| r.largest.is_some())
        .collect();
    Summary {
        policies,
        off_ooms: Ratio {
            num: off_oom.len() as u32,
            den: bound_count,
        },
        largest_right: Ratio {
            num: with_largest
                .iter()
                .filter(|r| r.largest.is_some_and(Role::is_culprit))
                .count() as u32,
            den: with_largest.len() as u32,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::string::ToString;

    fn record(
        scenario: ScenarioKind,
        seed: u64,
        ladder: LadderMode,
        oom: Option<u64>,
        pred: Option<u64>,
    ) -> EvalRecord {
        EvalRecord {
            run: 0,
            scenario,
            seed,
            ladder,
            oom_ms: oom,
            pred_ms: pred,
            earlyoom_ms: oom.map(|o| o - 1000),
            psi_ms: None,
            killed: None,
            right: None,
            largest: None,
            extra: None,
        }
    }

    #[test]
    fn round_trip() {
        let r = EvalRecord {
            run: 3,
            killed: Some(Role::Culprit),
            right: Some(true),
            largest: Some(Role::Bystander),
            extra: Some(RunExtra {
                hit_ms: Some(12),
                kills: 2,
                bystander_kills: 1,
                alarms: 3,
                withdrawn: 1,
            }),
            ..record(ScenarioKind::Leak, 42, LadderMode::On, None, Some(1200))
        };
        let line = r.to_string();
        assert_eq!(
            line,
            "eval run=3 scenario=leak seed=42 ladder=on oom=no oom_ms=- pred_ms=1200 earlyoom_ms=- psi_ms=- killed=culprit right=yes largest=bystander hit_ms=12 kills=2 bystander_kills=1 alarms=3 withdrawn=1"
        );
        assert_eq!(parse_line(&line), Ok(EvalLine::Run(r)));
        assert_eq!(parse_line("  eval done\r"), Ok(EvalLine::Done));
    }

    #[test]
    fn contract_line_without_extensions_parses() {
        let line = "eval run=0 scenario=fragment seed=9 ladder=off oom=yes oom_ms=31000 pred_ms=20000 earlyoom_ms=- psi_ms=30500 killed=- right=-";
        let EvalLine::Run(r) = parse_line(line).unwrap() else {
            panic!("not a run")
        };
        assert_eq!(r.scenario, ScenarioKind::Fragment);
        assert_eq!(
            (r.oom_ms, r.pred_ms, r.psi_ms),
            (Some(31000), Some(20000), Some(30500))
        );
        assert_eq!(r.largest, None);
    }

    #[test]
    fn bad_lines_are_errors() {
        assert_eq!(parse_line("hello"), Err(EvalParseError::NotEval));
        assert_eq!(
            parse_line("eval run=1 scenario=leak"),
            Err(EvalParseError::Missing("seed"))
        );
        let bad = "eval run=0 scenario=leak seed=1 ladder=off oom=yes oom_ms=- pred_ms=- earlyoom_ms=- psi_ms=- killed=- right=-";
        assert_eq!(parse_line(bad), Err(EvalParseError::Inconsistent));
        let bad = "eval run=0 scenario=leak seed=1 ladder=off oom=no oom_ms=- pred_ms=x earlyoom_ms=- psi_ms=- killed=- right=-";
        assert_eq!(parse_line(bad), Err(EvalParseError::BadValue("pred_ms")));
        let bad = "eval run=0 scenario=leak seed=1 ladder=maybe oom=no oom_ms=- pred_ms=- earlyoom_ms=- psi_ms=- killed=- right=-";
        assert_eq!(parse_line(bad), Err(EvalParseError::BadValue("ladder")));
    }

    #[test]
    fn summary_figures() {
        use LadderMode::*;
        use ScenarioKind::*;
        let records = [
            // Predicted 10 s ahead, averted with the ladder on.
            record(Leak, 1, Off, Some(30_000), Some(20_000)),
            EvalRecord {
                killed: Some(Role::Culprit),
                right: Some(true),
                ..record(Leak, 1, On, None, Some(20_000))
            },
            // Predicted 3 s ahead (detected, not in recall), not averted.
            record(Bursty, 2, Off, Some(40_000), Some(37_000)),
            record(Bursty, 2, On, Some(41_000), Some(37_000)),
            // Benign: one false positive out of two.
            record(Benign, 3, Off, None, Some(5_000)),
            record(Benign, 4, Off, None, None),
        ];
        let s = summarize(&records);
        let p = s.policies[0];
        assert_eq!(p.policy, Policy::Predictor);
        assert_eq!(p.recall_5s, Ratio { num: 1, den: 2 });
        assert_eq!(p.detected, Ratio { num: 2, den: 2 });
        assert_eq!(p.median_lead_ms, Some(6_500));
        assert_eq!(p.false_positives, Ratio { num: 1, den: 2 });
        assert_eq!(p.averted, Ratio { num: 1, den: 2 });
        assert_eq!(p.predicted_averted, Ratio { num: 1, den: 2 });
        assert_eq!(p.right_kills, Ratio { num: 1, den: 1 });
        assert_eq!(s.off_ooms, Ratio { num: 2, den: 2 });
        let e = s.policies[1];
        assert_eq!(e.median_lead_ms, Some(1000));
        assert_eq!(e.recall_5s.num, 0);
        assert_eq!(e.averted.den, 0);
        assert_eq!(Ratio::default().value(), None);
    }
}
