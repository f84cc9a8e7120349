//! Graphs whose nodes have features and (some of them) a class: Zachary's karate club and the
//! Cora citation graph, embedded, or the user's own, as an `.npz` in Cora's layout or as two CSV
//! files (edges, nodes). Read into one [`Graph`]: undirected edges, each once, self-loops dropped
//! (the model adds its own), dense node features, optional labels.

use std::collections::HashMap;
use std::io::Cursor;
use std::path::Path;

use npyz::npz::NpzArchive;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use serde::{Deserialize, Serialize};

use super::text::{class_names, csv_reason};
use crate::error::{Error, Result};

const KARATE_EDGES: &[u8] = include_bytes!("../../data/karate-club/edges.csv");
const KARATE_NODES: &[u8] = include_bytes!("../../data/karate-club/nodes.csv");
const CORA_NPZ: &[u8] = include_bytes!("../../data/cora.npz");

/// A graph and what is known of its nodes.
#[derive(Debug, Clone)]
pub struct Graph {
    pub nodes: usize,
    /// Each node's id: as written in a nodes CSV, else its index.
    pub ids: Vec<String>,
    /// Undirected edges `[a, b]` with `a < b`, each once.
    pub edges: Vec<[u32; 2]>,
    /// Row-major `[nodes, feature_count]`.
    pub features: Vec<f32>,
    pub feature_count: usize,
    /// The class of each node, where known.
    pub labels: Vec<Option<u32>>,
    pub classes: Vec<String>,
}

impl Graph {
    /// The features of node `node`.
    pub fn features_of(&self, node: usize) -> &[f32] {
        &self.features[node * self.feature_count..(node + 1) * self.feature_count]
    }

    /// Each node's neighbours, in increasing order.
    pub fn neighbours(&self) -> Vec<Vec<u32>> {
        let mut lists = vec![Vec::new(); self.nodes];
        for &[a, b] in &self.edges {
            lists[a as usize].push(b);
            lists[b as usize].push(a);
        }
        for list in &mut lists {
            list.sort_unstable();
        }
        lists
    }

    /// Divides each node's features by their sum, as Kipf & Welling do with bag-of-words
    /// features, when every feature is ≥ 0 (rows summing to 0 stay as they are). Returns
    /// whether it did.
    pub fn normalize_rows(&mut self) -> bool {
        if self.features.iter().any(|&v| v < 0.0) {
            return false;
        }
        for row in self.features.chunks_mut(self.feature_count.max(1)) {
            let sum: f32 = row.iter().sum();
            if sum > 0.0 {
                row.iter_mut().for_each(|v| *v /= sum);
            }
        }
        true
    }

    /// Checks what every graph must be, naming in the error the file that holds the edges
    /// (`edges_source`) or the labels (`labels_source`).
    fn validate(self, edges_source: &str, labels_source: &str) -> Result<Self> {
        let bad_edges = |reason: String| Error::BadCsv {
            source_name: edges_source.to_string(),
            reason,
        };
        let bad = |reason: String| Error::BadCsv {
            source_name: labels_source.to_string(),
            reason,
        };
        if self.edges.is_empty() {
            return Err(bad_edges(
                "no edge between two different nodes: a graph network needs neighbours".to_string(),
            ));
        }
        let mut counts = vec![0usize; self.classes.len()];
        for label in self.labels.iter().flatten() {
            counts[*label as usize] += 1;
        }
        if self.classes.len() < 2 {
            return Err(bad(format!(
                "{} class: at least two are needed",
                self.classes.len()
            )));
        }
        if let Some(missing) = counts.iter().position(|&c| c == 0) {
            return Err(bad(format!(
                "no labelled node of the class {:?}",
                self.classes[missing]
            )));
        }
        Ok(self)
    }
}

/// Where a run's graph comes from, as written in its `config.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphDataConfig {
    /// `karate`, `cora`, or the user's file name.
    pub dataset: String,
    /// The user's `.npz` or edges CSV (absolute), none for the embedded graphs.
    pub path: Option<std::path::PathBuf>,
    /// The user's nodes CSV, with an edges CSV.
    pub nodes_path: Option<std::path::PathBuf>,
    /// SHA-256 of the user's files, checked again when a run is resumed or predicted from.
    pub sha256: Option<String>,
}

