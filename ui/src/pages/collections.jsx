import { useEffect, useState } from 'preact/hooks';
import { api, useApi } from '../api.js';
import { Empty, ErrorBox, Json, KV, Page, Pager, Section, Time, Val } from '../components.jsx';
import { enc, fmtBytes, fmtInt, fmtMs, fmtNum, text } from '../format.js';
import { setQuery, useLocation } from '../router.js';

const LIMIT = 50;

export function Collections() {
  const { query } = useLocation();
  const offset = parseInt(query.get('offset'), 10) || 0;
  const { data, error, done } = useApi('/collections', { offset, limit: LIMIT });
  return (
    <Page name="collections" ready={done} title="Collections" sub={data && `${fmtInt(data.total)} vector collections`}>
      <ErrorBox error={error} />
      {data && (
        <Section>
          {data.items.length === 0 ? (
            <Empty>No collections.</Empty>
          ) : (
            <table class="grid" data-testid="collections-list">
              <thead>
                <tr>
                  <th>name</th>
                  <th class="r">dim</th>
                  <th>metric</th>
                  <th class="r">points</th>
                  <th class="r">segments</th>
                  <th>index</th>
                  <th>embedder</th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((c) => (
                  <tr key={c.name} data-testid="collection-row" data-name={c.name}>
                    <td>
                      <a href={`/ui/collections/${enc(c.name)}`}>{c.name}</a>
                    </td>
                    <td class="r">{c.dim}</td>
                    <td>{c.metric}</td>
                    <td class="r">{fmtInt(c.points)}</td>
                    <td class="r">{fmtInt(c.segments)}</td>
                    <td>
                      <Val v={c.index} />
                    </td>
                    <td class="muted">{c.embedder ? text(c.embedder) : '—'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <Pager total={data.total} offset={offset} limit={LIMIT} count={data.items.length} onPage={(o) => setQuery({ offset: o || null })} />
        </Section>
      )}
    </Page>
  );
}

const MODES = [
  ['text', 'text (embed)'],
  ['id', 'by point id'],
  ['keyword', 'keyword (BM25)'],
  ['hybrid', 'hybrid'],
];

function Segments({ segments }) {
  if (!segments || !segments.length) return <Empty>No segments.</Empty>;
  const cols = [];
  for (const s of segments) for (const k of Object.keys(s)) if (!cols.includes(k)) cols.push(k);
  return (
    <div class="grid-wrap">
      <table class="grid" data-testid="segments">
        <thead>
          <tr>
            {cols.map((c) => (
              <th key={c}>{c}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {segments.map((s, i) => (
            <tr key={i}>
              {cols.map((c) => (
                <td key={c} class={typeof s[c] === 'number' ? 'r' : ''}>
                  {/bytes/.test(c) && typeof s[c] === 'number' ? fmtBytes(s[c]) : <Val v={s[c]} />}
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function fmtStat(k, v) {
  if (/bytes/.test(k) && typeof v === 'number') return fmtBytes(v);
  if (/(_at|_time)$/.test(k) && (typeof v === 'number' || typeof v === 'string')) return <Time t={v} />;
  let o = v && typeof v === 'object' && !Array.isArray(v) ? v : null;
  if (typeof v === 'string' && /^[[{]/.test(v)) {
    try {
      o = JSON.parse(v);
    } catch {
      /* not JSON: show as text */
    }
  }
  if (o && typeof o === 'object' && !Array.isArray(o)) {
    if (!Object.keys(o).length) return <span class="muted">—</span>;
    return (
          <span class="mono small">
            {Object.entries(o)
              .map(([a, b]) => `${a}: ${text(b)}`)
              .join(' · ')}
          </span>
    );
  }
  return <Val v={v} max={300} />;
}

function Plan({ plan }) {
  if (!plan) return <Empty>No plan.</Empty>;
  // A flat plan reads best as key: value; nested parts as JSON.
  const flat = typeof plan === 'object' && !Array.isArray(plan) && Object.values(plan).every((v) => v === null || typeof v !== 'object');
  if (flat) return <KV obj={plan} testid="plan" />;
  return <Json value={plan} testid="plan" />;
}

function Payload({ payload }) {
  const entries = Object.entries(payload || {});
  if (!entries.length) return <span class="muted">—</span>;
  return (
    <div class="payload">
      {entries.map(([k, v]) => (
        <div key={k}>
          <span class="pk">{k}:</span> <Val v={v} max={240} />
        </div>
      ))}
    </div>
  );
}

export function Collection({ name }) {
  const { query } = useLocation();
  const path = `/collections/${enc(name)}`;
  const det = useApi(path);
  const d = det.data;
  const urlQ = query.get('q') || '';
  const urlMode = query.get('mode') || '';
  const urlK = parseInt(query.get('k'), 10) || 10;
  const urlFilter = query.get('filter') || '';
  const defaultMode = d ? (d.has_embedder ? 'text' : d.has_text ? 'keyword' : 'id') : 'text';
  const mode = urlMode || defaultMode;

  const [form, setForm] = useState({ q: urlQ, mode, k: urlK, filter: urlFilter });
  useEffect(() => setForm({ q: urlQ, mode, k: urlK, filter: urlFilter }), [urlQ, mode, urlK, urlFilter]);
  const [nonce, setNonce] = useState(0);
  const [res, setRes] = useState({ data: null, error: null, busy: false, key: null });
  const searchKey = urlQ && d ? JSON.stringify([urlQ, mode, urlK, urlFilter, nonce]) : null;

  useEffect(() => {
    if (!searchKey) {
      setRes({ data: null, error: null, busy: false, key: null });
      return undefined;
    }
    const done = (x) => setRes({ ...x, busy: false, key: searchKey });
    let filter = null;
    if (urlFilter.trim()) {
      try {
        filter = JSON.parse(urlFilter);
      } catch (e) {
        done({ data: null, error: `The filter is not valid JSON: ${e.message}` });
        return undefined;
      }
    }
    const ctl = new AbortController();
    setRes((r) => ({ ...r, busy: true, error: null }));
    api(`${path}/search`, { method: 'POST', body: { mode, q: urlQ, k: urlK, filter }, signal: ctl.signal }).then(
      (data) => !ctl.signal.aborted && done({ data, error: null }),
      (error) => !ctl.signal.aborted && error.name !== 'AbortError' && done({ data: null, error }),
    );
    return () => ctl.abort();
  }, [searchKey]);
  const searchDone = !searchKey || (res.key === searchKey && !res.busy);

  function run(e) {
    e.preventDefault();
    if (form.filter.trim()) {
      try {
        JSON.parse(form.filter);
      } catch (err) {
        setRes({ data: null, error: `The filter is not valid JSON: ${err.message}`, busy: false, key: res.key });
        return;
      }
    }
    const next = { q: form.q, mode: form.mode, k: form.k === 10 ? null : form.k, filter: form.filter.trim() || null };
    if (form.q === urlQ && form.mode === mode && form.k === urlK && form.filter.trim() === urlFilter.trim()) setNonce((n) => n + 1);
    else setQuery(next);
  }

  const stats = d ? d.stats || {} : {};
  const statsFlat = {};
  const indexes = {};
  for (const [k, v] of Object.entries(stats)) {
    if (k === 'segments' && Array.isArray(v)) continue;
    if (k === 'payload_indexes') continue;
    if (/^(index|quantization)/.test(k)) indexes[k] = v;
    else statsFlat[k] = v;
  }
  const info = {};
  for (const [k, v] of Object.entries((d && d.info) || {})) {
    if (/^(index|quantization)/.test(k)) indexes[k] = indexes[k] ?? v;
    else info[k] = v;
  }
  const bytes = stats.bytes ?? stats.bytes_on_disk;
  const hits = res.data ? res.data.hits : null;
  return (
    <Page
      name="collection"
      ready={det.done && searchDone}
      title={name}
      sub={
        d &&
        `${d.dim ?? d.info?.dim ?? '?'}-d ${d.metric ?? d.info?.metric ?? ''} · ${fmtInt(stats.points)} points · ${fmtInt(
          Array.isArray(stats.segments) ? stats.segments.length : (stats.segments ?? stats.sealed_segments),
        )} segments${bytes != null ? ' · ' + fmtBytes(bytes) : ''}`
      }
    >
      <ErrorBox error={det.error} />
      {d && (
        <>
          <Section title="Search" testid="search">
            <form class="search-form" onSubmit={run}>
              <div class="row">
                <select data-testid="search-mode" value={form.mode} onChange={(e) => setForm({ ...form, mode: e.currentTarget.value })}>
                  {MODES.map(([m, label]) => (
                    <option key={m} value={m} disabled={(m === 'text' || m === 'hybrid') && !d.has_embedder ? true : (m === 'keyword' || m === 'hybrid') && !d.has_text}>
                      {label}
                    </option>
                  ))}
                </select>
                <input
                  class="grow"
                  data-testid="search-input"
                  value={form.q}
                  placeholder={form.mode === 'id' ? 'point id' : 'search text'}
                  onInput={(e) => setForm({ ...form, q: e.currentTarget.value })}
                />
                <label class="inline">
                  k
                  <input
                    type="number"
                    min={1}
                    max={100}
                    class="num-input"
                    data-testid="search-k"
                    value={form.k}
                    onInput={(e) => setForm({ ...form, k: Math.max(1, Math.min(100, parseInt(e.currentTarget.value, 10) || 10)) })}
                  />
                </label>
                <button class="btn primary" type="submit" data-testid="search-run" disabled={!form.q.trim() || res.busy}>
                  {res.busy ? 'Searching…' : 'Search'}
                </button>
              </div>
              <details class="more" open={!!form.filter}>
                <summary>filter (JSON)</summary>
                <textarea
                  class="mono"
                  rows={3}
                  data-testid="search-filter"
                  spellcheck={false}
                  placeholder='{"must":[{"key":"section","match":{"value":"1"}}]}'
                  value={form.filter}
                  onInput={(e) => setForm({ ...form, filter: e.currentTarget.value })}
                />
              </details>
            </form>
            <ErrorBox error={res.error} />
            {res.data && (
              <div class="hits-plan">
                <div>
                  <div class="muted small" data-testid="search-elapsed">
                    {hits.length} hits · {fmtMs(res.data.elapsed_ms)}
                  </div>
                  {hits.length === 0 ? (
                    <Empty>No hits.</Empty>
                  ) : (
                    <table class="grid" data-testid="hits">
                      <thead>
                        <tr>
                          <th class="r">#</th>
                          <th>id</th>
                          <th class="r">score</th>
                          <th>payload</th>
                        </tr>
                      </thead>
                      <tbody>
                        {hits.map((h, i) => (
                          <tr key={`${h.id}-${i}`} data-testid="hit" data-id={String(h.id)}>
                            <td class="r muted nowrap">{i + 1}</td>
                            <td class="mono hit-id">{String(h.id)}</td>
                            <td class="r nowrap">{fmtNum(h.score)}</td>
                            <td>
                              <Payload payload={h.payload} />
                            </td>
                          </tr>
                        ))}
                      </tbody>
                    </table>
                  )}
                </div>
                <div>
                  <h3>Plan</h3>
                  <Plan plan={res.data.plan} />
                </div>
              </div>
            )}
          </Section>
          <div class="cols">
            <Section title="Stats" testid="stats">
              <KV obj={statsFlat} fmt={fmtStat} />
            </Section>
            <div>
              <Section title="Config" testid="info">
                <KV obj={info} fmt={fmtStat} />
              </Section>
              <Section title="Indexes" testid="indexes">
                <KV obj={indexes} fmt={fmtStat} empty="No index." />
              </Section>
            </div>
          </div>
          {Array.isArray(stats.segments) && (
            <Section title="Segments">
              <Segments segments={stats.segments} />
            </Section>
          )}
          <div class="cols">
            <Section title="Payload indexes" testid="payload-indexes">
              <KV obj={d.payload_indexes} empty="No payload indexes." />
            </Section>
            <Section title="Versions" testid="versions">
              {d.versions && d.versions.length ? (
                <table class="grid">
                  <thead>
                    <tr>
                      <th class="r">version</th>
                      <th>created</th>
                      <th>details</th>
                    </tr>
                  </thead>
                  <tbody>
                    {d.versions.map((v) => {
                      const { version, created_at, ...rest } = v;
                      return (
                        <tr key={version}>
                          <td class="r">{version}</td>
                          <td>
                            <Time t={created_at} />
                          </td>
                          <td class="muted small">
                            {Object.entries(rest)
                              .map(([k, x]) => `${k}: ${text(x)}`)
                              .join(' · ')}
                          </td>
                        </tr>
                      );
                    })}
                  </tbody>
                </table>
              ) : (
                <Empty>No versions.</Empty>
              )}
            </Section>
          </div>
        </>
      )}
    </Page>
  );
}
