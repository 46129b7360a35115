import { useApi } from '../api.js';
import { Empty, ErrorBox, Grid, Page, Pager, Section, Time, Val } from '../components.jsx';
import { enc, fmtInt, fmtTime } from '../format.js';
import { href, setQuery, useLocation } from '../router.js';

const LIMIT = 50;

function int(v, d = 0) {
  const n = parseInt(v, 10);
  return Number.isFinite(n) && n >= 0 ? n : d;
}

export function Tables() {
  const { query } = useLocation();
  const namespace = query.get('namespace') || '';
  const offset = int(query.get('offset'));
  const { data, error, done } = useApi('/tables', { namespace, offset, limit: LIMIT });
  const namespaces = (data && data.namespaces) || [];
  const hasDesc = !!(data && data.items.some((t) => t.description));
  const groups = [];
  if (data) {
    const by = new Map();
    for (const t of data.items) {
      const ns = t.namespace || '(no namespace)';
      if (!by.has(ns)) by.set(ns, []);
      by.get(ns).push(t);
    }
    for (const [ns, items] of by) groups.push([ns, items]);
  }
  return (
    <Page name="tables" ready={done} title="Tables" sub={data && `${fmtInt(data.total)} tables`}>
      <div class="toolbar">
        <div class="chips" data-testid="namespace-filter">
          <a class={`chip ${namespace ? '' : 'on'}`} href="/ui/tables">
            all
          </a>
          {namespaces.map((ns) => (
            <a key={ns} class={`chip ${namespace === ns ? 'on' : ''}`} href={href('/ui/tables', { namespace: ns })} data-namespace={ns}>
              {ns}
            </a>
          ))}
        </div>
      </div>
      <ErrorBox error={error} />
      {data && (
        <Section>
          {data.items.length === 0 ? (
            <Empty>No tables{namespace ? ` in ${namespace}` : ''}.</Empty>
          ) : (
            <table class="grid" data-testid="tables-list">
              <thead>
                <tr>
                  <th>name</th>
                  <th class="r">version</th>
                  {hasDesc && <th>description</th>}
                </tr>
              </thead>
              {groups.map(([ns, items]) => (
                <tbody key={ns}>
                  <tr class="group">
                    <td colSpan={hasDesc ? 3 : 2}>{ns}</td>
                  </tr>
                  {items.map((t) => (
                    <tr key={t.name} data-testid="table-row" data-name={t.name}>
                      <td>
                        <a href={`/ui/tables/${enc(t.name)}`}>{t.name}</a>
                      </td>
                      <td class="r">{t.version}</td>
                      {hasDesc && <td class="muted">{t.description || ''}</td>}
                    </tr>
                  ))}
                </tbody>
              ))}
            </table>
          )}
          <Pager total={data.total} offset={offset} limit={LIMIT} count={data.items.length} onPage={(o) => setQuery({ offset: o || null })} />
        </Section>
      )}
    </Page>
  );
}

const ROWS = 50;
const HIST = 20;

