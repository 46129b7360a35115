// JSON client for /ui/api. The key lives in sessionStorage and goes as a Bearer token.
import { useCallback, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { currentHref, href, navigate } from './router.js';

const KEY = 'lakebed.key';

export function getKey() {
  try {
    return sessionStorage.getItem(KEY);
  } catch {
    return null;
  }
}

export function setKey(k) {
  sessionStorage.setItem(KEY, k);
}

export function clearKey() {
  try {
    sessionStorage.removeItem(KEY);
  } catch {
    /* storage disabled */
  }
}

export class ApiError extends Error {
  constructor(status, type, message) {
    super(message);
    this.status = status;
    this.type = type;
  }
}

export function loginUrl(next) {
  return href('/ui/login', { next: next && !next.startsWith('/ui/login') ? next : undefined });
}

export async function api(path, { method = 'GET', params, body, signal, noRedirect = false } = {}) {
  const url = href('/ui/api' + path, params);
  const headers = { Accept: 'application/json' };
  const key = getKey();
  if (key) headers.Authorization = `Bearer ${key}`;
  const init = { method, headers, signal };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    if (e && e.name === 'AbortError') throw e;
    throw new ApiError(0, 'network', `Cannot reach the lakebed server (${e && e.message ? e.message : e})`);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    const msg = err.message || (text && !data ? text.slice(0, 300) : `${res.status} ${res.statusText}`);
    const e = new ApiError(res.status, err.type || 'http', msg);
    // several requests of one page may all answer 401: the first one sends the user to the
    // key form (remembering the page), the others must not replace that with the form itself
    if (res.status === 401 && !noRedirect && !currentHref().startsWith('/ui/login')) {
      navigate(loginUrl(currentHref()));
    }
    throw e;
  }
  return data;
}

// useApi(path, params): {data, error, loading, reload}. path null = no request.
// Keeps the previous data while a new request is in flight.
export function useApi(path, params, opts) {
  const key = path == null ? null : JSON.stringify([path, params || null, opts && opts.body]);
  const [state, setState] = useState({ data: null, error: null, loading: path != null, key: null });
  const [nonce, setNonce] = useState(0);
  const reload = useCallback(() => setNonce((n) => n + 1), []);
  const optsRef = useRef(opts);
  optsRef.current = opts;
  // a layout effect runs before the browser paints: the request leaves ~50 ms sooner than
  // from useEffect, which waits for the first paint
  useLayoutEffect(() => {
    if (key == null) {
      setState({ data: null, error: null, loading: false, key: null });
      return undefined;
    }
    const ctl = new AbortController();
    setState((s) => ({ ...s, loading: true, error: null }));
    api(path, { params, signal: ctl.signal, ...(optsRef.current || {}) }).then(
      (data) => {
        if (!ctl.signal.aborted) setState({ data, error: null, loading: false, key });
      },
      (error) => {
        if (!ctl.signal.aborted && !(error && error.name === 'AbortError'))
          setState({ data: null, error, loading: false, key });
      },
    );
    return () => ctl.abort();
  }, [key, nonce]);
  // "done" = the answer for the current request is in (data or error).
  const done = key != null && state.key === key && !state.loading;
  return { ...state, done, reload };
}
