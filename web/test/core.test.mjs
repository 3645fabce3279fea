// Tests of the page's core verifier (src/core.js) in a real headless
// Chromium, without the page: core.js is bundled by esbuild as the page's
// build bundles it (the same sources and pinned libraries; make check-web
// holds the shipped page to them) and loaded into a blank page, and its
// functions are called there with page.evaluate. The answers must be
// attestd's: `attestd hash --canon jcs` for canonical JSON, and the
// published proof vectors (testdata/proof-vectors-v2.json) for verdicts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build } from 'esbuild';
import { chromium } from 'playwright-core';

const BIN = process.env.ATTESTD_BIN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CI = process.env.CI === 'true';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
const skip = !existsSync(CHROMIUM) ? `no ${CHROMIUM} (apt-get install chromium)` : !BIN ? 'ATTESTD_BIN not set (make test-web)' : false;
if (skip && CI) throw new Error(`browser tests cannot run in CI: ${skip}`);

let dir, browser, page;

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'attestd-core-'));
  const js = await build({
    entryPoints: [new URL('../src/core.js', import.meta.url).pathname], bundle: true, format: 'iife', globalName: 'core', write: false,
    target: ['es2022'], platform: 'browser', charset: 'utf8', legalComments: 'none', logLevel: 'warning',
  });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  page = await browser.newPage();
  await page.goto('about:blank');
  await page.addScriptTag({ content: js.outputFiles[0].text });
});

after(async () => {
  if (browser) await browser.close();
  if (dir && !process.env.KEEP) rmSync(dir, { recursive: true, force: true });
});

// pageJCS is hashDocument(file, "jcs") in the browser: the fingerprint's
// hex, or {refused: why}.
const pageJCS = (bytes) => page.evaluate(async (b64) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  try {
    return await core.hashDocument(new Blob([bytes]), 'jcs', null);
  } catch (e) {
    return { refused: `${e.k || ''} ${(e.a && e.a.err) || e.message}` };
  }
}, Buffer.from(bytes).toString('base64'));

// RFC 8785's edge cases (numbers as ECMAScript prints them, -0, integers
// beyond 2^53, escapes, key order by UTF-16 code units, nesting), and what
// attestd refuses: duplicate names (also when spelt with an escape, also
// nested), a lone surrogate, a number out of range, bytes that are not
// UTF-8, a byte order mark, a second value, nothing.
const RECORDS = {
  numbers: '{"n":[1e21,1e20,0.1,-0,123456789012345678901234567890,9007199254740993,1E-7,5e-324,1.7976931348623157e308,100,0.000001,-1.5e-300,12345678901234567e10]}',
  strings: '{"s":"\\u00e9\\u20ac\\ud83d\\ude00\\n\\u001f\\"\\\\/\\u0041\\u2028\\u007f","\\u00e9":1,"e":2}',
  'key order': '{"b":{"z":1,"a":{"y":[{"d":1,"c":2}],"x":null}},"a":true,"\\ud83d\\ude00":1,"\\uffff":2,"\\u20ac":3,"10":4,"1":5,"a\\u0000":6}',
  'case variants are distinct': '{"a":1,"A":2}',
  'white space around': ' \n{"a" : [ 1 , 2 ] }\n ',
  literals: '[true,false,null,"",{},[]]',
  'duplicate names': '{"a":1,"a":2}',
  'duplicate names, one escaped': '{"result":"negative","resul\\u0074":"positive"}',
  'duplicate names, nested': '[{"x":1},{"x":1,"x":2}]',
  'a lone surrogate': '{"s":"\\ud800"}',
  'a number out of range': '[1e400]',
  'not UTF-8': Buffer.from([0x7b, 0x22, 0x73, 0x22, 0x3a, 0x22, 0xff, 0x22, 0x7d]),
  'a byte order mark': Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from('{"a":1}')]),
  'two values': '{"a":1}{}',
  empty: '',
};

test('canonical JSON (RFC 8785): the page fingerprints each record as attestd hash --canon jcs does, and refuses what it refuses', { skip }, async () => {
  let refused = 0;
  for (const [name, rec] of Object.entries(RECORDS)) {
    const file = join(dir, 'record.json');
    writeFileSync(file, rec);
    const r = spawnSync(BIN, ['hash', '--canon', 'jcs', file], { encoding: 'utf8' });
    const got = await pageJCS(readFileSync(file));
    if (r.status === 0) {
      assert.equal(got, r.stdout.split(' ')[0], `${name}: the page's fingerprint differs from attestd's`);
    } else {
      assert.equal(r.status, 2, `${name}: attestd hash exits ${r.status}: ${r.stderr}`);
      assert.equal(typeof got, 'object', `${name}: attestd refuses it (${r.stderr.trim()}), the page gives ${got}`);
      assert.match(got.refused, /^jcs_invalid /, name);
      refused++;
    }
  }
  assert.equal(refused, 9, 'attestd refuses the nine it should');
});
