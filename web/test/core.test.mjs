// Tests of the page's core verifier (src/core.js) in a real headless
// Chromium, without the page: core.js is bundled by esbuild as the page's
// build bundles it (the same sources and pinned libraries; make check-web
// holds the shipped page to them) and loaded into a blank page, and its
// functions are called there with page.evaluate. The answers must be
// attestd's: `attestd hash --canon jcs` for canonical JSON, and the
// published proof vectors (testdata/proof-vectors-v2.json) for verdicts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { createHash } from 'node:crypto';
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
const execFileP = promisify(execFile);

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

// pageVerifyBundle runs core.verify offline in the browser on a bundle,
// as attestd verify --offline --anchorer A --trusted-block … does (and as
// internal/verify's runVectorV2): {verdict, failed, undecided} or
// {refused} when the bundle is not read.
const pageVerifyBundle = (bundle, fp, anchorer, trusted, minConf) => page.evaluate(async ([bundle, fp, anchorer, trusted, minConf]) => {
  let f;
  try {
    f = core.parseAttest(JSON.stringify({ version: 1, fingerprint: bundle.fingerprint, canonicalization: 'none', proof: bundle }));
  } catch (e) {
    return { verdict: 'invalid', failed: ['format'], undecided: [], refused: e.a && e.a.err };
  }
  const anchorers = Object.fromEntries((bundle.anchors || []).map((a) => [a.chain_id, anchorer]));
  const p = { mode: 'offline', minConf, issuers: null, anchorers, trusted: trusted.map((t) => ({ chain: t.chain_id, number: t.number ?? null, hash: t.hash })) };
  const r = await core.verify(f, fp, p);
  const names = (st) => r.checks.filter((c) => c.state === st).map((c) => c.name);
  return { verdict: r.verdict, failed: names('failed'), undecided: names('undecided') };
}, [bundle, fp, anchorer, trusted, minConf]);

const VECTORS = JSON.parse(readFileSync(new URL('../../testdata/proof-vectors-v2.json', import.meta.url), 'utf8')).vectors;

test('proof vectors v2: the page\'s core verifier reaches every vector\'s verdict, failed and undecided checks', { skip }, async () => {
  assert.ok(VECTORS.length >= 12);
  for (const v of VECTORS) {
    const got = await pageVerifyBundle(v.bundle, v.document_fingerprint, v.pinned_anchorer, v.trusted || [], Number(v.min_confirmations));
    assert.deepEqual({ verdict: got.verdict, failed: got.failed, undecided: got.undecided },
      { verdict: v.verdict, failed: v.failed || [], undecided: v.undecided || [] }, `vector ${v.name}`);
  }
});

// Receipts signed by internal/receipt's test key: version 3 (salted) and
// version 2 (issued before). The page's verifyReceipt accepts each as
// receipt.Verify does, and refuses every mutation of a signed field.
const RECEIPTS_V3 = JSON.parse(readFileSync(new URL('../../internal/receipt/testdata/receipts-v3.json', import.meta.url), 'utf8'));
const RECEIPTS_V2 = JSON.parse(readFileSync(new URL('../../internal/receipt/testdata/receipts-v2.json', import.meta.url), 'utf8'));

test('receipts: versions 3 and 2 verify, and a change to any signed field is refused', { skip }, async () => {
  const pub = RECEIPTS_V3.public_key;
  const flip = (hex, i) => hex.slice(0, i) + ((parseInt(hex[i], 16) ^ 1).toString(16)) + hex.slice(i + 1);
  const cases = [];
  for (const r of [...RECEIPTS_V3.receipts, ...RECEIPTS_V2]) {
    cases.push({ r, ok: true });
    for (let i = 0; i < 64; i += 7) cases.push({ r: { ...r, fingerprint: flip(r.fingerprint, i) }, ok: false });
    if (r.salt) {
      for (let i = 0; i < 32; i++) cases.push({ r: { ...r, salt: flip(r.salt, i) }, ok: false });
      const { salt, ...unsalted } = r;
      cases.push({ r: unsalted, ok: false }, { r: { ...unsalted, version: 2 }, ok: false }, { r: { ...r, salt: '0'.repeat(32) }, ok: false });
    } else {
      cases.push({ r: { ...r, version: 3 }, ok: false }, { r: { ...r, salt: '00112233445566778899aabbccddeeff' }, ok: false });
    }
    cases.push({ r: { ...r, institution: r.institution + ' ' }, ok: false }, { r: { ...r, tree_index: r.tree_index ^ 1 }, ok: false },
      { r: { ...r, received_at: r.received_at.replace('Z', '1Z') }, ok: false }, { r: { ...r, tree_path: r.tree_path.map((h, i) => (i === 0 ? flip(h, 3) : h)) }, ok: false });
  }
  const got = await page.evaluate(([cases, pubB64]) => {
    const pub = Uint8Array.from(atob(pubB64), (c) => c.charCodeAt(0));
    return cases.map((c) => core.verifyReceipt(c.r, pub));
  }, [cases, pub]);
  assert.ok(cases.length > 100);
  cases.forEach((c, i) => assert.equal(got[i] === null, c.ok, `case ${i}: ${JSON.stringify(c.r)}: ${got[i]}`));
});

