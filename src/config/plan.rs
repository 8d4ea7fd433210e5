//! Cutover plans from TOML (`plans/*.toml`): stages in order, each a set of
//! regions (and, optionally, models) and steps of share and hold. Errors
//! name file:line:col, as the profile's do.

use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::error::{ConfigError, read_text};
use super::profile::Profile;
use crate::domain::PerMille;
use crate::domain::plan::{Plan, Stage, Step};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPlan {
    name: Spanned<String>,
    stages: Vec<RawStage>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    name: Spanned<String>,
    regions: Spanned<Vec<Spanned<String>>>,
    #[serde(default)]
    models: Option<Spanned<Vec<Spanned<String>>>>,
    steps: Spanned<Vec<RawStep>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStep {
    /// Percent of the cell's traffic to the target provider (0.1 % steps).
    share: Spanned<f64>,
    /// Seconds to hold before the next step (required: 0 says "none"
    /// out loud, a forgotten hold is not a zero one).
    hold_s: Spanned<u64>,
}

/// The longest hold a step may ask for: thirty days.
const MAX_HOLD_S: u64 = 30 * 24 * 3600;

/// Reads and checks a plan against the profile's models and regions.
pub fn load_plan(path: &Path, profile: &Profile) -> Result<Plan, ConfigError> {
    let text = read_text(path, "plan")?;
    parse_plan(&path.display().to_string(), &text, profile)
}

pub fn parse_plan(origin: &str, text: &str, profile: &Profile) -> Result<Plan, ConfigError> {
    let err = |span: std::ops::Range<usize>, message: String| {
        ConfigError::at(origin, text, Some(span), message)
    };
    let raw: RawPlan = toml::from_str(text)
        .map_err(|e| ConfigError::at(origin, text, e.span(), e.message().trim_end().to_string()))?;
    let mut stages: Vec<Stage> = Vec::new();
    let mut taken: Vec<String> = Vec::new();
    named(&raw.name, "plan", &err)?;
    for stage in &raw.stages {
        named(&stage.name, "stage", &err)?;
        if stages.iter().any(|s| s.name == *stage.name.get_ref()) {
            return Err(err(
                stage.name.span(),
                format!(
                    "a second stage named {:?}: stage names are told apart on screen",
                    stage.name.get_ref()
                ),
            ));
        }
        let models = stage_models(stage, profile, &err)?;
        if stage.regions.get_ref().is_empty() {
            return Err(err(
                stage.regions.span(),
                "a stage needs at least one region".into(),
            ));
        }
        let mut cells = Vec::new();
        for region in stage.regions.get_ref() {
            if !profile
                .region_ids()
                .iter()
                .any(|r| **r == **region.get_ref())
            {
                return Err(err(
                    region.span(),
                    format!("unknown region {:?}", region.get_ref()),
                ));
            }
            for model in &models {
                let cell = format!("{model}/{}", region.get_ref());
                // A cell moves in one stage only: two would fight over it.
                if taken.contains(&cell) {
                    return Err(err(
                        region.span(),
                        format!("cell {cell} is in an earlier stage (or twice here)"),
                    ));
                }
                taken.push(cell.clone());
                cells.push(cell);
            }
        }
        let steps = stage_steps(stage, &err)?;
        stages.push(Stage {
            name: stage.name.get_ref().clone(),
            cells,
            steps,
        });
    }
    if stages.is_empty() {
        return Err(err(
            raw.name.span(),
            "a plan needs at least one [[stages]]".into(),
        ));
    }
    Ok(Plan {
        name: raw.name.get_ref().clone(),
        stages,
    })
}

type Err<'a> = &'a dyn Fn(std::ops::Range<usize>, String) -> ConfigError;

/// Longest plan or stage name: it is shown in a header and a status line.
const NAME_MAX: usize = 64;

/// A name that is shown: not empty, short, no control characters.
fn named(name: &Spanned<String>, what: &str, err: Err<'_>) -> Result<(), ConfigError> {
    if name.get_ref().trim().is_empty() {
        return Err(err(name.span(), format!("the {what} needs a name")));
    }
    let length = name.get_ref().chars().count();
    if length > NAME_MAX {
        return Err(err(
            name.span(),
            format!("the {what}'s name is {length} characters long: at most {NAME_MAX}"),
        ));
    }
    if let Some((_, c)) = crate::domain::text::first_unsafe(name.get_ref()) {
        return Err(err(
            name.span(),
            format!("the {what}'s name has a control character {c:?}"),
        ));
    }
    Ok(())
}

/// The stage's models (default: every model of the profile), each known.
fn stage_models(
    stage: &RawStage,
    profile: &Profile,
    err: Err<'_>,
) -> Result<Vec<String>, ConfigError> {
    let Some(list) = &stage.models else {
        return Ok(profile
            .model_ids()
            .iter()
            .map(ToString::to_string)
            .collect());
    };
    if list.get_ref().is_empty() {
        return Err(err(
            list.span(),
            "models is empty: leave it out for every model".into(),
        ));
    }
    for model in list.get_ref() {
        if !profile.model_ids().iter().any(|m| **m == **model.get_ref()) {
            return Err(err(
                model.span(),
                format!("unknown model {:?}", model.get_ref()),
            ));
        }
    }
    Ok(list.get_ref().iter().map(|m| m.get_ref().clone()).collect())
}

/// Steps of share (0.1 % steps, above 0, rising) and hold (≤ 30 days).
fn stage_steps(stage: &RawStage, err: Err<'_>) -> Result<Vec<Step>, ConfigError> {
    if stage.steps.get_ref().is_empty() {
        return Err(err(
            stage.steps.span(),
            "a stage needs at least one step".into(),
        ));
    }
    let mut steps: Vec<Step> = Vec::new();
    for step in stage.steps.get_ref() {
        let pct = *step.share.get_ref();
        let share = PerMille::parse_percent(&pct.to_string())
            .map_err(|e| err(step.share.span(), format!("share: {e}")))?;
        if share.get() == 0 {
            return Err(err(
                step.share.span(),
                "share must be above 0 % (a plan moves traffic)".into(),
            ));
        }
        if steps.last().is_some_and(|last| last.share >= share.get()) {
            return Err(err(
                step.share.span(),
                "shares must rise from step to step".into(),
            ));
        }
        let hold = *step.hold_s.get_ref();
        if hold > MAX_HOLD_S {
            return Err(err(
                step.hold_s.span(),
                format!("hold_s must be at most {MAX_HOLD_S} (30 days), got {hold}"),
            ));
        }
        steps.push(Step {
            share: share.get(),
            hold_ms: hold * 1000,
        });
    }
    Ok(steps)
}