impl GraphDataConfig {
    pub fn embedded(name: &str) -> Self {
        Self {
            dataset: name.to_string(),
            path: None,
            nodes_path: None,
            sha256: None,
        }
    }

    /// The user's graph: an `.npz`, or an edges CSV with its nodes CSV.
    pub fn file(path: &Path, nodes: Option<&Path>) -> Result<Self> {
        let absolute = |p: &Path| std::path::absolute(p).map_err(|e| Error::io(p, e));
        let mut config = Self {
            dataset: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
            path: Some(absolute(path)?),
            nodes_path: nodes.map(absolute).transpose()?,
            sha256: None,
        };
        config.sha256 = Some(super::download::sha256_files(&config.files())?);
        Ok(config)
    }

    /// The user's files, the edges (or `.npz`) first.
    fn files(&self) -> Vec<std::path::PathBuf> {
        self.path.iter().chain(&self.nodes_path).cloned().collect()
    }

    /// Reads the graph, refusing a user's file that changed since the run started.
    pub fn load(&self) -> Result<Graph> {
        match (&self.path, &self.nodes_path) {
            (None, _) => match self.dataset.as_str() {
                "karate" => karate(),
                "cora" => cora(),
                other => Err(Error::Usage(format!(
                    "unknown graph {other:?}: karate or cora (or --data FILE)"
                ))),
            },
            (Some(path), nodes) => {
                if let Some(expected) = &self.sha256 {
                    // one hash covers both files: the error names both
                    let named = match nodes {
                        Some(nodes) => format!("{} and {}", path.display(), nodes.display()).into(),
                        None => path.clone(),
                    };
                    super::download::refuse_changed(&named, &self.files(), expected)?;
                }
                read_graph(path, nodes.as_deref())
            }
        }
    }
}

/// `--data FILE.npz`, or `--data edges.csv --nodes nodes.csv`.
pub fn read_graph(path: &Path, nodes: Option<&Path>) -> Result<Graph> {
    let is_npz = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npz"));
    match (is_npz, nodes) {
        (true, None) => {
            let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
            read_npz(&bytes, &path.display().to_string())
        }
        (true, Some(_)) => Err(Error::Usage(
            "--nodes goes with an edges CSV, not with an .npz (which holds the nodes)".to_string(),
        )),
        (false, Some(nodes)) => {
            let read = |p: &Path| std::fs::read(p).map_err(|e| Error::io(p, e));
            read_csv_graph(
                (&read(path)?, &path.display().to_string()),
                (&read(nodes)?, &nodes.display().to_string()),
            )
        }
        (false, None) => Err(Error::Usage(format!(
            "{}: a graph is an .npz (Cora's layout) or an edges CSV with --nodes nodes.csv",
            path.display()
        ))),
    }
}

/// Zachary's karate club (1977): 34 members, 78 friendships, and the faction each joined after
/// the club split (`Mr. Hi`, the instructor, node 0; `Officer`, the administrator, node 33).
/// No features: each member is its own one-hot vector.
pub fn karate() -> Result<Graph> {
    read_csv_graph(
        (KARATE_EDGES, "data/karate-club/edges.csv"),
        (KARATE_NODES, "data/karate-club/nodes.csv"),
    )
}

/// The Cora citation graph (2,708 papers, 1,433 word features, 7 classes), as vendored.
pub fn cora() -> Result<Graph> {
    read_npz(CORA_NPZ, "data/cora.npz")
}

