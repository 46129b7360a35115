// Layered left-to-right layout of a lineage graph.
// Columns: longest path from the sources (nodes with no incoming edge); edges that would
// close a cycle are ignored for layering. Order in a column: a few barycenter sweeps.

export const NODE_W = 190;
export const NODE_H = 44;
const GAP_X = 120;
const GAP_Y = 22;
const PAD = 24;

export function layout(nodes, edges) {
  const ids = nodes.map((n) => n.id);
  const idset = new Set(ids);
  const es = edges.filter((e) => idset.has(e.source) && idset.has(e.target) && e.source !== e.target);
  const out = new Map(ids.map((id) => [id, []]));
  const inn = new Map(ids.map((id) => [id, []]));
  for (const e of es) {
    out.get(e.source).push(e.target);
    inn.get(e.target).push(e.source);
  }
  // Drop back edges (DFS from sources, then from anything left) so layering terminates.
  const state = new Map();
  const dag = new Map(ids.map((id) => [id, []]));
  const visit = (start) => {
    const stack = [[start, 0]];
    state.set(start, 1);
    while (stack.length) {
      const top = stack[stack.length - 1];
      const [u, i] = top;
      const succ = out.get(u);
      if (i < succ.length) {
        top[1]++;
        const v = succ[i];
        const s = state.get(v);
        if (s === 1) continue; // back edge
        dag.get(u).push(v);
        if (!s) {
          state.set(v, 1);
          stack.push([v, 0]);
        }
      } else {
        state.set(u, 2);
        stack.pop();
      }
    }
  };
  const sorted = [...ids].sort();
  for (const id of sorted) if (inn.get(id).length === 0 && !state.get(id)) visit(id);
  for (const id of sorted) if (!state.get(id)) visit(id);

  // Longest path layering over the DAG (Kahn order).
  const indeg = new Map(ids.map((id) => [id, 0]));
  for (const [, vs] of dag) for (const v of vs) indeg.set(v, indeg.get(v) + 1);
  const layer = new Map(ids.map((id) => [id, 0]));
  const queue = sorted.filter((id) => indeg.get(id) === 0);
  while (queue.length) {
    const u = queue.shift();
    for (const v of dag.get(u)) {
      layer.set(v, Math.max(layer.get(v), layer.get(u) + 1));
      indeg.set(v, indeg.get(v) - 1);
      if (indeg.get(v) === 0) queue.push(v);
    }
  }
  const nlayers = Math.max(0, ...layer.values()) + 1;
  const cols = Array.from({ length: nlayers }, () => []);
  const byId = new Map(nodes.map((n) => [n.id, n]));
  for (const id of ids) cols[layer.get(id)].push(id);
  for (const c of cols) c.sort((a, b) => (byId.get(a).kind || '').localeCompare(byId.get(b).kind || '') || a.localeCompare(b));

  // Barycenter sweeps: down (by predecessors), then up (by successors).
  const pos = new Map();
  const setPos = () => cols.forEach((c) => c.forEach((id, i) => pos.set(id, i)));
  setPos();
  const bary = (id, nbrs) => {
    const ps = nbrs.filter((x) => pos.has(x)).map((x) => pos.get(x));
    return ps.length ? ps.reduce((a, b) => a + b, 0) / ps.length : pos.get(id);
  };
  for (let it = 0; it < 6; it++) {
    const down = it % 2 === 0;
    const order = down ? cols.keys() : [...cols.keys()].reverse();
    for (const li of order) {
      const c = cols[li];
      const keyed = c.map((id) => [id, bary(id, down ? inn.get(id) : out.get(id))]);
      keyed.sort((a, b) => a[1] - b[1] || pos.get(a[0]) - pos.get(b[0]));
      cols[li] = keyed.map((k) => k[0]);
      cols[li].forEach((id, i) => pos.set(id, i));
    }
  }

  const tallest = Math.max(1, ...cols.map((c) => c.length));
  const height = PAD * 2 + tallest * NODE_H + (tallest - 1) * GAP_Y;
  const width = PAD * 2 + nlayers * NODE_W + (nlayers - 1) * GAP_X;
  const at = new Map();
  cols.forEach((c, li) => {
    const colH = c.length * NODE_H + (c.length - 1) * GAP_Y;
    const y0 = (height - colH) / 2;
    c.forEach((id, i) => at.set(id, { x: PAD + li * (NODE_W + GAP_X), y: y0 + i * (NODE_H + GAP_Y), layer: li }));
  });
  const paths = es.map((e) => {
    const a = at.get(e.source);
    const b = at.get(e.target);
    const x1 = a.x + NODE_W;
    const y1 = a.y + NODE_H / 2;
    const x2 = b.x;
    const y2 = b.y + NODE_H / 2;
    let d;
    let mid;
    if (x2 > x1) {
      const dx = Math.max(40, (x2 - x1) / 2);
      d = `M${x1},${y1} C${x1 + dx},${y1} ${x2 - dx},${y2} ${x2},${y2}`;
      mid = { x: (x1 + x2) / 2, y: (y1 + y2) / 2 };
    } else {
      // a back edge: loop around below
      const low = Math.max(a.y, b.y) + NODE_H + GAP_Y;
      d = `M${x1},${y1} C${x1 + 60},${y1} ${x1 + 60},${low} ${(x1 + x2) / 2},${low} S${x2 - 60},${y2} ${x2},${y2}`;
      mid = { x: (x1 + x2) / 2, y: low };
    }
    return { ...e, d, mid };
  });
  return { at, paths, width, height };
}
