import { render } from 'preact';
import { useLayoutEffect, useState } from 'preact/hooks';
import './style.css';
import { api, clearKey, getKey } from './api.js';
import { interceptLinks, navigate, useLocation } from './router.js';
import { SessionContext } from './session.js';
import { ErrorBox } from './components.jsx';
import { Login } from './pages/login.jsx';
import { Overview } from './pages/overview.jsx';
import { TableDetail, Tables } from './pages/tables.jsx';
import { Sql } from './pages/sql.jsx';
import { Collection, Collections } from './pages/collections.jsx';
import { Features, FeatureView } from './pages/features.jsx';
import { Runs } from './pages/runs.jsx';
import { Run } from './pages/run.jsx';
import { Compare } from './pages/compare.jsx';
import { Model, Models } from './pages/models.jsx';
import { Lineage } from './pages/lineage.jsx';
import { Quality, QualityResult, QualityTable } from './pages/quality.jsx';

const NAV = [
  ['/ui/', 'Overview', /^\/ui\/?$/],
  ['/ui/tables', 'Tables', /^\/ui\/tables/],
  ['/ui/sql', 'SQL', /^\/ui\/sql/],
  ['/ui/collections', 'Collections', /^\/ui\/collections/],
  ['/ui/features', 'Features', /^\/ui\/features/],
  ['/ui/runs', 'Runs', /^\/ui\/(runs|compare)/],
  ['/ui/models', 'Models', /^\/ui\/models/],
  ['/ui/lineage', 'Lineage', /^\/ui\/lineage/],
  ['/ui/quality', 'Quality', /^\/ui\/quality/],
];

function dec(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

// path (under /ui) -> page element
function route(path) {
  const p = path.replace(/^\/ui/, '').replace(/\/+$/, '') || '/';
  let m;
  if (p === '/') return <Overview />;
  if (p === '/tables') return <Tables />;
  if ((m = /^\/tables\/(.+)$/.exec(p))) return <TableDetail name={dec(m[1])} />;
  if (p === '/sql') return <Sql />;
  if (p === '/collections') return <Collections />;
  if ((m = /^\/collections\/(.+)$/.exec(p))) return <Collection name={dec(m[1])} />;
  if (p === '/features') return <Features />;
  if ((m = /^\/features\/views\/(.+)$/.exec(p))) return <FeatureView name={dec(m[1])} />;
  if (p === '/runs') return <Runs />;
  if ((m = /^\/runs\/(.+)$/.exec(p))) return <Run id={dec(m[1])} />;
  if (p === '/compare') return <Compare />;
  if (p === '/models') return <Models />;
  if ((m = /^\/models\/(.+)$/.exec(p))) return <Model name={dec(m[1])} />;
  if (p === '/lineage') return <Lineage />;
  if (p === '/quality') return <Quality />;
  if ((m = /^\/quality\/result\/(.+)$/.exec(p))) return <QualityResult id={dec(m[1])} />;
  if ((m = /^\/quality\/(.+)$/.exec(p))) return <QualityTable name={dec(m[1])} />;
  return (
    <section class="page" data-testid="page-notfound" data-ready="1">
      <h1>Not found</h1>
      <p>
        No page at <code>{path}</code>. <a href="/ui/">Back to the overview</a>.
      </p>
    </section>
  );
}

function Routed({ path }) {
  return route(path);
}

function Shell({ session, loc, children }) {
  const key = session && session.key;
  return (
    <div class="shell">
      <nav class="nav">
        <a class="brand" href="/ui/">
          <span class="logo" aria-hidden="true">
            <svg viewBox="0 0 20 20" width="18" height="18">
              <path d="M1 13c3-2 5-2 9 0s6 2 9 0v5H1z" fill="#2563eb" />
              <path d="M1 9c3-2 5-2 9 0s6 2 9 0" stroke="#60a5fa" stroke-width="1.6" fill="none" />
              <path d="M1 5c3-2 5-2 9 0s6 2 9 0" stroke="#93c5fd" stroke-width="1.6" fill="none" />
            </svg>
          </span>
          lakebed
        </a>
        <ul>
          {NAV.map(([h, label, re]) => (
            <li key={h}>
              <a href={h} class={re.test(loc.path) ? 'on' : ''} data-testid={`nav-${label.toLowerCase()}`}>
                {label}
              </a>
            </li>
          ))}
        </ul>
        {session && <div class="nav-foot">lakebed {session.version}</div>}
      </nav>
      <div class="main">
        <header class="top">
          <div class="lake" title={session ? session.lake : ''}>
            {session ? session.lake : ''}
          </div>
          <div class="who">
            {key ? (
              <span class="key-name" data-testid="key-name" title={`key ${key.id} · scopes: ${(key.scopes || []).join(', ')}`}>
                {key.name || key.id}
              </span>
            ) : session && !session.auth_required ? (
              <span class="key-name muted">no key needed</span>
            ) : null}
            {session && !session.can_write && (
              <span class="badge warn" data-testid="read-only">
                read-only
              </span>
            )}
            {getKey() && (
              <a
                href="/ui/login"
                class="signout"
                data-testid="sign-out"
                onClick={(e) => {
                  e.preventDefault();
                  clearKey();
                  navigate('/ui/login?signed_out=1');
                }}
              >
                sign out
              </a>
            )}
          </div>
        </header>
        <main class="content">{children}</main>
      </div>
    </div>
  );
}

function App() {
  const loc = useLocation();
  const [session, setSession] = useState(null);
  const [error, setError] = useState(null);
  const [nonce, setNonce] = useState(0);
  const onLogin = /^\/ui\/login\/?$/.test(loc.path);
  const keyNow = getKey();

  useLayoutEffect(() => {
    if (onLogin) return undefined;
    let alive = true;
    setError(null);
    api('/session').then(
      (s) => alive && setSession(s),
      (e) => {
        if (!alive) return;
        if (e.status !== 401) setError(e);
      },
    );
    return () => {
      alive = false;
    };
  }, [onLogin, keyNow, nonce]);

  const ctx = { session, reload: () => setNonce((n) => n + 1) };

  if (!loc.path.startsWith('/ui')) {
    navigate('/ui/', { replace: true });
    return null;
  }
  if (onLogin) {
    return (
      <SessionContext.Provider value={ctx}>
        <Login onSession={setSession} />
      </SessionContext.Provider>
    );
  }
  let body;
  if (error) {
    body = (
      <section class="page" data-testid="page-error" data-ready="1">
        <ErrorBox error={error} />
      </section>
    );
  } else {
    // the page asks for its data at once, beside /session (not after it): a page load is
    // one round trip after the script, not two; write controls stay off until the session says
    body = <Routed key={loc.path} path={loc.path} />;
  }
  return (
    <SessionContext.Provider value={ctx}>
      <Shell session={session} loc={loc}>
        {body}
      </Shell>
    </SessionContext.Provider>
  );
}

interceptLinks();
render(<App />, document.getElementById('app'));
