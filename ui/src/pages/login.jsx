import { useState } from 'preact/hooks';
import { api, clearKey, getKey, setKey } from '../api.js';
import { navigate, useLocation } from '../router.js';
import { ErrorBox, Page } from '../components.jsx';

function safeNext(n) {
  return n && n.startsWith('/ui') && !n.startsWith('/ui/login') && !n.startsWith('//') ? n : '/ui/';
}

export function Login({ onSession }) {
  const loc = useLocation();
  const next = safeNext(loc.query.get('next'));
  const signedOut = loc.query.has('signed_out');
  const [value, setValue] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState(null);
  const had = !!getKey();

  async function submit(e) {
    e.preventDefault();
    const k = value.trim();
    if (!k) {
      setError('Enter an API key.');
      return;
    }
    setBusy(true);
    setError(null);
    setKey(k);
    try {
      const s = await api('/session', { noRedirect: true });
      onSession(s);
      navigate(next, { replace: true });
    } catch (err) {
      clearKey();
      setError(err.status === 401 ? `That key was not accepted: ${err.message}` : err);
      setBusy(false);
    }
  }

  return (
    <div class="login-wrap">
      <Page name="login" ready={true}>
        <form class="login card" onSubmit={submit}>
          <div class="login-brand">lakebed</div>
          <h1>{signedOut ? 'Signed out' : 'This lake needs an API key'}</h1>
          <p class="muted">
            {signedOut
              ? 'Your key was removed from this tab. Enter a key to sign in again.'
              : had
                ? 'The key in this tab was refused. Enter a valid API key.'
                : 'Enter an API key to browse this lake. It is kept in this tab only (sessionStorage) and sent as a Bearer token.'}
          </p>
          <label class="field">
            <span>API key</span>
            <input
              type="password"
              autocomplete="off"
              spellcheck={false}
              data-testid="key-input"
              value={value}
              onInput={(e) => setValue(e.currentTarget.value)}
              placeholder="lb_…"
              autofocus
            />
          </label>
          <ErrorBox error={error} />
          <button class="btn primary" type="submit" data-testid="key-submit" disabled={busy}>
            {busy ? 'Checking…' : 'Open the lake'}
          </button>
        </form>
      </Page>
    </div>
  );
}
