import { useEffect, useLayoutEffect, useState } from 'preact/hooks';
import { api } from '../api.js';
import { ErrorBox, Grid, Page, Section } from '../components.jsx';
import { fmtInt, fmtMs } from '../format.js';
import { setQuery, useLocation } from '../router.js';

const LIMITS = [50, 200, 500, 1000];

export function Sql() {
  const { query } = useLocation();
  const q = query.get('q') || '';
  const limit = LIMITS.includes(parseInt(query.get('limit'), 10)) ? parseInt(query.get('limit'), 10) : 200;
  const [draft, setDraft] = useState(q);
  const [nonce, setNonce] = useState(0);
  const [res, setRes] = useState({ data: null, error: null, busy: false, done: !q });

  useEffect(() => setDraft(q), [q]);

  useLayoutEffect(() => {  // before the first paint, as useApi
    if (!q.trim()) {
      setRes({ data: null, error: null, busy: false, done: true });
      return undefined;
    }
    const ctl = new AbortController();
    setRes((r) => ({ ...r, busy: true, done: false, error: null }));
    api('/sql', { method: 'POST', body: { sql: q, limit }, signal: ctl.signal }).then(
      (data) => !ctl.signal.aborted && setRes({ data, error: null, busy: false, done: true }),
      (error) => !ctl.signal.aborted && error.name !== 'AbortError' && setRes({ data: null, error, busy: false, done: true }),
    );
    return () => ctl.abort();
  }, [q, limit, nonce]);

  function run(e) {
    if (e) e.preventDefault();
    if (draft === q) setNonce((n) => n + 1);
    else setQuery({ q: draft });
  }

  const d = res.data;
  return (
    <Page name="sql" ready={res.done} title="SQL" sub="read-only SELECT over the tables this key may read">
      <form class="sql-form" onSubmit={run}>
        <textarea
          data-testid="sql-input"
          class="mono"
          rows={6}
          spellcheck={false}
          value={draft}
          placeholder="SELECT * FROM silver.transactions LIMIT 10"
          onInput={(e) => setDraft(e.currentTarget.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) run(e);
          }}
        />
        <div class="toolbar">
          <button class="btn primary" type="submit" data-testid="sql-run" disabled={res.busy || !draft.trim()}>
            {res.busy ? 'Running…' : 'Run'}
          </button>
          <span class="muted small">Ctrl+Enter</span>
          <label class="inline">
            limit
            <select value={limit} onChange={(e) => setQuery({ limit: e.currentTarget.value === '200' ? null : e.currentTarget.value }, { replace: true })}>
              {LIMITS.map((l) => (
                <option key={l} value={l}>
                  {l}
                </option>
              ))}
            </select>
          </label>
          {d && (
            <span class="muted" data-testid="sql-elapsed">
              {d.truncated
                ? `first ${fmtInt(d.rows.length)} of ${d.num_rows != null ? fmtInt(d.num_rows) : 'more'} rows`
                : `${fmtInt(d.rows.length)} rows`}{' '}
              · {fmtMs(d.elapsed_ms)}
            </span>
          )}
        </div>
      </form>
      <ErrorBox error={res.error} />
      {d && (
        <Section>
          <Grid columns={d.columns} rows={d.rows} testid="sql-result" rowTestid="sql-row" empty="The query returned no rows." />
        </Section>
      )}
    </Page>
  );
}
