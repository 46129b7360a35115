import { useMemo, useState } from 'preact/hooks';
import { api, useApi } from '../api.js';
import { Badge, Empty, ErrorBox, Page, Pager, Section, Time, Val } from '../components.jsx';
import { Chart, PALETTE } from '../chart.jsx';
import { enc, fmtInt, fmtMs, text } from '../format.js';
import { href, setQuery, useLocation } from '../router.js';
import { useSession } from '../session.js';

const LIMIT = 20;

// A check outcome as the spec names it, or as lakebed's Outcome.to_dict() does.
function chk(c) {
  return {
    name: c.name,
    passed: c.passed,
    failed: c.failed_rows ?? c.failing ?? null,
    total: c.total_rows ?? c.rows ?? null,
    examples: c.examples ?? c.samples ?? [],
    detail: c.detail,
    kind: c.kind,
    column: c.column,
    level: c.level,
  };
}

function Verdict({ passed }) {
  return (
    <Badge kind={passed ? 'ok' : 'bad'} testid="verdict">
      {passed ? 'passed' : 'failed'}
    </Badge>
  );
}

function ResultsTable({ items, showTable }) {
  if (!items.length) return <Empty>No validation results yet.</Empty>;
  return (
    <table class="grid" data-testid="results">
      <thead>
        <tr>
          <th class="r">id</th>
          {showTable && <th>table</th>}
          <th class="r">version</th>
          <th>verdict</th>
          <th>action</th>
          <th class="r">checks failed</th>
          <th class="r">failing rows</th>
          <th>when</th>
        </tr>
      </thead>
      <tbody>
        {items.map((r) => {
          const cs = (r.checks || []).map(chk);
          const failedChecks = cs.filter((c) => !c.passed).length;
          const rows = cs.reduce((a, c) => a + (c.passed ? 0 : c.failed || 0), 0);
          return (
            <tr key={r.id} data-testid="result-row" data-id={r.id} class={r.passed ? '' : 'bad-row'}>
              <td class="r">
                <a href={`/ui/quality/result/${r.id}`}>{r.id}</a>
              </td>
              {showTable && <td>{r.table ? <a href={`/ui/quality/${enc(r.table)}`}>{r.table}</a> : <span class="muted">data</span>}</td>}
              <td class="r">{r.table_version ?? '—'}</td>
              <td>
                <Verdict passed={r.passed} />
              </td>
              <td>{r.action}</td>
              <td class="r">
                {failedChecks} / {cs.length}
              </td>
              <td class="r">{fmtInt(rows)}</td>
              <td>
                <Time t={r.created_at} />
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

export function Quality() {
  const { query } = useLocation();
  const offset = parseInt(query.get('offset'), 10) || 0;
  const contracts = useApi('/quality/contracts', { limit: 200 });
  const results = useApi('/quality/results', { offset, limit: LIMIT });
  return (
    <Page name="quality" ready={contracts.done && results.done} title="Quality" sub={contracts.data && `${fmtInt(contracts.data.total)} contracts`}>
      <ErrorBox error={contracts.error || results.error} />
      {contracts.data && (
        <Section title="Contracts" testid="contracts">
          {contracts.data.items.length === 0 ? (
            <Empty>No contracts.</Empty>
          ) : (
            <table class="grid">
              <thead>
                <tr>
                  <th>table</th>
                  <th class="r">contract version</th>
                  <th>on violation</th>
                  <th class="r">checks</th>
                  <th>applied / description</th>
                </tr>
              </thead>
              <tbody>
                {contracts.data.items.map((c) => (
                  <tr key={c.table} data-testid="contract-row" data-table={c.table}>
                    <td>
                      <a href={`/ui/quality/${enc(c.table)}`}>{c.table}</a>
                    </td>
                    <td class="r">{c.version}</td>
                    <td>
                      <Badge kind={c.on_violation === 'fail' || c.on_violation === 'reject' ? 'bad' : c.on_violation === 'quarantine' ? 'warn' : ''}>{c.on_violation}</Badge>
                    </td>
                    <td class="r">{c.checks}</td>
                    <td class="muted">{c.applied_at ? <Time t={c.applied_at} /> : c.description || ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Section>
      )}
      {results.data && (
        <Section title="Recent results" testid="recent-results">
          <ResultsTable items={results.data.items} showTable />
          <Pager total={results.data.total} offset={offset} limit={LIMIT} count={results.data.items.length} onPage={(o) => setQuery({ offset: o || null })} />
        </Section>
      )}
    </Page>
  );
}

function heat(n, max) {
  if (n === null || n === undefined) return '#f1f5f9';
  if (n === 0) return '#dcfce7';
  const t = Math.min(1, Math.log1p(n) / Math.log1p(Math.max(1, max)));
  const a = [254, 226, 226];
  const b = [220, 38, 38];
  const c = a.map((x, i) => Math.round(x + (b[i] - x) * t));
  return `rgb(${c[0]},${c[1]},${c[2]})`;
}

function Heat({ q }) {
  const max = Math.max(0, ...q.failing.flat().filter((x) => typeof x === 'number'));
  if (!q.versions.length || !q.checks.length) return <Empty>No results by version yet.</Empty>;
  return (
    <div class="grid-wrap">
      <table class="grid heat" data-testid="heat">
        <thead>
          <tr>
            <th>check \ version</th>
            {q.versions.map((v) => (
              <th key={v} class="r">
                v{v}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {q.checks.map((c, i) => (
            <tr key={c} data-testid="heat-row" data-check={c}>
              <th>{c}</th>
              {q.versions.map((v, j) => {
                const n = q.failing[i][j];
                const dark = typeof n === 'number' && n > 0 && Math.log1p(n) / Math.log1p(Math.max(1, max)) > 0.55;
                return (
                  <td key={v} class="r" style={{ background: heat(n, max), color: dark ? '#fff' : undefined }} title={`${c} at v${v}: ${n === null || n === undefined ? 'not checked' : `${n} failing rows`}`}>
                    {n === null || n === undefined ? '' : fmtInt(n)}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function barOption(q) {
  return {
    animation: false,
    color: PALETTE,
    textStyle: { fontFamily: 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif' },
    grid: { left: 48, right: 12, top: 12, bottom: 24 },
    tooltip: { trigger: 'axis', confine: true },
    xAxis: { type: 'category', data: q.versions.map((v) => `v${v}`), axisLabel: { color: '#64748b', fontSize: 11 } },
    yAxis: { type: 'value', axisLabel: { color: '#64748b', fontSize: 11 }, splitLine: { lineStyle: { color: '#eef2f7' } } },
    series: q.checks.map((c, i) => ({ type: 'bar', name: c, stack: 'failing', data: q.failing[i], barMaxWidth: 28 })),
  };
}

function Examples({ rows }) {
  if (!rows || !rows.length) return null;
  const cols = [];
  for (const r of rows) if (r && typeof r === 'object' && !Array.isArray(r)) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k);
  if (!cols.length)
    return (
      <ul class="small">
        {rows.map((r, i) => (
          <li key={i} class="mono">
            {text(r)}
          </li>
        ))}
      </ul>
    );
  return (
    <div class="grid-wrap">
      <table class="grid examples" data-testid="examples">
        <thead>
          <tr>
            {cols.map((c) => (
              <th key={c}>{c}</th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((r, i) => (
            <tr key={i}>
              {cols.map((c) => (
                <td key={c}>
                  <Val v={r[c]} max={60} />
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function ResultDetail({ r }) {
  const cs = (r.checks || []).map(chk);
  return (
    <div class="result" data-testid="result" data-id={r.id}>
      <div class="row">
        <Verdict passed={r.passed} />
        <span>
          result <a href={`/ui/quality/result/${r.id}`}>#{r.id}</a>
          {r.table && (
            <>
              {' '}
              on{' '}
              <a href={href(`/ui/tables/${enc(r.table)}`, { version: r.table_version })}>
                {r.table}
                {r.table_version !== null && r.table_version !== undefined ? `@${r.table_version}` : ' (write refused, no version)'}
              </a>
            </>
          )}{' '}
          · action <b>{r.action}</b>
          {r.rows !== undefined && <> · {fmtInt(r.rows)} rows</>}
          {r.duration_ms !== undefined && <> · {fmtMs(r.duration_ms)}</>} · <Time t={r.created_at} />
        </span>
      </div>
      <table class="grid">
        <thead>
          <tr>
            <th>check</th>
            <th>verdict</th>
            <th class="r">failing</th>
            <th class="r">of</th>
            <th>detail / examples</th>
          </tr>
        </thead>
        <tbody>
          {cs.map((c) => (
            <tr key={c.name} data-testid="check-row" data-check={c.name}>
              <td>
                <b>{c.name}</b>
                {c.kind && <div class="muted small">{[c.kind, c.column].filter(Boolean).join(' · ')}</div>}
              </td>
              <td>
                <Verdict passed={c.passed} />
              </td>
              <td class="r">{fmtInt(c.failed)}</td>
              <td class="r">{fmtInt(c.total)}</td>
              <td>
                {c.detail && <div class="small">{c.detail}</div>}
                {!c.passed && c.examples.length > 0 && <Examples rows={c.examples} />}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Report({ table, versions }) {
  const { query } = useLocation();
  const reference = query.get('reference') || '';
  const current = query.get('current') || '';
  const both = reference && current;
  const [show, setShow] = useState(true);
  const { data, error, loading } = useApi(show ? '/quality/report' : null, { table, reference: both ? reference : null, current: both ? current : null });
  const opts = versions.map((v) => `table:${table}@${v}`);
  return (
    <Section
      title="Report"
      testid="report"
      right={
        <span class="row">
          <span class="muted small">drift</span>
          <select data-testid="report-reference" value={reference} onChange={(e) => setQuery({ reference: e.currentTarget.value }, { replace: true })}>
            <option value="">reference…</option>
            {opts.map((o) => (
              <option key={o} value={o}>
                {o.split('@')[1] ? `v${o.split('@')[1]}` : o}
              </option>
            ))}
          </select>
          →
          <select data-testid="report-current" value={current} onChange={(e) => setQuery({ current: e.currentTarget.value }, { replace: true })}>
            <option value="">current…</option>
            {opts.map((o) => (
              <option key={o} value={o}>
                {o.split('@')[1] ? `v${o.split('@')[1]}` : o}
              </option>
            ))}
          </select>
          <button class="btn small" type="button" onClick={() => setShow(!show)}>
            {show ? 'hide' : 'show'}
          </button>
        </span>
      }
    >
      {(reference && !current) || (!reference && current) ? <div class="note">Choose both versions for a drift report.</div> : null}
      <ErrorBox error={error} />
      {loading && <div class="loading">Building the report…</div>}
      {show && data && <iframe class="report" sandbox="" srcdoc={data.html} title={`quality report of ${table}`} data-testid="quality-report" />}
    </Section>
  );
}

export function QualityTable({ name }) {
  const { session } = useSession();
  const canWrite = !!(session && session.can_write);
  const { query } = useLocation();
  const offset = parseInt(query.get('offset'), 10) || 0;
  const q = useApi(`/quality/tables/${enc(name)}`);
  const results = useApi('/quality/results', { table: name, offset, limit: 10 });
  const [val, setVal] = useState({ busy: false, error: null, result: null });
  const anyFailing = !!(q.data && q.data.failing.some((row) => row.some((n) => typeof n === 'number' && n > 0)));
  const option = useMemo(() => (q.data && q.data.versions.length && anyFailing ? barOption(q.data) : null), [q.data, anyFailing]);
  async function validate() {
    setVal({ busy: true, error: null, result: null });
    try {
      const result = await api(`/quality/validate/${enc(name)}`, { method: 'POST' });
      setVal({ busy: false, error: null, result });
      q.reload();
      results.reload();
    } catch (error) {
      setVal({ busy: false, error, result: null });
    }
  }
  return (
    <Page
      name="quality-table"
      ready={q.done && results.done}
      title={name}
      sub="data quality"
      actions={
        <>
          <a class="btn small" href={`/ui/tables/${enc(name)}`}>
            table
          </a>
          <button
            type="button"
            class="btn primary"
            data-testid="validate-run"
            disabled={!canWrite || val.busy}
            title={canWrite ? 'validate the latest version now' : 'needs a key with write access'}
            onClick={validate}
          >
            {val.busy ? 'Validating…' : 'Validate now'}
          </button>
        </>
      }
    >
      {!canWrite && (
        <div class="note" data-testid="read-only-note">
          This key is read-only: validating stores a result and needs write access.
        </div>
      )}
      <ErrorBox error={q.error || results.error || val.error} />
      {val.result && (
        <Section title="Just validated" testid="validate-result">
          <ResultDetail r={val.result} />
        </Section>
      )}
      {q.data && (
        <div class="cols">
          <Section title="Failing rows per check over versions" testid="failing">
            <Heat q={q.data} />
          </Section>
          <Section title="Failing rows by version">{option ? (
              <Chart option={option} height={220} testid="failing-chart" />
            ) : (
              <Empty>{q.data.versions.length ? 'No failing rows in any checked version.' : 'No results by version yet.'}</Empty>
            )}</Section>
        </div>
      )}
      {results.data && (
        <Section title="Results" testid="table-results">
          {results.data.items.length === 0 ? <Empty>No results yet.</Empty> : results.data.items.map((r) => <ResultDetail key={r.id} r={r} />)}
          <Pager total={results.data.total} offset={offset} limit={10} count={results.data.items.length} onPage={(o) => setQuery({ offset: o || null })} />
        </Section>
      )}
      {q.data && <Report table={name} versions={q.data.versions} />}
    </Page>
  );
}

export function QualityResult({ id }) {
  const { data, error, done } = useApi(`/quality/result/${enc(id)}`);
  return (
    <Page name="quality-result" ready={done} title={`Quality result #${id}`} sub={data && data.table && <a href={`/ui/quality/${enc(data.table)}`}>{data.table}</a>}>
      <ErrorBox error={error} />
      {data && (
        <Section>
          <ResultDetail r={data} />
        </Section>
      )}
    </Page>
  );
}
