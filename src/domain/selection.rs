use std::fmt;

use super::{CellId, Id};

/// Which cells an action applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    Cell(CellId),
    Row {
        model: String,
    },
    Column {
        region: String,
    },
    /// Cells picked one by one (the console's Space selection).
    Cells(Vec<CellId>),
    All,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectionError {
    #[error("unknown model {id:?} (known: {known})")]
    UnknownModel { id: String, known: String },
    #[error("unknown region {id:?} (known: {known})")]
    UnknownRegion { id: String, known: String },
}

impl Selection {
    /// The selected cells, in matrix order (models, then regions).
    pub fn resolve(&self, models: &[Id], regions: &[Id]) -> Result<Vec<CellId>, SelectionError> {
        let check_model = |id: &str| {
            if models.iter().any(|m| &**m == id) {
                Ok(())
            } else {
                Err(SelectionError::UnknownModel {
                    id: id.to_string(),
                    known: models.join(", "),
                })
            }
        };
        let check_region = |id: &str| {
            if regions.iter().any(|r| &**r == id) {
                Ok(())
            } else {
                Err(SelectionError::UnknownRegion {
                    id: id.to_string(),
                    known: regions.join(", "),
                })
            }
        };
        let all = || {
            models.iter().flat_map(|m| {
                regions
                    .iter()
                    .map(move |r| CellId::new(m.clone(), r.clone()))
            })
        };
        Ok(match self {
            Selection::Cell(cell) => {
                check_model(&cell.model)?;
                check_region(&cell.region)?;
                vec![cell.clone()]
            }
            Selection::Row { model } => {
                check_model(model)?;
                all().filter(|c| *c.model == **model).collect()
            }
            Selection::Column { region } => {
                check_region(region)?;
                all().filter(|c| *c.region == **region).collect()
            }
            Selection::Cells(cells) => {
                for cell in cells {
                    check_model(&cell.model)?;
                    check_region(&cell.region)?;
                }
                // Matrix order, each once, whatever order they were picked in.
                all().filter(|c| cells.contains(c)).collect()
            }
            Selection::All => all().collect(),
        })
    }
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selection::Cell(c) => write!(f, "cell {c}"),
            Selection::Row { model } => write!(f, "row {model}"),
            Selection::Column { region } => write!(f, "column {region}"),
            Selection::Cells(cells) if cells.len() == 1 => write!(f, "cell {}", cells[0]),
            Selection::Cells(cells) => write!(f, "{} selected cells", cells.len()),
            Selection::All => write!(f, "all cells"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_in_matrix_order() {
        let models: Vec<Id> = vec!["a".into(), "b".into()];
        let regions: Vec<Id> = vec!["x".into(), "y".into()];
        let col = Selection::Column { region: "y".into() }
            .resolve(&models, &regions)
            .unwrap();
        assert_eq!(col, vec![CellId::new("a", "y"), CellId::new("b", "y")]);
        assert_eq!(Selection::All.resolve(&models, &regions).unwrap().len(), 4);
        let err = Selection::Cell(CellId::new("c", "x"))
            .resolve(&models, &regions)
            .unwrap_err();
        assert_eq!(err.to_string(), r#"unknown model "c" (known: a, b)"#);
        assert!(
            Selection::Row { model: "zz".into() }
                .resolve(&models, &regions)
                .is_err()
        );
    }
}
