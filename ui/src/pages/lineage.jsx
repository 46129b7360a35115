import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import { useApi } from '../api.js';
import { Empty, ErrorBox, Page, Section } from '../components.jsx';
import { layout, NODE_H, NODE_W } from '../lineage-layout.js';
import { href, navigate, setQuery, useLocation } from '../router.js';

const KIND_COLORS = {
  table: ['#dbeafe', '#2563eb'],
  predictions: ['#e0e7ff', '#4f46e5'],
  view: ['#dcfce7', '#16a34a'],
  featureview: ['#dcfce7', '#16a34a'],
  feature_view: ['#dcfce7', '#16a34a'],
  training_set: ['#fef3c7', '#d97706'],
  run: ['#fce7f3', '#db2777'],
  model: ['#ede9fe', '#7c3aed'],
  collection: ['#cffafe', '#0891b2'],
  quality: ['#fee2e2', '#dc2626'],
  stream: ['#ecfccb', '#65a30d'],
};
const OTHER = [
  ['#f1f5f9', '#475569'],
  ['#ffedd5', '#ea580c'],
  ['#f5f5f4', '#78716c'],
];

function colors(kind, kinds) {
  if (KIND_COLORS[kind]) return KIND_COLORS[kind];
  const i = kinds.filter((k) => !KIND_COLORS[k]).indexOf(kind);
  return OTHER[Math.max(0, i) % OTHER.length];
}

function clip(s, n) {
  s = String(s);
  return s.length > n ? s.slice(0, n - 1) + '…' : s;
}

function Graph({ data }) {
  const lay = useMemo(() => layout(data.nodes, data.edges), [data]);
  const kinds = useMemo(() => [...new Set(data.nodes.map((n) => n.kind))].sort(), [data]);
  const [hover, setHover] = useState(null);
  // viewBox pan/zoom
  const [view, setView] = useState(null);
  const svgRef = useRef(null);
  const drag = useRef(null);
  const moved = useRef(false);
  useEffect(() => setView({ x: 0, y: 0, w: lay.width, h: lay.height }), [lay]);
  const vb = view || { x: 0, y: 0, w: lay.width, h: lay.height };

  function toSvg(e) {
    const r = svgRef.current.getBoundingClientRect();
    const scale = Math.max(vb.w / r.width, vb.h / r.height);
    // preserveAspectRatio xMidYMid meet: content centered
    const offX = (r.width - vb.w / scale) / 2;
    const offY = (r.height - vb.h / scale) / 2;
    return { x: vb.x + (e.clientX - r.left - offX) * scale, y: vb.y + (e.clientY - r.top - offY) * scale, scale };
  }
  function onWheel(e) {
    e.preventDefault();
    const p = toSvg(e);
    const f = Math.exp(Math.sign(e.deltaY) * Math.min(0.25, Math.abs(e.deltaY) / 400));
    const w = Math.min(lay.width * 8, Math.max(120, vb.w * f));
    const k = w / vb.w;
    setView({ x: p.x - (p.x - vb.x) * k, y: p.y - (p.y - vb.y) * k, w, h: vb.h * k });
  }
  function onDown(e) {
    if (e.button !== 0) return;
    drag.current = { cx: e.clientX, cy: e.clientY, vb, scale: toSvg(e).scale };
    moved.current = false;
  }
  function onMove(e) {
    const dr = drag.current;
    if (!dr) return;
    const dx = e.clientX - dr.cx;
    const dy = e.clientY - dr.cy;
    if (Math.abs(dx) + Math.abs(dy) > 4) moved.current = true;
    if (moved.current) setView({ ...dr.vb, x: dr.vb.x - dx * dr.scale, y: dr.vb.y - dy * dr.scale });
  }
  function onUp() {
    drag.current = null;
  }
  useEffect(() => {
    const el = svgRef.current;
    if (!el) return undefined;
    el.addEventListener('wheel', onWheel, { passive: false });
    return () => el.removeEventListener('wheel', onWheel);
  });

  function recenter(ref) {
    setQuery({ ref });
  }
  function open(n, e) {
    if (moved.current) return;
    if (e.shiftKey || !n.link) recenter(n.id);
    else navigate(n.link);
  }
  const near = hover ? new Set([hover, ...data.edges.filter((e) => e.source === hover || e.target === hover).flatMap((e) => [e.source, e.target])]) : null;

  return (
    <div class="lineage">
      <div class="legend" data-testid="lineage-legend">
        {kinds.map((k) => {
          const [bg, fg] = colors(k, kinds);
          return (
            <span class="legend-item" key={k}>
              <span class="swatch" style={{ background: fg, borderColor: fg }} />
              {k}
            </span>
          );
        })}
        <span class="muted small legend-help">click: open · shift-click or ⊙: re-center · drag: pan · wheel: zoom</span>
        <button type="button" class="btn small" onClick={() => setView({ x: 0, y: 0, w: lay.width, h: lay.height })}>
          fit
        </button>
      </div>
      <svg
        ref={svgRef}
        class="lineage-svg"
        data-testid="lineage-graph"
        viewBox={`${vb.x} ${vb.y} ${vb.w} ${vb.h}`}
        style={{ height: `${Math.min(640, Math.max(240, lay.height))}px` }}
        onMouseDown={onDown}
        onMouseMove={onMove}
        onMouseUp={onUp}
        onMouseLeave={onUp}
      >
        <defs>
          <marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" fill="#94a3b8" />
          </marker>
          <marker id="arrow-hi" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" fill="#2563eb" />
          </marker>
        </defs>
        <g class="edges">
          {lay.paths.map((p, i) => {
            const hi = hover && (p.source === hover || p.target === hover);
            return (
              <g key={i} class={`edge ${hi ? 'hi' : ''} ${near && !hi ? 'dim' : ''}`}>
                <path d={p.d} fill="none" marker-end={hi ? 'url(#arrow-hi)' : 'url(#arrow)'} />
                {p.label && (
                  <g transform={`translate(${p.mid.x},${p.mid.y})`}>
                    <rect x={-p.label.length * 3.2 - 5} y={-8} width={p.label.length * 6.4 + 10} height={16} rx={8} class="edge-label-bg" />
                    <text class="edge-label" text-anchor="middle" dy="3.5">
                      {p.label}
                    </text>
                  </g>
                )}
              </g>
            );
          })}
        </g>
        <g class="nodes">
          {data.nodes.map((n) => {
            const a = lay.at.get(n.id);
            if (!a) return null;
            const [bg, fg] = colors(n.kind, kinds);
            const root = n.id === data.root;
            const title = n.kind === 'quality' && /^\d+$/.test(String(n.label)) ? `result #${n.label}` : n.label || n.id;
            return (
              <g
                key={n.id}
                class={`node ${root ? 'root' : ''} ${near && !near.has(n.id) ? 'dim' : ''}`}
                transform={`translate(${a.x},${a.y})`}
                data-testid="lineage-node"
                data-ref={n.id}
                data-kind={n.kind}
                onClick={(e) => open(n, e)}
                onMouseEnter={() => setHover(n.id)}
                onMouseLeave={() => setHover(null)}
              >
                <title>{`${n.id}${n.link ? '\nclick: open its page' : ''}\nshift-click: re-center the lineage here`}</title>
                <rect width={NODE_W} height={NODE_H} rx={7} fill={bg} stroke={fg} stroke-width={root ? 2.5 : 1.2} />
                <rect width={5} height={NODE_H} rx={2} fill={fg} />
                <text x={12} y={16} class="node-kind" fill={fg}>
                  {n.kind}
                  {n.version !== null && n.version !== undefined && n.version !== '' ? ` · v${n.version}` : ''}
                </text>
                <text x={12} y={33} class="node-label">
                  {clip(n.kind === 'run' && /^[0-9a-f]{20,}$/.test(title) ? title.slice(0, 12) : title, 21)}
                </text>
                <g
                  class="recenter"
                  data-testid="lineage-recenter"
                  data-ref={n.id}
                  transform={`translate(${NODE_W - 16},${NODE_H / 2})`}
                  onClick={(e) => {
                    e.stopPropagation();
                    if (!moved.current) recenter(n.id);
                  }}
                >
                  <title>re-center the lineage here</title>
                  <circle r={9} />
                  <circle r={3} class="dot" />
                </g>
              </g>
            );
          })}
        </g>
      </svg>
    </div>
  );
}