/// A graph from two CSV files: edges (`source,target`: two columns of node ids) and nodes (`id`,
/// then the label, which may be empty for an unlabelled node, then numeric features; no feature
/// column gives each node its own one-hot vector). Node ids are any strings.
pub fn read_csv_graph(
    (edges, edges_name): (&[u8], &str),
    (nodes, nodes_name): (&[u8], &str),
) -> Result<Graph> {
    let bad = |name: &str, reason: String| Error::BadCsv {
        source_name: name.to_string(),
        reason,
    };
    let records = |bytes: &[u8],
                   name: &str,
                   min_columns: usize|
     -> Result<(csv::StringRecord, Vec<csv::StringRecord>)> {
        if bytes.iter().all(|b| b.is_ascii_whitespace()) {
            return Err(bad(name, "empty file: no header row".to_string()));
        }
        let mut reader = csv::ReaderBuilder::new().flexible(false).from_reader(bytes);
        let header = reader
            .headers()
            .map_err(|e| bad(name, csv_reason(&e, 1)))?
            .clone();
        if header.len() < min_columns {
            return Err(bad(
                name,
                format!(
                    "{} columns; at least {min_columns} are needed",
                    header.len()
                ),
            ));
        }
        let rows = reader
            .records()
            .enumerate()
            .map(|(i, r)| r.map_err(|e| bad(name, csv_reason(&e, i + 2))))
            .collect::<Result<Vec<_>>>()?;
        if rows.is_empty() {
            return Err(bad(name, "no data row under the header".to_string()));
        }
        Ok((header, rows))
    };
    let (node_header, node_rows) = records(nodes, nodes_name, 2)?;
    let mut index = HashMap::new();
    for (i, row) in node_rows.iter().enumerate() {
        let id = row[0].trim();
        if id.is_empty() {
            return Err(cell(
                nodes_name,
                i + 2,
                &node_header[0],
                "the node id is empty",
            ));
        }
        if index.insert(id.to_string(), i as u32).is_some() {
            return Err(cell(
                nodes_name,
                i + 2,
                "id",
                &format!("node {id:?} is listed twice"),
            ));
        }
    }
    let feature_count = node_rows[0].len() - 2;
    let mut features = Vec::with_capacity(node_rows.len() * feature_count.max(1));
    for (i, row) in node_rows.iter().enumerate() {
        for column in 2..row.len() {
            let text = row[column].trim();
            let value = text
                .parse::<f32>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| {
                    cell(
                        nodes_name,
                        i + 2,
                        &node_header[column],
                        &format!("{text:?} is not a number"),
                    )
                })?;
            features.push(value);
        }
    }
    let nodes = node_rows.len();
    let feature_count = if feature_count == 0 {
        // one-hot identity features
        features = vec![0.0; nodes * nodes];
        (0..nodes).for_each(|i| features[i * nodes + i] = 1.0);
        nodes
    } else {
        feature_count
    };
    let targets: Vec<String> = node_rows
        .iter()
        .map(|r| r[1].trim().to_string())
        .filter(|t| !t.is_empty())
        .collect();
    let classes = class_names(&targets);
    let class_of: HashMap<&str, u32> = classes
        .iter()
        .enumerate()
        .map(|(i, c)| (c.as_str(), i as u32))
        .collect();
    let labels = node_rows
        .iter()
        .map(|r| class_of.get(r[1].trim()).copied())
        .collect();

    let mut pairs = Vec::new();
    let (edge_header, edge_rows) = records(edges, edges_name, 2)?;
    for (i, row) in edge_rows.iter().enumerate() {
        let end = |column: usize| -> Result<u32> {
            let id = row[column].trim();
            index.get(id).copied().ok_or_else(|| {
                cell(
                    edges_name,
                    i + 2,
                    &edge_header[column],
                    &format!("node {id:?} is not in {nodes_name}"),
                )
            })
        };
        pairs.push([end(0)?, end(1)?]);
    }
    Graph {
        nodes,
        ids: node_rows.iter().map(|r| r[0].trim().to_string()).collect(),
        edges: undirected(pairs),
        features,
        feature_count,
        labels,
        classes,
    }
    .validate(edges_name, nodes_name)
}

fn cell(source: &str, row: usize, column: &str, reason: &str) -> Error {
    Error::BadCell {
        source_name: source.to_string(),
        row,
        column: column.to_string(),
        reason: reason.to_string(),
    }
}

