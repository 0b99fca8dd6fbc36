//! Planning: from the applied set and the local migrations to the steps for one schema.
//!
//! Pure functions, no database: the executor plans every tenant from one catalog read, and
//! only applying touches PostgreSQL.

use std::fmt;

use super::bookkeeping::Applied;
use super::source::MigrationSet;

/// What a run wants each schema to reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Goal {
    /// Apply every pending migration (`migrate`).
    Latest,
    /// Move to exactly this version, applying or reverting (`migrate --target V`,
    /// `rollback --target V`); 0 reverts everything.
    Target(i64),
    /// Revert the last `n` applied migrations (`rollback --steps N`).
    Rollback(usize),
    /// Apply this one version if pending (`up V`).
    Apply(i64),
    /// Revert this one version if applied (`down V`).
    Revert(i64),
    /// Revert the last applied migration and apply it again (`redo`).
    Redo,
}

/// Which way a step goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Apply the up SQL and record the version.
    Up,
    /// Apply the down SQL and forget the version.
    Down,
}

/// One migration applied or reverted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    /// The migration's version.
    pub version: i64,
    /// Up or down.
    pub direction: Direction,
}

impl Step {
    fn up(version: i64) -> Self {
        Self { version, direction: Direction::Up }
    }

    fn down(version: i64) -> Self {
        Self { version, direction: Direction::Down }
    }
}

/// The work for one schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Plan {
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Versions whose stored checksum is replaced by the file's (an accepted edit).
    pub accept_checksums: Vec<i64>,
}

impl Plan {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty() && self.accept_checksums.is_empty()
    }
}

/// Why a schema cannot be planned; nothing is applied to it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Blocked {
    /// Applied migrations whose files changed since.
    ChecksumMismatch {
        /// The versions whose checksums differ.
        versions: Vec<i64>,
    },
    /// A version that must be reverted has no migration file here.
    UnknownApplied {
        /// The version.
        version: i64,
    },
    /// A version that must be reverted has no `.down.sql`.
    Irreversible {
        /// The version.
        version: i64,
    },
    /// The requested version is not among the local migrations.
    UnknownVersion {
        /// The version.
        version: i64,
    },
}

impl Blocked {
    /// The version the problem is about (the first, for several).
    pub fn version(&self) -> Option<i64> {
        match self {
            Self::ChecksumMismatch { versions } => versions.first().copied(),
            Self::UnknownApplied { version } | Self::Irreversible { version } | Self::UnknownVersion { version } => {
                Some(*version)
            }
        }
    }
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::ChecksumMismatch { versions } => write!(
                f,
                "applied migration(s) {} changed on disk since they were applied; restore the original file(s), \
                 or accept the edit with --accept-changed-checksums",
                join(versions)
            ),
            Self::UnknownApplied { version } => write!(
                f,
                "version {version} is applied but has no migration file here, so it cannot be reverted; \
                 restore the file"
            ),
            Self::Irreversible { version } => {
                write!(f, "version {version} has no .down.sql, so it cannot be reverted")
            }
            Self::UnknownVersion { version } => write!(f, "there is no migration with version {version}"),
        }
    }
}

