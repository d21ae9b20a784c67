//! Geometry in tile units: lines clipped piecewise and rings by
//! Sutherland-Hodgman to the buffered square, then simplified by
//! Douglas-Peucker. Kept vertices are original ones and clip points lie on
//! original edges.

use super::Pt;

/// A polyline clipped to the square [lo, hi]²: each piece inside, in
/// order, handed to `emit` (Liang-Barsky per segment, consecutive pieces
/// joined), built in `cur`.
pub(super) fn clip_line_each(
    pts: &[Pt],
    lo: f64,
    hi: f64,
    cur: &mut Vec<Pt>,
    mut emit: impl FnMut(&[Pt]),
) {
    cur.clear();
    if pts.len() < 2 {
        return;
    }
    for w in pts.windows(2) {
        let Some((a, b)) = clip_segment(w[0], w[1], lo, hi) else {
            if cur.len() >= 2 {
                emit(cur);
            }
            cur.clear();
            continue;
        };
        if cur.last() != Some(&a) {
            if cur.len() >= 2 {
                emit(cur);
            }
            cur.clear();
            cur.push(a);
        }
        cur.push(b);
        // Leaving the square ends the piece.
        if b != w[1] {
            emit(cur);
            cur.clear();
        }
    }
    if cur.len() >= 2 {
        emit(cur);
    }
}

#[cfg(test)]
fn clip_line(pts: &[Pt], lo: f64, hi: f64) -> Vec<Vec<Pt>> {
    let mut out = Vec::new();
    clip_line_each(pts, lo, hi, &mut Vec::new(), |p| out.push(p.to_vec()));
    out
}

fn clip_segment(a: Pt, b: Pt, lo: f64, hi: f64) -> Option<(Pt, Pt)> {
    // Most segments of a tile lie inside it: what the general case would
    // return, without its four divisions.
    let inside = |p: Pt| lo <= p.0 && p.0 <= hi && lo <= p.1 && p.1 <= hi;
    if inside(a) && inside(b) {
        return Some((a, b));
    }
    let (dx, dy) = (b.0 - a.0, b.1 - a.1);
    let (mut t0, mut t1) = (0.0f64, 1.0f64);
    for (p, q) in [
        (-dx, a.0 - lo),
        (dx, hi - a.0),
        (-dy, a.1 - lo),
        (dy, hi - a.1),
    ] {
        if p == 0.0 {
            if q < 0.0 {
                return None;
            }
        } else {
            let r = q / p;
            if p < 0.0 {
                t0 = t0.max(r);
            } else {
                t1 = t1.min(r);
            }
        }
    }
    if t0 > t1 {
        return None;
    }
    let at = |t: f64| (a.0 + t * dx, a.1 + t * dy);
    Some((
        if t0 > 0.0 { at(t0) } else { a },
        if t1 < 1.0 { at(t1) } else { b },
    ))
}

/// A ring (closing point optional) clipped to the square, by
/// Sutherland-Hodgman against each of its four edges, into `out` (`work`
/// is scratch).
pub(super) fn clip_ring_into(pts: &[Pt], lo: f64, hi: f64, work: &mut Vec<Pt>, out: &mut Vec<Pt>) {
    out.clear();
    out.extend_from_slice(pts);
    if out.len() > 1 && out.first() == out.last() {
        out.pop();
    }
    let (x0, y0, x1, y1) = out.iter().fold(
        (f64::MAX, f64::MAX, f64::MIN, f64::MIN),
        |(a, b, c, d), p| (a.min(p.0), b.min(p.1), c.max(p.0), d.max(p.1)),
    );
    if x0 >= lo && x1 <= hi && y0 >= lo && y1 <= hi {
        return;
    }
    if x1 < lo || x0 > hi || y1 < lo || y0 > hi {
        out.clear();
        return;
    }
    type Edge = (fn(Pt, f64) -> bool, fn(Pt, Pt, f64) -> Pt, f64);
    let edges: [Edge; 4] = [
        (|p, v| p.0 >= v, cross_x, lo),
        (|p, v| p.0 <= v, cross_x, hi),
        (|p, v| p.1 >= v, cross_y, lo),
        (|p, v| p.1 <= v, cross_y, hi),
    ];
    for (inside, cross, v) in edges {
        if out.is_empty() {
            break;
        }
        work.clear();
        for i in 0..out.len() {
            let (a, b) = (out[(i + out.len() - 1) % out.len()], out[i]);
            match (inside(a, v), inside(b, v)) {
                (true, true) => work.push(b),
                (true, false) => work.push(cross(a, b, v)),
                (false, true) => {
                    work.push(cross(a, b, v));
                    work.push(b);
                }
                (false, false) => {}
            }
        }
        std::mem::swap(work, out);
    }
}

