// The page: wires the form to core.js and renders results from the one
// string table (i18n.js). Nothing here sends a document anywhere.
import {
  hashDocument, parseAttest, parseTrust, parseTrusted, nonceOf, verify, endpointsByChain, DocError, fmtTime,
  bytesToHex, BLIND_DOMAIN,
} from './core.js';
import { LANGS, t } from './i18n.js';
import { zipSync, strToU8 } from 'fflate';

const $ = (id) => document.getElementById(id);
let lang = 'en';
let last = null; // the last rendered result, re-rendered on a language switch
let stampLinks = null;
const served = location.protocol === 'http:' || location.protocol === 'https:';

function el(tag, attrs = {}, ...kids) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const k of kids) e.append(k);
  return e;
}

function applyLang() {
  document.documentElement.lang = lang;
  for (const n of document.querySelectorAll('[data-i18n]')) n.textContent = t(lang, n.dataset.i18n);
  document.title = t(lang, 'title');
  if (last) render(last);
  if (stampLinks) stampLinks();
}

function setup() {
  const sel = $('lang');
  for (const [code, name] of Object.entries(LANGS)) sel.append(el('option', { value: code, lang: code }, name));
  sel.addEventListener('change', () => {
    lang = sel.value;
    applyLang();
  });
  const tabs = { verify: $('tab-verify'), stamp: $('tab-stamp') };
  for (const [name, b] of Object.entries(tabs)) {
    b.addEventListener('click', () => {
      for (const [n, o] of Object.entries(tabs)) {
        o.setAttribute('aria-pressed', String(n === name));
        $('view-' + n).hidden = n !== name;
      }
    });
  }
  if (served) {
    $('server-opt').hidden = false;
    $('server').value = location.origin;
  }
  $('vf').addEventListener('submit', (e) => {
    e.preventDefault();
    runVerify();
  });
  $('sf').addEventListener('submit', (e) => {
    e.preventDefault();
    runStamp();
  });
  applyLang();
}

const readBytes = async (file) => new Uint8Array(await file.arrayBuffer());
const readText = (file) => file.text();

async function runVerify() {
  const out = $('result');
  const doc = $('doc').files[0];
  const proof = $('proof').files[0];
  const trustFile = $('trust').files[0];
  const prog = $('vprog');
  if (!doc || !proof) return render({ error: { k: 'need_files', a: {} } });
  $('verify').disabled = true;
  out.className = 'busy';
  out.textContent = t(lang, 'checking');
  try {
    const f = parseAttest(await readBytes(proof));
    const issuers = trustFile ? parseTrust(await readBytes(trustFile)) : null;
    const mode = document.querySelector('input[name=mode]:checked').value;
    const minConf = Math.max(1, parseInt($('minconf').value, 10) || 1);
    prog.hidden = false;
    const fp = await hashDocument(doc, f.canonicalization, nonceOf(f), (done, total) => {
      prog.max = total || 1;
      prog.value = done;
      prog.textContent = t(lang, 'hashing', { done, total });
    });
    prog.hidden = true;
    if (mode === 'server') {
      render(await askServer(f, fp, issuers, minConf, trustFile ? await readText(trustFile) : null));
      return;
    }
    const policy = { mode, minConf, issuers, trusted: [], endpoints: new Map(), down: [] };
    if (mode === 'offline') policy.trusted = parseTrusted($('trusted').value);
    else {
      const urls = $('endpoints').value.split(/\s+/).filter(Boolean);
      Object.assign(policy, await endpointsByChain(urls));
      policy.endpoints = policy.byChain;
    }
    const r = await verify(f, fp, policy);
    render({ r, f, issuers });
  } catch (e) {
    render({ error: e instanceof DocError ? { k: e.k, a: e.a } : { k: 'err', a: { msg: e.message } } });
  } finally {
    prog.hidden = true;
    $('verify').disabled = false;
  }
}