// rlpItems returns the [start, prefix length, content length] of each item
// of the RLP list enc (a block header: a list of byte strings).
function rlpItems(enc) {
  const head = (at) => {
    const b = enc[at];
    if (b < 0x80) return [0, 1];
    if (b <= 0xb7) return [1, b - 0x80];
    if (b < 0xc0) { const n = b - 0xb7; return [1 + n, Number(BigInt('0x' + enc.subarray(at + 1, at + 1 + n).toString('hex')))]; }
    if (b <= 0xf7) return [1, b - 0xc0];
    const n = b - 0xf7;
    return [1 + n, Number(BigInt('0x' + enc.subarray(at + 1, at + 1 + n).toString('hex')))];
  };
  const [lp] = head(0);
  const items = [];
  for (let at = lp; at < enc.length;) {
    const [p, n] = head(at);
    items.push([at, p, n]);
    at += p + n;
  }
  return items;
}

test('header decoding: every sampled single-byte mutation of a header gives attestd verify --offline --json\'s verdict and checks', { skip }, async () => {
  // The tip of the valid vector: the trusted hash is its hash, so a
  // mutation the decoder wrongly accepts shows as another failed check
  // (canonical, not evidence).
  const v = VECTORS.find((x) => x.name === 'valid-trusted-tip');
  const headers = v.bundle.anchors[0].evidence.headers;
  const tip = Buffer.from(headers[headers.length - 1].slice(2), 'hex');
  const items = rlpItems(tip);
  assert.ok(items.length >= 15, `a header of ${items.length} fields`);
  // Positions: the list's prefix, every field's prefix, every byte of the
  // fields of up to 8 bytes (the integers, the nonce), the first two and
  // last two of longer ones (hashes, addresses, the bloom, extra data).
  const pos = new Set([0, 1, 2]);
  for (const [at, p, n] of items) {
    for (let i = 0; i < p; i++) pos.add(at + i);
    for (let i = 0; i < n; i++) if (n <= 8 || i < 2 || i >= n - 2) pos.add(at + p + i);
  }
  const doc = join(dir, 'leaf.txt');
  writeFileSync(doc, 'attestd verify test leaf 3');
  assert.equal(createHash('sha256').update('attestd verify test leaf 3').digest('hex'), v.document_fingerprint);
  const trusted = v.trusted.map((t) => `${t.chain_id}:${t.number !== undefined ? t.number + ':' : ''}${t.hash}`);
  const cliVerify = async (bundle, k) => {
    const file = join(dir, `m${k}.attest`);
    writeFileSync(file, JSON.stringify({ version: 1, fingerprint: v.document_fingerprint, canonicalization: 'none', proof: bundle }));
    const args = ['verify', '--offline', '--json', '--no-status', '--anchorer', v.pinned_anchorer, '--min-confirmations', v.min_confirmations, doc, '--proof', file];
    for (const t of trusted) args.push('--trusted-block', t);
    const r = await execFileP(BIN, args).catch((e) => e);
    const code = r.code ?? 0;
    if (code === 2) return { verdict: 'unreadable', failed: [], undecided: [], err: r.stderr };
    assert.ok([0, 1, 3].includes(code), `verify exit ${code}: ${r.stderr}`);
    const j = JSON.parse(r.stdout);
    const names = (st) => j.checks.filter((c) => c.state === st).map((c) => c.name);
    return { verdict: j.verdict, failed: names('failed'), undecided: names('undecided') };
  };
  const cases = [];
  for (const at of [...pos].sort((a, b) => a - b)) {
    for (const b of new Set([tip[at] ^ 0x01, 0x00, 0x80, 0xff])) {
      if (b === tip[at]) continue;
      const m = Buffer.from(tip);
      m[at] = b;
      const bundle = structuredClone(v.bundle);
      bundle.anchors[0].evidence.headers[headers.length - 1] = '0x' + m.toString('hex');
      cases.push({ at, b, bundle });
    }
  }
  const diffs = [];
  const verdicts = {};
  for (let i = 0; i < cases.length; i += 4) {
    const batch = cases.slice(i, i + 4);
    const want = await Promise.all(batch.map((c, k) => cliVerify(c.bundle, i + k)));
    for (const [k, c] of batch.entries()) {
      const got = await pageVerifyBundle(c.bundle, v.document_fingerprint, v.pinned_anchorer, v.trusted, Number(v.min_confirmations));
      // attestd refuses some bundles whole (exit 2); the page must then
      // not reach a verdict other than not valid with the evidence failed.
      const w = want[k].verdict === 'unreadable' ? { verdict: 'invalid', failed: ['anchor[1337].evidence'], undecided: [] } : want[k];
      verdicts[want[k].verdict] = (verdicts[want[k].verdict] || 0) + 1;
      const g = { verdict: got.verdict, failed: got.failed, undecided: got.undecided };
      if (JSON.stringify(g) !== JSON.stringify(w)) diffs.push(`byte ${c.at} → 0x${c.b.toString(16)}: page ${JSON.stringify(g)}, attestd ${JSON.stringify(want[k])}`);
    }
  }
  assert.deepEqual(diffs, [], `${diffs.length} of ${cases.length} mutations differ`);
  assert.ok(cases.length > 300, `${cases.length} mutations`);
  console.log(`header mutations: ${cases.length}, attestd verdicts ${JSON.stringify(verdicts)}`);
});
