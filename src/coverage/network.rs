//! Network tracing: which sources reach a line through connected lines.
//!
//! Lines connect where their vertices lie within a tolerance of each other
//! (pipes and feeders split at junctions share endpoints; a source point such
//! as a substation connects to any line vertex within the tolerance). A
//! feature connects all its own vertices. Components come from a union-find
//! over the lines active in a scenario, minus an optionally switched-off one.
//!
//! Must not: know about HTTP or measure areas.

use std::collections::{BTreeSet, HashMap};

use geo::{Coord, Geometry};

use crate::geodesy::LocalProjection;

/// The vertex graph of one network, built once.
#[derive(Debug)]
pub struct Network {
    /// Node ids of each line feature's vertices (by line-layer index).
    line_nodes: Vec<Vec<u32>>,
    /// Node ids each source feature touches (by source-layer index).
    source_nodes: Vec<Vec<u32>>,
    node_count: usize,
}

/// Components of a network in one scenario.
#[derive(Debug, Clone)]
pub struct Tracing {
    /// Component (a root node id) of each node.
    root: Vec<u32>,
    /// Sources (source-layer indexes) active in each component.
    sources_by_root: HashMap<u32, BTreeSet<usize>>,
}

fn coords_of(g: &Geometry) -> Vec<Coord> {
    use geo::CoordsIter;
    g.coords_iter().collect()
}

impl Network {
    /// Build the graph. `line_geoms` and `source_geoms` are indexed like their
    /// layers; `None` marks features that are not part of the network.
    pub fn build(
        line_geoms: &[Option<&Geometry>],
        source_geoms: &[Option<&Geometry>],
        proj: &LocalProjection,
        tolerance_m: f64,
    ) -> Network {
        let mut snap = Snapper::new(tolerance_m.max(1e-6));
        // Sources snap to line vertices within the tolerance like lines do; a
        // source with no line nearby is a component of its own.
        let mut nodes_of = |geoms: &[Option<&Geometry>]| -> Vec<Vec<u32>> {
            geoms
                .iter()
                .map(|g| {
                    g.map(|g| {
                        coords_of(g)
                            .into_iter()
                            .map(|c| snap.node(proj.to_xy(c)))
                            .collect()
                    })
                    .unwrap_or_default()
                })
                .collect()
        };
        let line_nodes = nodes_of(line_geoms);
        let source_nodes = nodes_of(source_geoms);
        Network {
            line_nodes,
            source_nodes,
            node_count: snap.count,
        }
    }

    /// Components over the lines `line_on` accepts, with the sources
    /// `source_on` accepts.
    pub fn trace(
        &self,
        line_on: impl Fn(usize) -> bool,
        source_on: impl Fn(usize) -> bool,
    ) -> Tracing {
        let mut parent: Vec<u32> = (0..self.node_count as u32).collect();
        fn find(p: &mut [u32], mut x: u32) -> u32 {
            while p[x as usize] != x {
                p[x as usize] = p[p[x as usize] as usize];
                x = p[x as usize];
            }
            x
        }
        fn join(p: &mut [u32], nodes: &[u32]) {
            for w in nodes.windows(2) {
                let (a, b) = (find(p, w[0]), find(p, w[1]));
                if a != b {
                    p[a as usize] = b;
                }
            }
        }
        for (i, nodes) in self.line_nodes.iter().enumerate() {
            if line_on(i) {
                join(&mut parent, nodes);
            }
        }
        // A source made of several vertices (a feed pipe) connects them too.
        for (i, nodes) in self.source_nodes.iter().enumerate() {
            if source_on(i) {
                join(&mut parent, nodes);
            }
        }
        let root: Vec<u32> = (0..self.node_count as u32)
            .map(|n| find(&mut parent, n))
            .collect();
        let mut sources_by_root: HashMap<u32, BTreeSet<usize>> = HashMap::new();
        for (i, nodes) in self.source_nodes.iter().enumerate() {
            if source_on(i) {
                for &n in nodes {
                    sources_by_root
                        .entry(root[n as usize])
                        .or_default()
                        .insert(i);
                }
            }
        }
        Tracing {
            root,
            sources_by_root,
        }
    }

