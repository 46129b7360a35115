import { useApi } from '../api.js';
import { ErrorBox, Page } from '../components.jsx';
import { fmtInt } from '../format.js';
import { useSession } from '../session.js';

const CARDS = [
  ['tables', 'Tables', '/ui/tables', 'versioned Delta tables'],
  ['collections', 'Collections', '/ui/collections', 'vector collections'],
  ['views', 'Feature views', '/ui/features', 'batch, stream, on-demand'],
  ['entities', 'Entities', '/ui/features', 'join keys of the feature store'],
  ['streams', 'Streams', '/ui/features', 'logs and consumer groups'],
  ['experiments', 'Experiments', '/ui/runs', 'groups of runs'],
  ['runs', 'Runs', '/ui/runs', 'params, metrics, artifacts'],
  ['models', 'Models', '/ui/models', 'registered models and aliases'],
  ['contracts', 'Quality contracts', '/ui/quality', 'checks on tables'],
];

export function Overview() {
  const { session } = useSession();
  const { data, error, done } = useApi('/overview');
  return (
    <Page name="overview" ready={done} title="Overview" sub={session && session.lake}>
      <ErrorBox error={error} />
      {data && (
        <div class="cards">
          {CARDS.map(([k, label, href, hint]) => {
            const v = data[k];
            return (
              <a class={`stat ${v === null || v === undefined ? 'off' : ''}`} href={href} key={k} data-testid="overview-card" data-area={k}>
                <div class="stat-n">{v === null || v === undefined ? '—' : fmtInt(v)}</div>
                <div class="stat-label">{label}</div>
                <div class="stat-hint">{v === null || v === undefined ? 'no access with this key' : hint}</div>
              </a>
            );
          })}
        </div>
      )}
      <div class="hint-row">
        <a href="/ui/sql">Query tables with SQL →</a>
        <a href="/ui/lineage">Explore lineage →</a>
      </div>
    </Page>
  );
}
