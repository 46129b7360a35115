import { useEffect, useLayoutEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { Empty, ErrorBox, Page, Section, StatusBadge, Val } from '../components.jsx';
import { enc, fmtNum, text } from '../format.js';
import { SeriesChart } from './run.jsx';
import { useLocation } from '../router.js';

const MAX_RUNS = 20;

function useRuns(ids) {
  const [state, setState] = useState({ runs: null, error: null, done: false });
  const key = ids.join(',');
  useLayoutEffect(() => {  // before the first paint, as useApi
    const ctl = new AbortController();
    setState({ runs: null, error: null, done: false });
    Promise.all(ids.map((id) => api(`/runs/${enc(id)}`, { signal: ctl.signal }))).then(
      (runs) => !ctl.signal.aborted && setState({ runs, error: null, done: true }),
      (error) => !ctl.signal.aborted && error.name !== 'AbortError' && setState({ runs: null, error, done: true }),
    );
    return () => ctl.abort();
  }, [key]);
  return state;
}

function DiffTable({ runs, field, testid, fmt }) {
  const keys = [...new Set(runs.flatMap((r) => Object.keys(r[field] || {})))].sort();
  if (!keys.length) return <Empty>none</Empty>;
  return (
    <div class="grid-wrap">
      <table class="grid compare" data-testid={testid}>
        <thead>
          <tr>
            <th>{field}</th>
            {runs.map((r) => (
              <th key={r.id}>
                <a href={`/ui/runs/${enc(r.id)}`}>{r.name || r.id.slice(0, 8)}</a>
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {keys.map((k) => {
            const vals = runs.map((r) => (r[field] || {})[k]);
            const differs = new Set(vals.map((v) => text(v))).size > 1;
            const nums = vals.filter((v) => typeof v === 'number');
            const best = field === 'metrics' && nums.length > 1 ? { max: Math.max(...nums), min: Math.min(...nums) } : null;
            return (
              <tr key={k} class={differs ? 'differs' : ''} data-testid="compare-row" data-key={k} data-diff={differs ? '1' : '0'}>
                <th>{k}</th>
                {vals.map((v, i) => (
                  <td key={i} class={`${typeof v === 'number' ? 'r' : ''} ${best && v === best.max && differs ? 'hi' : ''}`}>
                    {v === undefined ? <span class="null">—</span> : fmt ? fmt(v) : <Val v={v} max={60} />}
                  </td>
                ))}
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

export function Compare() {
  const { query } = useLocation();
  const ids = [...new Set((query.get('ids') || '').split(',').map((s) => s.trim()).filter(Boolean))].slice(0, MAX_RUNS);
  const { runs, error, done } = useRuns(ids);
  const names = {};
  if (runs) for (const r of runs) names[r.id] = r.name || r.id.slice(0, 8);
  const mkeys = runs ? [...new Set(runs.flatMap((r) => r.metric_keys || Object.keys(r.metrics || {})))].sort() : [];
  return (
    <Page name="compare" ready={done || ids.length === 0} title="Compare runs" sub={runs && `${runs.length} runs`}>
      {ids.length === 0 && <Empty>Choose runs on the <a href="/ui/runs">runs page</a> and press Compare.</Empty>}
      <ErrorBox error={error} />
      {runs && (
        <>
          <Section title="Runs">
            <table class="grid compare">
              <thead>
                <tr>
                  <th />
                  {runs.map((r) => (
                    <th key={r.id}>
                      <a href={`/ui/runs/${enc(r.id)}`}>{r.name || r.id.slice(0, 8)}</a>
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                <tr>
                  <th>id</th>
                  {runs.map((r) => (
                    <td key={r.id} class="mono small">
                      {r.id}
                    </td>
                  ))}
                </tr>
                <tr>
                  <th>experiment</th>
                  {runs.map((r) => (
                    <td key={r.id}>{r.experiment}</td>
                  ))}
                </tr>
                <tr>
                  <th>status</th>
                  {runs.map((r) => (
                    <td key={r.id}>
                      <StatusBadge status={r.status} />
                    </td>
                  ))}
                </tr>
              </tbody>
            </table>
          </Section>
          <div class="cols">
            <Section title="Params" right={<span class="muted small">differences highlighted</span>}>
              <DiffTable runs={runs} field="params" testid="compare-params" />
            </Section>
            <Section title="Metrics (latest)" right={<span class="muted small">highest value in bold</span>}>
              <DiffTable runs={runs} field="metrics" testid="compare-metrics" fmt={fmtNum} />
            </Section>
          </div>
          <Section title="Metric history" testid="compare-charts">
            {mkeys.length === 0 ? (
              <Empty>No metrics.</Empty>
            ) : (
              <div class="chart-grid">
                {mkeys.slice(0, 24).map((k) => (
                  <SeriesChart key={k} ids={runs.map((r) => r.id)} metric={k} names={names} height={220} />
                ))}
              </div>
            )}
          </Section>
        </>
      )}
    </Page>
  );
}