/// Each undirected edge once, as `[low, high]`, without self-loops, in order.
fn undirected(pairs: impl IntoIterator<Item = [u32; 2]>) -> Vec<[u32; 2]> {
    let mut edges: Vec<[u32; 2]> = pairs
        .into_iter()
        .filter(|[a, b]| a != b)
        .map(|[a, b]| [a.min(b), a.max(b)])
        .collect();
    edges.sort_unstable();
    edges.dedup();
    edges
}

/// A graph in the layout of Shchur et al.'s `cora.npz`: the adjacency and the features as CSR
/// arrays (`adj_data`, `adj_indices`, `adj_indptr`, `adj_shape`, and `attr_…`), `labels`, and
/// optionally `class_names`. Only numeric and text arrays are read: nothing is unpickled.
pub fn read_npz(bytes: &[u8], source: &str) -> Result<Graph> {
    let bad = |reason: String| npz_error(source, reason);
    let mut archive = NpzArchive::new(Cursor::new(bytes))
        .map_err(|e| bad(format!("not an .npz (a zip of .npy arrays): {e}")))?;
    let shape = |archive: &mut NpzArchive<_>, name: &str| -> Result<[usize; 2]> {
        let values = ints(archive, name, source)?;
        match values[..] {
            [rows, cols] if rows > 0 && cols > 0 => Ok([rows as usize, cols as usize]),
            _ => Err(bad(format!(
                "{name} must be two positive sizes, not {values:?}"
            ))),
        }
    };
    let [nodes, columns] = shape(&mut archive, "adj_shape")?;
    if nodes != columns {
        return Err(bad(format!(
            "adj_shape {nodes} × {columns}: an adjacency matrix is square"
        )));
    }
    let adjacency = csr(&mut archive, "adj", [nodes, nodes], source)?;
    let [rows, feature_count] = shape(&mut archive, "attr_shape")?;
    if rows != nodes {
        return Err(bad(format!(
            "attr_shape has {rows} rows but the graph {nodes} nodes"
        )));
    }
    let attributes = csr(&mut archive, "attr", [nodes, feature_count], source)?;
    let mut features = vec![0f32; nodes * feature_count];
    for (row, columns, values) in attributes.rows() {
        for (&c, &v) in columns.iter().zip(values) {
            features[row * feature_count + c as usize] = v;
        }
    }
    let raw_labels = ints(&mut archive, "labels", source)?;
    if raw_labels.len() != nodes {
        return Err(bad(format!(
            "labels holds {} values but the graph {nodes} nodes",
            raw_labels.len()
        )));
    }
    // a negative label marks an unlabelled node
    let count = raw_labels.iter().copied().max().unwrap_or(-1) + 1;
    let labels = raw_labels
        .iter()
        .map(|&l| (l >= 0).then_some(l as u32))
        .collect();
    let classes = match archive.by_name("class_names").ok().flatten() {
        Some(file) => file
            .into_vec::<String>()
            .map_err(|e| bad(format!("class_names: {e}")))?,
        None => (0..count).map(|c| c.to_string()).collect(),
    };
    if (classes.len() as i64) < count {
        return Err(bad(format!(
            "labels go up to {} but class_names names {} classes",
            count - 1,
            classes.len()
        )));
    }
    let mut pairs = Vec::new();
    for (row, columns, values) in adjacency.rows() {
        for (&c, &v) in columns.iter().zip(values) {
            if v != 0.0 {
                pairs.push([row as u32, c]);
            }
        }
    }
    Graph {
        nodes,
        ids: (0..nodes).map(|n| n.to_string()).collect(),
        edges: undirected(pairs),
        features,
        feature_count,
        labels,
        classes,
    }
    .validate(source, source)
}

/// A sparse matrix as read from an `.npz`: row pointers, column indices, values.
struct NpzCsr {
    indptr: Vec<usize>,
    indices: Vec<u32>,
    values: Vec<f32>,
}

