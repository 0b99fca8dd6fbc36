//! The order of the script's statements: every statement after those it depends on, and
//! otherwise in a fixed order of steps (types, sequences, tables, …), so the same template
//! always gives the same script.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Orders `count` statements so that each comes after all of `deps[i]`; among statements
/// whose dependencies are met, the lowest `(rank, index)` goes first (Kahn's algorithm with a
/// priority queue).
///
/// `Err` holds the statements left on a dependency cycle (and those waiting behind it).
pub(crate) fn order(ranks: &[u8], deps: &[Vec<usize>]) -> Result<Vec<usize>, Vec<usize>> {
    let count = ranks.len();
    let mut waiting_on = vec![0_usize; count];
    let mut dependents = vec![Vec::new(); count];
    for (item, item_deps) in deps.iter().enumerate() {
        let mut seen = item_deps.clone();
        seen.sort_unstable();
        seen.dedup();
        for dep in seen.into_iter().filter(|&dep| dep != item && dep < count) {
            waiting_on[item] += 1;
            dependents[dep].push(item);
        }
    }
    let mut ready: BinaryHeap<Reverse<(u8, usize)>> =
        (0..count).filter(|&item| waiting_on[item] == 0).map(|item| Reverse((ranks[item], item))).collect();
    let mut ordered = Vec::with_capacity(count);
    while let Some(Reverse((_, item))) = ready.pop() {
        ordered.push(item);
        for &dependent in &dependents[item] {
            waiting_on[dependent] -= 1;
            if waiting_on[dependent] == 0 {
                ready.push(Reverse((ranks[dependent], dependent)));
            }
        }
    }
    if ordered.len() == count {
        Ok(ordered)
    } else {
        Err((0..count).filter(|&item| waiting_on[item] > 0).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranks_decide_unless_a_dependency_says_otherwise() {
        // 0: table (rank 2) whose default calls function 2; 1: type (rank 0);
        // 2: function (rank 8); 3: view (rank 9) on table 0.
        let ranks = [2, 0, 8, 9];
        let deps = vec![vec![2], vec![], vec![], vec![0, 0]];
        assert_eq!(order(&ranks, &deps), Ok(vec![1, 2, 0, 3]));
        assert_eq!(order(&[1, 0], &[vec![], vec![]]), Ok(vec![1, 0]));
        assert_eq!(order(&[0, 0], &[vec![], vec![]]), Ok(vec![0, 1]), "ties keep the catalog's order");
    }

    #[test]
    fn self_references_are_ignored_and_cycles_reported() {
        assert_eq!(order(&[0], &[vec![0]]), Ok(vec![0]));
        assert_eq!(order(&[0, 0, 0], &[vec![1], vec![0], vec![]]), Err(vec![0, 1]));
        assert_eq!(order(&[0, 0, 0], &[vec![1], vec![0], vec![1]]), Err(vec![0, 1, 2]));
    }
}
