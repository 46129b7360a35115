import { useEffect, useState } from 'preact/hooks';
import { api, useApi } from '../api.js';
import { Badge, Empty, ErrorBox, Json, Page, Section, Time, Val } from '../components.jsx';
import { enc, fmtDuration, fmtInt, text } from '../format.js';
import { href, setQuery, useLocation } from '../router.js';

function Lag({ lag }) {
  if (lag === null || lag === undefined) return <span class="muted">—</span>;
  return <span class={lag > 0 ? 'warn-text' : 'ok-text'}>{fmtInt(lag)}</span>;
}

function Freshness({ seconds, ttl }) {
  if (seconds === null || seconds === undefined) return <span class="muted">—</span>;
  const stale = ttl && seconds > ttl;
  return <span class={stale ? 'warn-text' : ''} title={stale ? 'older than the view’s ttl' : ''}>{fmtDuration(seconds)}</span>;
}

export function Features() {
  const f = useApi('/features');
  const s = useApi('/streams', { limit: 100 });
  const d = f.data;
  const status = new Map();
  if (d) for (const st of d.status || []) status.set(st.view, st);
  const extraStatusCols = [];
  if (d)
    for (const st of d.status || [])
      for (const k of Object.keys(st))
        if (!['view'].includes(k) && !extraStatusCols.includes(k)) extraStatusCols.push(k);
  return (
    <Page name="features" ready={f.done && s.done} title="Features" sub={d && `${d.entities.length} entities · ${d.views.length} views · ${d.services.length} services`}>
      <ErrorBox error={f.error || s.error} />
      {d && (
        <>
          <Section title="Feature views" testid="views">
            {d.views.length === 0 ? (
              <Empty>No feature views.</Empty>
            ) : (
              <div class="grid-wrap">
                <table class="grid">
                  <thead>
                    <tr>
                      <th>view</th>
                      <th class="r">v</th>
                      <th>kind</th>
                      <th>entities</th>
                      <th>features</th>
                      <th class="r">ttl</th>
                      <th>online</th>
                      <th class="r">rows online</th>
                      <th>materialized to</th>
                      <th>newest event</th>
                      <th class="r">freshness</th>
                      <th class="r">stream lag</th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.views.map((v) => {
                      const st = status.get(v.name) || {};
                      const lag = st.stream_lag ?? st.lag;
                      return (
                        <tr key={v.name} data-testid="view-row" data-name={v.name}>
                          <td class="nowrap">
                            <a href={`/ui/features/views/${enc(v.name)}`}>{v.name}</a>
                          </td>
                          <td class="r">{v.version}</td>
                          <td>
                            <Badge kind={v.kind === 'stream' ? 'info' : v.kind === 'on_demand' ? 'purple' : ''}>{v.kind}</Badge>
                          </td>
                          <td>{(v.entities || []).join(', ')}</td>
                          <td class="small" title={(v.features || []).map((x) => `${x.name}: ${x.type}`).join('\n')}>
                            {(v.features || []).length > 4
                              ? `${v.features.slice(0, 4).map((x) => x.name).join(', ')} +${v.features.length - 4}`
                              : (v.features || []).map((x) => x.name).join(', ')}
                          </td>
                          <td class="r nowrap">{v.ttl_seconds ? fmtDuration(v.ttl_seconds) : '—'}</td>
                          <td>{v.online ? <Badge kind="ok">online</Badge> : <span class="muted">offline</span>}</td>
                          <td class="r">{fmtInt(st.rows_online)}</td>
                          <td class="nowrap">
                            <Time t={st.materialized_to ?? st.last_materialized ?? st.last_applied} />
                          </td>
                          <td class="nowrap">
                            <Time t={st.newest_event} />
                          </td>
                          <td class="r nowrap">
                            <Freshness seconds={st.freshness_seconds ?? st.freshness_lag} ttl={v.ttl_seconds} />
                            {st.freshness_p99_ms != null && <div class="muted small">p99 {fmtInt(Math.round(st.freshness_p99_ms))} ms</div>}
                          </td>
                          <td class="r">
                            <Lag lag={lag} />
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              </div>
            )}
            {extraStatusCols.length > 0 && (
              <details class="more">
                <summary>status (all fields)</summary>
                <div class="grid-wrap">
                <table class="grid" data-testid="status">
                  <thead>
                    <tr>
                      <th>view</th>
                      {extraStatusCols.map((c) => (
                        <th key={c}>{c}</th>
                      ))}
                    </tr>
                  </thead>
                  <tbody>
                    {d.status.map((st) => (
                      <tr key={st.view}>
                        <td>{st.view}</td>
                        {extraStatusCols.map((c) => (
                          <td key={c}>
                            <Val v={st[c]} />
                          </td>
                        ))}
                      </tr>
                    ))}
                  </tbody>
                </table>
                </div>
              </details>
            )}
          </Section>
          <div class="cols">
            <Section title="Entities" testid="entities">
              {d.entities.length === 0 ? (
                <Empty>No entities.</Empty>
              ) : (
                <table class="grid">
                  <thead>
                    <tr>
                      <th>entity</th>
                      <th>join keys</th>
                      <th>description</th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.entities.map((e) => (
                      <tr key={e.name}>
                        <td>
                          <b>{e.name}</b>
                        </td>
                        <td class="mono">{(e.join_keys || []).join(', ')}</td>
                        <td class="muted">{e.description || ''}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </Section>
            <Section title="Feature services" testid="services">
              {d.services.length === 0 ? (
                <Empty>No feature services.</Empty>
              ) : (
                <table class="grid">
                  <thead>
                    <tr>
                      <th>service</th>
                      <th class="r">v</th>
                      <th>features</th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.services.map((sv) => (
                      <tr key={sv.name}>
                        <td>
                          <b>{sv.name}</b>
                        </td>
                        <td class="r">{sv.version}</td>
                        <td class="small">{(sv.features || []).map(text).join(', ')}</td>
                      </tr>
                    ))}
                  </tbody>
                </table>
              )}
            </Section>
          </div>
        </>
      )}
      {s.data && (
        <Section title="Streams" testid="streams">
          {s.data.items.length === 0 ? (
            <Empty>No streams.</Empty>
          ) : (
            <table class="grid">
              <thead>
                <tr>
                  <th>stream</th>
                  <th class="r">partitions</th>
                  <th class="r">records</th>
                  <th>consumer groups (lag)</th>
                </tr>
              </thead>
              <tbody>
                {s.data.items.map((st) => (
                  <tr key={st.name} data-testid="stream-row" data-name={st.name}>
                    <td>
                      <b>{st.name}</b>
                    </td>
                    <td class="r">{fmtInt(st.partitions)}</td>
                    <td class="r">{fmtInt(st.records)}</td>
                    <td>
                      {(st.groups || []).length === 0 ? (
                        <span class="muted">none</span>
                      ) : (
                        st.groups.map((g) => (
                          <span class="chip static" key={g.group}>
                            {g.group}: <Lag lag={g.lag} />
                          </span>
                        ))
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {s.data.total > s.data.items.length && <div class="muted small">showing {s.data.items.length} of {fmtInt(s.data.total)}</div>}
        </Section>
      )}
    </Page>
  );
}

// "12" -> 12, "1.5" -> 1.5, "\"12\"" -> "12", anything else stays text.
function parseKey(s) {
  const t = s.trim();
  if (/^-?\d+$/.test(t)) {
    const n = Number(t);
    return Number.isSafeInteger(n) ? n : t;
  }
  if (/^-?\d*\.\d+$/.test(t)) return Number(t);
  if (/^".*"$/.test(t)) return t.slice(1, -1);
  if (t === 'true' || t === 'false') return t === 'true';
  return t;
}

function OnlineLookup({ view, entities }) {
  const keys = [...(view.join_keys || [])];
  if (!keys.length)
  for (const en of view.entities || []) {
    const ent = entities.find((e) => e.name === en);
    for (const k of ent ? ent.join_keys || [] : [en]) if (!keys.includes(k)) keys.push(k);
  }
  const [vals, setVals] = useState({});
  const [res, setRes] = useState({ data: null, error: null, busy: false });
  async function run(e) {
    e.preventDefault();
    const row = {};
    for (const k of keys) row[k] = parseKey(vals[k] || '');
    setRes({ data: null, error: null, busy: true });
    try {
      const data = await api('/features/online', {
        method: 'POST',
        body: { features: (view.features || []).map((f) => `${view.name}:${f.name}`), entity_rows: [row] },
      });
      setRes({ data, error: null, busy: false });
    } catch (error) {
      setRes({ data: null, error, busy: false });
    }
  }
  const d = res.data;
  return (
    <Section title="Online lookup" testid="online">
      {!view.online && <div class="note">This view is not materialized online; a lookup answers with missing values.</div>}
      <form class="row" onSubmit={run}>
        {keys.map((k) => (
          <label class="inline" key={k}>
            {k}
            <input data-testid={`online-key-${k}`} data-key={k} value={vals[k] || ''} onInput={(e) => setVals({ ...vals, [k]: e.currentTarget.value })} placeholder="value" />
          </label>
        ))}
        <button class="btn primary" type="submit" data-testid="online-run" disabled={res.busy || keys.some((k) => !(vals[k] || '').trim())}>
          Look up
        </button>
        <span class="muted small">numbers are sent as numbers; quote to send text ("12")</span>
      </form>
      <ErrorBox error={res.error} />
      {d && (
        <div class="grid-wrap" data-testid="online-result">
          <table class="grid">
            <thead>
              <tr>
                <th>feature</th>
                <th>value</th>
                <th>status</th>
              </tr>
            </thead>
            <tbody>
              {d.rows.map((r, i) =>
                d.columns.map((c, j) => (
                  <tr key={`${i}-${c}`} data-testid="online-value" data-feature={c}>
                    <td>{c}</td>
                    <td>
                      <Val v={r[j]} max={300} />
                    </td>
                    <td>{d.statuses && d.statuses[i] && d.statuses[i][j] !== undefined && d.statuses[i][j] !== null ? <StatusText s={d.statuses[i][j]} /> : ''}</td>
                  </tr>
                )),
              )}
            </tbody>
          </table>
        </div>
      )}
    </Section>
  );
}

function StatusText({ s }) {
  const t = text(s);
  const kind = /^(present|ok|fresh)$/i.test(t) ? 'ok' : /(not_found|missing|null)/i.test(t) ? 'bad' : /outdated|stale|expired/i.test(t) ? 'warn' : '';
  return <Badge kind={kind}>{t}</Badge>;
}

function Diff({ name, versions, a, b }) {
  const nums = versions.map((v) => v.version);
  const { data, error, loading } = useApi(a != null && b != null && a !== b ? `/features/views/${enc(name)}/diff` : null, { a, b });
  return (
    <Section
      title="Diff"
      testid="diff"
      right={
        nums.length > 1 && (
        <span class="row">
          <select data-testid="diff-a" value={a ?? ''} onChange={(e) => setQuery({ a: e.currentTarget.value }, { replace: true })}>
            {nums.map((n) => (
              <option key={n} value={n}>
                v{n}
              </option>
            ))}
          </select>
          →
          <select data-testid="diff-b" value={b ?? ''} onChange={(e) => setQuery({ b: e.currentTarget.value }, { replace: true })}>
            {nums.map((n) => (
              <option key={n} value={n}>
                v{n}
              </option>
            ))}
          </select>
        </span>
        )
      }
    >
      {nums.length < 2 ? (
        <Empty>Only one version.</Empty>
      ) : a === b ? (
        <Empty>Choose two different versions.</Empty>
      ) : (
        <>
          <ErrorBox error={error} />
          {loading && !data && <div class="loading">…</div>}
          {data &&
            (data.changes.length === 0 ? (
              <Empty>No changes between v{data.a} and v{data.b}.</Empty>
            ) : (
              <table class="grid" data-testid="diff-table">
                <thead>
                  <tr>
                    <th>field</th>
                    <th>v{data.a}</th>
                    <th>v{data.b}</th>
                  </tr>
                </thead>
                <tbody>
                  {data.changes.map((c, i) => (
                    <tr key={i} data-testid="diff-row">
                      <td>
                        <b>{c.field}</b>
                      </td>
                      <td class="del mono small">{text(c.before)}</td>
                      <td class="add mono small">{text(c.after)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            ))}
        </>
      )}
    </Section>
  );
}

export function FeatureView({ name }) {
  const { query } = useLocation();
  const vq = query.get('version');
  const version = vq ? parseInt(vq, 10) : null;
  const det = useApi(`/features/views/${enc(name)}`, { version });
  const all = useApi('/features');
  const d = det.data;
  const view = d && d.view;
  const versions = d ? [...(d.versions || [])].sort((x, y) => x.version - y.version) : [];
  const latest = versions.length ? versions[versions.length - 1].version : null;
  const aq = parseInt(query.get('a'), 10);
  const bq = parseInt(query.get('b'), 10);
  const b = Number.isFinite(bq) ? bq : latest;
  const a = Number.isFinite(aq) ? aq : versions.length > 1 ? versions[versions.length - 2].version : latest;
  return (
    <Page
      name="view"
      ready={det.done && all.done}
      title={name}
      sub={view && <>feature view · version {view.version}{latest != null && view.version !== latest ? ` of ${latest}` : ''} · {view.kind}</>}
      actions={
        view && (
          <a class="btn small" href={href('/ui/lineage', { ref: `view:${view.name}@${view.version}` })}>
            lineage
          </a>
        )
      }
    >
      <ErrorBox error={det.error || all.error} />
      {view && (
        <>
          <div class="cols">
            <Section title="Definition" testid="definition">
              <table class="kv">
                <tbody>
                  <tr>
                    <th>kind</th>
                    <td>{view.kind}</td>
                  </tr>
                  <tr>
                    <th>entities</th>
                    <td>{(view.entities || []).join(', ')}</td>
                  </tr>
                  <tr>
                    <th>ttl</th>
                    <td>{view.ttl_seconds ? `${fmtDuration(view.ttl_seconds)} (${fmtInt(view.ttl_seconds)} s)` : '—'}</td>
                  </tr>
                  <tr>
                    <th>source</th>
                    <td class="mono">{text(view.source)}</td>
                  </tr>
                  <tr>
                    <th>online</th>
                    <td>{view.online ? 'yes' : 'no'}</td>
                  </tr>
                  {view.description && (
                    <tr>
                      <th>description</th>
                      <td>{view.description}</td>
                    </tr>
                  )}
                </tbody>
              </table>
              <h3>Features</h3>
              <table class="grid" data-testid="view-features">
                <thead>
                  <tr>
                    <th>feature</th>
                    <th>type</th>
                  </tr>
                </thead>
                <tbody>
                  {(view.features || []).map((f) => (
                    <tr key={f.name}>
                      <td>{f.name}</td>
                      <td class="mono">{f.type}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
              {view.definition && (
                <details class="more">
                  <summary>full definition</summary>
                  <Json value={view.definition} />
                </details>
              )}
            </Section>
            <Section title="Versions" testid="view-versions">
              <table class="grid clickable">
                <thead>
                  <tr>
                    <th class="r">version</th>
                    <th>applied</th>
                    <th />
                  </tr>
                </thead>
                <tbody>
                  {[...versions].reverse().map((v) => (
                    <tr
                      key={v.version}
                      class={v.version === view.version ? 'sel' : ''}
                      data-testid="view-version"
                      data-version={v.version}
                      onClick={() => setQuery({ version: v.version === latest ? null : v.version })}
                    >
                      <td class="r">
                        <a href={href(`/ui/features/views/${enc(name)}`, { version: v.version })} onClick={(e) => e.stopPropagation()}>
                          {v.version}
                        </a>
                      </td>
                      <td>
                        <Time t={v.applied_at ?? v.created_at} />
                      </td>
                      <td class="small">
                        {v.change !== undefined && text(v.change)}
                        {v.deleted && <Badge kind="bad">deleted</Badge>}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </Section>
          </div>
          <Diff name={name} versions={versions} a={a} b={b} />
          {all.data && <OnlineLookup key={view.name} view={view} entities={all.data.entities} />}
        </>
      )}
    </Page>
  );
}
