// Shared building blocks: page root, errors, pager, grids, small value views.
import { useEffect, useState } from 'preact/hooks';
import { fmtInt, fmtTime, text } from './format.js';

// Root of every page: data-testid="page-<name>", data-ready="1" once its main data is in.
export function Page({ name, ready, title, sub, actions, children }) {
  useEffect(() => {
    if (ready) performance.mark('lakebed:ready');
  }, [ready]);
  useEffect(() => {
    if (title) document.title = `${typeof title === 'string' ? title : name} · lakebed`;
  }, [title, name]);
  return (
    <section class="page" data-testid={`page-${name}`} data-ready={ready ? '1' : '0'}>
      {(title || actions) && (
        <div class="page-head">
          <div class="page-title">
            <h1>{title}</h1>
            {sub && <div class="sub">{sub}</div>}
          </div>
          {actions && <div class="page-actions">{actions}</div>}
        </div>
      )}
      {children}
    </section>
  );
}

export function ErrorBox({ error, testid = 'error' }) {
  if (!error) return null;
  const msg = typeof error === 'string' ? error : error.message || String(error);
  const status = typeof error === 'object' && (error.status === 403 || error.status >= 500) ? error.status : null;
  return (
    <div class="error" data-testid={testid} role="alert">
      {status ? <span class="err-status">{status === 403 ? 'Forbidden:' : `Error ${status}:`} </span> : null}
      {msg}
    </div>
  );
}

export function Loading({ what }) {
  return <div class="loading">Loading{what ? ` ${what}` : ''}…</div>;
}

export function Empty({ children }) {
  return <div class="empty">{children}</div>;
}

export function Section({ title, right, children, testid, class: cls }) {
  return (
    <div class={`card ${cls || ''}`} data-testid={testid}>
      {(title || right) && (
        <div class="card-head">
          <h2>{title}</h2>
          {right && <div class="card-right">{right}</div>}
        </div>
      )}
      {children}
    </div>
  );
}

// Server-side paging. total may be null (unknown): then "next" is on while a page is full.
export function Pager({ total, offset, limit, count, onPage, testid = 'pager' }) {
  offset = offset || 0;
  const n = count ?? 0;
  const hasNext = total === null || total === undefined ? n >= limit : offset + n < total;
  const from = n ? offset + 1 : 0;
  const to = offset + n;
  return (
    <div class="pager" data-testid={testid}>
      <button
        type="button"
        class="btn small"
        data-testid={`${testid}-prev`}
        disabled={offset <= 0}
        onClick={() => onPage(Math.max(0, offset - limit))}
      >
        ‹ Prev
      </button>
      <span class="pager-info" data-testid={`${testid}-info`}>
        {fmtInt(from)}–{fmtInt(to)}
        {total === null || total === undefined ? (hasNext ? ' of more' : '') : ` of ${fmtInt(total)}`}
      </span>
      <button
        type="button"
        class="btn small"
        data-testid={`${testid}-next`}
        disabled={!hasNext}
        onClick={() => onPage(offset + limit)}
      >
        Next ›
      </button>
    </div>
  );
}

// One cell value as text (null dimmed, numbers right-aligned by the grid's CSS).
export function Val({ v, max = 120 }) {
  if (v === null || v === undefined) return <span class="null">null</span>;
  if (typeof v === 'boolean') return <span class="bool">{String(v)}</span>;
  if (typeof v === 'number') return <span class="num">{text(v)}</span>;
  const s = text(v);
  if (s.length > max) return <span title={s}>{s.slice(0, max)}…</span>;
  return <span>{s}</span>;
}

// A long grid paints its first rows at once and the rest just after the first paint:
// a screen holds about 30 rows, and building 200 rows of cells before anything shows
// costs a page ~100 ms of its load.
const FIRST_ROWS = 40;