fn join(versions: &[i64]) -> String {
    versions.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

/// Plans `goal` for a schema whose applied set is `applied`.
///
/// Pending migrations below the latest applied one (merged from another branch) are applied in
/// version order, as Rails does. An applied migration whose file changed blocks the schema
/// unless `accept_changed_checksums`, which records the file's checksum instead.
///
/// # Errors
/// The reason the schema cannot move: see [`Blocked`].
pub fn plan(
    local: &MigrationSet,
    applied: &Applied,
    goal: Goal,
    accept_changed_checksums: bool,
) -> Result<Plan, Blocked> {
    let changed: Vec<i64> = applied
        .0
        .iter()
        .filter(|(version, checksum)| local.get(**version).is_some_and(|m| &m.checksum != *checksum))
        .map(|(version, _)| *version)
        .collect();
    if !changed.is_empty() && !accept_changed_checksums {
        return Err(Blocked::ChecksumMismatch { versions: changed });
    }
    let is_applied = |version: i64| applied.0.contains_key(&version);
    let pending = || local.iter().map(|m| m.version).filter(|v| !is_applied(*v));
    let applied_desc = || applied.0.keys().rev().copied();

    let mut steps = match goal {
        Goal::Latest => pending().map(Step::up).collect(),
        Goal::Target(target) => {
            if target != 0 && local.get(target).is_none() {
                return Err(Blocked::UnknownVersion { version: target });
            }
            let mut steps: Vec<Step> = applied_desc().filter(|v| *v > target).map(Step::down).collect();
            steps.extend(pending().filter(|v| *v <= target).map(Step::up));
            steps
        }
        Goal::Rollback(n) => applied_desc().take(n).map(Step::down).collect(),
        Goal::Apply(version) => {
            if local.get(version).is_none() {
                return Err(Blocked::UnknownVersion { version });
            }
            if is_applied(version) {
                Vec::new()
            } else {
                vec![Step::up(version)]
            }
        }
        Goal::Revert(version) => {
            if is_applied(version) {
                vec![Step::down(version)]
            } else if local.get(version).is_none() {
                return Err(Blocked::UnknownVersion { version });
            } else {
                Vec::new()
            }
        }
        Goal::Redo => match applied.latest() {
            Some(version) => vec![Step::down(version), Step::up(version)],
            None => Vec::new(),
        },
    };
    for step in &steps {
        if step.direction == Direction::Down {
            match local.get(step.version) {
                None => return Err(Blocked::UnknownApplied { version: step.version }),
                Some(m) if !m.is_reversible() => return Err(Blocked::Irreversible { version: step.version }),
                Some(_) => {}
            }
        }
    }
    // A changed migration that is reverted anyway needs no checksum update.
    let reverted: Vec<i64> = steps.iter().filter(|s| s.direction == Direction::Down).map(|s| s.version).collect();
    let accept_checksums = changed.into_iter().filter(|v| !reverted.contains(v)).collect();
    steps.shrink_to_fit();
    Ok(Plan { steps, accept_checksums })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::migrate::migration::{Checksum, Migration};

    fn local(versions: &[i64], irreversible: &[i64]) -> MigrationSet {
        MigrationSet::new(
            versions
                .iter()
                .map(|v| {
                    let down = (!irreversible.contains(v)).then(|| format!("DROP TABLE t{v};"));
                    Migration::new(*v, format!("m{v}"), format!("CREATE TABLE t{v} ();"), down)
                })
                .collect(),
        )
        .expect("distinct versions")
    }

    fn applied(set: &MigrationSet, versions: &[i64]) -> Applied {
        Applied(
            versions
                .iter()
                .map(|v| (*v, set.get(*v).map_or_else(|| Checksum::of(b"gone"), |m| m.checksum.clone())))
                .collect(),
        )
    }

    fn steps(plan: Result<Plan, Blocked>) -> Vec<(i64, Direction)> {
        plan.expect("plans").steps.iter().map(|s| (s.version, s.direction)).collect()
    }

    use Direction::{Down, Up};

    #[test]
    fn latest_applies_pending_in_order_including_gaps() {
        let set = local(&[1, 2, 3, 4], &[]);
        assert_eq!(steps(plan(&set, &applied(&set, &[1, 3]), Goal::Latest, false)), [(2, Up), (4, Up)]);
        assert_eq!(steps(plan(&set, &applied(&set, &[1, 2, 3, 4]), Goal::Latest, false)), []);
    }

    #[test]
    fn target_moves_both_ways() {
        let set = local(&[1, 2, 3, 4], &[]);
        let at_two = applied(&set, &[1, 2]);
        assert_eq!(steps(plan(&set, &at_two, Goal::Target(4), false)), [(3, Up), (4, Up)]);
        assert_eq!(steps(plan(&set, &applied(&set, &[1, 2, 3, 4]), Goal::Target(2), false)), [(4, Down), (3, Down)]);
        assert_eq!(steps(plan(&set, &at_two, Goal::Target(0), false)), [(2, Down), (1, Down)]);
        assert_eq!(plan(&set, &at_two, Goal::Target(9), false), Err(Blocked::UnknownVersion { version: 9 }));
    }

    #[test]
    fn rollback_redo_up_and_down() {
        let set = local(&[1, 2, 3], &[]);
        let all = applied(&set, &[1, 2, 3]);
        assert_eq!(steps(plan(&set, &all, Goal::Rollback(2), false)), [(3, Down), (2, Down)]);
        assert_eq!(steps(plan(&set, &all, Goal::Rollback(10), false)), [(3, Down), (2, Down), (1, Down)]);
        assert_eq!(steps(plan(&set, &all, Goal::Redo, false)), [(3, Down), (3, Up)]);
        assert_eq!(steps(plan(&set, &applied(&set, &[1]), Goal::Apply(3), false)), [(3, Up)]);
        assert_eq!(steps(plan(&set, &all, Goal::Apply(3), false)), []);
        assert_eq!(steps(plan(&set, &all, Goal::Revert(2), false)), [(2, Down)]);
        assert_eq!(steps(plan(&set, &applied(&set, &[1]), Goal::Revert(2), false)), []);
        assert_eq!(steps(plan(&set, &Applied::default(), Goal::Redo, false)), []);
    }

    #[test]
    fn changed_checksums_block_unless_accepted() {
        let set = local(&[1, 2], &[]);
        let mut edited = applied(&set, &[1, 2]);
        edited.0.insert(1, Checksum::of(b"the old text"));
        assert_eq!(plan(&set, &edited, Goal::Latest, false), Err(Blocked::ChecksumMismatch { versions: vec![1] }));
        let accepted = plan(&set, &edited, Goal::Latest, true).expect("accepted");
        assert_eq!(accepted, Plan { steps: vec![], accept_checksums: vec![1] });
        assert!(!accepted.is_empty());
    }

    #[test]
    fn reverting_needs_a_down_file() {
        let set = local(&[1, 2], &[2]);
        let all = applied(&set, &[1, 2]);
        assert_eq!(plan(&set, &all, Goal::Rollback(1), false), Err(Blocked::Irreversible { version: 2 }));
        let unknown = applied(&set, &[1, 2, 7]);
        assert_eq!(plan(&set, &unknown, Goal::Rollback(1), false), Err(Blocked::UnknownApplied { version: 7 }));
        assert_eq!(
            steps(plan(&set, &unknown, Goal::Latest, false)),
            [],
            "unknown applied versions do not block going up"
        );
    }

    #[test]
    fn blocked_messages_say_what_to_do() {
        let message = Blocked::ChecksumMismatch { versions: vec![9, 10] }.to_string();
        assert!(message.contains("9, 10") && message.contains("--accept-changed-checksums"), "{message}");
    }
}
