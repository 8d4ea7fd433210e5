use crate::config::Profile;
use crate::domain::{CellChange, CellId, Direction, PerMille, Routes, Selection, Split};

use super::OpsError;

/// How far to shift.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShiftAmount {
    /// Set the provider's share to exactly this.
    To(PerMille),
    /// One rung up or down the profile's ladder.
    Step(Direction),
}

/// A cell of the selection that the shift leaves as it is, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    pub cell: CellId,
    pub why: String,
}

/// The routes after a shift, ready to preview and commit.
#[derive(Debug, Clone)]
pub struct ShiftPlan {
    pub provider: String,
    pub routes: Routes,
    pub changes: Vec<CellChange>,
    pub skipped: Vec<Skipped>,
}

/// Works out a shift of `selection` towards `provider` (default: the one
/// provider that is not the fallback) against the current `routes`.
pub fn plan_shift(
    profile: &Profile,
    routes: &Routes,
    selection: &Selection,
    amount: ShiftAmount,
    provider: Option<&str>,
) -> Result<ShiftPlan, OpsError> {
    let provider = match provider {
        Some(p) if profile.provider(p).is_some() => p.to_string(),
        Some(p) => {
            return Err(OpsError::Invalid(format!(
                "unknown provider {p:?} (known: {})",
                profile.provider_ids().join(", ")
            )));
        }
        None => profile.sole_target().map(str::to_string).ok_or_else(|| {
            OpsError::Invalid(format!(
                "several providers can take traffic: name one with --provider ({})",
                profile.provider_ids().join(", ")
            ))
        })?,
    };
    let cells = selection.resolve(&profile.model_ids(), &profile.region_ids())?;
    let mut new_routes = routes.clone();
    let mut skipped = Vec::new();
    for cell in &cells {
        let eligible = profile.providers_for(cell);
        let current = routes
            .get(cell)
            .cloned()
            .unwrap_or_else(|| Split::all(profile.fallback.as_str()));
        let skip = |why: String| Skipped {
            cell: cell.clone(),
            why,
        };
        if !eligible.contains(&provider) {
            skipped.push(skip(format!("no {provider} endpoint in the profile")));
            continue;
        }
        let now = current.share(&provider);
        let target = match amount {
            ShiftAmount::To(share) => share,
            ShiftAmount::Step(direction) => match profile.ladder.step(now, direction) {
                Some(share) => share,
                None => {
                    let end = if direction == Direction::Up {
                        "top"
                    } else {
                        "bottom"
                    };
                    skipped.push(skip(format!(
                        "{provider} {now} is already at the {end} of the ladder"
                    )));
                    continue;
                }
            },
        };
        let next = current.with_share(&provider, target, &profile.fallback, &eligible)?;
        if next == current {
            skipped.push(skip(format!("{provider} is already at {now}")));
            continue;
        }
        new_routes.set(cell.clone(), next);
    }
    if let (Selection::Cell(_), [only]) = (selection, skipped.as_slice())
        && only.why.starts_with("no ")
    {
        return Err(OpsError::Invalid(format!(
            "cannot shift {}: {}",
            only.cell, only.why
        )));
    }
    let changes = routes.diff(&new_routes);
    Ok(ShiftPlan {
        provider,
        routes: new_routes,
        changes,
        skipped,
    })
}