impl NpzCsr {
    fn rows(&self) -> impl Iterator<Item = (usize, &[u32], &[f32])> {
        self.indptr
            .windows(2)
            .enumerate()
            .map(|(row, w)| (row, &self.indices[w[0]..w[1]], &self.values[w[0]..w[1]]))
    }
}

/// Reads `{prefix}_data`, `{prefix}_indices`, `{prefix}_indptr` and checks that they agree with
/// each other and with `shape`.
fn csr(
    archive: &mut NpzArchive<Cursor<&[u8]>>,
    prefix: &str,
    [rows, columns]: [usize; 2],
    source: &str,
) -> Result<NpzCsr> {
    let bad = |reason: String| npz_error(source, reason);
    let values = floats(archive, &format!("{prefix}_data"), source)?;
    let indices = ints(archive, &format!("{prefix}_indices"), source)?;
    let indptr = ints(archive, &format!("{prefix}_indptr"), source)?;
    if indptr.len() != rows + 1 {
        return Err(bad(format!(
            "{prefix}_indptr holds {} values; {rows} rows need {}",
            indptr.len(),
            rows + 1
        )));
    }
    if indices.len() != values.len() {
        return Err(bad(format!(
            "{prefix}_indices holds {} values but {prefix}_data {}",
            indices.len(),
            values.len()
        )));
    }
    if indptr[0] != 0
        || indptr.windows(2).any(|w| w[1] < w[0])
        || indptr[rows] as usize != indices.len()
    {
        return Err(bad(format!(
            "{prefix}_indptr must rise from 0 to the {} stored values",
            indices.len()
        )));
    }
    if let Some(c) = indices.iter().find(|&&c| c < 0 || c as usize >= columns) {
        return Err(bad(format!(
            "{prefix}_indices holds the column {c}, outside 0..{columns}"
        )));
    }
    if let Some(v) = values.iter().find(|v| !v.is_finite()) {
        return Err(bad(format!("{prefix}_data holds {v}")));
    }
    Ok(NpzCsr {
        indptr: indptr.iter().map(|&p| p as usize).collect(),
        indices: indices.iter().map(|&c| c as u32).collect(),
        values,
    })
}

/// The `.npy` array `name` of the archive, which must be there.
fn array<'a>(
    archive: &'a mut NpzArchive<Cursor<&[u8]>>,
    name: &str,
    source: &str,
) -> Result<npyz::NpyFile<impl std::io::Read + 'a>> {
    archive
        .by_name(name)
        .map_err(|e| npz_error(source, format!("{name}: {e}")))?
        .ok_or_else(|| npz_error(source, format!("no array {name} in the archive")))
}

/// An integer array of any width, as i64.
fn ints(archive: &mut NpzArchive<Cursor<&[u8]>>, name: &str, source: &str) -> Result<Vec<i64>> {
    let file = array(archive, name, source)?;
    let dtype = file.dtype().descr();
    let fail = |e: std::io::Error| npz_error(source, format!("{name}: {e}"));
    match dtype.trim_matches('\'').trim_start_matches(['<', '|', '=']) {
        "i1" => widened::<i8>(file),
        "i2" => widened::<i16>(file),
        "i4" => widened::<i32>(file),
        "i8" => widened::<i64>(file),
        "u1" => widened::<u8>(file),
        "u2" => widened::<u16>(file),
        "u4" => widened::<u32>(file),
        _ => {
            return Err(npz_error(
                source,
                format!("{name}: the values are {dtype}, not little-endian integers"),
            ));
        }
    }
    .map_err(fail)
}

/// An `.npz`'s error: the file, then what is wrong with it.
fn npz_error(source: &str, reason: String) -> Error {
    Error::BadCsv {
        source_name: source.to_string(),
        reason,
    }
}

/// The values of `file`, read as `T` and widened to i64.
fn widened<T: npyz::Deserialize + Into<i64>>(
    file: npyz::NpyFile<impl std::io::Read>,
) -> std::io::Result<Vec<i64>> {
    Ok(file.into_vec::<T>()?.into_iter().map(Into::into).collect())
}

