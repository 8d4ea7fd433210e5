use indexmap::IndexMap;
use rustc_hash::FxBuildHasher;

use super::{CellChange, CellId, Split};

/// The routing state: one split per cell, in matrix order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Routes {
    // Fx: ids come from the profile, not from an adversary, and a 1,000-cell
    // rollback hashes each cell several times.
    cells: IndexMap<CellId, Split, FxBuildHasher>,
}

impl Routes {
    /// Every cell entirely on `provider`.
    pub fn all_to(cells: impl IntoIterator<Item = CellId>, provider: impl Into<super::Id>) -> Self {
        let all = Split::all(provider);
        Self {
            cells: cells.into_iter().map(|c| (c, all.clone())).collect(),
        }
    }

    /// The split of a cell found by its names, to change in place.
    pub fn get_mut(&mut self, key: super::CellKey) -> Option<&mut Split> {
        self.cells.get_mut(&key)
    }

    pub fn get(&self, cell: &CellId) -> Option<&Split> {
        self.cells.get(cell)
    }

    pub fn set(&mut self, cell: CellId, split: Split) {
        self.cells.insert(cell, split);
    }

    /// Puts `split` in each of `cells` (all of them without a lookup each when
    /// `cells` is every cell in order, as in `rollback --all`).
    pub fn set_each(&mut self, cells: &[CellId], split: &Split) {
        let in_order = cells.len() == self.cells.len()
            && cells.iter().zip(self.cells.keys()).all(|(a, b)| a == b);
        if in_order {
            for value in self.cells.values_mut() {
                value.clone_from(split);
            }
        } else {
            for cell in cells {
                self.set(cell.clone(), split.clone());
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&CellId, &Split)> {
        self.cells.iter()
    }

    pub fn len(&self) -> usize {
        self.cells.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cells.is_empty()
    }

    /// The cells whose split differs, in this state's order, then new cells.
    pub fn diff(&self, after: &Routes) -> Vec<CellChange> {
        // Room for every cell up front: no regrowth copies for a full rollback.
        let mut changes: Vec<CellChange> = Vec::with_capacity(self.len().min(after.len()));
        // Usually both hold the same cells in the same order: compare pairwise.
        let same_cells = self.cells.len() == after.cells.len()
            && self
                .cells
                .keys()
                .zip(after.cells.keys())
                .all(|(a, b)| a == b);
        if same_cells {
            for ((cell, old), new) in self.iter().zip(after.cells.values()) {
                if old != new {
                    changes.push(CellChange {
                        cell: cell.clone(),
                        before: Some(old.clone()),
                        after: new.clone(),
                    });
                }
            }
            return changes;
        }
        for (cell, old) in self.iter() {
            if let Some(new) = after.get(cell)
                && new != old
            {
                changes.push(CellChange {
                    cell: cell.clone(),
                    before: Some(old.clone()),
                    after: new.clone(),
                });
            }
        }
        for (cell, new) in after.iter() {
            if self.get(cell).is_none() {
                changes.push(CellChange {
                    cell: cell.clone(),
                    before: None,
                    after: new.clone(),
                });
            }
        }
        changes
    }
}

impl FromIterator<(CellId, Split)> for Routes {
    fn from_iter<T: IntoIterator<Item = (CellId, Split)>>(iter: T) -> Self {
        Self {
            cells: iter.into_iter().collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn diff_lists_only_changed_cells() {
        let cells = [CellId::new("a", "x"), CellId::new("a", "y")];
        let before = Routes::all_to(cells.clone(), "modal");
        let mut after = before.clone();
        let half = Split::from_weights([("modal", 500), ("runpod", 500)]).unwrap();
        after.set(cells[1].clone(), half.clone());
        let diff = before.diff(&after);
        assert_eq!(diff.len(), 1);
        assert_eq!(diff[0].cell, cells[1]);
        assert_eq!(diff[0].before, Some(Split::all("modal")));
        assert_eq!(diff[0].after, half);
        assert!(after.diff(&after).is_empty());
    }
}
