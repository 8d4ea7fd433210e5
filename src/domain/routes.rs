use std::sync::Arc;

use indexmap::IndexSet;
use rustc_hash::FxBuildHasher;

use super::{CellChange, CellId, CellKey, Split};

/// The cells of a matrix, in order. Shared by every routing state of one
/// profile, so that copying or comparing states never copies or hashes ids.
// Fx: ids come from the profile, not from an adversary.
pub type CellIndex = Arc<IndexSet<CellId, FxBuildHasher>>;

/// The routing state: one split per cell, in matrix order.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    cells: CellIndex,
    splits: Vec<Split>,
}

impl Routes {
    /// Every cell entirely on `provider`.
    pub fn all_to(cells: impl IntoIterator<Item = CellId>, provider: impl Into<super::Id>) -> Self {
        let index: CellIndex = Arc::new(cells.into_iter().collect());
        Self::uniform(index, Split::all(provider))
    }

    /// Every cell of `cells` on `split`.
    pub fn uniform(cells: CellIndex, split: Split) -> Self {
        let splits = vec![split; cells.len()];
        Self { cells, splits }
    }

    /// The same cells, every one on `split`.
    pub fn filled(&self, split: &Split) -> Routes {
        Routes::uniform(self.cells.clone(), split.clone())
    }

    /// One split per cell of `cells`, in its order; `None` if the counts differ.
    pub fn from_splits(cells: CellIndex, splits: Vec<Split>) -> Option<Self> {
        (cells.len() == splits.len()).then_some(Self { cells, splits })
    }

    /// The split of a cell found by its names, to change in place.
    pub fn get_mut(&mut self, key: CellKey) -> Option<&mut Split> {
        let i = self.cells.get_index_of(&key)?;
        self.splits.get_mut(i)
    }

    pub fn get(&self, cell: &CellId) -> Option<&Split> {
        self.cells
            .get_index_of(cell)
            .and_then(|i| self.splits.get(i))
    }

    pub fn set(&mut self, cell: CellId, split: Split) {
        match self.cells.get_index_of(&cell) {
            Some(i) => self.splits[i] = split,
            None => {
                Arc::make_mut(&mut self.cells).insert(cell);
                self.splits.push(split);
            }
        }
    }

    /// Puts `split` in each of `cells` (all of them without a lookup each when
    /// `cells` is every cell in order, as in `rollback --all`).
    pub fn set_each(&mut self, cells: &[CellId], split: &Split) {
        let in_order = cells.len() == self.cells.len()
            && cells.iter().zip(self.cells.iter()).all(|(a, b)| a == b);
        if in_order {
            for value in &mut self.splits {
                value.clone_from(split);
            }
        } else {
            for cell in cells {
                self.set(cell.clone(), split.clone());
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (&CellId, &Split)> {
        self.cells.iter().zip(&self.splits)
    }

    pub fn len(&self) -> usize {
        self.splits.len()
    }

    pub fn is_empty(&self) -> bool {
        self.splits.is_empty()
    }

    /// Both hold the same cells in the same order.
    fn same_cells(&self, other: &Routes) -> bool {
        Arc::ptr_eq(&self.cells, &other.cells)
            || (self.cells.len() == other.cells.len()
                && self
                    .cells
                    .iter()
                    .zip(other.cells.iter())
                    .all(|(a, b)| a == b))
    }

    /// The cells whose split differs, in this state's order, then new cells.
    pub fn diff(&self, after: &Routes) -> Vec<CellChange> {
        // Room for every cell up front: no regrowth copies for a full rollback.
        let mut changes: Vec<CellChange> = Vec::with_capacity(self.len().min(after.len()));
        let change = |cell: &CellId, before: Option<&Split>, after: &Split| CellChange {
            cell: cell.clone(),
            before: before.cloned(),
            after: after.clone(),
        };
        if self.same_cells(after) {
            for ((cell, old), new) in self.iter().zip(&after.splits) {
                if old != new {
                    changes.push(change(cell, Some(old), new));
                }
            }
            return changes;
        }
        for (cell, old) in self.iter() {
            if let Some(new) = after.get(cell)
                && new != old
            {
                changes.push(change(cell, Some(old), new));
            }
        }
        for (cell, new) in after.iter() {
            if self.get(cell).is_none() {
                changes.push(change(cell, None, new));
            }
        }
        changes
    }
}

impl PartialEq for Routes {
    /// Same cells in the same order with the same splits (order is routing-relevant:
    /// it is the order of the flags in the document).
    fn eq(&self, other: &Self) -> bool {
        self.same_cells(other) && self.splits == other.splits
    }
}

impl Eq for Routes {}

impl FromIterator<(CellId, Split)> for Routes {
    fn from_iter<T: IntoIterator<Item = (CellId, Split)>>(iter: T) -> Self {
        let mut routes = Routes::default();
        for (cell, split) in iter {
            routes.set(cell, split);
        }
        routes
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
