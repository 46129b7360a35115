// Tiny path router over the History API. Every page keeps its state in the URL.
import { useEffect, useState } from 'preact/hooks';

const listeners = new Set();

function snapshot() {
  return {
    path: location.pathname,
    search: location.search,
    query: new URLSearchParams(location.search),
    href: location.pathname + location.search,
  };
}

function notify() {
  for (const f of listeners) f();
}

export function currentHref() {
  return location.pathname + location.search;
}

export function navigate(url, { replace = false } = {}) {
  if (url === currentHref()) {
    notify();
    return;
  }
  history[replace ? 'replaceState' : 'pushState'](null, '', url);
  if (!replace) window.scrollTo(0, 0);
  notify();
}

// Build "/ui/x?a=1" from a path and an object of params (empty values dropped;
// arrays repeat the key).
export function href(path, params) {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => qs.append(k, x));
    else qs.set(k, String(v));
  }
  const s = qs.toString();
  return s ? `${path}?${s}` : path;
}

// Merge updates into the current query string and navigate.
export function setQuery(updates, opts) {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(updates)) {
    q.delete(k);
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.set(k, String(v));
  }
  const s = q.toString();
  navigate(s ? `${location.pathname}?${s}` : location.pathname, opts);
}

export function useLocation() {
  const [loc, setLoc] = useState(snapshot);
  useEffect(() => {
    const f = () => setLoc(snapshot());
    listeners.add(f);
    window.addEventListener('popstate', f);
    return () => {
      listeners.delete(f);
      window.removeEventListener('popstate', f);
    };
  }, []);
  return loc;
}

// Same-origin links under /ui navigate without a reload.
export function interceptLinks() {
  document.addEventListener('click', (e) => {
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    const a = e.target.closest && e.target.closest('a[href]');
    if (!a || a.target || a.hasAttribute('download')) return;
    const h = a.getAttribute('href');
    if (!h || !h.startsWith('/ui') || h.startsWith('/ui/api') || h.startsWith('/ui/assets')) return;
    e.preventDefault();
    navigate(h);
  });
}
