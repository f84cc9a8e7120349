//! Pictures of a small graph: where to put its nodes (a force-directed layout) and the graph
//! drawn with each node coloured by its class.

use std::path::Path;

use plotters::prelude::*;
use rand::{Rng, SeedableRng};

use super::plot::{LEGEND_WIDTH, LegendMark, PALETTE, beside_legend, render_png};
use crate::error::Result;

/// Fruchterman & Reingold's layout (1991): edges pull their ends together like springs, every
/// pair of nodes pushes apart, and the steps shrink as the layout cools. From a fixed seed, so
/// the pictures before and after training put every node at the same place. Quadratic in the
/// nodes: for pictures of small graphs (a few hundred nodes).
pub fn spring_layout(
    nodes: usize,
    edges: &[[u32; 2]],
    iterations: usize,
    seed: u64,
) -> Vec<(f64, f64)> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let mut position: Vec<(f64, f64)> = (0..nodes)
        .map(|_| (rng.random::<f64>(), rng.random::<f64>()))
        .collect();
    // the ideal distance between neighbours, for a unit square
    let k = (1.0 / nodes.max(1) as f64).sqrt();
    for step in 0..iterations {
        let temperature = 0.1 * (1.0 - step as f64 / iterations as f64);
        let mut shift = vec![(0.0f64, 0.0f64); nodes];
        for i in 0..nodes {
            for j in 0..nodes {
                if i != j {
                    let (dx, dy) = (position[i].0 - position[j].0, position[i].1 - position[j].1);
                    let distance = (dx * dx + dy * dy).sqrt().max(1e-6);
                    let push = k * k / distance;
                    shift[i].0 += dx / distance * push;
                    shift[i].1 += dy / distance * push;
                }
            }
        }
        for &[a, b] in edges {
            let (a, b) = (a as usize, b as usize);
            let (dx, dy) = (position[a].0 - position[b].0, position[a].1 - position[b].1);
            let distance = (dx * dx + dy * dy).sqrt().max(1e-6);
            let pull = distance * distance / k;
            let (fx, fy) = (dx / distance * pull, dy / distance * pull);
            shift[a].0 -= fx;
            shift[a].1 -= fy;
            shift[b].0 += fx;
            shift[b].1 += fy;
        }
        for (p, (sx, sy)) in position.iter_mut().zip(shift) {
            let length = (sx * sx + sy * sy).sqrt().max(1e-9);
            let moved = length.min(temperature);
            p.0 += sx / length * moved;
            p.1 += sy / length * moved;
        }
    }
    position
}

/// What [`draw_graph`] draws.
pub struct GraphPicture<'a> {
    pub title: &'a str,
    pub positions: &'a [(f64, f64)],
    pub edges: &'a [[u32; 2]],
    /// The class each node is drawn in (its colour), and the classes' names for the legend.
    pub class_of: &'a [usize],
    pub classes: &'a [String],
    /// Nodes drawn larger, ringed and named (the labelled ones).
    pub marked: &'a [usize],
    /// Each node's name, written beside it.
    pub names: &'a [String],
}

/// Draws the graph: grey edges, nodes in their class's colour, the marked ones ringed.
pub fn draw_graph(path: &Path, picture: &GraphPicture) -> Result<()> {
    render_png(path, (800 + LEGEND_WIDTH, 800), |root| {
        let mut entries: Vec<(String, LegendMark)> = picture
            .classes
            .iter()
            .enumerate()
            .map(|(c, name)| (name.clone(), LegendMark::Dot(PALETTE[c % PALETTE.len()])))
            .collect();
        entries.push(("labelled".to_string(), LegendMark::Ring));
        let root = &beside_legend(root, &entries)?;
        let range = |axis: fn(&(f64, f64)) -> f64| {
            let (lo, hi) = picture
                .positions
                .iter()
                .map(axis)
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
                    (lo.min(v), hi.max(v))
                });
            let pad = (hi - lo).max(1e-9) * 0.06;
            lo - pad..hi + pad
        };
        let mut chart = ChartBuilder::on(root)
            .caption(picture.title, ("sans-serif", 22))
            .margin(16)
            .build_cartesian_2d(range(|p| p.0), range(|p| p.1))?;
        chart.draw_series(picture.edges.iter().map(|&[a, b]| {
            PathElement::new(
                vec![picture.positions[a as usize], picture.positions[b as usize]],
                RGBColor(170, 170, 170).stroke_width(1),
            )
        }))?;
        for class in 0..picture.classes.len() {
            let color = PALETTE[class % PALETTE.len()];
            chart.draw_series(
                (0..picture.positions.len())
                    .filter(|&n| picture.class_of[n] == class)
                    .map(|n| Circle::new(picture.positions[n], 9, color.filled())),
            )?;
        }
        chart.draw_series(
            picture
                .marked
                .iter()
                .map(|&n| Circle::new(picture.positions[n], 14, BLACK.stroke_width(3))),
        )?;
        chart.draw_series(
            picture
                .positions
                .iter()
                .zip(picture.names)
                .map(|(&p, name)| {
                    Text::new(
                        name.clone(),
                        p,
                        ("sans-serif", 11).into_font().color(&BLACK),
                    )
                }),
        )?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_layout_puts_neighbours_nearer_than_strangers() {
        // two triangles joined by one edge
        let edges = [[0, 1], [1, 2], [0, 2], [3, 4], [4, 5], [3, 5], [2, 3]];
        let p = spring_layout(6, &edges, 200, 1);
        let distance =
            |a: usize, b: usize| ((p[a].0 - p[b].0).powi(2) + (p[a].1 - p[b].1).powi(2)).sqrt();
        let neighbours = edges
            .iter()
            .map(|&[a, b]| distance(a as usize, b as usize))
            .sum::<f64>()
            / 7.0;
        let strangers = [(0, 4), (0, 5), (1, 4), (1, 5), (1, 3), (2, 5)]
            .iter()
            .map(|&(a, b)| distance(a, b))
            .sum::<f64>()
            / 6.0;
        assert!(neighbours < strangers * 0.7, "{neighbours} vs {strangers}");
        assert_eq!(p, spring_layout(6, &edges, 200, 1));
    }
}