/// A float (or integer) array as f32.
fn floats(archive: &mut NpzArchive<Cursor<&[u8]>>, name: &str, source: &str) -> Result<Vec<f32>> {
    let file = array(archive, name, source)?;
    let dtype = file.dtype().descr();
    let fail = |e: std::io::Error| npz_error(source, format!("{name}: {e}"));
    match dtype.trim_matches('\'').trim_start_matches(['<', '|', '=']) {
        "f4" => return file.into_vec::<f32>().map_err(fail),
        "f8" => {
            return file
                .into_vec::<f64>()
                .map(|v| v.into_iter().map(|x| x as f32).collect())
                .map_err(fail);
        }
        _ => drop(file),
    }
    Ok(ints(archive, name, source)?
        .into_iter()
        .map(|x| x as f32)
        .collect())
}

/// Which nodes a model learns from, is watched on while training, and is measured on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GraphSplit {
    pub train: Vec<u32>,
    pub validation: Vec<u32>,
    pub test: Vec<u32>,
}

impl GraphSplit {
    /// The protocol of Kipf & Welling's experiments (Planetoid's sizes), drawn from `seed`:
    /// `per_class` labelled nodes of each class to learn from, then `validation` and `test`
    /// nodes among the other labelled ones. Smaller graphs give what they have: the labelled
    /// nodes left after training go 1/3 to validation, 2/3 to test.
    pub fn per_class(
        graph: &Graph,
        per_class: usize,
        validation: usize,
        test: usize,
        seed: u64,
    ) -> Self {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let mut labelled: Vec<u32> = (0..graph.nodes as u32)
            .filter(|&n| graph.labels[n as usize].is_some())
            .collect();
        labelled.shuffle(&mut rng);
        let mut taken = vec![0usize; graph.classes.len()];
        let (mut train, mut rest) = (Vec::new(), Vec::new());
        for node in labelled {
            let class = graph.labels[node as usize].expect("labelled") as usize;
            // at most half of a small class, so that some of it is left to measure on
            let count = graph
                .labels
                .iter()
                .filter(|l| **l == Some(class as u32))
                .count();
            if taken[class] < per_class.min(count.div_ceil(2)) {
                taken[class] += 1;
                train.push(node);
            } else {
                rest.push(node);
            }
        }
        let (validation, test) = if rest.len() >= validation + test {
            (validation, test)
        } else {
            (rest.len() / 3, rest.len() - rest.len() / 3)
        };
        let mut test_nodes = rest.split_off(validation);
        test_nodes.truncate(test);
        let (mut validation_nodes, mut train) = (rest, train);
        for part in [&mut train, &mut validation_nodes, &mut test_nodes] {
            part.sort_unstable();
        }
        Self {
            train,
            validation: validation_nodes,
            test: test_nodes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_karate_club_has_34_members_78_friendships_and_two_factions() {
        let graph = karate().unwrap();
        assert_eq!((graph.nodes, graph.edges.len()), (34, 78));
        assert_eq!(graph.classes, ["Mr. Hi", "Officer"]);
        assert_eq!(graph.labels[0], Some(0));
        assert_eq!(graph.labels[33], Some(1));
        // the instructor's faction holds 17 members
        assert_eq!(graph.labels.iter().filter(|l| **l == Some(0)).count(), 17);
        // one-hot features
        assert_eq!(graph.feature_count, 34);
        assert_eq!(graph.features_of(5)[5], 1.0);
        assert_eq!(graph.features_of(5).iter().sum::<f32>(), 1.0);
        // the instructor has 16 friends, the administrator 17
        let neighbours = graph.neighbours();
        assert_eq!((neighbours[0].len(), neighbours[33].len()), (16, 17));
    }

    #[test]
    fn cora_reads_as_published() {
        let graph = cora().unwrap();
        assert_eq!((graph.nodes, graph.feature_count), (2708, 1433));
        assert_eq!(graph.classes.len(), 7);
        assert!(
            graph.classes.contains(&"Neural_Networks".to_string()),
            "{:?}",
            graph.classes
        );
        let largest = graph.labels.iter().filter(|l| {
            **l == Some(
                graph
                    .classes
                    .iter()
                    .position(|c| c == "Neural_Networks")
                    .unwrap() as u32,
            )
        });
        assert_eq!(largest.count(), 818);
        // 5,429 directed links in the file; the symmetric graph without self-loops or repeats
        // has 5,278 edges, as PyTorch Geometric's Cora
        assert_eq!(graph.edges.len(), 5278);
        assert!(graph.features.iter().all(|&v| v == 0.0 || v == 1.0));
    }

    #[test]
    fn the_split_takes_twenty_per_class_then_validation_and_test_from_the_seed() {
        let graph = cora().unwrap();
        let split = GraphSplit::per_class(&graph, 20, 500, 1000, 1);
        assert_eq!(
            (split.train.len(), split.validation.len(), split.test.len()),
            (140, 500, 1000)
        );
        let mut all: Vec<u32> = [&split.train, &split.validation, &split.test]
            .into_iter()
            .flatten()
            .copied()
            .collect();
        all.sort_unstable();
        all.dedup();
        assert_eq!(all.len(), 1640, "the parts overlap");
        assert_eq!(split, GraphSplit::per_class(&graph, 20, 500, 1000, 1));
        assert_ne!(split, GraphSplit::per_class(&graph, 20, 500, 1000, 2));
    }

    fn csv_graph(edges: &str, nodes: &str) -> Result<Graph> {
        read_csv_graph(
            (edges.as_bytes(), "edges.csv"),
            (nodes.as_bytes(), "nodes.csv"),
        )
    }

    #[test]
    fn csv_graphs_read_ids_labels_and_features_and_refuse_bad_ones() {
        let nodes = "id,label,x,y\na,red,1,0\nb,,0.5,2\nc,blue,3,4\n";
        let graph = csv_graph("s,t\na,b\nb,c\nc,a\na,a\n", nodes).unwrap();
        assert_eq!(graph.edges, [[0, 1], [0, 2], [1, 2]]);
        assert_eq!(graph.labels, [Some(1), None, Some(0)]);
        assert_eq!(graph.features_of(1), [0.5, 2.0]);
        let error = |edges: &str, nodes: &str| csv_graph(edges, nodes).unwrap_err().to_string();
        assert!(
            error("s,t\na,z\n", nodes)
                .contains("row 2, column \"t\": node \"z\" is not in nodes.csv")
        );
        assert!(error("s,t\na,a\n", nodes).contains("no edge between two different nodes"));
        assert!(error("s,t\na,b\n", "id,label\na,red\nb,\n").contains("at least two"));
        assert!(
            error("s,t\na,b\n", "id,label,x\na,red,1\nb,blue,one\n")
                .contains("row 3, column \"x\": \"one\" is not a number")
        );
        assert!(error("", nodes).contains("edges.csv: empty file"));
        assert!(error("s,t\na,b\n", "id,label\na,red\na,blue\n").contains("listed twice"));
    }

    /// The arrays of a graph `.npz`, changed at will by the tests before being written.
    #[derive(Clone)]
    struct NpzParts {
        adj_data: Vec<f32>,
        adj_indices: Vec<i32>,
        adj_indptr: Vec<i32>,
        adj_shape: Vec<i64>,
        attr_data: Vec<f32>,
        attr_indices: Vec<i32>,
        attr_indptr: Vec<i32>,
        attr_shape: Vec<i64>,
        labels: Vec<i64>,
        skip: Option<&'static str>,
    }

    impl NpzParts {
        /// A triangle 0-1-2 with a tail 2-3; 2 features; node 2 unlabelled.
        fn valid() -> Self {
            Self {
                adj_data: vec![1.0; 4],
                adj_indices: vec![1, 2, 2, 3],
                adj_indptr: vec![0, 2, 3, 4, 4],
                adj_shape: vec![4, 4],
                attr_data: vec![1.0, 2.0, 3.0],
                attr_indices: vec![0, 1, 1],
                attr_indptr: vec![0, 1, 2, 2, 3],
                attr_shape: vec![4, 2],
                labels: vec![0, 1, -1, 1],
                skip: None,
            }
        }

        fn bytes(&self) -> Vec<u8> {
            use npyz::WriterBuilder;
            use npyz::npz::NpzWriter;
            fn write<T: npyz::AutoSerialize + Copy, W: std::io::Write + std::io::Seek>(
                npz: &mut NpzWriter<W>,
                name: &str,
                values: &[T],
            ) {
                npz.array(name, Default::default())
                    .unwrap()
                    .default_dtype()
                    .shape(&[values.len() as u64])
                    .begin_nd()
                    .unwrap()
                    .extend(values.iter().copied())
                    .unwrap();
            }
            let mut buffer = Cursor::new(Vec::new());
            {
                let mut npz = NpzWriter::new(&mut buffer);
                let keep = |name: &str| self.skip != Some(name);
                if keep("adj_data") {
                    write(&mut npz, "adj_data", &self.adj_data);
                }
                if keep("adj_indices") {
                    write(&mut npz, "adj_indices", &self.adj_indices);
                }
                write(&mut npz, "adj_indptr", &self.adj_indptr);
                write(&mut npz, "adj_shape", &self.adj_shape);
                write(&mut npz, "attr_data", &self.attr_data);
                write(&mut npz, "attr_indices", &self.attr_indices);
                write(&mut npz, "attr_indptr", &self.attr_indptr);
                write(&mut npz, "attr_shape", &self.attr_shape);
                if keep("labels") {
                    write(&mut npz, "labels", &self.labels);
                }
            }
            buffer.into_inner()
        }
    }

    #[test]
    fn a_hand_made_npz_reads_back_edges_features_and_labels() {
        let graph = read_npz(&NpzParts::valid().bytes(), "g.npz").unwrap();
        assert_eq!(graph.nodes, 4);
        assert_eq!(graph.edges, [[0, 1], [0, 2], [1, 2], [2, 3]]);
        assert_eq!(graph.features, [1.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0]);
        assert_eq!(graph.labels, [Some(0), Some(1), None, Some(1)]);
        assert_eq!(graph.classes, ["0", "1"]);
        assert_eq!(graph.ids, ["0", "1", "2", "3"]);
    }

    #[test]
    fn every_bad_npz_is_refused_with_the_array_named() {
        let refused = |change: &dyn Fn(&mut NpzParts), expected: &str| {
            let mut parts = NpzParts::valid();
            change(&mut parts);
            let error = read_npz(&parts.bytes(), "g.npz").unwrap_err().to_string();
            assert!(error.starts_with("g.npz: "), "{error}");
            assert!(error.contains(expected), "{expected:?} not in {error:?}");
        };
        refused(&|p| p.skip = Some("labels"), "no array labels");
        refused(&|p| p.skip = Some("adj_indices"), "no array adj_indices");
        refused(
            &|p| p.labels.push(0),
            "labels holds 5 values but the graph 4 nodes",
        );
        refused(
            &|p| p.adj_indptr.pop().map(drop).unwrap_or(()),
            "adj_indptr holds 4 values",
        );
        refused(&|p| p.adj_indices[0] = 9, "adj_indices holds the column 9");
        refused(
            &|p| p.adj_data.push(1.0),
            "adj_indices holds 4 values but adj_data 5",
        );
        refused(&|p| p.attr_shape[0] = 5, "attr_shape has 5 rows");
        refused(&|p| p.adj_shape = vec![4, 5], "square");
        refused(&|p| p.labels = vec![0, 0, -1, 0], "1 class");
        refused(
            &|p| p.labels = vec![0, 2, -1, 2],
            "no labelled node of the class \"1\"",
        );
        refused(
            &|p| {
                p.adj_indices = vec![0, 1, 2, 3];
                p.adj_indptr = vec![0, 1, 2, 3, 4];
            },
            "no edge between two different nodes",
        );
        let error = read_npz(b"not a zip", "g.npz").unwrap_err().to_string();
        assert!(error.contains("not an .npz"), "{error}");
    }
}
