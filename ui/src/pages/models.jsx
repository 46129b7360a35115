import { useState } from 'preact/hooks';
import { api, useApi } from '../api.js';
import { Badge, Empty, ErrorBox, Page, Pager, Section, Time } from '../components.jsx';
import { enc, fmtInt } from '../format.js';
import { href, setQuery, useLocation } from '../router.js';
import { useSession } from '../session.js';

const LIMIT = 50;

function Aliases({ aliases }) {
  const entries = Array.isArray(aliases) ? aliases.map((a) => [a, null]) : Object.entries(aliases || {});
  if (!entries.length) return <span class="muted">—</span>;
  return (
    <span class="chips">
      {entries.map(([a, v]) => (
        <span class="chip static alias" key={a} data-testid="alias" data-alias={a}>
          @{a}
          {v !== null && v !== undefined ? <b> → v{v}</b> : ''}
        </span>
      ))}
    </span>
  );
}

export function Models() {
  const { query } = useLocation();
  const offset = parseInt(query.get('offset'), 10) || 0;
  const { data, error, done } = useApi('/models', { offset, limit: LIMIT });
  return (
    <Page name="models" ready={done} title="Models" sub={data && `${fmtInt(data.total)} registered models`}>
      <ErrorBox error={error} />
      {data && (
        <Section>
          {data.items.length === 0 ? (
            <Empty>No models registered.</Empty>
          ) : (
            <table class="grid" data-testid="models-list">
              <thead>
                <tr>
                  <th>model</th>
                  <th class="r">latest</th>
                  <th class="r">versions</th>
                  <th>aliases</th>
                  <th>updated</th>
                </tr>
              </thead>
              <tbody>
                {data.items.map((m) => (
                  <tr key={m.name} data-testid="model-row" data-name={m.name}>
                    <td>
                      <a href={`/ui/models/${enc(m.name)}`}>{m.name}</a>
                    </td>
                    <td class="r">v{m.latest_version}</td>
                    <td class="r">{fmtInt(m.versions)}</td>
                    <td>
                      <Aliases aliases={m.aliases} />
                    </td>
                    <td>
                      <Time t={m.updated_at || m.created_at} />
                    </td>
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

function AliasForm({ name, versions, onDone }) {
  const { session } = useSession();
  const canWrite = !!(session && session.can_write);
  const [alias, setAlias] = useState('');
  const [version, setVersion] = useState(versions.length ? String(versions[0].version) : '');
  const [res, setRes] = useState({ busy: false, error: null, ok: null });
  async function submit(e) {
    e.preventDefault();
    setRes({ busy: true, error: null, ok: null });
    try {
      await api(`/models/${enc(name)}/aliases`, { method: 'POST', body: { alias: alias.trim(), version: parseInt(version, 10) } });
      setRes({ busy: false, error: null, ok: `@${alias.trim()} → v${version}` });
      setAlias('');
      onDone();
    } catch (error) {
      setRes({ busy: false, error, ok: null });
    }
  }
  return (
    <Section title="Set an alias" testid="alias-form">
      <form class="row" onSubmit={submit}>
        <label class="inline">
          alias
          <input data-testid="alias-input" value={alias} placeholder="champion" disabled={!canWrite} onInput={(e) => setAlias(e.currentTarget.value)} />
        </label>
        <label class="inline">
          version
          <select data-testid="alias-version" value={version} disabled={!canWrite} onChange={(e) => setVersion(e.currentTarget.value)}>
            {versions.map((v) => (
              <option key={v.version} value={v.version}>
                v{v.version}
              </option>
            ))}
          </select>
        </label>
        <button class="btn primary" type="submit" data-testid="alias-submit" disabled={!canWrite || res.busy || !alias.trim() || !(parseInt(version, 10) >= 1)}>
          Set alias
        </button>
        {res.ok && (
          <span class="ok-text" data-testid="alias-result">
            set {res.ok}
          </span>
        )}
      </form>
      {!canWrite && (
        <div class="note" data-testid="read-only-note">
          This key is read-only: setting an alias needs a key with write access to models.
        </div>
      )}
      <ErrorBox error={res.error} />
    </Section>
  );
}

export function Model({ name }) {
  const { data, error, done, reload } = useApi(`/models/${enc(name)}`);
  const versions = data ? [...data.versions].sort((a, b) => b.version - a.version) : [];
  return (
    <Page
      name="model"
      ready={done}
      title={name}
      sub={data && `${versions.length} versions`}
      actions={
        data &&
        versions.length > 0 && (
          <a class="btn small" href={href('/ui/lineage', { ref: `model:${name}@${versions[0].version}` })}>
            lineage
          </a>
        )
      }
    >
      <ErrorBox error={error} />
      {data && (
        <>
          <div class="row meta-row">
            <span class="muted">aliases:</span> <Aliases aliases={data.aliases} />
          </div>
          <Section title="Versions" testid="versions">
            <table class="grid">
              <thead>
                <tr>
                  <th class="r">version</th>
                  <th>aliases</th>
                  <th>run</th>
                  <th>artifact</th>
                  <th>flavor</th>
                  <th>created</th>
                  <th />
                </tr>
              </thead>
              <tbody>
                {versions.map((v) => (
                  <tr key={v.version} data-testid="model-version" data-version={v.version}>
                    <td class="r">
                      <b>v{v.version}</b>
                    </td>
                    <td>
                      {(v.aliases || []).map((a) => (
                        <Badge kind="info" key={a}>
                          @{a}
                        </Badge>
                      ))}
                    </td>
                    <td>
                      {v.run_id ? (
                        <a class="mono" href={`/ui/runs/${enc(v.run_id)}`} data-testid="run-link">
                          {v.run_id.slice(0, 12)}
                        </a>
                      ) : (
                        '—'
                      )}
                    </td>
                    <td class="mono small">{v.artifact || '—'}</td>
                    <td>{v.flavor || '—'}</td>
                    <td>
                      <Time t={v.created_at} />
                    </td>
                    <td>
                      <a class="small" href={href('/ui/lineage', { ref: v.ref || `model:${name}@${v.version}` })}>
                        lineage
                      </a>
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Section>
          <AliasForm name={name} versions={versions} onDone={reload} />
        </>
      )}
    </Page>
  );
}
