import { useEffect, useMemo, useState } from 'preact/hooks';
import { useApi } from '../api.js';
import { Empty, ErrorBox, Page, Pager, Picker, Section, StatusBadge, Time, Val } from '../components.jsx';
import { Chart, lineOption, PALETTE } from '../chart.jsx';
import { enc, fmtInt, fmtNum } from '../format.js';
import { href, navigate, setQuery, useLocation } from '../router.js';

const LIMITS = [50, 100, 200, 500];

function list(s) {
  return s ? s.split(',').filter(Boolean) : null;
}

function runLabel(r) {
  return r.name || r.id.slice(0, 8);
}

// Parallel coordinates: one axis per param (category axis when not all numbers) and the metric.
function parallelOption(runs, pkeys, metric) {
  const dims = [...pkeys, ...(metric ? [`metrics.${metric}`] : [])];
  if (!dims.length || !runs.length) return null;
  const axes = dims.map((d, i) => {
    const isMetric = metric && i === dims.length - 1;
    const vals = runs.map((r) => (isMetric ? r.metrics[metric] : r.params[d]));
    const numeric = vals.every((v) => v === null || v === undefined || (v !== '' && !Number.isNaN(Number(v))));
    const ax = {
      dim: i,
      name: isMetric ? metric : d,
      nameTextStyle: { color: isMetric ? '#1d4ed8' : '#334155', fontWeight: isMetric ? 'bold' : 'normal', fontSize: 11 },
      axisLabel: { color: '#64748b', fontSize: 10, formatter: numeric ? (v) => fmtNum(v) : (v) => (v.length > 18 ? v.slice(0, 17) + '…' : v) },
      axisLine: { lineStyle: { color: '#94a3b8' } },
    };
    if (numeric) {
      ax.type = 'value';
      ax.scale = true;
    } else {
      ax.type = 'category';
      ax.data = [...new Set(vals.map((v) => (v === null || v === undefined ? '∅' : String(v))))].sort();
    }
    return { ax, numeric, isMetric };
  });
  const data = runs.map((r) => ({
    name: runLabel(r),
    value: axes.map(({ numeric, isMetric }, i) => {
      const v = isMetric ? r.metrics[metric] : r.params[dims[i]];
      if (numeric) return v === null || v === undefined ? null : Number(v);
      return v === null || v === undefined ? '∅' : String(v);
    }),
  }));
  const mvals = metric ? runs.map((r) => r.metrics[metric]).filter((v) => typeof v === 'number') : [];
  const lo = mvals.length ? Math.min(...mvals) : 0;
  const hi = mvals.length ? Math.max(...mvals) : 1;
  return {
    animation: false,
    textStyle: { fontFamily: 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif' },
    tooltip: { trigger: 'item', confine: true, formatter: (p) => p.name },
    parallel: { left: 40, right: 70, top: 36, bottom: 24, parallelAxisDefault: { nameLocation: 'end', nameGap: 12 } },
    parallelAxis: axes.map((a) => a.ax),
    series: [
      {
        type: 'parallel',
        smooth: false,
        lineStyle: { width: 1.2, opacity: 0.55 },
        emphasis: { lineStyle: { width: 2.5, opacity: 1 } },
        data: data.map((d, i) => {
          const m = metric ? runs[i].metrics[metric] : null;
          const t = typeof m === 'number' && hi > lo ? (m - lo) / (hi - lo) : 0.5;
          return { ...d, lineStyle: { color: mix(t) } };
        }),
      },
    ],
  };
}

// low metric -> slate, high -> blue
function mix(t) {
  const a = [148, 163, 184];
  const b = [29, 78, 216];
  const c = a.map((x, i) => Math.round(x + (b[i] - x) * t));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function MetricChart({ ids, metric, names }) {
  const { data, error, loading } = useApi(ids.length && metric ? '/runs/metrics' : null, { ids: ids.join(','), key: metric, points: 500 });
  const option = useMemo(() => {
    if (!data) return null;
    const series = data.series
      .filter((s) => s.steps.length)
      .map((s) => ({ name: s.name || names[s.run_id] || s.run_id.slice(0, 8), steps: s.steps, values: s.values }));
    return lineOption(series);
  }, [data]);
  const sampled = data ? data.series.filter((s) => s.sampled).length : 0;
  return (
    <div>
      <ErrorBox error={error} />
      {data && data.series.every((s) => !s.steps.length) ? (
        <Empty>No history of {metric} for these runs.</Empty>
      ) : (
        option && <Chart option={option} height={240} testid="metric-chart" />
      )}
      {loading && !data && <div class="loading">Loading {metric}…</div>}
      {sampled > 0 && <div class="muted small">{sampled} series sampled to 500 points on the server</div>}
    </div>
  );
}

export function Runs() {
  const { query } = useLocation();
  const q = query.get('q') || '';
  const experiment = query.get('experiment') || '';
  const orderBy = query.getAll('order_by');
  const offset = parseInt(query.get('offset'), 10) || 0;
  const limit = LIMITS.includes(parseInt(query.get('limit'), 10)) ? parseInt(query.get('limit'), 10) : 50;
  const [draft, setDraft] = useState(q);
  useEffect(() => setDraft(q), [q]);
  const [selected, setSelected] = useState([]);

  const exps = useApi('/experiments', { limit: 500 });
  const runs = useApi('/runs', { q, experiment, order_by: orderBy, offset, limit });
  const d = runs.data;
  const mkeys = (d && d.metric_keys) || [];
  const pkeys = (d && d.param_keys) || [];
  const mcols = (list(query.get('mcols')) || mkeys.slice(0, 4)).filter((k) => mkeys.includes(k) || !d);
  const pcols = (list(query.get('pcols')) || pkeys.slice(0, 4)).filter((k) => pkeys.includes(k) || !d);
  const metric = query.get('metric') || mkeys.find((k) => /loss/i.test(k)) || (mkeys.includes('auc') ? 'auc' : mkeys[0]) || '';
  const items = d ? d.items : [];
  const names = {};
  for (const r of items) names[r.id] = runLabel(r);
  const chartIds = selected.length ? selected.slice(0, 20) : items.slice(0, 10).map((r) => r.id);
  const parallel = useMemo(() => (d ? parallelOption(items, pcols.length ? pcols : pkeys.slice(0, 6), metric) : null), [d, pcols.join(','), metric]);

  const sortKey = orderBy[0] || '';
  function sortBy(field) {
    const cur = sortKey.toLowerCase();
    const f = field.toLowerCase();
    const next = cur === `${f} desc` ? `${field} ASC` : `${field} DESC`;
    setQuery({ order_by: next, offset: null });
  }
  function arrow(field) {
    const cur = sortKey.toLowerCase();
    const f = field.toLowerCase();
    if (cur === `${f} desc` || cur === f + ' desc') return ' ▼';
    if (cur === `${f} asc` || cur === f) return ' ▲';
    return '';
  }
  function toggle(id, on) {
    setSelected((s) => (on ? (s.includes(id) ? s : [...s, id]) : s.filter((x) => x !== id)));
  }
  const pageIds = items.map((r) => r.id);
  const allOnPage = pageIds.length > 0 && pageIds.every((id) => selected.includes(id));

  return (
    <Page
      name="runs"
      ready={runs.done}
      title="Runs"
      sub={d && `${fmtInt(d.total)} runs${experiment ? ` in ${experiment}` : ''}${q ? ' matching the query' : ''}`}
      actions={
        <button
          type="button"
          class="btn primary"
          data-testid="compare"
          disabled={selected.length < 1}
          onClick={() => navigate(`/ui/compare?ids=${selected.map(encodeURIComponent).join(',')}`)}
        >
          Compare{selected.length ? ` (${selected.length})` : ''}
        </button>
      }
    >
      <form
        class="toolbar"
        onSubmit={(e) => {
          e.preventDefault();
          setQuery({ q: draft.trim(), offset: null });
        }}
      >
        <select
          data-testid="runs-experiment"
          value={experiment}
          onChange={(e) => setQuery({ experiment: e.currentTarget.value, offset: null })}
        >
          <option value="">all experiments</option>
          {exps.data &&
            exps.data.items.map((x) => (
              <option key={x.name} value={x.name}>
                {x.name} ({fmtInt(x.runs)})
              </option>
            ))}
          {experiment && exps.data && !exps.data.items.some((x) => x.name === experiment) && <option value={experiment}>{experiment}</option>}
        </select>
        <input
          class="grow mono"
          data-testid="runs-query"
          value={draft}
          spellcheck={false}
          placeholder="metrics.auc > 0.8 and params.lr = '0.1'"
          onInput={(e) => setDraft(e.currentTarget.value)}
        />
        <button class="btn" type="submit" data-testid="runs-search">
          Search
        </button>
        {(q || experiment || orderBy.length > 0) && (
          <a class="btn small ghost" href="/ui/runs">
            clear
          </a>
        )}
      </form>
      <ErrorBox error={runs.error || exps.error} />
      {d && (
        <>
          {mkeys.length > 0 && items.length > 0 && (
            <div class="cols">
              <Section
                title={
                  <>
                    <select data-testid="metric-select" value={metric} onChange={(e) => setQuery({ metric: e.currentTarget.value }, { replace: true })}>
                      {mkeys.map((k) => (
                        <option key={k} value={k}>
                          {k}
                        </option>
                      ))}
                    </select>{' '}
                    <span class="muted small">over steps · {selected.length ? `${Math.min(selected.length, 20)} selected runs` : `first ${chartIds.length} runs of the page`}</span>
                  </>
                }
              >
                <MetricChart ids={chartIds} metric={metric} names={names} />
              </Section>
              <Section title={<span>params vs {metric} <span class="muted small">· {items.length} runs of this page</span></span>}>
                {parallel ? <Chart option={parallel} height={240} testid="parallel-chart" /> : <Empty>No params to plot.</Empty>}
              </Section>
            </div>
          )}
          <Section
            testid="runs-table"
            right={
              <span class="row">
                <Picker label="metrics" options={mkeys} chosen={mcols} onChange={(v) => setQuery({ mcols: v.join(',') || ',' }, { replace: true })} testid="pick-metrics" />
                <Picker label="params" options={pkeys} chosen={pcols} onChange={(v) => setQuery({ pcols: v.join(',') || ',' }, { replace: true })} testid="pick-params" />
                {orderBy.length > 0 && <span class="muted small">order: {orderBy.join(', ')}</span>}
              </span>
            }
            title={selected.length ? `${selected.length} selected` : 'Runs'}
          >
            {items.length === 0 ? (
              <Empty>No runs{q ? ' match this query' : ''}.</Empty>
            ) : (
              <div class="grid-wrap">
                <table class="grid runs">
                  <thead>
                    <tr>
                      <th class="check">
                        <input
                          type="checkbox"
                          title="select the page"
                          checked={allOnPage}
                          onChange={(e) => {
                            const on = e.currentTarget.checked;
                            setSelected((s) => (on ? [...s, ...pageIds.filter((id) => !s.includes(id))] : s.filter((id) => !pageIds.includes(id))));
                          }}
                        />
                      </th>
                      <th class="sortable" onClick={() => sortBy('name')}>
                        name{arrow('name')}
                      </th>
                      <th>experiment</th>
                      <th>status</th>
                      <th class="sortable" onClick={() => sortBy('start_time')}>
                        start{arrow('start_time')}
                      </th>
                      {mcols.map((k) => (
                        <th key={`m-${k}`} class="r sortable metric-col" onClick={() => sortBy(`metrics.${k}`)}>
                          {k}
                          {arrow(`metrics.${k}`)}
                        </th>
                      ))}
                      {pcols.map((k) => (
                        <th key={`p-${k}`} class="sortable param-col" onClick={() => sortBy(`params.${k}`)}>
                          {k}
                          {arrow(`params.${k}`)}
                        </th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {items.map((r) => {
                      const on = selected.includes(r.id);
                      return (
                        <tr key={r.id} class={on ? 'sel' : ''} data-testid="run-row" data-id={r.id}>
                          <td class="check">
                            <input type="checkbox" data-testid="run-select" data-id={r.id} checked={on} onChange={(e) => toggle(r.id, e.currentTarget.checked)} />
                          </td>
                          <td>
                            <a href={`/ui/runs/${enc(r.id)}`} title={r.id}>
                              {runLabel(r)}
                            </a>
                          </td>
                          <td>{r.experiment}</td>
                          <td>
                            <StatusBadge status={r.status} />
                          </td>
                          <td class="nowrap">
                            <Time t={r.start_time} />
                          </td>
                          {mcols.map((k) => (
                            <td key={k} class="r">
                              {fmtNum(r.metrics[k])}
                            </td>
                          ))}
                          {pcols.map((k) => (
                            <td key={k}>
                              <Val v={r.params[k]} max={40} />
                            </td>
                          ))}
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            )}
            <div class="row spread">
              <Pager total={d.total} offset={offset} limit={limit} count={items.length} onPage={(o) => setQuery({ offset: o || null })} />
              <label class="inline small">
                per page
                <select value={limit} onChange={(e) => setQuery({ limit: e.currentTarget.value === '50' ? null : e.currentTarget.value, offset: null })}>
                  {LIMITS.map((l) => (
                    <option key={l} value={l}>
                      {l}
                    </option>
                  ))}
                </select>
              </label>
            </div>
          </Section>
        </>
      )}
    </Page>
  );
}

export { PALETTE };