export function TableDetail({ name }) {
  const { query } = useLocation();
  const vq = query.get('version');
  const version = vq !== null && vq !== '' ? int(vq, null) : null;
  const offset = int(query.get('offset'));
  const hoffset = int(query.get('hoffset'));
  const path = `/tables/${enc(name)}`;
  const meta = useApi(path, { version });
  const hist = useApi(`${path}/history`, { offset: hoffset, limit: HIST });
  const rows = useApi(`${path}/rows`, { version, offset, limit: ROWS });
  const m = meta.data;
  const shown = m ? m.version : version;
  const ready = meta.done && hist.done && rows.done;
  const err = meta.error || rows.error || hist.error;
  const lineageRef = m ? `table:${m.name}@${m.version}` : null;
  const histRows = !!(hist.data && hist.data.items.some((h) => h.num_rows !== null && h.num_rows !== undefined));
  return (
    <Page
      name="table"
      ready={ready}
      title={name}
      sub={
        m && (
          <>
            version <b data-testid="table-version">{m.version}</b>
            {m.latest_version !== m.version ? <> of {m.latest_version} (time travel)</> : ' (latest)'} ·{' '}
            <span data-testid="row-count">{fmtInt(m.num_rows)} rows</span>
            {m.created_at && <> · created {fmtTime(m.created_at)}</>}
          </>
        )
      }
      actions={
        m && (
          <>
            {version !== null && (
              <a class="btn small" href={`/ui/tables/${enc(name)}`}>
                latest
              </a>
            )}
            <a class="btn small" href={href('/ui/sql', { q: `SELECT * FROM ${name} LIMIT 100` })}>
              SQL
            </a>
            <a class="btn small" href={href('/ui/lineage', { ref: lineageRef })}>
              lineage
            </a>
            {m.contract && (
              <a class="btn small" href={`/ui/quality/${enc(name)}`}>
                quality
              </a>
            )}
          </>
        )
      }
    >
      <ErrorBox error={err} />
      {m && m.description && <p class="desc">{m.description}</p>}
      <div class="cols">
        <Section title="Schema" testid="schema">
          {m && (
            <table class="grid">
              <thead>
                <tr>
                  <th>column</th>
                  <th>type</th>
                  <th>nullable</th>
                </tr>
              </thead>
              <tbody>
                {m.schema.map((c) => (
                  <tr key={c.name}>
                    <td>
                      <b>{c.name}</b>
                      {(m.partition_by || []).includes(c.name) && <span class="badge info">partition</span>}
                    </td>
                    <td class="mono">{c.type}</td>
                    <td>{c.nullable ? 'yes' : 'no'}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          {m && Object.keys(m.properties || {}).length > 0 && (
            <details class="more">
              <summary>properties</summary>
              <table class="kv">
                <tbody>
                  {Object.entries(m.properties).map(([k, v]) => (
                    <tr key={k}>
                      <th>{k}</th>
                      <td>
                        <Val v={v} max={300} />
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </details>
          )}
        </Section>
        <Section title="History" testid="history">
          {hist.data && (
            <>
              <table class="grid clickable">
                <thead>
                  <tr>
                    <th class="r">version</th>
                    <th>time</th>
                    <th>operation</th>
                    <th class="r">added</th>
                    <th class="r">removed</th>
                    {histRows && <th class="r">rows</th>}
                  </tr>
                </thead>
                <tbody>
                  {hist.data.items.map((h) => (
                    <tr
                      key={h.version}
                      class={h.version === shown ? 'sel' : ''}
                      data-testid="history-row"
                      data-version={h.version}
                      onClick={() => setQuery({ version: h.version, offset: null })}
                      title={JSON.stringify(h.parameters || {})}
                    >
                      <td class="r">
                        <a href={href(`/ui/tables/${enc(name)}`, { version: h.version, hoffset: hoffset || null })} onClick={(e) => e.stopPropagation()}>
                          {h.version}
                        </a>
                      </td>
                      <td>
                        <Time t={h.timestamp} />
                      </td>
                      <td>{h.operation}</td>
                      <td class="r">{h.rows_added === null || h.rows_added === undefined ? '' : `+${fmtInt(h.rows_added)}`}</td>
                      <td class="r">{h.rows_removed ? `−${fmtInt(h.rows_removed)}` : ''}</td>
                      {histRows && <td class="r">{fmtInt(h.num_rows)}</td>}
                    </tr>
                  ))}
                </tbody>
              </table>
              <Pager
                testid="history-pager"
                total={hist.data.total}
                offset={hoffset}
                limit={HIST}
                count={hist.data.items.length}
                onPage={(o) => setQuery({ hoffset: o || null }, { replace: true })}
              />
            </>
          )}
        </Section>
      </div>
      <Section
        title={`Rows at version ${shown ?? ''}`}
        testid="rows"
        right={
          rows.data && (
            <Pager total={rows.data.total} offset={offset} limit={ROWS} count={rows.data.rows.length} onPage={(o) => setQuery({ offset: o || null })} />
          )
        }
      >
        {rows.data && <Grid columns={rows.data.columns} rows={rows.data.rows} testid="rows-grid" rowTestid="data-row" />}
      </Section>
    </Page>
  );
}