#[cfg(test)]
fn clip_ring(pts: &[Pt], lo: f64, hi: f64) -> Vec<Pt> {
    let mut out = Vec::new();
    clip_ring_into(pts, lo, hi, &mut Vec::new(), &mut out);
    out
}

fn cross_x(a: Pt, b: Pt, x: f64) -> Pt {
    let t = (x - a.0) / (b.0 - a.0);
    (x, a.1 + t * (b.1 - a.1))
}

fn cross_y(a: Pt, b: Pt, y: f64) -> Pt {
    let t = (y - a.1) / (b.1 - a.1);
    (a.0 + t * (b.0 - a.0), y)
}

/// Douglas-Peucker, iterative; keeps the end points. Into `out`, with
/// `keep` and `stack` as scratch.
pub(super) fn simplify_into(
    pts: &[Pt],
    tol: f64,
    keep: &mut Vec<bool>,
    stack: &mut Vec<(usize, usize)>,
    out: &mut Vec<Pt>,
) {
    out.clear();
    if pts.len() < 3 {
        out.extend_from_slice(pts);
        return;
    }
    keep.clear();
    keep.resize(pts.len(), false);
    keep[0] = true;
    keep[pts.len() - 1] = true;
    stack.clear();
    stack.push((0usize, pts.len() - 1));
    let tol2 = tol * tol;
    while let Some((i, j)) = stack.pop() {
        let (a, b) = (pts[i], pts[j]);
        let (dx, dy) = (b.0 - a.0, b.1 - a.1);
        let len2 = dx * dx + dy * dy;
        // One division a span, not one a point.
        let inv = if len2 > 0.0 { 1.0 / len2 } else { 0.0 };
        let (mut worst, mut at) = (0.0, 0);
        for (k, &p) in pts.iter().enumerate().take(j).skip(i + 1) {
            let t = (((p.0 - a.0) * dx + (p.1 - a.1) * dy) * inv).clamp(0.0, 1.0);
            let (cx, cy) = (a.0 + t * dx - p.0, a.1 + t * dy - p.1);
            let d = cx * cx + cy * cy;
            if d > worst {
                worst = d;
                at = k;
            }
        }
        if worst > tol2 {
            keep[at] = true;
            stack.push((i, at));
            stack.push((at, j));
        }
    }
    out.extend(
        pts.iter()
            .zip(keep.iter())
            .filter(|(_, k)| **k)
            .map(|(p, _)| *p),
    );
}

#[cfg(test)]
fn simplify(pts: &[Pt], tol: f64) -> Vec<Pt> {
    let mut out = Vec::new();
    simplify_into(pts, tol, &mut Vec::new(), &mut Vec::new(), &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::super::render::{quantize, signed_area};
    use super::*;

    #[test]
    fn clipping_keeps_what_is_inside() {
        let pieces = clip_line(
            &[(-100.0, 10.0), (50.0, 10.0), (50.0, 200.0), (50.0, -50.0)],
            0.0,
            100.0,
        );
        assert_eq!(
            pieces,
            vec![
                vec![(0.0, 10.0), (50.0, 10.0), (50.0, 100.0)],
                vec![(50.0, 100.0), (50.0, 0.0)]
            ]
        );
        let r = clip_ring(
            &[(-10.0, -10.0), (50.0, -10.0), (50.0, 50.0), (-10.0, 50.0)],
            0.0,
            100.0,
        );
        let q = quantize(&r);
        assert_eq!(signed_area(&q).abs(), 2 * 50 * 50);
    }

    #[test]
    fn simplify_drops_only_what_moves_less_than_the_tolerance() {
        let line = [(0.0, 0.0), (10.0, 1.0), (20.0, 0.0), (30.0, 10.0)];
        assert_eq!(
            simplify(&line, 4.0),
            vec![(0.0, 0.0), (20.0, 0.0), (30.0, 10.0)]
        );
    }
}
