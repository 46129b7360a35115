import { useMemo, useState } from 'preact/hooks';
import { useApi } from '../api.js';
import { Empty, ErrorBox, KV, Page, Section, StatusBadge, Time } from '../components.jsx';
import { Chart, lineOption } from '../chart.jsx';
import { duration, enc, fmtBytes, fmtDuration, fmtNum } from '../format.js';
import { href } from '../router.js';

export function refLink(ref) {
  return href('/ui/lineage', { ref });
}

export function SeriesChart({ ids, metric, names, height = 200, testid = 'metric-chart' }) {
  const { data, error } = useApi('/runs/metrics', { ids: ids.join(','), key: metric, points: 500 });
  const option = useMemo(() => {
    if (!data) return null;
    const series = data.series
      .filter((s) => s.steps.length)
      .map((s) => ({ name: s.name || (names && names[s.run_id]) || s.run_id.slice(0, 8), steps: s.steps, values: s.values }));
    return series.length ? lineOption(series, { legend: ids.length > 1 }) : null;
  }, [data]);
  const sampled = data && data.series.some((s) => s.sampled);
  const one = data && data.series.length === 1 ? data.series[0] : null;
  const flat = data && data.series.length > 0 && data.series.every((s) => s.steps.length <= 1);
  return (
    <div class="mini-chart" data-metric={metric}>
      <div class="mini-head">
        <b>{metric}</b>
        {one && (
          <span class="muted small">
            {one.total} points{sampled ? ', sampled' : ''}
          </span>
        )}
      </div>
      <ErrorBox error={error} />
      {data && !option && <Empty>no history</Empty>}
      {option && flat && (
        <div class="single" data-testid="metric-single">
          {data.series.map((s) => (
            <div key={s.run_id}>
              {data.series.length > 1 && <span class="muted">{s.name || (names && names[s.run_id]) || s.run_id.slice(0, 8)} </span>}
              <b class="num">{fmtNum(s.values[0])}</b>
              {s.steps.length === 1 && <span class="muted small"> at step {s.steps[0]}</span>}
            </div>
          ))}
        </div>
      )}
      {option && !flat && <Chart option={option} height={height} testid={testid} />}
    </div>
  );
}

const MAX_CHARTS = 24;

export function Run({ id }) {
  const { data: r, error, done } = useApi(`/runs/${enc(id)}`);
  const [all, setAll] = useState(false);
  const keys = r ? r.metric_keys || Object.keys(r.metrics || {}) : [];
  const shown = all ? keys : keys.slice(0, MAX_CHARTS);
  return (
    <Page
      name="run"
      ready={done}
      title={r ? r.name || r.id : id}
      sub={
        r && (
          <>
            <span class="mono">{r.id}</span> · experiment{' '}
            <a href={href('/ui/runs', { experiment: r.experiment })}>{r.experiment}</a> · <StatusBadge status={r.status} /> · started <Time t={r.start_time} />
            {r.end_time && <> · took {fmtDuration(duration(r.start_time, r.end_time))}</>}
          </>
        )
      }
      actions={
        r && (
          <>
            <a class="btn small" href={refLink(`run:${r.id}`)}>
              lineage
            </a>
            <a class="btn small" href={href('/ui/runs', { experiment: r.experiment })}>
              all runs of {r.experiment}
            </a>
          </>
        )
      }
    >
      <ErrorBox error={error} />
      {r && (
        <>
          <div class="cols three">
            <Section title="Params" testid="params">
              <KV obj={r.params} empty="No params." />
            </Section>
            <Section title="Metrics (latest)" testid="metrics">
              <KV obj={r.metrics} empty="No metrics." fmt={(k, v) => <span class="num">{fmtNum(v)}</span>} />
            </Section>
            <Section title="Tags" testid="tags">
              <KV obj={r.tags} empty="No tags." />
            </Section>
          </div>
          <div class="cols">
            <Section title="Inputs" testid="inputs">
              {(r.inputs || []).length === 0 ? (
                <Empty>No inputs recorded.</Empty>
              ) : (
                <ul class="refs">
                  {r.inputs.map((ref) => (
                    <li key={String(ref)}>
                      <a href={refLink(typeof ref === 'string' ? ref : ref.ref || JSON.stringify(ref))} data-testid="input-ref" class="mono">
                        {typeof ref === 'string' ? ref : ref.ref || JSON.stringify(ref)}
                      </a>
                    </li>
                  ))}
                </ul>
              )}
            </Section>
            <Section title="Artifacts" testid="artifacts">
              {(r.artifacts || []).length === 0 ? (
                <Empty>No artifacts.</Empty>
              ) : (
                <table class="grid">
                  <thead>
                    <tr>
                      <th>name</th>
                      <th class="r">size</th>
                      <th>sha256</th>
                    </tr>
                  </thead>
                  <tbody>
                    {r.artifacts.map((a) => (
                      <tr key={a.name}>
                        <td>
                          {a.name}
                          {a.flavor && <span class="badge">{a.flavor}</span>}
                        </td>
                        <td class="r nowrap">{fmtBytes(a.size)}</td>
                        <td class="mono small" title={a.sha256}>
                          {a.sha256 ? a.sha256.slice(0, 16) + '…' : '—'}
                        </td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </Section>
          </div>
          <Section
            title="Metric history"
            testid="charts"
            right={
              keys.length > MAX_CHARTS && (
                <button class="btn small" type="button" onClick={() => setAll(!all)}>
                  {all ? `first ${MAX_CHARTS}` : `all ${keys.length}`}
                </button>
              )
            }
          >
            {keys.length === 0 ? (
              <Empty>No metrics logged.</Empty>
            ) : (
              <div class="chart-grid">
                {shown.map((k) => (
                  <SeriesChart key={k} ids={[r.id]} metric={k} />
                ))}
              </div>
            )}
          </Section>
        </>
      )}
    </Page>
  );
}