    /// Graph nodes (snapped vertices) in all.
    pub fn node_count(&self) -> usize {
        self.node_count
    }

    /// The nodes of a line feature's vertices (by line-layer position).
    pub fn line_nodes(&self, line: usize) -> &[u32] {
        self.line_nodes.get(line).map_or(&[], Vec::as_slice)
    }

    /// The nodes a source feature touches (by source-layer position).
    pub fn source_nodes(&self, source: usize) -> &[u32] {
        self.source_nodes.get(source).map_or(&[], Vec::as_slice)
    }

    /// Sources reaching a line feature, in this tracing.
    pub fn sources_of_line(&self, t: &Tracing, line: usize) -> BTreeSet<usize> {
        self.line_nodes
            .get(line)
            .and_then(|n| n.first())
            .and_then(|&n| t.sources_by_root.get(&t.root[n as usize]))
            .cloned()
            .unwrap_or_default()
    }

    /// Sources connected to a source feature (itself included when active).
    pub fn sources_of_source(&self, t: &Tracing, source: usize) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        for &n in self
            .source_nodes
            .get(source)
            .map(Vec::as_slice)
            .unwrap_or(&[])
        {
            if let Some(s) = t.sources_by_root.get(&t.root[n as usize]) {
                out.extend(s.iter().copied());
            }
        }
        out
    }
}

/// A node id and its projected position.
type Node = (u32, [f64; 2]);

/// Merges points closer than a tolerance into one node (grid hashing).
struct Snapper {
    cell: f64,
    tol2: f64,
    grid: HashMap<(i64, i64), Vec<Node>>,
    count: usize,
}

impl Snapper {
    fn new(tol: f64) -> Self {
        Snapper {
            cell: tol,
            tol2: tol * tol,
            grid: HashMap::new(),
            count: 0,
        }
    }

    fn node(&mut self, p: [f64; 2]) -> u32 {
        let (cx, cy) = (
            (p[0] / self.cell).floor() as i64,
            (p[1] / self.cell).floor() as i64,
        );
        for dx in -1..=1 {
            for dy in -1..=1 {
                if let Some(v) = self.grid.get(&(cx + dx, cy + dy)) {
                    for (id, q) in v {
                        let (ex, ey) = (q[0] - p[0], q[1] - p[1]);
                        if ex * ex + ey * ey <= self.tol2 {
                            return *id;
                        }
                    }
                }
            }
        }
        let id = self.count as u32;
        self.count += 1;
        self.grid.entry((cx, cy)).or_default().push((id, p));
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use geo::{coord, LineString, Point};

    fn line(a: (f64, f64), b: (f64, f64)) -> Geometry {
        Geometry::LineString(LineString(vec![
            coord! {x: a.0, y: a.1},
            coord! {x: b.0, y: b.1},
        ]))
    }

    #[test]
    fn two_feeds_reach_a_loop_and_one_cut_leaves_one() {
        // Feed A at the west end, feed B at the east end, a chain of three pipes.
        let proj = LocalProjection::new(coord! {x: 113.5, y: 34.7});
        let pipes = [
            line((113.50, 34.70), (113.51, 34.70)),
            line((113.51, 34.70), (113.52, 34.70)),
            line((113.52, 34.70), (113.53, 34.70)),
        ];
        let feeds = [
            Geometry::Point(Point::new(113.50, 34.70)),
            Geometry::Point(Point::new(113.53, 34.70)),
        ];
        let lines: Vec<Option<&Geometry>> = pipes.iter().map(Some).collect();
        let sources: Vec<Option<&Geometry>> = feeds.iter().map(Some).collect();
        let net = Network::build(&lines, &sources, &proj, 1.0);
        let all = net.trace(|_| true, |_| true);
        assert_eq!(net.sources_of_line(&all, 1).len(), 2);
        // Switch off the middle pipe: each end keeps only its own feed.
        let cut = net.trace(|i| i != 1, |_| true);
        assert_eq!(net.sources_of_line(&cut, 0), BTreeSet::from([0]));
        assert_eq!(net.sources_of_line(&cut, 2), BTreeSet::from([1]));
        assert_eq!(net.sources_of_source(&cut, 1), BTreeSet::from([1]));
    }
}
