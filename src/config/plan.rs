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
    /// Seconds to hold before the next step.
    #[serde(default)]
    hold_s: Option<Spanned<u64>>,
}

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
    let mut stages = Vec::new();
    for stage in &raw.stages {
        let models: Vec<String> = match &stage.models {
            Some(list) => {
                for model in list.get_ref() {
                    if !profile.model_ids().iter().any(|m| **m == **model.get_ref()) {
                        let what = format!("unknown model {:?}", model.get_ref());
                        return Err(err(model.span(), what));
                    }
                }
                list.get_ref().iter().map(|m| m.get_ref().clone()).collect()
            }
            None => profile
                .model_ids()
                .iter()
                .map(ToString::to_string)
                .collect(),
        };
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
            cells.extend(models.iter().map(|m| format!("{m}/{}", region.get_ref())));
        }
        if stage.steps.get_ref().is_empty() {
            return Err(err(
                stage.steps.span(),
                "a stage needs at least one step".into(),
            ));
        }
        let mut steps = Vec::new();
        for step in stage.steps.get_ref() {
            let pct = *step.share.get_ref();
            let share = PerMille::parse_percent(&pct.to_string())
                .map_err(|e| err(step.share.span(), format!("share: {e}")))?;
            steps.push(Step {
                share: share.get(),
                hold_ms: step.hold_s.as_ref().map_or(0, |h| *h.get_ref()) * 1000,
            });
        }
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
