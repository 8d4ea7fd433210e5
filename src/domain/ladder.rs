use super::PerMille;

/// The shift ladder: the shares `+`/`-` (or `--step up|down`) move between.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ladder {
    steps: Vec<PerMille>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Up,
    Down,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LadderError {
    #[error(
        "the ladder is empty (expected at least two steps, e.g. [0, 1, 5, 10, 25, 50, 75, 100])"
    )]
    TooShort,
    #[error("ladder step {after} follows {before}: steps must increase")]
    NotIncreasing { before: PerMille, after: PerMille },
}

impl Ladder {
    /// The research doc's canary ladder.
    pub fn standard() -> Self {
        let steps = [0, 10, 50, 100, 250, 500, 750, 1000]
            .into_iter()
            .filter_map(PerMille::new)
            .collect();
        Self { steps }
    }

    pub fn new(steps: Vec<PerMille>) -> Result<Self, LadderError> {
        if steps.len() < 2 {
            return Err(LadderError::TooShort);
        }
        for pair in steps.windows(2) {
            if pair[1] <= pair[0] {
                return Err(LadderError::NotIncreasing {
                    before: pair[0],
                    after: pair[1],
                });
            }
        }
        Ok(Self { steps })
    }

    pub fn steps(&self) -> &[PerMille] {
        &self.steps
    }

    /// The next step strictly above (or below) `current`; `None` at the end.
    /// A share between two steps moves to the neighbouring step, not by a fixed amount.
    pub fn step(&self, current: PerMille, direction: Direction) -> Option<PerMille> {
        match direction {
            Direction::Up => self.steps.iter().copied().find(|s| *s > current),
            Direction::Down => self.steps.iter().rev().copied().find(|s| *s < current),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pm(v: u16) -> PerMille {
        PerMille::new(v).unwrap()
    }

    #[test]
    fn steps_between_rungs() {
        let l = Ladder::standard();
        assert_eq!(l.step(pm(0), Direction::Up), Some(pm(10)));
        assert_eq!(l.step(pm(30), Direction::Up), Some(pm(50)));
        assert_eq!(l.step(pm(30), Direction::Down), Some(pm(10)));
        assert_eq!(l.step(pm(1000), Direction::Up), None);
        assert_eq!(l.step(pm(0), Direction::Down), None);
    }

    #[test]
    fn rejects_bad_ladders() {
        assert_eq!(Ladder::new(vec![pm(0)]), Err(LadderError::TooShort));
        assert!(matches!(
            Ladder::new(vec![pm(0), pm(50), pm(50)]),
            Err(LadderError::NotIncreasing { .. })
        ));
    }
}