function useProgressiveRows(rows) {
  const [state, setState] = useState({ rows, shown: FIRST_ROWS });
  const shown = state.rows === rows ? state.shown : FIRST_ROWS;
  useEffect(() => {
    if (!rows || shown >= rows.length) return undefined;
    let timer = 0;
    const frame = requestAnimationFrame(() => {
      timer = setTimeout(() => setState({ rows, shown: rows.length }), 0);
    });
    return () => {
      cancelAnimationFrame(frame);
      clearTimeout(timer);
    };
  }, [rows, shown]);
  return rows ? rows.slice(0, shown) : rows;
}

// columns: [name], rows: [[...]]
export function Grid({ columns, rows, testid, rowTestid, empty = 'No rows' }) {
  const visible = useProgressiveRows(rows);
  if (!rows || rows.length === 0) return <Empty>{empty}</Empty>;
  // a column is numeric when its first non-null value is a number
  const numeric = columns.map((_, j) => {
    for (const r of rows) if (r[j] !== null && r[j] !== undefined) return typeof r[j] === 'number';
    return false;
  });
  return (
    <div class="grid-wrap" data-testid={testid} data-rows-shown={visible.length} data-rows={rows.length}>
      <table class="grid data">
        <thead>
          <tr>
            {columns.map((c, j) => (
              <th key={j} class={numeric[j] ? 'r' : ''}>
                {c}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {visible.map((r, i) => (
            <tr key={i} data-testid={rowTestid}>
              {r.map((v, j) => (
                <td key={j} class={typeof v === 'number' ? 'r' : ''}>
                  <Val v={v} />
                </td>
              ))}
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

// Key: value pairs of an object.
export function KV({ obj, testid, empty = 'none', fmt }) {
  const entries = Object.entries(obj || {});
  if (!entries.length) return <Empty>{empty}</Empty>;
  return (
    <table class="kv" data-testid={testid}>
      <tbody>
        {entries.map(([k, v]) => (
          <tr key={k}>
            <th>{k}</th>
            <td>{fmt ? fmt(k, v) : <Val v={v} max={400} />}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function Json({ value, testid }) {
  return (
    <pre class="json" data-testid={testid}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

export function Time({ t }) {
  return <span title={t === null || t === undefined ? '' : String(t)}>{fmtTime(t)}</span>;
}

export function Badge({ kind, children, testid }) {
  return (
    <span class={`badge ${kind || ''}`} data-testid={testid}>
      {children}
    </span>
  );
}

export function StatusBadge({ status }) {
  const s = String(status || '').toLowerCase();
  const kind =
    s === 'finished' || s === 'passed' || s === 'ok' || s === 'present'
      ? 'ok'
      : s === 'failed' || s === 'killed' || s === 'error'
        ? 'bad'
        : s === 'running'
          ? 'info'
          : '';
  return <Badge kind={kind}>{status ?? '—'}</Badge>;
}

export function Tabs({ tabs, value, onChange }) {
  return (
    <div class="tabs">
      {tabs.map(([k, label]) => (
        <button type="button" key={k} class={`tab ${value === k ? 'on' : ''}`} onClick={() => onChange(k)}>
          {label}
        </button>
      ))}
    </div>
  );
}

// A <details> dropdown with checkboxes to choose columns.
export function Picker({ label, options, chosen, onChange, testid }) {
  const set = new Set(chosen);
  return (
    <details class="picker" data-testid={testid}>
      <summary class="btn small">
        {label} ({chosen.length})
      </summary>
      <div class="picker-menu">
        {options.length === 0 && <Empty>none</Empty>}
        {options.map((o) => (
          <label key={o}>
            <input
              type="checkbox"
              checked={set.has(o)}
              onChange={(e) => {
                const next = options.filter((x) => (x === o ? e.currentTarget.checked : set.has(x)));
                onChange(next);
              }}
            />
            {o}
          </label>
        ))}
      </div>
    </details>
  );
}

// Lazy-mount helper: tells whether something took longer than `ms` (to avoid flashing spinners).
export function useSlow(active, ms = 250) {
  const [slow, setSlow] = useState(false);
  useEffect(() => {
    if (!active) {
      setSlow(false);
      return undefined;
    }
    const t = setTimeout(() => setSlow(true), ms);
    return () => clearTimeout(t);
  }, [active, ms]);
  return slow;
}
