//! Which single node cuts a place off from its sources: articulation points
//! of an undirected graph, found by one depth-first search from a root that
//! stands for every source (Hopcroft and Tarjan's lowpoints, 1973).
//!
//! The graph is built by `coverage::outage` from a network: one node per
//! snapped vertex, one per asset (joined to its vertices), and the root
//! (joined to every source asset). Removing an asset node is switching the
//! asset off. A place is fed through a set of asset nodes (its own
//! connections or the assets within reach); it is cut off by a node when
//! none of them stays connected to the root without it.
//!
//! Must not: know about layers, geometry or HTTP.

/// The depth-first search from the root: what `cut_by` reads.
#[derive(Debug)]
pub struct Separators {
    /// Discovery order of each node; `u32::MAX` when the root does not reach it.
    disc: Vec<u32>,
    /// The nearest proper ancestor whose removal disconnects the node from
    /// the root (never the root itself).
    up: Vec<Option<u32>>,
}

impl Separators {
    /// Search the graph (`adj`: neighbours of each node) from `root`, in
    /// O(nodes + edges), iteratively (no recursion: a radial network is as
    /// deep as it is long).
    pub fn search(adj: &[Vec<u32>], root: u32) -> Separators {
        let n = adj.len();
        let mut disc = vec![u32::MAX; n];
        let mut low = vec![u32::MAX; n];
        let mut parent = vec![u32::MAX; n];
        let mut order = Vec::with_capacity(n);
        let mut next = 0u32;
        // (node, index of the next neighbour to look at)
        let mut stack: Vec<(u32, usize)> = vec![(root, 0)];
        disc[root as usize] = 0;
        low[root as usize] = 0;
        order.push(root);
        next += 1;
        while let Some(&mut (v, ref mut k)) = stack.last_mut() {
            let vu = v as usize;
            if let Some(&w) = adj[vu].get(*k) {
                *k += 1;
                let wu = w as usize;
                if disc[wu] == u32::MAX {
                    disc[wu] = next;
                    low[wu] = next;
                    next += 1;
                    parent[wu] = v;
                    order.push(w);
                    stack.push((w, 0));
                } else {
                    // A back edge (or the tree edge to the parent, which
                    // cannot lower `low` below the parent's discovery).
                    low[vu] = low[vu].min(disc[wu]);
                }
            } else {
                stack.pop();
                if let Some(&(p, _)) = stack.last() {
                    low[p as usize] = low[p as usize].min(low[vu]);
                }
            }
        }
        // In discovery order every parent comes before its children.
        let mut up = vec![None; n];
        for &v in order.iter().skip(1) {
            let p = parent[v as usize];
            if p == root {
                continue;
            }
            up[v as usize] = if low[v as usize] >= disc[p as usize] {
                Some(p)
            } else {
                up[p as usize]
            };
        }
        Separators { disc, up }
    }

    /// Whether the root reaches a node.
    pub fn reached(&self, v: u32) -> bool {
        self.disc[v as usize] != u32::MAX
    }

    /// The nodes whose removal alone disconnects every one of `feeds` from
    /// the root (a feed itself counts when it is the only one), sorted.
    /// Empty when no feed is reached in the first place.
    pub fn cut_by(&self, feeds: &[u32]) -> Vec<u32> {
        let mut common: Option<Vec<u32>> = None;
        for &a in feeds.iter().filter(|&&a| self.reached(a)) {
            let mut cuts = vec![a];
            let mut at = self.up[a as usize];
            while let Some(p) = at {
                cuts.push(p);
                at = self.up[p as usize];
            }
            cuts.sort_unstable();
            common = Some(match common {
                None => cuts,
                Some(c) => c
                    .into_iter()
                    .filter(|x| cuts.binary_search(x).is_ok())
                    .collect(),
            });
            if common.as_ref().is_some_and(Vec::is_empty) {
                break;
            }
        }
        common.unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether the root reaches any feed once `gone` is removed (BFS).
    fn fed_without(adj: &[Vec<u32>], root: u32, feeds: &[u32], gone: u32) -> bool {
        let mut seen = vec![false; adj.len()];
        seen[root as usize] = true;
        seen[gone as usize] = true;
        let mut queue = vec![root];
        while let Some(v) = queue.pop() {
            for &w in &adj[v as usize] {
                if !seen[w as usize] {
                    seen[w as usize] = true;
                    queue.push(w);
                }
            }
        }
        feeds.iter().any(|&f| f != gone && seen[f as usize])
    }

    /// On random sparse graphs (trees with a few extra edges, some parts
    /// unreachable), the nodes `cut_by` names are exactly those whose
    /// removal, tried one by one, leaves no feed reachable.
    #[test]
    fn cut_by_equals_removing_each_node_in_turn() {
        let mut rnd = crate::testkit::rng(7);
        for case in 0..300 {
            let n = 2 + (rnd() * 40.0) as usize;
            let mut adj = vec![Vec::new(); n];
            let edge = |adj: &mut Vec<Vec<u32>>, a: usize, b: usize| {
                if a != b {
                    adj[a].push(b as u32);
                    adj[b].push(a as u32);
                }
            };
            for v in 1..n {
                if rnd() < 0.9 {
                    let p = (rnd() * v as f64) as usize;
                    edge(&mut adj, v, p);
                }
            }
            for _ in 0..(rnd() * n as f64 * 0.3) as usize {
                let (a, b) = ((rnd() * n as f64) as usize, (rnd() * n as f64) as usize);
                edge(&mut adj, a, b);
            }
            let sep = Separators::search(&adj, 0);
            let k = 1 + (rnd() * 3.0) as usize;
            let feeds: Vec<u32> = (0..k)
                .map(|_| 1 + (rnd() * (n - 1) as f64) as u32)
                .collect();
            let got = sep.cut_by(&feeds);
            let reached = feeds.iter().any(|&f| sep.reached(f));
            let want: Vec<u32> = if reached {
                (1..n as u32)
                    .filter(|&g| !fed_without(&adj, 0, &feeds, g))
                    .collect()
            } else {
                vec![]
            };
            assert_eq!(
                got, want,
                "case {case}: n {n}, feeds {feeds:?}, adj {adj:?}"
            );
        }
    }

    #[test]
    fn a_chain_is_cut_anywhere_and_a_ring_nowhere() {
        // root 0 - 1 - 2 - 3, feed 3: every node on the way cuts it.
        let chain = vec![vec![1], vec![0, 2], vec![1, 3], vec![2]];
        let sep = Separators::search(&chain, 0);
        assert_eq!(sep.cut_by(&[3]), vec![1, 2, 3]);
        // A ring 0-1-2-3-0: only the feed itself.
        let ring = vec![vec![1, 3], vec![0, 2], vec![1, 3], vec![2, 0]];
        let sep = Separators::search(&ring, 0);
        assert_eq!(sep.cut_by(&[2]), vec![2]);
        // Two feeds on either side of the ring: nothing alone cuts both.
        assert_eq!(sep.cut_by(&[1, 3]), Vec::<u32>::new());
    }
}