// askServer is option (c): POST /v1/verify on the attestd that served the
// page, with the fingerprint computed here (never the document).
async function askServer(f, fp, issuers, minConf, trustText) {
  const body = { fingerprint: fp, bundle: f.proof, min_confirmations: minConf };
  if (f.receipt) body.receipt = f.receipt;
  if (trustText) body.trust = JSON.parse(trustText);
  const res = await fetch('/v1/verify', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
  if (res.status === 503) return { error: { k: 'server_unavailable', a: { status: res.status } } };
  const j = await res.json();
  if (!res.ok) return { error: { k: 'err', a: { msg: j.detail || j.title || res.status } } };
  const r = {
    verdict: j.verdict, checks: (j.checks || []).map((c) => ({ ...c, detail: { k: 'server_check', a: { detail: c.detail || '' } } })),
    attestedAt: j.attested_at ? Date.parse(j.attested_at) : null, issuer: j.issuer || '',
  };
  return { r, f, issuers, server: location.origin };
}

function render(res) {
  last = res;
  const out = $('result');
  out.replaceChildren();
  if (res.error) {
    // Not a verdict (attestd verify exits 2, "unreadable input"): the
    // files could not be checked at all.
    out.className = 'error';
    out.append(el('p', { class: 'verdict' }, el('strong', {}, t(lang, 'v_error')), ': ' + t(lang, res.error.k, res.error.a)));
    return;
  }
  const { r, f } = res;
  const v = r.verdict;
  out.className = v;
  const word = t(lang, 'v_' + v);
  let line;
  if (v === 'valid') {
    line = t(lang, 'line_valid', {
      time: fmtTime(r.attestedAt), issuer: r.issuer, jurisdiction: r.jurisdiction || '',
      inst: f.receipt ? f.receipt.institution : t(lang, 'no_inst'),
    });
  } else line = t(lang, 'line_' + v);
  out.append(el('p', { class: 'verdict' }, el('strong', {}, word), ': ' + line));
  if (res.server) out.append(el('p', { class: 'note' }, t(lang, 'server_answer', { url: res.server })));
  const facts = el('dl', { class: 'facts' });
  const fact = (k, v) => facts.append(el('dt', {}, t(lang, k)), el('dd', {}, v));
  if (v === 'valid') {
    fact('attested_at', fmtTime(r.attestedAt));
    if (r.issuer) fact('issuer_l', r.issuer);
    if (r.jurisdiction) fact('jurisdiction_l', r.jurisdiction);
    if (f.receipt) fact('institution_l', f.receipt.institution);
  }
  for (const a of (f.proof && f.proof.anchors) || []) {
    fact('chain_l', String(a.chain_id));
    fact('tx_l', a.tx_hash);
  }
  if (facts.childElementCount) out.append(facts);
  const list = el('ol', { class: 'checks' });
  for (const c of r.checks) {
    const st = c.state === 'undecided' && c.optional ? 'optional' : c.state;
    const base = c.name.replace(/^anchor\[\d+\]\./, '');
    const chain = /^anchor\[(\d+)\]\./.exec(c.name);
    list.append(el('li', { class: 'check ' + st },
      el('span', { class: 'state' }, t(lang, 'st_' + st)), ' ',
      el('span', { class: 'q' }, t(lang, 'q_' + base) + (chain ? ` (${t(lang, 'chain_l')} ${chain[1]})` : '')), ' ',
      el('code', { class: 'name' }, c.name),
      el('p', { class: 'detail' }, t(lang, c.detail.k, c.detail.a))));
  }
  out.append(list);
}

// ---- stamping ----

async function runStamp() {
  const files = [...$('files').files];
  const server = $('server').value.replace(/\/+$/, '');
  const key = $('apikey').value.trim();
  const status = $('sresult');
  const prog = $('sprog');
  const canonJSON = $('canon').checked;
  stampLinks = null;
  status.className = 'busy';
  if (!files.length) return void (status.textContent = t(lang, 'need_files'));
  $('stamp').disabled = true;
  prog.hidden = false;
  try {
    const items = [];
    let i = 0;
    for (const file of files) {
      i++;
      status.textContent = t(lang, 'stamping', { i, n: files.length, name: file.name });
      const nonce = crypto.getRandomValues(new Uint8Array(32));
      const canon = canonJSON && /\.json$/i.test(file.name) ? 'jcs' : 'none';
      const fp = await hashDocument(file, canon, nonce, (done, total) => {
        prog.max = files.length;
        prog.value = i - 1 + (total ? done / total : 1);
      });
      items.push({ file, nonce: bytesToHex(nonce), canon, fp });
    }
    status.textContent = t(lang, 'submitting', { n: items.length });
    const res = await fetch(server + '/v1/fingerprints', {
      method: 'POST', credentials: 'omit',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + key },
      body: JSON.stringify({ fingerprints: items.map((x) => x.fp) }),
    });
    const j = await res.json();
    if (res.status !== 202) throw new Error(j.detail || j.title || `HTTP ${res.status}`);
    const out = items.map((x, k) => ({
      name: x.file.name + '.attest',
      text: JSON.stringify({
        version: 1, document: x.file.name, fingerprint: x.fp, canonicalization: x.canon,
        blinding: { scheme: BLIND_DOMAIN, nonce: x.nonce }, server, receipt: j.receipts[k],
      }, null, 2) + '\n',
    }));
    let blob;
    let name;
    if (out.length === 1) {
      blob = new Blob([out[0].text], { type: 'application/json' });
      name = out[0].name;
    } else {
      const entries = {};
      for (const o of out) entries[o.name] = strToU8(o.text);
      blob = new Blob([zipSync(entries)], { type: 'application/zip' });
      name = 'attest-files.zip';
    }
    const url = URL.createObjectURL(blob);
    stampLinks = () => {
      status.className = 'valid';
      status.replaceChildren(el('p', {}, t(lang, 'stamped', { n: out.length })),
        el('a', { href: url, download: name, id: 'download' }, t(lang, 'download', { name })));
    };
    stampLinks();
    prog.value = prog.max;
  } catch (e) {
    status.className = 'error';
    status.textContent = t(lang, 'stamp_failed', { msg: e.message });
  } finally {
    $('stamp').disabled = false;
  }
}

setup();
