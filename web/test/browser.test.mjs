// Browser tests of the verifier page: a real headless Chromium (Debian's
// chromium, driven by playwright-core; never a downloaded browser) against
// the real attestd binary (ATTESTD_BIN; make test-web builds it) running
// serve --dev on 127.0.0.1. Fixtures come from a real run (stamp, upgrade
// --wait: proof format 2 with chain evidence) and mutations of them, and
// for each the page's verdict must be the CLI's (attestd verify --json),
// check by check.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile, execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, existsSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { createServer } from 'node:http';
import { chromium } from 'playwright-core';
import { unzipSync, strFromU8 } from 'fflate';

const BIN = process.env.ATTESTD_BIN;
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const CI = process.env.CI === 'true';
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync'];

const skip = !existsSync(CHROMIUM) ? `no ${CHROMIUM} (apt-get install chromium)` : !BIN ? 'ATTESTD_BIN not set (make test-web)' : false;
if (skip && CI) throw new Error(`browser tests cannot run in CI: ${skip}`);

let dir, srv, ctx, api, rpc, apiKey, trustPath, fileURL, chainID, anchorHash;
const VERDICT = { valid: 'Valid', invalid: 'Not valid', undecided: 'Undecided' };

function cli(args, env = {}) {
  const r = spawnSync(BIN, args, {
    encoding: 'utf8', cwd: dir, timeout: 120_000,
    env: { PATH: process.env.PATH, HOME: process.env.HOME, ATTESTD_SERVER: api, ATTESTD_API_KEY: apiKey, ...env },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

function cliOK(args, env) {
  const r = cli(args, env);
  assert.equal(r.code, 0, `attestd ${args.join(' ')}: exit ${r.code}\n${r.out}\n${r.err}`);
  return r.out;
}

// startServe runs serve --dev and waits for the API and chain URLs in its
// JSON log.
function startServe() {
  return new Promise((resolve, reject) => {
    const p = spawn(BIN, ['serve', '--dev', '--data-dir', join(dir, 'data'), '--listen', '127.0.0.1:0', '--chain-listen', '127.0.0.1:0',
      '--log-format', 'json', '--chain-poll', '200ms', '--batch-interval', '1s'], { stdio: ['ignore', 'pipe', 'pipe'] });
    const seen = {};
    let buf = '';
    const timer = setTimeout(() => reject(new Error('serve --dev did not start in 90 s:\n' + buf.slice(-2000))), 90_000);
    const onData = (d) => {
      buf += d;
      for (const line of d.toString().split('\n')) {
        if (!line.startsWith('{')) continue;
        let j;
        try {
          j = JSON.parse(line);
        } catch {
          continue;
        }
        if (j.msg === 'embedded dev chain running') seen.rpc = j.rpc;
        if (j.msg === 'attestd serving') seen.url = j.url;
      }
      if (seen.rpc && seen.url) {
        clearTimeout(timer);
        resolve({ p, ...seen });
      }
    };
    p.stdout.on('data', onData);
    p.stderr.on('data', onData);
    p.on('exit', (c) => reject(new Error(`serve --dev exited ${c}:\n${buf.slice(-2000)}`)));
  });
}

before(async () => {
  if (skip) return;
  dir = mkdtempSync(join(tmpdir(), 'attestd-web-'));
  srv = await startServe();
  ({ url: api, rpc } = srv);
  apiKey = readFileSync(join(dir, 'data', 'dev-api-key'), 'utf8').trim();
  trustPath = join(dir, 'data', 'trust.json');
  writeFileSync(join(dir, 'result.txt'), 'HbA1c 6.1 %\n');
  writeFileSync(join(dir, 'changed.txt'), 'HbA1c 7.1 %\n');
  cliOK(['stamp', 'result.txt']);
  cliOK(['upgrade', '--wait', 'result.txt']);
  const good = JSON.parse(readFileSync(join(dir, 'result.txt.attest'), 'utf8'));
  const a = good.proof.anchors[0];
  assert.ok(a.evidence, 'upgrade --wait gave a proof with chain evidence');
  chainID = a.chain_id;
  anchorHash = a.block_hash;
  // A flipped byte in the anchor block's header (inside its state root).
  const bad = structuredClone(good);
  const h = bad.proof.anchors[0].evidence.header;
  const at = 2 + 2 * 100;
  bad.proof.anchors[0].evidence.header = h.slice(0, at) + (parseInt(h.slice(at, at + 2), 16) ^ 0x01).toString(16).padStart(2, '0') + h.slice(at + 2);
  writeFileSync(join(dir, 'header-flipped.attest'), JSON.stringify(bad, null, 2));
  writeFileSync(join(dir, 'verifier.html'), cliOK(['verifier-page']));
  fileURL = pathToFileURL(join(dir, 'verifier.html')).href;
  ctx = await chromium.launchPersistentContext(join(dir, 'profile'), { executablePath: CHROMIUM, args: ARGS, headless: true, acceptDownloads: true });
});

after(async () => {
  if (ctx) await ctx.close();
  if (srv) {
    srv.p.kill('SIGTERM');
    await new Promise((r) => srv.p.once('exit', r));
  }
  if (dir && !process.env.KEEP) rmSync(dir, { recursive: true, force: true });
});

// pageVerify drives the verify view and returns the status region's text
// and the checks it lists ({name: state}).
async function pageVerify(page, { doc, proof, trust, mode = 'offline', trusted = '', endpoints = '' }) {
  await page.getByLabel('Document', { exact: true }).setInputFiles(join(dir, doc));
  await page.getByLabel('Proof (.attest)').setInputFiles(join(dir, proof));
  if (trust) await page.locator('#trust').setInputFiles(trust);
  else await page.locator('#trust').setInputFiles([]);
  await page.locator(`#m-${mode}`).check();
  await page.getByLabel('Trusted block hash').fill(trusted);
  await page.locator('#endpoints').fill(endpoints);
  await page.locator('#verify').click();
  const status = page.getByRole('status').first();
  await assert.doesNotReject(status.locator('.verdict').waitFor({ timeout: 60_000 }));
  const text = (await status.innerText()).trim();
  const checks = Object.fromEntries(await status.locator('li.check').evaluateAll((ls) => ls.map((l) => [
    l.querySelector('.name').textContent, l.classList.contains('ok') ? 'ok' : l.classList.contains('failed') ? 'failed' : 'undecided'])));
  return { text, checks, cls: await status.getAttribute('class') };
}

// cliVerify runs attestd verify --json and returns its verdict and checks.
function cliVerify(v) {
  return cliResult(cli(cliVerifyArgs(v)));
}

// cliVerifyAsync is cliVerify without blocking this process (whose own
// servers, e.g. lyingProxy, attestd may be calling).
async function cliVerifyAsync(v) {
  const env = { PATH: process.env.PATH, HOME: process.env.HOME, ATTESTD_SERVER: api, ATTESTD_API_KEY: apiKey };
  const r = await new Promise((resolve) => execFile(BIN, cliVerifyArgs(v), { encoding: 'utf8', cwd: dir, timeout: 120_000, env },
    (err, out, errOut) => resolve({ code: err ? err.code : 0, out, err: errOut })));
  return cliResult(r);
}

// The page does not check a record's status (corrections and withdrawals,
// docs/statements.md): it is compared with attestd verify --no-status.
function cliVerifyArgs({ doc, proof, trust, offline = true, trusted = '', rpcs = [rpc] }) {
  const args = ['verify', '--json', '--no-status', doc, '--proof', proof];
  if (offline) args.push('--offline');
  else for (const u of rpcs) args.push('--rpc', u);
  if (trusted) args.push('--trusted-block', `${chainID}:${trusted}`);
  if (trust) args.push('--trust', trust);
  return args;
}

function cliResult(r) {
  assert.ok([0, 1, 3].includes(r.code), `verify exit ${r.code}: ${r.out} ${r.err}`);
  const j = JSON.parse(r.out);
  return { verdict: j.verdict, checks: Object.fromEntries(j.checks.map((c) => [c.name, c.state])) };
}

const vectors = () => [
  { name: 'valid', doc: 'result.txt', proof: 'result.txt.attest', trust: trustPath, trusted: anchorHash, want: 'valid' },
  { name: 'changed document', doc: 'changed.txt', proof: 'result.txt.attest', trust: trustPath, trusted: anchorHash, want: 'invalid' },
  { name: 'flipped header byte', doc: 'result.txt', proof: 'header-flipped.attest', trust: trustPath, trusted: anchorHash, want: 'invalid' },
  { name: 'wrong trusted hash', doc: 'result.txt', proof: 'result.txt.attest', trust: trustPath, trusted: '0x' + 'ab'.repeat(32), want: 'invalid' },
  { name: 'no trusted hash', doc: 'result.txt', proof: 'result.txt.attest', trust: trustPath, trusted: '', want: 'undecided' },
  { name: 'no trust list', doc: 'result.txt', proof: 'result.txt.attest', trust: null, trusted: anchorHash, want: 'undecided' },
];

test('the page agrees with attestd verify --offline on every vector, from the server and from file://', { skip }, async () => {
  const page = await ctx.newPage();
  for (const origin of [api + '/', fileURL]) {
    await page.goto(origin);
    for (const v of vectors()) {
      const want = cliVerify(v);
      assert.equal(want.verdict, v.want, `${v.name}: the CLI says ${want.verdict}`);
      const got = await pageVerify(page, v);
      assert.ok(got.text.startsWith(VERDICT[want.verdict]), `${origin} ${v.name}: page says ${got.text.slice(0, 200)}, CLI ${want.verdict}`);
      assert.equal(got.cls, want.verdict, `${v.name}: the status region's state`);
      assert.deepEqual(got.checks, want.checks, `${origin} ${v.name}: the checks differ from the CLI's`);
      if (want.verdict === 'valid') {
        assert.match(got.text, /attested \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC by attestd dev server \(development only\), submitted by /);
        assert.match(got.text, new RegExp(`Transaction\\s+${good().proof.anchors[0].tx_hash}`, 'i'));
      }
    }
  }
  await page.close();
});

const good = () => JSON.parse(readFileSync(join(dir, 'result.txt.attest'), 'utf8'));

test('offline: from file:// with every non-file request blocked, it verifies with a trusted block hash', { skip }, async () => {
  const page = await ctx.newPage();
  const blocked = [];
  await page.route('**/*', (route) => {
    if (route.request().url().startsWith('file:')) return route.continue();
    blocked.push(route.request().url());
    return route.abort();
  });
  await page.goto(fileURL);
  const got = await pageVerify(page, vectors()[0]);
  assert.ok(got.text.startsWith('Valid'), got.text.slice(0, 300));
  assert.deepEqual(blocked, [], 'the page asked for nothing from the network');
  await page.close();
});

test('against the JSON-RPC endpoint the user enters (CORS from the server origin and from file://), as the CLI online', { skip }, async () => {
  const page = await ctx.newPage();
  for (const origin of [api + '/', fileURL]) {
    await page.goto(origin);
    for (const v of vectors().slice(0, 2)) {
      const want = cliVerify({ ...v, offline: false, trusted: '' });
      const got = await pageVerify(page, { ...v, mode: 'rpc', trusted: '', endpoints: rpc });
      assert.ok(got.text.startsWith(VERDICT[want.verdict]), `${origin} ${v.name}: page ${got.text.slice(0, 300)}, CLI ${want.verdict}`);
      assert.deepEqual(got.checks, want.checks, `${origin} ${v.name} (rpc): the checks differ from the CLI's`);
    }
    const down = await pageVerify(page, { ...vectors()[0], mode: 'rpc', endpoints: 'http://127.0.0.1:9/' });
    assert.ok(down.text.startsWith('Undecided'), `an endpoint that does not answer: ${down.text.slice(0, 300)}`);
  }
  await page.close();
});

test('asks this attestd server (POST /v1/verify), clearly labelled', { skip }, async () => {
  const page = await ctx.newPage();
  await page.goto(api + '/');
  const got = await pageVerify(page, { ...vectors()[0], mode: 'server' });
  assert.match(got.text, /^(Valid|Not valid|Undecided)/);
  assert.match(got.text, /attestd server’s answer/);
  const bad = await pageVerify(page, { ...vectors()[1], mode: 'server' });
  assert.ok(bad.text.startsWith('Not valid'), bad.text.slice(0, 300));
  assert.equal(await page.locator('#m-server').count(), 1);
  await page.goto(fileURL);
  assert.equal(await page.locator('#server-opt').isHidden(), true, 'from file:// there is no server to ask');
  await page.close();
});

test('stamp view: stamps several files in the page; attestd upgrade and verify accept what it wrote', { skip }, async () => {
  const page = await ctx.newPage();
  await page.goto(api + '/');
  await page.locator('#tab-stamp').click();
  writeFileSync(join(dir, 'a.txt'), 'first record\n');
  writeFileSync(join(dir, 'b.json'), '{ "b": 1,  "a": [1, 2] }');
  await page.locator('#files').setInputFiles([join(dir, 'a.txt'), join(dir, 'b.json')]);
  await page.locator('#apikey').fill(apiKey);
  await page.locator('#canon').check();
  await page.locator('#stamp').click();
  await page.locator('#download').waitFor({ timeout: 30_000 }).catch(async () => assert.fail(await page.locator('#sresult').innerText()));
  const dl = page.waitForEvent('download');
  await page.locator('#download').click();
  const zip = await (await dl).path();
  const files = unzipSync(readFileSync(zip));
  assert.deepEqual(Object.keys(files).sort(), ['a.txt.attest', 'b.json.attest']);
  for (const [name, data] of Object.entries(files)) writeFileSync(join(dir, name), strFromU8(data));
  assert.equal(JSON.parse(strFromU8(files['b.json.attest'])).canonicalization, 'jcs');
  assert.match(await page.locator('#sresult').innerText(), /Stamped 2 file/);
  cliOK(['upgrade', '--wait', 'a.txt', 'b.json']);
  for (const doc of ['a.txt', 'b.json']) {
    const out = cliOK(['verify', doc, '--rpc', rpc, '--trust', trustPath]);
    assert.match(out, /^VALID: /);
  }
  // and the page verifies what it stamped
  await page.locator('#tab-verify').click();
  const anchor = JSON.parse(readFileSync(join(dir, 'b.json.attest'), 'utf8')).proof.anchors[0].block_hash;
  const got = await pageVerify(page, { doc: 'b.json', proof: 'b.json.attest', trust: trustPath, trusted: anchor });
  assert.ok(got.text.startsWith('Valid'), got.text.slice(0, 300));
  await page.close();
});

test('languages: 繁體中文 and 简体中文 from the one table, switched on the page', { skip }, async () => {
  const page = await ctx.newPage();
  await page.goto(fileURL);
  await pageVerify(page, vectors()[0]);
  await page.getByLabel('Language').selectOption('zh-Hant');
  assert.match(await page.getByRole('status').first().innerText(), /^有效/);
  assert.equal(await page.locator('label[for=doc]').innerText(), '文件');
  await page.getByLabel('語言').selectOption('zh-Hans');
  assert.match(await page.getByRole('status').first().innerText(), /^有效/);
  assert.match(await page.getByRole('status').first().innerText(), /证明文件内的区块链副本是否逐块前后一致/);
  assert.equal(await page.evaluate(() => document.documentElement.lang), 'zh-Hans');
  await page.close();
});

test('phone and keyboard: no horizontal scroll at 390 px, every field labelled, keyboard-only verify', { skip }, async () => {
  const page = await ctx.newPage();
  await page.setViewportSize({ width: 390, height: 844 });
  await page.goto(fileURL);
  // Keyboard only: tab to the controls in order, and submit with Enter.
  const order = [];
  for (let i = 0; i < 8; i++) {
    await page.keyboard.press('Tab');
    order.push(await page.evaluate(() => document.activeElement.id));
  }
  assert.deepEqual(order.slice(0, 6), ['tab-verify', 'tab-stamp', 'lang', 'doc', 'proof', 'trust']);
  await page.getByLabel('Document', { exact: true }).setInputFiles(join(dir, 'result.txt'));
  await page.getByLabel('Proof (.attest)').setInputFiles(join(dir, 'result.txt.attest'));
  await page.locator('#trust').setInputFiles(trustPath);
  await page.getByLabel('Trusted block hash').focus();
  await page.keyboard.type(anchorHash);
  await page.keyboard.press('Enter');
  await page.getByRole('status').first().locator('.verdict').waitFor();
  assert.match(await page.getByRole('status').first().innerText(), /^Valid/);
  const width = await page.evaluate(() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]);
  assert.ok(width[0] <= width[1], `horizontal scroll at 390 px: ${width}`);
  // Every form control has a label.
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input,select,textarea')].filter((e) => e.labels.length === 0).map((e) => e.id));
  assert.deepEqual(unlabelled, []);
  await page.close();
});

// insertAfter returns text with ins inserted right after the first
// occurrence of at (which must occur).
function insertAfter(text, at, ins) {
  const i = text.indexOf(at);
  assert.ok(i >= 0, `no ${at} in the fixture`);
  return text.slice(0, i + at.length) + ins + text.slice(i + at.length);
}

test('strict JSON: duplicate and case-variant members are refused, by the page and by attestd verify (exit 2), with no verdict', { skip }, async () => {
  const text = readFileSync(join(dir, 'result.txt.attest'), 'utf8');
  const trust = readFileSync(trustPath, 'utf8');
  const bogus = '"' + 'ab'.repeat(32) + '"';
  // Each is read one way by JSON.parse (the last member wins: the real
  // one, so a lax page would say Valid) and refused by attestd.
  const cases = [
    { name: 'a duplicate "root" in the proof', file: 'dup-root.attest', text: insertAfter(text, '"proof": {', `\n    "root": ${bogus},`), member: /"root" appears twice in \/proof/ },
    { name: 'a case-variant "Proof"', file: 'case-proof.attest', text: insertAfter(text, '{', `\n  "Proof": {},`), member: /"Proof" and "proof" in \/ differ only in case/ },
    { name: 'a trust list with a duplicate issuer member', file: 'dup-trust.json', trust: true, text: insertAfter(trust, '"issuers": [\n    {', '\n      "chains": [],'), member: /"chains" appears twice in \/issuers\/0/ },
  ];
  const page = await ctx.newPage();
  await page.goto(fileURL);
  for (const c of cases) {
    writeFileSync(join(dir, c.file), c.text);
    const proof = c.trust ? 'result.txt.attest' : c.file;
    const trustFile = c.trust ? join(dir, c.file) : trustPath;
    const r = cli(['verify', '--offline', '--trusted-block', `${chainID}:${anchorHash}`, '--trust', trustFile, 'result.txt', '--proof', proof]);
    assert.equal(r.code, 2, `${c.name}: attestd verify exits ${r.code}, want 2 (unreadable input)\n${r.out}${r.err}`);
    const got = await pageVerify(page, { doc: 'result.txt', proof, trust: trustFile, trusted: anchorHash });
    assert.equal(got.cls, 'error', `${c.name}: the status region is ${got.cls}: ${got.text.slice(0, 300)}`);
    assert.match(got.text, /^Cannot check: /, c.name);
    assert.doesNotMatch(got.text, /^(Valid|Not valid|Undecided)/, c.name);
    assert.match(got.text, c.member, `${c.name}: the page names the member`);
    assert.deepEqual(got.checks, {}, `${c.name}: no checks, no verdict`);
  }
  await page.close();
});

// lyingProxy is cmd/attestd's lyingProxy: a JSON-RPC server on 127.0.0.1
// passing every call to upstream, but setting field of the result of
// method to value; CORS as upstream's.
async function lyingProxy(upstream, method, field, value) {
  const srv = createServer(async (req, res) => {
    const chunks = [];
    for await (const c of req) chunks.push(c);
    const body = Buffer.concat(chunks);
    const headers = { 'content-type': 'application/json' };
    for (const k of ['origin', 'access-control-request-method', 'access-control-request-headers']) if (req.headers[k]) headers[k] = req.headers[k];
    const up = await fetch(upstream, { method: req.method, headers, body: req.method === 'POST' ? body : undefined });
    let out = Buffer.from(await up.arrayBuffer());
    try {
      if (JSON.parse(body).method === method) {
        const msg = JSON.parse(out);
        if (msg.result && typeof msg.result === 'object') {
          msg.result[field] = value;
          out = Buffer.from(JSON.stringify(msg));
        }
      }
    } catch { /* not JSON: passed as it is */ }
    const back = {};
    for (const [k, v] of up.headers) if (k.startsWith('access-control-') || k === 'content-type' || k === 'vary') back[k] = v;
    res.writeHead(up.status, back).end(out);
  });
  await new Promise((r) => srv.listen(0, '127.0.0.1', r));
  return { url: `http://127.0.0.1:${srv.address().port}/`, close: () => new Promise((r) => srv.close(r)) };
}

test('several JSON-RPC endpoints for one chain: agreeing ones give Valid; one lying about the block hash gives Undecided (servers disagree), as attestd verify; format 1 too', { skip }, async () => {
  const liar = await lyingProxy(rpc, 'eth_getBlockByNumber', 'extraData', '0x6c6965');
  // The same proof in format 1 (no chain evidence): the transaction and
  // its receipt are read from the servers.
  const v1 = good();
  v1.proof.version = 1;
  for (const a of v1.proof.anchors) delete a.evidence, delete a.no_evidence;
  writeFileSync(join(dir, 'v1.attest'), JSON.stringify(v1, null, 2));
  const base = { doc: 'result.txt', trust: trustPath };
  const cases = [
    { name: 'two agreeing endpoints', proof: 'result.txt.attest', rpcs: [rpc, rpc], want: 'valid', agree: 'ok' },
    { name: 'one lying about the block hash', proof: 'result.txt.attest', rpcs: [liar.url, rpc], want: 'undecided', agree: 'undecided' },
    { name: 'format 1, one endpoint', proof: 'v1.attest', rpcs: [rpc], want: 'valid' },
    { name: 'format 1, two agreeing endpoints', proof: 'v1.attest', rpcs: [rpc, rpc], want: 'valid', agree: 'ok' },
    { name: 'format 1, one lying about the block hash', proof: 'v1.attest', rpcs: [liar.url, rpc], want: 'undecided', agree: 'undecided' },
    { name: 'the liar alone', proof: 'result.txt.attest', rpcs: [liar.url], want: 'invalid' },
  ];
  const page = await ctx.newPage();
  try {
    await page.goto(fileURL);
    for (const c of cases) {
      const want = await cliVerifyAsync({ ...base, ...c, offline: false });
      assert.equal(want.verdict, c.want, `${c.name}: attestd verify says ${want.verdict}`);
      const got = await pageVerify(page, { ...base, proof: c.proof, mode: 'rpc', endpoints: c.rpcs.join('\n') });
      assert.equal(got.cls, want.verdict, `${c.name}: page ${got.text.slice(0, 400)}`);
      assert.deepEqual(got.checks, want.checks, `${c.name}: the checks differ from attestd verify's`);
      if (c.agree) assert.equal(got.checks[`anchor[${chainID}].endpoints_agree`], c.agree, c.name);
      if (c.agree === 'undecided') assert.match(got.text, /disagree about block \d+/, c.name);
    }
  } finally {
    await page.close();
    await liar.close();
  }
});

// Accessibility, measured with axe-core (pinned in package.json) in every
// state of the page, in each language, at desktop and at phone width:
// colour contrast (WCAG 2.1 AA, 1.4.3), labels and names, the document's
// language, landmarks. The page's Content-Security-Policy allows only its
// own script, by hash, so axe's source injected with addScriptTag is
// refused: this test alone runs in a separate browser context with
// playwright's bypassCSP (every other test keeps the CSP the page ships).
const AXE_RULES = ['color-contrast', 'label', 'button-name', 'select-name', 'link-name', 'html-has-lang', 'html-lang-valid',
  'valid-lang', 'document-title', 'region', 'landmark-one-main', 'landmark-unique', 'landmark-no-duplicate-banner',
  'landmark-no-duplicate-main', 'landmark-banner-is-top-level', 'landmark-main-is-top-level', 'page-has-heading-one'];

test('accessibility (axe-core): contrast, labels, names, language, landmarks in every state, language and width', { skip }, async () => {
  const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  const found = [];
  let runs = 0;
  try {
    const page = await (await browser.newContext({ bypassCSP: true })).newPage();
    // check runs axe in each language on the state the page is in now;
    // the elements of must (selectors) must be among those whose contrast
    // axe measured, so that a state it did not see cannot pass.
    const check = async (state, width, must) => {
      if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ content: axeSource });
      for (const code of ['en', 'zh-Hant', 'zh-Hans']) {
        await page.locator('#lang').selectOption(code);
        const r = await page.evaluate(async ({ values, must }) => {
          const r = await window.axe.run(document, { runOnly: { type: 'rule', values }, elementRef: true });
          const measured = new Set([r.passes, r.violations, r.incomplete].flatMap((vs) => vs.filter((v) => v.id === 'color-contrast'))
            .flatMap((v) => v.nodes.map((n) => n.element)));
          const out = (vs) => vs.flatMap((v) => v.nodes.map((n) => `${v.id}: ${n.target.join(' ')}: ${(n.failureSummary || '').replace(/\s+/g, ' ')}`));
          return {
            bad: [...out(r.violations), ...out(r.incomplete.filter((v) => v.id === 'color-contrast')).map((s) => 'not decided: ' + s)],
            unmeasured: must.filter((sel) => ![...document.querySelectorAll(sel)].some((e) => measured.has(e))),
          };
        }, { values: AXE_RULES, must });
        runs++;
        for (const b of r.bad) found.push(`${width} px, ${code}, ${state}: ${b}`);
        for (const sel of r.unmeasured) found.push(`${width} px, ${code}, ${state}: no contrast measured for ${sel}`);
      }
      await page.locator('#lang').selectOption('en');
    };
    writeFileSync(join(dir, 'axe.txt'), 'axe\n');
    for (const width of [1280, 390]) {
      await page.setViewportSize({ width, height: 900 });
      await page.goto(api + '/');
      await check('verify view, empty', width, ['#tab-verify', '#tab-stamp', 'label[for=doc]', '#trust-hint', 'legend', '#verify']);
      await page.locator('#verify').click(); // no files: Cannot check
      await page.locator('#result.error').waitFor();
      await check('Cannot check', width, ['#result.error .verdict strong', '#result.error .verdict']);
      const states = [
        [vectors()[0], ['#result.valid .verdict strong', '#result .check.ok .state', '#result .check .name', '#result .check .detail', '#result dt']],
        [vectors()[1], ['#result.invalid .verdict strong', '#result .check.failed .state', '#result .check.ok .state']],
        [vectors()[4], ['#result.undecided .verdict strong', '#result .check.undecided .state']],
      ];
      for (const [v, must] of states) {
        await pageVerify(page, v);
        await check(VERDICT[v.want], width, must);
      }
      await page.locator('#tab-stamp').click();
      await check('stamp view, empty', width, ['#tab-stamp', 'label[for=files]', '#key-hint', 'label[for=canon]', '#stamp']);
      await page.locator('#stamp').click(); // no files
      await check('stamp view, no files', width, ['#sresult.busy']);
      await page.locator('#files').setInputFiles(join(dir, 'axe.txt'));
      await page.locator('#apikey').fill('not-the-key');
      await page.locator('#stamp').click();
      await page.locator('#sresult.error').waitFor({ timeout: 30_000 });
      await check('stamp failed', width, ['#sresult.error']);
      await page.locator('#apikey').fill(apiKey);
      await page.locator('#stamp').click();
      await page.locator('#download').waitFor({ timeout: 30_000 });
      await check('stamped', width, ['#sresult.valid p', '#download']);
    }
  } finally {
    await browser.close();
  }
  assert.equal(runs, 2 * 9 * 3, 'axe ran in every state, language and width');
  if (found.length) assert.fail(`axe-core found ${found.length} problem(s):\n${found.join('\n')}`);
});
