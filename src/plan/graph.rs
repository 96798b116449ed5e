//! Graph: steps → one deterministic order.
//!
//! Edges: a parent table is created before a child that references it (cycles
//! are fine in SQLite and broken by name), a view before a view that reads it
//! (a real cycle is an error naming it). Among ready steps the tie-break key is
//! (kind, object, position), so the same input gives a byte-identical plan.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};

use petgraph::algo::tarjan_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use super::{PlanError, Step, StepKind};
use crate::diff::mentions;
use crate::model::Schema;

pub(super) fn order(steps: Vec<Step>, desired: &Schema) -> Result<Vec<Step>, PlanError> {
    let mut g: DiGraph<usize, ()> = DiGraph::new();
    let nodes: Vec<NodeIndex> = (0..steps.len()).map(|i| g.add_node(i)).collect();
    let by_kind = |kind: StepKind| -> BTreeMap<String, usize> {
        steps
            .iter()
            .enumerate()
            .filter(|(_, s)| s.kind == kind)
            .map(|(i, s)| (s.object.to_ascii_lowercase(), i))
            .collect()
    };
    let creates = by_kind(StepKind::CreateTable);
    let views = by_kind(StepKind::CreateView);

    // Tables: parent before child; edges inside a foreign-key cycle are dropped.
    let mut fk_edges = Vec::new();
    for (child, &ci) in &creates {
        let Some((_, t)) = desired.table(child) else { continue };
        let parents = t
            .foreign_keys
            .iter()
            .map(|f| f.references.as_str())
            .chain(t.columns.iter().filter_map(|c| c.references.as_ref().map(|r| r.table.as_str())));
        for p in parents {
            if let Some(&pi) = creates.get(&p.to_ascii_lowercase()) {
                if pi != ci {
                    fk_edges.push((pi, ci));
                }
            }
        }
    }
    let mut fk_graph: DiGraph<usize, ()> = DiGraph::new();
    let fk_nodes: Vec<NodeIndex> = (0..steps.len()).map(|i| fk_graph.add_node(i)).collect();
    for &(a, b) in &fk_edges {
        fk_graph.add_edge(fk_nodes[a], fk_nodes[b], ());
    }
    let mut component = vec![0usize; steps.len()];
    for (k, scc) in tarjan_scc(&fk_graph).into_iter().enumerate() {
        for n in scc {
            component[fk_graph[n]] = k;
        }
    }
    for (a, b) in fk_edges {
        if component[a] != component[b] {
            g.add_edge(nodes[a], nodes[b], ());
        }
    }

    // Views: a view after the views it reads.
    for (name, &vi) in &views {
        let Some(sql) = steps[vi].sql.first() else { continue };
        for (other, &oi) in &views {
            if other != name && mentions(sql, other) {
                g.add_edge(nodes[oi], nodes[vi], ());
            }
        }
    }
    for scc in tarjan_scc(&g) {
        if scc.len() > 1 {
            let mut names: Vec<String> = scc.iter().map(|n| steps[g[*n]].object.clone()).collect();
            names.sort();
            names.push(names[0].clone());
            return Err(PlanError::Cycle(names));
        }
    }

    // Kahn's algorithm with the tie-break key.
    let mut indegree: Vec<usize> =
        nodes.iter().map(|&n| g.neighbors_directed(n, petgraph::Direction::Incoming).count()).collect();
    let key = |i: usize| (steps[i].kind, steps[i].object.clone(), i);
    let mut ready: BinaryHeap<Reverse<(StepKind, String, usize)>> =
        (0..steps.len()).filter(|&i| indegree[i] == 0).map(|i| Reverse(key(i))).collect();
    let mut order = Vec::with_capacity(steps.len());
    while let Some(Reverse((_, _, i))) = ready.pop() {
        order.push(i);
        for n in g.neighbors_directed(nodes[i], petgraph::Direction::Outgoing) {
            let j = g[n];
            indegree[j] -= 1;
            if indegree[j] == 0 {
                ready.push(Reverse(key(j)));
            }
        }
    }
    let mut slots: Vec<Option<Step>> = steps.into_iter().map(Some).collect();
    Ok(order.into_iter().filter_map(|i| slots[i].take()).collect())
}
