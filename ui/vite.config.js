// Vite build of lakebed's web UI. `npm run build` writes ../src/lakebed/ui/static/
// (served by the Python side under /ui/, assets under /ui/assets/).
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vite';
import preact from '@preact/preset-vite';

const UI_DIR = dirname(fileURLToPath(import.meta.url));
const REPO_DIR = dirname(UI_DIR);

// build-info.json = {"sources_sha256": H}, so a test can check the shipped build matches
// the sources it was built from (lakebed.ui.source_hash recomputes it the same way):
//
//   H = sha256 over, for each source file in sorted order of its repo-relative POSIX path
//       (e.g. "ui/index.html"; sorted by the path's UTF-8 bytes, i.e. Python's sorted() on str),
//       the bytes  path.encode() + b"\0" + file_bytes + b"\0"
//   source files = ui/package.json, ui/package-lock.json, ui/vite.config.js, ui/index.html
//                  and every file under ui/src/ (recursively).
//
// hex digest, lowercase.
function listFiles(dir) {
  const out = [];
  for (const name of readdirSync(dir)) {
    const full = join(dir, name);
    const st = statSync(full);
    if (st.isDirectory()) out.push(...listFiles(full));
    else if (st.isFile()) out.push(full);
  }
  return out;
}

export function sourcesSha256() {
  const files = [
    'package.json',
    'package-lock.json',
    'vite.config.js',
    'index.html',
  ].map((f) => join(UI_DIR, f));
  files.push(...listFiles(join(UI_DIR, 'src')));
  const entries = files.map((full) => ({
    full,
    rel: relative(REPO_DIR, full).split(sep).join('/'),
  }));
  entries.sort((a, b) => Buffer.compare(Buffer.from(a.rel, 'utf8'), Buffer.from(b.rel, 'utf8')));
  const h = createHash('sha256');
  for (const { full, rel } of entries) {
    h.update(Buffer.from(rel, 'utf8'));
    h.update(Buffer.from([0]));
    h.update(readFileSync(full));
    h.update(Buffer.from([0]));
  }
  return h.digest('hex');
}

function buildInfo() {
  return {
    name: 'lakebed-build-info',
    apply: 'build',
    generateBundle() {
      this.emitFile({
        type: 'asset',
        fileName: 'build-info.json',
        source: JSON.stringify({ sources_sha256: sourcesSha256() }) + '\n',
      });
    },
  };
}

export default defineConfig({
  base: '/ui/',
  plugins: [preact({ prerender: { enabled: false } }), buildInfo()],
  build: {
    outDir: '../src/lakebed/ui/static',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2020',
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    chunkSizeWarningLimit: 1200,
  },
  server: {
    proxy: { '/ui/api': 'http://127.0.0.1:8790' },
  },
});
