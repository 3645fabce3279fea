// Builds the verifier page: src/app.js bundled by esbuild (one IIFE, with
// every dependency inlined) and src/style.css, both inlined into
// src/index.html with a Content-Security-Policy that allows exactly that
// script and that style by hash. The output is one self-contained file,
// ../internal/web/verifier.html, committed so that `go build` needs no npm
// (`make check-web` checks it is what this build produces).
import { build } from 'esbuild';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

const here = (p) => new URL(p, import.meta.url);
const out = process.argv[2] || here('../internal/web/verifier.html').pathname;

const js = await build({
  entryPoints: [here('src/app.js').pathname], bundle: true, format: 'iife', minify: true, write: false,
  target: ['es2022'], platform: 'browser', charset: 'utf8', legalComments: 'none',
  define: { 'process.env.NODE_ENV': '"production"' }, logLevel: 'warning',
});
const script = js.outputFiles[0].text.trim().replaceAll('</script', '<\\/script').replaceAll('<!--', '<\\!--');
const css = readFileSync(here('src/style.css'), 'utf8').trim();
const sha = (s) => `'sha256-${createHash('sha256').update(s, 'utf8').digest('base64')}'`;
// connect-src *: the JSON-RPC endpoints are the user's choice (any host,
// http or https, any port, e.g. http://127.0.0.1:8545), and the stamp view
// and "ask this attestd server" talk to the page's own server. Nothing the
// page fetches can run: scripts and styles are pinned by hash.
const csp = [
  "default-src 'none'", `script-src ${sha(script)}`, `style-src ${sha(css)}`, 'connect-src *',
  "img-src 'none'", "base-uri 'none'", "form-action 'none'",
].join('; ');
const html = readFileSync(here('src/index.html'), 'utf8')
  .replace('__CSP__', csp)
  .replace('__CSS__', () => css)
  .replace('__JS__', () => script);
writeFileSync(out, html);
console.log(`${out}: ${html.length} bytes`);
