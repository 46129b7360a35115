// Value formatting shared by the pages.

export function fmtInt(n) {
  if (n === null || n === undefined) return '—';
  if (typeof n !== 'number') return String(n);
  return n.toLocaleString('en-US');
}

export function fmtNum(v) {
  if (v === null || v === undefined) return '—';
  if (typeof v !== 'number') return String(v);
  if (Number.isInteger(v)) return v.toLocaleString('en-US');
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e7)) return v.toExponential(3);
  return String(Number(v.toPrecision(5)));
}

export function fmtBytes(n) {
  if (n === null || n === undefined) return '—';
  if (typeof n !== 'number') return String(n);
  const u = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  let x = n;
  while (x >= 1024 && i < u.length - 1) {
    x /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${x.toFixed(x < 10 ? 2 : 1)} ${u[i]}`;
}

// ISO timestamp -> "2026-10-01 12:03:04" (UTC, as the server sends it).
export function fmtTime(s) {
  if (s === null || s === undefined || s === '') return '—';
  if (typeof s === 'number') s = new Date(s * 1000).toISOString();
  const m = /^(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)/.exec(String(s));
  return m ? `${m[1]} ${m[2]}` : String(s);
}

export function fmtDuration(seconds) {
  if (seconds === null || seconds === undefined) return '—';
  const s = Math.abs(seconds);
  if (s === 0) return '0 s';
  let out;
  if (s < 1) out = `${Math.round(s * 1000)} ms`;
  else if (s < 120) out = `${fmtNum(Math.round(s * 10) / 10)} s`;
  else if (s < 7200) out = `${Math.round(s / 60)} min`;
  else if (s < 172800) out = `${fmtNum(Math.round(s / 360) / 10)} h`;
  else out = `${fmtNum(Math.round(s / 8640) / 10)} d`;
  return seconds < 0 ? `-${out}` : out;
}

export function fmtMs(ms) {
  if (ms === null || ms === undefined) return '';
  return ms < 10 ? `${ms.toFixed(2)} ms` : ms < 1000 ? `${ms.toFixed(1)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

// Any JSON value as one line of text.
export function text(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return v;
  // 12 significant digits: a stored 3147.88 reads as such, not as its binary 3147.8799999999997
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(12)));
  if (typeof v === 'boolean') return String(v);
  try {
    return JSON.stringify(v);
  } catch {
    return String(v);
  }
}

export function duration(start, end) {
  if (!start || !end) return null;
  const a = Date.parse(start);
  const b = Date.parse(end);
  if (Number.isNaN(a) || Number.isNaN(b)) return null;
  return (b - a) / 1000;
}

export function plural(n, word, many) {
  return `${fmtInt(n)} ${n === 1 ? word : many || word + 's'}`;
}

export function enc(s) {
  return encodeURIComponent(s);
}
