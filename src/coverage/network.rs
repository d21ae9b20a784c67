//! Network tracing: which sources reach a line through connected lines.
//!
//! Lines connect where their vertices lie within a tolerance of each other
//! (pipes and feeders split at junctions share endpoints). A feature
//! connects all its own vertices. Components come from a union-find over
//! the lines active in a scenario, minus any switched off.
//!
//! Two ways of meeting a source, chosen by the rules' `level_property`:
//!
//! - **One level** (no level property; water): a source (a feed pipe) is
//!   part of the network like a line, and lines meeting at it join there.
//! - **By level** (power by `voltage_kv`, gas by a pressure class): lines
//!   join only lines of their own level, and a source (a substation, a
//!   regulator station) is where supply enters, never a junction. A line
//!   vertex within the tolerance of a source vertex is fed by that source
//!   while it is in service and joins nothing else there; so levels meet
//!   only through a source, and a substation that is out cuts off the
//!   feeders only it feeds. A line without the property is of the level
//!   "none", shared with other such lines.
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
    /// Node ids each source feature touches (by source-layer index): its
    /// own vertices first, then (by level) the line vertices it feeds.
    source_nodes: Vec<Vec<u32>>,
    /// How many of each source's nodes are its own vertices.
    source_own: Vec<usize>,
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
    /// `levels`, when the network is traced by level, gives each line's
    /// level (`None`: the line has none).
    pub fn build(
        line_geoms: &[Option<&Geometry>],
        source_geoms: &[Option<&Geometry>],
        levels: Option<&[Option<String>]>,
        proj: &LocalProjection,
        tolerance_m: f64,
    ) -> Network {
        let tol = tolerance_m.max(1e-6);
        let xy = |g: &Geometry| -> Vec<[f64; 2]> {
            coords_of(g).into_iter().map(|c| proj.to_xy(c)).collect()
        };
        let mut count = 0usize;
        let Some(levels) = levels else {
            // One level: sources snap to line vertices like lines do; a
            // source with no line nearby is a component of its own.
            let mut snap = Snapper::new(tol);
            let mut nodes_of = |geoms: &[Option<&Geometry>]| -> Vec<Vec<u32>> {
                geoms
                    .iter()
                    .map(|g| {
                        g.map(|g| {
                            xy(g)
                                .into_iter()
                                .map(|p| snap.node(p, &mut count))
                                .collect()
                        })
                        .unwrap_or_default()
                    })
                    .collect()
            };
            let line_nodes = nodes_of(line_geoms);
            let source_nodes = nodes_of(source_geoms);
            return Network {
                line_nodes,
                source_own: source_nodes.iter().map(Vec::len).collect(),
                source_nodes,
                node_count: count,
            };
        };
        // By level: each source vertex is a node of its own; the sources'
        // vertices are kept in a grid of their own to find the line
        // vertices they feed.
        let mut at_sources = Snapper::new(tol);
        let mut spots = 0usize;
        let mut fed_at: HashMap<u32, Vec<usize>> = HashMap::new();
        let mut source_nodes: Vec<Vec<u32>> = Vec::with_capacity(source_geoms.len());
        for (i, g) in source_geoms.iter().enumerate() {
            let mut own = Vec::new();
            for p in g.map(xy).unwrap_or_default() {
                let spot = at_sources.node(p, &mut spots);
                let owners = fed_at.entry(spot).or_default();
                if !owners.contains(&i) {
                    owners.push(i);
                }
                own.push(count as u32);
                count += 1;
            }
            source_nodes.push(own);
        }
        let source_own = source_nodes.iter().map(Vec::len).collect();
        let mut by_level: HashMap<Option<&str>, Snapper> = HashMap::new();
        let mut line_nodes = Vec::with_capacity(line_geoms.len());
        for (i, g) in line_geoms.iter().enumerate() {
            let level = levels.get(i).and_then(|l| l.as_deref());
            let mut nodes = Vec::new();
            for p in g.map(xy).unwrap_or_default() {
                let fed_by: Vec<usize> = at_sources
                    .near(p)
                    .into_iter()
                    .flat_map(|spot| fed_at[&spot].iter().copied())
                    .collect();
                if fed_by.is_empty() {
                    let snap = by_level.entry(level).or_insert_with(|| Snapper::new(tol));
                    nodes.push(snap.node(p, &mut count));
                } else {
                    // Fed by the source(s) here, joined to nothing else.
                    let n = count as u32;
                    count += 1;
                    for s in fed_by {
                        source_nodes[s].push(n);
                    }
                    nodes.push(n);
                }
            }
            line_nodes.push(nodes);
        }
        Network {
            line_nodes,
            source_nodes,
            source_own,
            node_count: count,
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
        // A source made of several vertices (a feed pipe) connects them too;
        // the line vertices it feeds by level are not joined through it.
        for (i, nodes) in self.source_nodes.iter().enumerate() {
            if source_on(i) {
                join(&mut parent, &nodes[..self.source_own[i]]);
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

    /// The nodes a source feature touches (by source-layer position): its
    /// own vertices and the line vertices it feeds.
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
    /// By level, a source is connected to no other: supply enters there.
    pub fn sources_of_source(&self, t: &Tracing, source: usize) -> BTreeSet<usize> {
        let mut out = BTreeSet::new();
        let own = self.source_own.get(source).copied().unwrap_or(0);
        for &n in &self
            .source_nodes
            .get(source)
            .map(Vec::as_slice)
            .unwrap_or(&[])[..own]
        {
            if let Some(s) = t.sources_by_root.get(&t.root[n as usize]) {
                out.extend(s.iter().copied());
            }
        }
        out
    }
}

/// No point before this one in its cell.
const NONE: u32 = u32::MAX;

/// Merges points closer than a tolerance into one node (grid hashing).
/// The first point snapped wins: later points within the tolerance of it
/// take its id. Ids come from a counter the caller shares between snappers.
///
/// A cell is the tolerance wide, so a city's every vertex has a cell of
/// its own: each cell holds the index of its last point, and each point the
/// one before it in its cell, rather than a `Vec` per cell (a million
/// vertices made a million small vectors, 400 MB at ten million segments).
struct Snapper {
    cell: f64,
    tol2: f64,
    /// Cell -> its last point, by index into `points`.
    heads: hashbrown::HashMap<(i64, i64), u32, foldhash::fast::RandomState>,
    /// Every point: its node id, where it is, and the point put in its cell
    /// before it (`NONE`: none).
    points: Vec<(u32, [f64; 2], u32)>,
}

impl Snapper {
    fn new(tol: f64) -> Self {
        Snapper {
            cell: tol,
            tol2: tol * tol,
            heads: Default::default(),
            points: Vec::new(),
        }
    }

    fn cell_of(&self, p: [f64; 2]) -> (i64, i64) {
        (
            (p[0] / self.cell).floor() as i64,
            (p[1] / self.cell).floor() as i64,
        )
    }

    /// Each id of a point within the tolerance of `p`.
    fn each_near(&self, p: [f64; 2], mut each: impl FnMut(u32)) {
        let (cx, cy) = self.cell_of(p);
        for dx in -1..=1 {
            for dy in -1..=1 {
                let mut at = self.heads.get(&(cx + dx, cy + dy)).copied().unwrap_or(NONE);
                while at != NONE {
                    let (id, q, before) = self.points[at as usize];
                    let (ex, ey) = (q[0] - p[0], q[1] - p[1]);
                    if ex * ex + ey * ey <= self.tol2 {
                        each(id);
                    }
                    at = before;
                }
            }
        }
    }

    /// The ids of the points within the tolerance of `p`, first snapped first.
    fn near(&self, p: [f64; 2]) -> Vec<u32> {
        let mut out = Vec::new();
        self.each_near(p, |id| out.push(id));
        out.sort_unstable();
        out
    }

    /// The id of the point `p` snaps to, a new one (from `count`) if none.
    fn node(&mut self, p: [f64; 2], count: &mut usize) -> u32 {
        let mut first = NONE;
        self.each_near(p, |id| first = first.min(id));
        if first != NONE {
            return first;
        }
        let id = *count as u32;
        *count += 1;
        let at = self.points.len() as u32;
        let before = self.heads.insert(self.cell_of(p), at).unwrap_or(NONE);
        self.points.push((id, p, before));
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
        let net = Network::build(&lines, &sources, None, &proj, 1.0);
        let all = net.trace(|_| true, |_| true);
        assert_eq!(net.sources_of_line(&all, 1).len(), 2);
        // Switch off the middle pipe: each end keeps only its own feed.
        let cut = net.trace(|i| i != 1, |_| true);
        assert_eq!(net.sources_of_line(&cut, 0), BTreeSet::from([0]));
        assert_eq!(net.sources_of_line(&cut, 2), BTreeSet::from([1]));
        assert_eq!(net.sources_of_source(&cut, 1), BTreeSet::from([1]));
    }

    #[test]
    fn by_level_a_substation_feeds_its_lines_and_joins_none() {
        // Substations A (west) and B (east) on a 110 kV tie; at B a 10 kV
        // feeder leaves for the east and a 10 kV ring line runs from B back
        // west to A. Lines: 0 tie (110), 1 feeder from B (10), 2 ring B-A (10).
        let proj = LocalProjection::new(coord! {x: 113.5, y: 34.7});
        let a = (113.50, 34.70);
        let b = (113.52, 34.70);
        let lines = [
            line(a, b),
            line(b, (113.53, 34.70)),
            line((113.52, 34.70), (113.50, 34.70)),
        ];
        let levels = [Some("110".to_owned()), Some("10".into()), Some("10".into())];
        let subs = [
            Geometry::Point(Point::new(a.0, a.1)),
            Geometry::Point(Point::new(b.0, b.1)),
        ];
        let geoms: Vec<Option<&Geometry>> = lines.iter().map(Some).collect();
        let sources: Vec<Option<&Geometry>> = subs.iter().map(Some).collect();
        let net = Network::build(&geoms, &sources, Some(&levels), &proj, 1.0);
        let all = net.trace(|_| true, |_| true);
        // The feeder is fed by B alone: the tie and the ring meet it only
        // at B, which is where supply enters, not a junction.
        assert_eq!(net.sources_of_line(&all, 1), BTreeSet::from([1]));
        // The ring runs from B to A: both feed it.
        assert_eq!(net.sources_of_line(&all, 2), BTreeSet::from([0, 1]));
        // A substation stands for itself, not for those its lines reach.
        assert_eq!(net.sources_of_source(&all, 0), BTreeSet::from([0]));
        // B out: its feeder has no source; the ring keeps A.
        let b_out = net.trace(|_| true, |s| s != 1);
        assert!(net.sources_of_line(&b_out, 1).is_empty());
        assert_eq!(net.sources_of_line(&b_out, 2), BTreeSet::from([0]));
        // The same lines traced as one level: the feeder meets the ring and
        // the tie at B and keeps A through them, the answer by level refuses.
        let flat = Network::build(&geoms, &sources, None, &proj, 1.0);
        let flat_b_out = flat.trace(|_| true, |s| s != 1);
        assert_eq!(flat.sources_of_line(&flat_b_out, 1), BTreeSet::from([0]));
        // The substation's nodes include the line ends it feeds (N-1 joins
        // them through the substation).
        assert_eq!(net.source_nodes(1).len(), 1 + 3);
    }
}
