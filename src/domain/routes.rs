use indexmap::IndexMap;

use super::{CellChange, CellId, Split};

/// The routing state: one split per cell, in matrix order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Routes {
    cells: IndexMap<CellId, Split>,
}

impl Routes {
    /// Every cell entirely on `provider`.
    pub fn all_to(cells: impl IntoIterator<Item = CellId>, provider: &str) -> Self {
        Self {
            cells: cells
                .into_iter()
                .map(|c| (c, Split::all(provider)))
                .collect(),
        }
    }

    pub fn get(&self, cell: &CellId) -> Option<&Split> {
        self.cells.get(cell)
    }

    pub fn set(&mut self, cell: CellId, split: Split) {
        self.cells.insert(cell, split);
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
        let mut changes: Vec<CellChange> = Vec::new();
        for (cell, new) in after.iter() {
            let old = self.get(cell);
            if old != Some(new) {
                changes.push(CellChange {
                    cell: cell.clone(),
                    before: old.cloned(),
                    after: new.clone(),
                });
            }
        }
        let position = |c: &CellId| self.cells.get_index_of(c).unwrap_or(usize::MAX);
        changes.sort_by_key(|c| position(&c.cell));
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