export function Lineage() {
  const { query } = useLocation();
  const ref = query.get('ref') || '';
  const depth = Math.min(10, Math.max(1, parseInt(query.get('depth'), 10) || 3));
  const [draft, setDraft] = useState(ref);
  useEffect(() => setDraft(ref), [ref]);
  const { data, error, done } = useApi(ref ? '/lineage' : null, { ref, depth });
  const models = useApi(ref ? null : '/models', { limit: 8 });
  return (
    <Page name="lineage" ready={ref ? done : models.done || !!models.error} title="Lineage" sub={data && `${data.nodes.length} nodes · ${data.edges.length} edges around ${data.root}`}>
      <form
        class="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          if (draft.trim()) setQuery({ ref: draft.trim() });
        }}
      >
        <input
          class="grow mono"
          data-testid="lineage-ref-input"
          value={draft}
          spellcheck={false}
          placeholder="table:silver.transactions  ·  model:fraud@2  ·  run:<id>  ·  view:user_stats"
          onInput={(e) => setDraft(e.currentTarget.value)}
        />
        <label class="inline">
          depth
          <select data-testid="lineage-depth" value={depth} onChange={(e) => setQuery({ depth: e.currentTarget.value === '3' ? null : e.currentTarget.value })}>
            {[1, 2, 3, 4, 5, 6, 8, 10].map((d) => (
              <option key={d} value={d}>
                {d}
              </option>
            ))}
          </select>
        </label>
        <button class="btn primary" type="submit" data-testid="lineage-go">
          Show
        </button>
      </form>
      <ErrorBox error={error || (!ref && models.error)} />
      {!ref && (
        <Section title="Start from">
          <p class="muted">Enter a ref above, or start from a model:</p>
          {models.data && models.data.items.length ? (
            <ul class="refs">
              {models.data.items.map((m) => (
                <li key={m.name}>
                  <a class="mono" href={href('/ui/lineage', { ref: `model:${m.name}@${m.latest_version}` })}>
                    model:{m.name}@{m.latest_version}
                  </a>
                </li>
              ))}
            </ul>
          ) : (
            models.data && <Empty>No models yet.</Empty>
          )}
        </Section>
      )}
      {data && (
        <>
          <Section>{data.nodes.length ? <Graph data={data} /> : <Empty>Nothing recorded around {ref}.</Empty>}</Section>
          <Section title="Edges" right={<span class="muted small">input → what was made from it</span>}>
            {data.edges.length === 0 ? (
              <Empty>No edges.</Empty>
            ) : (
              <ul class="edge-list" data-testid="lineage-edges">
                {data.edges.map((e, i) => (
                  <li key={i}>
                    <span class="mono" data-testid="lineage-edge" data-source={e.source} data-target={e.target}>{`${e.source} → ${e.target}`}</span>
                    {e.label && <span class="badge">{e.label}</span>}
                    <a class="small" href={href('/ui/lineage', { ref: e.source, depth: depth === 3 ? null : depth })}>
                      center on source
                    </a>
                  </li>
                ))}
              </ul>
            )}
          </Section>
        </>
      )}
    </Page>
  );
}
