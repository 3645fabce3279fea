// The verifier's checks, without the page: the same checks, names and
// verdicts as internal/verify (and cmd/attestd verify's receipt check),
// with audited libraries for every primitive: @noble/hashes (SHA-256,
// Keccak-256), @noble/curves (Ed25519; secp256k1 through @ethereumjs/tx),
// @ethereumjs/rlp, @ethereumjs/mpt (Merkle–Patricia proofs), @ethereumjs/tx
// (transaction decoding and sender recovery) and canonicalize (RFC 8785).
//
// A check's detail is {k, a}: a key of the string table (i18n.js) and its
// arguments, so every word shown comes from the one table.
import { sha256 } from '@noble/hashes/sha2.js';
import { keccak_256 } from '@noble/hashes/sha3.js';
import { bytesToHex, hexToBytes, concatBytes, utf8ToBytes } from '@noble/hashes/utils.js';
import { ed25519 } from '@noble/curves/ed25519.js';
import { RLP } from '@ethereumjs/rlp';
import { createTxFromRLP } from '@ethereumjs/tx';
import { createCustomCommon, Mainnet, Hardfork } from '@ethereumjs/common';
import { verifyMerkleProof } from '@ethereumjs/mpt';
import canonicalize from 'canonicalize';
import { parse as parseJSONTree } from '@humanwhocodes/momoa';

export { bytesToHex, hexToBytes, sha256 };

export const BLIND_DOMAIN = 'attestd/blind/v1';
export const MAX_CANONICAL_SIZE = 256 * 1024 * 1024; // fingerprint.MaxCanonicalSize
const CHUNK = 4 * 1024 * 1024;

// Check names (internal/verify).
export const C = {
  format: 'format', fingerprint: 'fingerprint', merkle: 'merkle_path', chains: 'chains', policy: 'policy',
  rpc: 'rpc', tx: 'tx', status: 'status', sender: 'sender', recipient: 'recipient', issuer: 'issuer',
  payload: 'payload', canonical: 'canonical', confirmations: 'confirmations', agree: 'endpoints_agree',
  evidence: 'evidence', receipt: 'receipt',
};

const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const lower = (s) => String(s).toLowerCase();
const isHex = (s, n) => typeof s === 'string' && (n === undefined ? /^[0-9a-f]*$/ : new RegExp(`^[0-9a-f]{${n}}$`)).test(s);
function from0x(s) {
  if (typeof s !== 'string' || !/^0x([0-9a-fA-F]{2})*$/.test(s)) throw new Error(`not 0x-prefixed hex: ${String(s).slice(0, 20)}`);
  return hexToBytes(s.slice(2).toLowerCase());
}
const to0x = (b) => '0x' + bytesToHex(b);
function bigFrom(bytes) {
  if (bytes.length > 0 && bytes[0] === 0) throw new Error('an integer with a leading zero byte');
  return bytes.length === 0 ? 0n : BigInt('0x' + bytesToHex(bytes));
}

// ---- documents and fingerprints ----

// hashDocument streams file (a File or Blob) through SHA-256 — never the
// whole file in memory — or, for canonicalization "jcs", reads it (at most
// 256 MiB, as the CLI), canonicalizes it (RFC 8785) and hashes that; then
// blinds it with nonce (32 bytes) when given. It returns the fingerprint's
// hex. progress(done, total) is called as it goes.
export async function hashDocument(file, canon, nonce, progress = () => {}) {
  let docHash;
  if (canon === 'jcs') {
    if (file.size > MAX_CANONICAL_SIZE) throw new DocError('jcs_too_large', { max: MAX_CANONICAL_SIZE });
    let value;
    try {
      // As attestd (gowebpki/jcs): UTF-8, one value, no duplicate names;
      // names that differ only in case are distinct members of a record.
      value = strictJSON(new Uint8Array(await file.arrayBuffer()), null, { caseVariants: true });
    } catch (e) {
      throw new DocError('jcs_invalid', { err: e.message });
    }
    docHash = sha256(utf8ToBytes(canonicalize(value)));
    progress(file.size, file.size);
  } else {
    const h = sha256.create();
    let done = 0;
    for (let off = 0; off < file.size || (off === 0 && file.size === 0); off += CHUNK) {
      if (file.size === 0) break;
      const buf = new Uint8Array(await file.slice(off, Math.min(off + CHUNK, file.size)).arrayBuffer());
      h.update(buf);
      done += buf.length;
      progress(done, file.size);
    }
    docHash = h.digest();
  }
  if (nonce) return bytesToHex(sha256(concatBytes(utf8ToBytes(BLIND_DOMAIN), nonce, docHash)));
  return bytesToHex(docHash);
}

export class DocError extends Error {
  constructor(k, a = {}) {
    super(k);
    this.k = k;
    this.a = a;
  }
}

// ---- strict JSON (internal/strictjson) ----

// JSON.parse lets the last of two members with one name win, so
// {"proof":A,"proof":B} would read as B here and be refused by attestd.
// strictJSON parses untrusted JSON with momoa (which keeps every member)
// and refuses what strictjson.Unmarshal refuses: bytes that are not UTF-8,
// a string with a lone surrogate, two members of one object with the same
// name or (unless caseVariants) with names that differ only in case, a
// number too large for a float64, and — where a shape is
// given — a member the shape does not know (names are case-sensitive).
// Errors name the member as a JSON Pointer (RFC 6901).
//
// A shape is null (anything), obj({name: shape, ...}) for an object with
// exactly those known members, or [shape] for an array of them.
export class JSONError extends Error {}
const obj = (fields) => ({ fields });
const ptrOf = (ptr) => ptr || '/';
const esc = (n) => n.replaceAll('~', '~0').replaceAll('/', '~1');
// fold approximates Unicode case folding (golang.org/x/text/cases.Fold):
// upper then lower case maps "ß" to "ss" and "ſ", "K" (Kelvin) to "s", "k".
const fold = (n) => n.toUpperCase().toLowerCase();

export function strictJSON(input, shape = null, { caseVariants = false } = {}) {
  let text = input;
  if (typeof input !== 'string') {
    try {
      text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(input);
    } catch {
      throw new JSONError('the file is not UTF-8 text');
    }
  }
  let ast;
  try {
    ast = parseJSONTree(text, { mode: 'json', ranges: false, tokens: false });
  } catch (e) {
    throw new JSONError(`not valid JSON: ${e.message}`);
  }
  // Duplicate names anywhere come first (as strictjson.Check runs before
  // the decoding), then the members the shape does not know.
  const v = valueOf(ast.body, '', caseVariants);
  checkShape(v, shape, '');
  return v;
}

function checkShape(v, shape, ptr) {
  if (!shape || v === null || typeof v !== 'object') return;
  if (Array.isArray(v)) {
    if (Array.isArray(shape)) v.forEach((e, i) => checkShape(e, shape[0], `${ptr}/${i}`));
    return;
  }
  if (!shape.fields) return;
  for (const [name, sub] of Object.entries(v)) {
    if (!Object.hasOwn(shape.fields, name)) throw new JSONError(`unknown member "${name}" in ${ptrOf(ptr)} (member names are case-sensitive)`);
    checkShape(sub, shape.fields[name], `${ptr}/${esc(name)}`);
  }
}

function valueOf(node, ptr, caseVariants) {
  switch (node.type) {
    case 'Object': {
      const out = {};
      const names = new Map(); // folded name → name
      for (const m of node.members) {
        const name = m.name.value;
        if (!name.isWellFormed()) throw new JSONError(`a member name in ${ptrOf(ptr)} holds a lone surrogate (\\u escape), which is not text`);
        const key = caseVariants ? name : fold(name);
        const prev = names.get(key);
        if (prev === name) throw new JSONError(`the member "${name}" appears twice in ${ptrOf(ptr)}: the file can be read two ways`);
        if (prev !== undefined) throw new JSONError(`the members "${prev}" and "${name}" in ${ptrOf(ptr)} differ only in case: the file can be read two ways`);
        names.set(key, name);
        Object.defineProperty(out, name, { value: valueOf(m.value, `${ptr}/${esc(name)}`, caseVariants), enumerable: true, writable: true, configurable: true });
      }
      return out;
    }
    case 'Array':
      return node.elements.map((e, i) => valueOf(e.value, `${ptr}/${i}`, caseVariants));
    case 'String':
      if (!node.value.isWellFormed()) throw new JSONError(`the string at ${ptrOf(ptr)} holds a lone surrogate (\\u escape), which is not text`);
      return node.value;
    case 'Number':
      if (!Number.isFinite(node.value)) throw new JSONError(`the number at ${ptrOf(ptr)} is out of range`);
      return node.value;
    case 'Boolean':
      return node.value;
    case 'Null':
      return null;
    default:
      throw new JSONError(`unexpected ${node.type} at ${ptrOf(ptr)}`);
  }
}

// The members attestd's types know (internal/attestfile, proof, receipt,
// trust); the evidence is read as evidence.Open reads it.
const EVIDENCE = obj({ version: null, tx: null, tx_index: null, receipt: null, header: null, tx_proof: null, receipt_proof: null, headers: null });
const ANCHOR = obj({ chain_id: null, tx_hash: null, block_number: null, block_hash: null, anchorer: null, evidence: EVIDENCE, no_evidence: null });
export const BUNDLE = obj({ version: null, fingerprint: null, batch_id: null, index: null, size: null, root: null, path: null, anchors: [ANCHOR] });
const RECEIPT = obj({ version: null, salt: null, fingerprint: null, institution: null, received_at: null, deadline: null, key_id: null, tree_size: null, tree_index: null, tree_path: null, signature: null });
const ATTEST = obj({
  version: null, document: null, fingerprint: null, canonicalization: null, blinding: obj({ scheme: null, nonce: null }),
  server: null, receipt: RECEIPT, proof: BUNDLE,
});
const TRUST = obj({
  version: null,
  issuers: [obj({
    name: null, jurisdiction: null, contact: null, receipt_keys: [obj({ public_key: null, valid_from: null, valid_until: null })],
    chains: [obj({ chain_id: null, anchorer: null, sink: null })],
  })],
});

// ---- the .attest file (internal/attestfile) ----

// parseAttest reads a .attest file (its bytes, or its text); it throws
// DocError for what attestfile.Parse refuses (the checks a browser can
// make of it), strictly as strictjson does.
export function parseAttest(data) {
  let f;
  try {
    f = strictJSON(data, ATTEST);
  } catch (e) {
    throw new DocError('attest_unreadable', { err: e.message });
  }
  const bad = (why) => new DocError('attest_unreadable', { err: why });
  if (!f || typeof f !== 'object' || Array.isArray(f)) throw bad('not a JSON object');
  if (f.version !== 1) throw bad(`unsupported version ${f.version}`);
  if (!isHex(f.fingerprint, 64)) throw bad('no fingerprint');
  if (f.canonicalization !== 'none' && f.canonicalization !== 'jcs') throw bad(`unknown canonicalization ${f.canonicalization}`);
  if (f.blinding != null) {
    if (f.blinding.scheme !== BLIND_DOMAIN) throw bad(`unknown blinding scheme ${f.blinding.scheme}`);
    if (!isHex(f.blinding.nonce, 64)) throw bad('the blinding nonce is not 64 hex digits');
  }
  if (f.receipt && f.receipt.fingerprint !== f.fingerprint) throw bad('the receipt is for another fingerprint');
  if (f.proof && f.proof.fingerprint !== f.fingerprint) throw bad('the proof is for another fingerprint');
  return f;
}

export const nonceOf = (f) => (f.blinding ? hexToBytes(f.blinding.nonce) : null);

// ---- Merkle paths (docs/proof-format.md; internal/verify/path.go) ----

const leafHash = (fp) => sha256(concatBytes(Uint8Array.of(0), fp));
const nodeHash = (l, r) => sha256(concatBytes(Uint8Array.of(1), l, r));

export function depth(size) {
  if (size === 1) return 1;
  return (size - 1).toString(2).length;
}

// rootFromPath returns the root the path leads to from leaf value fp
// (32 bytes) at (index, size), or throws saying why the path is not one.
export function rootFromPath(fp, index, size, path) {
  if (!Number.isSafeInteger(size) || size <= 0) throw new Error(`tree size ${size}`);
  if (!Number.isSafeInteger(index) || index < 0 || index >= size) throw new Error(`index ${index} is not below size ${size}`);
  if (path.length !== depth(size)) throw new Error(`path of ${path.length} hashes, a tree of ${size} needs ${depth(size)}`);
  let h = leafHash(fp);
  let width = size;
  for (const p of path) {
    if (index % 2 === 1) h = nodeHash(p, h);
    else if (index + 1 < width) h = nodeHash(h, p);
    else {
      if (!eq(p, h)) throw new Error('a self-paired path entry differs from the node');
      h = nodeHash(h, h);
    }
    index = Math.floor(index / 2);
    width = Math.ceil(width / 2);
  }
  return h;
}

// checkBundleForm is proof.Bundle.Check, as far as the verifier needs it.
function checkBundleForm(b) {
  if (!b || typeof b !== 'object') throw new Error('no proof');
  if (b.version !== 1 && b.version !== 2) throw new Error(`proof version ${b.version} is not supported`);
  if (!isHex(b.fingerprint, 64) || !isHex(b.root, 64)) throw new Error('fingerprint or root is not 64 lowercase hex digits');
  if (!Number.isSafeInteger(b.size) || b.size < 1) throw new Error(`size ${b.size}`);
  if (!Number.isSafeInteger(b.index) || b.index < 0 || b.index >= b.size) throw new Error(`index ${b.index} is not below size ${b.size}`);
  if (!Number.isSafeInteger(b.batch_id) || b.batch_id < 0) throw new Error('batch_id');
  if (!Array.isArray(b.path) || !b.path.every((h) => isHex(h, 64))) throw new Error('path');
  if (!Array.isArray(b.anchors)) throw new Error('anchors');
  const seen = new Set();
  for (const a of b.anchors) {
    if (!Number.isSafeInteger(a.chain_id) || a.chain_id <= 0 || seen.has(a.chain_id)) throw new Error('anchor chain_id');
    seen.add(a.chain_id);
    from0x(a.tx_hash);
    from0x(a.block_hash);
    from0x(a.anchorer);
    if (b.version === 1 && (a.evidence !== undefined || a.no_evidence !== undefined)) throw new Error('a version 1 proof with evidence');
  }
}

// ---- receipts (internal/receipt) ----

// nanos returns the Unix nanoseconds of an RFC 3339 time, exactly (a
// BigInt), as Go's time.Time.UnixNano.
export function nanos(s) {
  const m = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(s);
  if (!m) throw new Error(`not an RFC 3339 time: ${s}`);
  let secs = BigInt(Date.UTC(+m[1], +m[2] - 1, +m[3], +m[4], +m[5], +m[6]) / 1000);
  if (m[8] !== 'Z') {
    const sign = m[8][0] === '-' ? -1n : 1n;
    secs -= sign * (BigInt(+m[8].slice(1, 3)) * 3600n + BigInt(+m[8].slice(4, 6)) * 60n);
  }
  return secs * 1000000000n + BigInt((m[7] || '').padEnd(9, '0'));
}

export const keyID = (pub) => bytesToHex(sha256(pub).slice(0, 8));

function b64(s) {
  const bin = atob(s);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}

// verifyReceipt is receipt.Verify: null when pub signed r, else why not.
// Version 3 statements start with a salt line; version 2 (issued before)
// have none.
export function verifyReceipt(r, pub) {
  try {
    if (r.version !== 3 && r.version !== 2) return `version ${r.version}`;
    if (r.version === 3 && !/^[0-9a-f]{32}$/.test(r.salt || '')) return 'version 3 without a salt';
    if (r.version === 3 && /^0{32}$/.test(r.salt)) return 'version 3 without a salt';
    if (r.version === 2 && r.salt !== undefined) return 'version 2 with a salt';
    if (r.key_id !== keyID(pub)) return `signed by key ${r.key_id}, not ${keyID(pub)}`;
    if (!Number.isSafeInteger(r.tree_size) || r.tree_size > 1 << 20) return 'tree size';
    const v = `v${r.version}`;
    const salt = r.version === 3 ? `${r.salt}\n` : '';
    const stmt = `attestd/receipt/${v}\n${salt}${r.fingerprint}\n${r.institution}\n${nanos(r.received_at)}\n${nanos(r.deadline)}\n`;
    const root = rootFromPath(sha256(utf8ToBytes(stmt)), r.tree_index, r.tree_size, (r.tree_path || []).map((h) => hexToBytes(h)));
    const msg = utf8ToBytes(`attestd/receipt-tree/${v}\n${r.tree_size}\n${bytesToHex(root)}\n`);
    return ed25519.verify(b64(r.signature), msg, pub, { zip215: false }) ? null : 'bad signature';
  } catch (e) {
    return e.message;
  }
}

// ---- trust lists (docs/trust-list.md) ----

export function parseTrust(data) {
  let l;
  try {
    l = strictJSON(data, TRUST);
  } catch (e) {
    throw new DocError('trust_unreadable', { err: e.message });
  }
  const bad = (why) => new DocError('trust_unreadable', { err: why });
  if (!l || l.version !== 1 || !Array.isArray(l.issuers)) throw bad('not a trust list of version 1');
  return l.issuers.map((e, i) => {
    if (!e.name || !e.jurisdiction || !Array.isArray(e.receipt_keys) || !Array.isArray(e.chains)) throw bad(`issuer ${i + 1}`);
    return {
      name: e.name,
      jurisdiction: e.jurisdiction,
      keys: e.receipt_keys.map((k) => {
        const pub = b64(k.public_key);
        if (pub.length !== 32) throw bad(`issuer ${i + 1} ("${e.name}"): a receipt key is not 32 bytes`);
        return { pub, from: Date.parse(k.valid_from), until: k.valid_until ? Date.parse(k.valid_until) : null, validFrom: k.valid_from, validUntil: k.valid_until || '' };
      }),
      chains: e.chains.map((c) => ({ id: c.chain_id, anchorer: lower(c.anchorer), sink: lower(c.sink) })),
    };
  });
}

function anchoringIssuer(list, chainID, sender) {
  for (const e of list) for (const c of e.chains) if (c.id === chainID && c.anchorer === lower(sender)) return { issuer: e, sink: c.sink };
  return null;
}

// receiptCheck is trust.List.ReceiptCheck.
export function receiptCheck(list, r, anchoredBy) {
  let owner = null;
  let key = null;
  for (const e of list) for (const k of e.keys) if (keyID(k.pub) === r.key_id && verifyReceipt(r, k.pub) === null) [owner, key] = [e, k];
  const received = fmtTime(Number(nanos(r.received_at) / 1000000n));
  const period = key ? `${key.validFrom} – ${key.validUntil || '…'}` : '';
  if (!owner) return { name: C.receipt, state: 'failed', detail: { k: 'rc_nokey', a: { key: r.key_id } } };
  const at = Number(nanos(r.received_at) / 1000000n);
  if (at < key.from || (key.until !== null && at >= key.until))
    return { name: C.receipt, state: 'failed', detail: { k: 'rc_period', a: { received, issuer: owner.name, key: r.key_id, period } } };
  if (anchoredBy && owner.name !== anchoredBy) return { name: C.receipt, state: 'failed', detail: { k: 'rc_other', a: { issuer: owner.name, anchor: anchoredBy } } };
  return { name: C.receipt, state: 'ok', detail: { k: 'rc_ok', a: { issuer: owner.name, key: r.key_id, period, received } } };
}

export function fmtTime(ms) {
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}

// ---- chain evidence (internal/evidence.Open) ----

export class EvidenceError extends Error {
  constructor(k, a = {}) {
    super(k);
    this.k = k;
    this.a = a;
  }
}

function decodeCanonical(bytes) {
  const v = RLP.decode(bytes);
  if (!eq(RLP.encode(v), bytes)) throw new Error('not in its canonical encoding');
  return v;
}

// The fields of a block header as go-ethereum's types.Header decodes them
// (core/types/gen_header_rlp.go): a byte string of a fixed size, an
// unsigned integer (canonical: no leading zero byte; 'u64' at most 8
// bytes), or any bytes; the first 15 are required, the 6 after them
// (London to Prague) optional, nothing after them.
const HEADER_FIELDS = [
  ['parent hash', 32], ['uncle hash', 32], ['coinbase', 20], ['state root', 32], ['transactions root', 32], ['receipts root', 32],
  ['bloom', 256], ['difficulty', 'big'], ['number', 'u64'], ['gas limit', 'u64'], ['gas used', 'u64'], ['time', 'u64'],
  ['extra data', 'bytes'], ['mix digest', 32], ['nonce', 8],
  ['base fee', 'big'], ['withdrawals hash', 32], ['blob gas used', 'u64'], ['excess blob gas', 'u64'], ['parent beacon root', 32], ['requests hash', 32],
];

function decodeHeader(bytes) {
  const f = decodeCanonical(bytes);
  if (!Array.isArray(f) || f.length < 15) throw new Error('not a block header');
  if (f.length > HEADER_FIELDS.length) throw new Error(`a block header of ${f.length} fields, at most ${HEADER_FIELDS.length}`);
  for (const [i, v] of f.entries()) {
    const [name, type] = HEADER_FIELDS[i];
    if (Array.isArray(v)) throw new Error(`its ${name} is a list`);
    if (typeof type === 'number' && v.length !== type) throw new Error(`its ${name} is ${v.length} bytes, not ${type}`);
    if (type === 'big' || type === 'u64') {
      if (v.length > 0 && v[0] === 0) throw new Error(`its ${name} has a leading zero byte`);
      if (type === 'u64' && v.length > 8) throw new Error(`its ${name} is out of range`);
    }
  }
  return { parent: f[0], txRoot: f[4], receiptRoot: f[5], number: bigFrom(f[8]), time: bigFrom(f[11]), hash: keccak_256(bytes) };
}

// decodeTx decodes a signed transaction (its consensus encoding) and
// recovers its sender.
export function decodeTx(bytes) {
  let chainID = 0n;
  if (bytes.length > 0 && bytes[0] <= 0x7f) {
    const f = RLP.decode(bytes.subarray(1));
    if (!Array.isArray(f) || !(f[0] instanceof Uint8Array)) throw new Error('not a transaction');
    chainID = bigFrom(f[0]);
  } else {
    const f = RLP.decode(bytes);
    if (!Array.isArray(f) || f.length !== 9) throw new Error('not a transaction');
    const v = bigFrom(f[6]);
    if (v >= 35n) chainID = (v - 35n) / 2n;
  }
  if (chainID >= 1n << 53n) throw new Error(`chain ID ${chainID} is out of range`);
  const common = createCustomCommon({ chainId: Number(chainID || 1n) }, Mainnet, { hardfork: Hardfork.Prague });
  const tx = createTxFromRLP(bytes, { common });
  if (!eq(tx.serialize(), bytes)) throw new Error('not in its canonical encoding');
  return {
    chainID: Number(chainID), hash: to0x(tx.hash()), sender: lower(tx.getSenderAddress().toString()),
    to: tx.to ? lower(tx.to.toString()) : null, data: tx.data,
  };
}

function decodeReceiptStatus(bytes) {
  const body = bytes.length > 0 && bytes[0] <= 0x7f ? bytes.subarray(1) : bytes;
  const f = decodeCanonical(body);
  if (!Array.isArray(f) || f.length !== 4) throw new Error('not a receipt');
  if (f[0].length === 32) return 0; // a pre-Byzantium state root: no status
  return Number(bigFrom(f[0])) === 1 ? 1 : 0;
}

// verifyProof checks that nodes prove exactly value at key under root,
// every node on the path (without any one of them the proof fails).
async function verifyProof(root, key, nodes, value) {
  const get = async (ns) => {
    try {
      return await verifyMerkleProof(key, ns, { root });
    } catch {
      return undefined;
    }
  };
  const got = await get(nodes);
  if (got === undefined) throw new Error('the proof does not lead from the root');
  if (got === null) throw new Error('the proof shows nothing at that index');
  if (!eq(got, value)) throw new Error('the proof shows another value at that index');
  for (let i = 0; i < nodes.length; i++) {
    const v = await get(nodes.filter((_, j) => j !== i));
    if (v && eq(v, value)) throw new Error('a proof node is not on the path');
  }
}

// openEvidence is evidence.Open: it checks the sealed chain evidence and
// returns what it shows, or throws EvidenceError.
export async function openEvidence(ev) {
  const E = (k, err) => new EvidenceError(k, { err: err && err.message ? err.message : String(err || '') });
  const items = {};
  try {
    if (!ev || ev.version !== 1) throw new Error(`chain evidence version ${ev && ev.version} is not supported`);
    for (const n of ['tx', 'receipt', 'header']) items[n] = from0x(ev[n]);
    for (const n of ['tx_proof', 'receipt_proof']) {
      if (!Array.isArray(ev[n]) || ev[n].length === 0 || ev[n].length > 64) throw new Error(`${n} has no nodes`);
      items[n] = ev[n].map(from0x);
    }
    items.headers = (ev.headers || []).map(from0x);
    if (items.headers.length > 256) throw new Error('too many headers');
    if (!Number.isSafeInteger(ev.tx_index) || ev.tx_index < 0) throw new Error('tx_index');
    for (const b of [items.tx, items.receipt, items.header, ...items.tx_proof, ...items.receipt_proof, ...items.headers])
      if (b.length === 0 || b.length > 64 << 10) throw new Error('an item is empty or too large');
  } catch (e) {
    throw E('ev_form', e);
  }
  let hdr;
  try {
    hdr = decodeHeader(items.header);
  } catch (e) {
    throw E('ev_header', e);
  }
  const hashes = [hdr.hash];
  let prev = hdr;
  for (const [i, enc] of items.headers.entries()) {
    let h;
    try {
      h = decodeHeader(enc);
    } catch (e) {
      throw E('ev_header', new Error(`following header ${i + 1}: ${e.message}`));
    }
    if (h.number !== prev.number + 1n) throw E('ev_chain', new Error(`following header ${i + 1} is block ${h.number}, not ${prev.number + 1n}`));
    if (!eq(h.parent, hashes[hashes.length - 1])) throw E('ev_chain', new Error(`block ${h.number} does not name block ${prev.number} as its parent`));
    hashes.push(h.hash);
    prev = h;
  }
  let tx;
  try {
    tx = decodeTx(items.tx);
  } catch (e) {
    throw E('ev_tx', e);
  }
  let status;
  try {
    status = decodeReceiptStatus(items.receipt);
  } catch (e) {
    throw E('ev_receipt', e);
  }
  const key = RLP.encode(ev.tx_index);
  try {
    await verifyProof(hdr.txRoot, key, items.tx_proof, items.tx);
  } catch (e) {
    throw E('ev_txproof', e);
  }
  try {
    await verifyProof(hdr.receiptRoot, key, items.receipt_proof, items.receipt);
  } catch (e) {
    throw E('ev_rcproof', e);
  }
  const number = Number(hdr.number);
  return {
    ...tx, txIndex: ev.tx_index, status, blockNumber: number, blockHash: to0x(hdr.hash), time: Number(hdr.time) * 1000,
    tipNumber: Number(prev.number), tipHash: to0x(hashes[hashes.length - 1]),
    hashAt: (n) => (n >= number && n <= Number(prev.number) ? to0x(hashes[n - number]) : null),
  };
}

// decodePayload is proof.DecodePayload: "ATST" | 1 | batch id | size | root.
export function decodePayload(data) {
  if (data.length !== 53) throw new Error(`calldata of ${data.length} bytes, an anchor has 53`);
  if (!eq(data.subarray(0, 4), utf8ToBytes('ATST'))) throw new Error('no ATST magic');
  if (data[4] !== 1) throw new Error(`payload version ${data[4]}`);
  const dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
  return { batchID: dv.getBigUint64(5), size: dv.getBigUint64(13), root: bytesToHex(data.subarray(21)) };
}

// ---- JSON-RPC (option b) ----

export async function rpcCall(url, method, params = []) {
  const res = await fetch(url, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, credentials: 'omit', referrerPolicy: 'no-referrer',
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  let j;
  try {
    j = strictJSON(new Uint8Array(await res.arrayBuffer()));
  } catch (e) {
    throw new Error(`${url} answered ${e.message}`);
  }
  if (j.error) throw new Error(j.error.message || 'JSON-RPC error');
  return j.result;
}

// The JSON-RPC names of a header's fields, in HEADER_FIELDS' order.
const HEADER_JSON = ['parentHash', 'sha3Uncles', 'miner', 'stateRoot', 'transactionsRoot', 'receiptsRoot', 'logsBloom', 'difficulty',
  'number', 'gasLimit', 'gasUsed', 'timestamp', 'extraData', 'mixHash', 'nonce', 'baseFeePerGas', 'withdrawalsRoot', 'blobGasUsed',
  'excessBlobGas', 'parentBeaconBlockRoot', 'requestsHash'];

// blockHashOf is the hash of the header an eth_getBlockByNumber answer
// describes, computed from its fields (as go-ethereum's client does), not
// the "hash" the server says: a server cannot then change a field and
// keep the hash. It throws when the fields are not a header's.
export function blockHashOf(x) {
  const n = HEADER_JSON.findLastIndex((k) => x[k] !== undefined && x[k] !== null);
  if (n < 14) throw new Error('the block has no header fields');
  const fields = HEADER_JSON.slice(0, n + 1).map((k, i) => {
    const type = HEADER_FIELDS[i][1];
    if (type === 'big' || type === 'u64') {
      if (typeof x[k] !== 'string' || !/^0x(0|[1-9a-f][0-9a-f]*)$/.test(x[k])) throw new Error(`the block's ${k} is not a quantity`);
      const v = BigInt(x[k]);
      return v === 0n ? new Uint8Array(0) : hexToBytes(v.toString(16).padStart(Math.ceil(v.toString(16).length / 2) * 2, '0'));
    }
    return from0x(x[k]);
  });
  const enc = RLP.encode(fields);
  decodeHeader(enc); // the field types
  return to0x(keccak_256(enc));
}

class Disagreement extends Error {
  constructor(what, answers) {
    super('disagree');
    this.what = what;
    this.answers = answers;
  }
}

// crossChecked asks every endpoint of one chain and insists they agree.
function crossChecked(urls) {
  return {
    urls,
    async ask(what, method, params, pick = (x) => x) {
      const got = await Promise.all(urls.map((u) => rpcCall(u, method, params).then(pick)));
      const keys = got.map((g) => JSON.stringify(g));
      if (keys.some((k) => k !== keys[0])) throw new Disagreement(what, urls.map((u, i) => `${u}: ${keys[i]}`).join('; '));
      return got[0];
    },
    async head() {
      const got = await Promise.all(urls.map((u) => rpcCall(u, 'eth_blockNumber')));
      return Math.min(...got.map((g) => Number(BigInt(g))));
    },
  };
}

// endpointsByChain asks each URL which chain it serves.
export async function endpointsByChain(urls) {
  const byChain = new Map();
  const down = [];
  await Promise.all(urls.map(async (u) => {
    try {
      const id = Number(BigInt(await rpcCall(u, 'eth_chainId')));
      if (!byChain.has(id)) byChain.set(id, []);
      byChain.get(id).push(u);
    } catch (e) {
      down.push({ url: u, err: e.message });
    }
  }));
  return { byChain, down };
}

// ---- the verdict (internal/verify.Verify) ----

// trustedFor returns the trusted blocks that apply to chain id.
const trustedFor = (p, id) => (p.trusted || []).filter((t) => t.chain === null || t.chain === id);

export class Result {
  constructor() {
    this.checks = [];
    this.attestedAt = null;
    this.issuer = '';
  }
  add(name, state, k, a = {}) {
    this.checks.push({ name, state, detail: { k, a } });
    return state === 'ok';
  }
  get verdict() {
    if (this.checks.length === 0) return 'undecided';
    let v = 'valid';
    for (const c of this.checks) {
      if (c.state === 'failed' || !['ok', 'undecided'].includes(c.state)) v = 'invalid';
      else if (c.state === 'undecided' && v === 'valid' && !c.optional) v = 'undecided';
    }
    return v;
  }
}

// parseTrusted reads the "Trusted block hash" field: hashes separated by
// spaces or commas, each "0xHASH" (any chain), "ID:HASH" or "ID:NUMBER:HASH".
export function parseTrusted(text) {
  const out = [];
  for (const tok of String(text || '').split(/[\s,]+/).filter(Boolean)) {
    const p = tok.split(':');
    const hash = lower(p[p.length - 1]);
    if (!/^0x[0-9a-f]{64}$/.test(hash) || p.length > 3) throw new DocError('trusted_bad', { v: tok.slice(0, 80) });
    const t = { chain: null, number: null, hash }; // number null: the hash only (block 0 can be trusted by number)
    if (p.length >= 2) {
      if (!/^[1-9]\d*$/.test(p[0])) throw new DocError('trusted_bad', { v: tok.slice(0, 80) });
      t.chain = Number(p[0]);
    }
    if (p.length === 3) {
      if (!/^\d+$/.test(p[1])) throw new DocError('trusted_bad', { v: tok.slice(0, 80) });
      t.number = Number(p[1]);
    }
    out.push(t);
  }
  return out;
}

// verify checks the .attest file f against the document's fingerprint
// docFp (hex) under policy p: {mode: 'offline'|'rpc', trusted: [...],
// endpoints: Map chain→urls, down: [...], minConf, issuers (a parsed
// trust list, or null), anchorers ({chain: address}, used without
// issuers)}. It returns a Result.
export async function verify(f, docFp, p) {
  const r = new Result();
  const b = f.proof;
  if (!b) {
    r.add(C.chains, 'undecided', 'no_proof');
    return r;
  }
  try {
    checkBundleForm(b);
  } catch (e) {
    r.add(C.format, 'failed', 'format_bad', { err: e.message });
    return r;
  }
  if (docFp !== null) {
    if (docFp === b.fingerprint) r.add(C.fingerprint, 'ok', 'fp_ok', { fp: docFp });
    else r.add(C.fingerprint, 'failed', 'fp_bad', { doc: docFp, proof: b.fingerprint });
  }
  try {
    const root = rootFromPath(hexToBytes(b.fingerprint), b.index, b.size, b.path.map((h) => hexToBytes(h)));
    if (bytesToHex(root) !== b.root) throw new Error(`it leads to ${bytesToHex(root)}, not ${b.root}`);
    r.add(C.merkle, 'ok', 'path_ok', { index: b.index, size: b.size, root: b.root });
  } catch (e) {
    r.add(C.merkle, 'failed', 'path_bad', { err: e.message });
  }
  const anchorIDs = b.anchors.map((a) => a.chain_id).sort((x, y) => x - y);
  const offline = p.mode === 'offline';
  let required;
  if (offline) {
    required = b.anchors.filter((a) => trustedFor(p, a.chain_id).length > 0).map((a) => a.chain_id);
    if (required.length === 0) required = anchorIDs;
  } else {
    required = b.anchors.filter((a) => p.endpoints.has(a.chain_id)).map((a) => a.chain_id);
  }
  if (b.anchors.length === 0) r.add(C.chains, 'undecided', 'no_anchor');
  else if (required.length === 0) r.add(C.chains, 'undecided', 'no_endpoint', { chains: anchorIDs.join(', ') });
  else r.add(C.chains, 'ok', 'chains_ok', { chains: required.join(', ') });
  for (const id of required) {
    const t = await checkAnchor(r, b, id, p);
    if (t !== null && (r.attestedAt === null || t < r.attestedAt)) r.attestedAt = t;
  }
  if (!offline) for (const d of p.down || []) r.add(C.rpc, 'undecided', 'rpc_down', { url: d.url, err: d.err });
  if (p.issuers && f.receipt) r.checks.push(receiptCheck(p.issuers, f.receipt, r.issuer));
  else if (f.receipt) r.add(C.receipt, 'undecided', 'rc_unpinned', { key: f.receipt.key_id });
  if (r.verdict !== 'valid') {
    r.attestedAt = null;
    r.issuer = '';
  }
  return r;
}

// checkAnchor runs one chain's checks, stopping at the first that does not
// pass; it returns the attested time (ms) when all passed, else null.
async function checkAnchor(r, b, id, p) {
  const n = (c) => `anchor[${id}].${c}`;
  const a = b.anchors.find((x) => x.chain_id === id);
  const offline = p.mode === 'offline';
  const chain = offline ? null : crossChecked(p.endpoints.get(id));
  const disagree = (e) => {
    if (!(e instanceof Disagreement)) return false;
    r.add(n(C.agree), 'undecided', 'disagree', { chain: id, what: e.what, answers: e.answers });
    return true;
  };
  if (!a) return r.add(n(C.tx), 'undecided', 'no_anchor_on', { chain: id }), null;
  let f;
  try {
    if (a.evidence) {
      try {
        f = await openEvidence(a.evidence);
      } catch (e) {
        r.add(n(C.evidence), 'failed', e.k || 'ev_form', e.a || { err: e.message });
        return null;
      }
      r.add(n(C.evidence), 'ok', 'ev_ok', { block: f.blockNumber, on: f.tipNumber - f.blockNumber });
      if (f.chainID !== id) return r.add(n(C.tx), 'failed', 'tx_chain', { got: f.chainID, chain: id }), null;
      if (f.hash !== lower(a.tx_hash) || f.blockNumber !== a.block_number || f.blockHash !== lower(a.block_hash))
        return r.add(n(C.tx), 'failed', 'tx_elsewhere', { tx: f.hash, block: f.blockNumber, ptx: a.tx_hash, pblock: a.block_number }), null;
      r.add(n(C.tx), 'ok', 'tx_ok_ev', { tx: f.hash, index: f.txIndex, block: f.blockNumber });
      if (!r.add(n(C.status), f.status === 1 ? 'ok' : 'failed', 'status', { status: f.status })) return null;
      if (!offline && !(await askChainID(r, n, chain, id))) return null;
    } else if (offline) {
      return r.add(n(C.evidence), 'undecided', 'ev_none', { chain: id, why: a.no_evidence || 'v1' }), null;
    } else {
      if (!(await askChainID(r, n, chain, id))) return null;
      f = await readAnchor(r, n, chain, a, id);
      if (!f) return null;
    }
  } catch (e) {
    if (disagree(e)) return null;
    r.add(n(C.rpc), 'undecided', 'rpc_error', { err: e.message });
    return null;
  }
  // Who sent it: the trust list decides, or the anchoring address pinned
  // for this chain (p.anchorers, as attestd verify --anchorer; the page
  // itself always uses a trust list).
  const pin = !p.issuers && p.anchorers && p.anchorers[id] ? lower(p.anchorers[id]) : null;
  if (pin) {
    if (!r.add(n(C.sender), f.sender === pin && lower(a.anchorer) === pin ? 'ok' : 'failed', 'sender_pinned', { sender: f.sender, pin, named: a.anchorer })) return null;
  } else if (!p.issuers) {
    if (lower(a.anchorer) !== f.sender) return r.add(n(C.sender), 'failed', 'sender_notnamed', { sender: f.sender, named: a.anchorer }), null;
    r.add(n(C.sender), 'undecided', 'sender_unpinned', { sender: f.sender });
  } else {
    const hit = anchoringIssuer(p.issuers, id, f.sender);
    if (!hit) return r.add(n(C.sender), 'failed', 'sender_unknown', { sender: f.sender, chain: id }), null;
    if (!r.add(n(C.sender), lower(a.anchorer) === f.sender ? 'ok' : 'failed', 'sender_ok', { sender: f.sender, issuer: hit.issuer.name, named: a.anchorer })) return null;
    if (!r.add(n(C.recipient), f.to === hit.sink ? 'ok' : 'failed', 'recipient', { to: f.to || '-', issuer: hit.issuer.name, sink: hit.sink })) return null;
    if (!r.issuer) {
      r.issuer = hit.issuer.name;
      r.jurisdiction = hit.issuer.jurisdiction;
    } else if (r.issuer !== hit.issuer.name) return r.add(C.issuer, 'failed', 'issuer_mixed', { a: r.issuer, b: hit.issuer.name, chain: id }), null;
  }
  let pl;
  try {
    pl = decodePayload(f.data);
  } catch (e) {
    return r.add(n(C.payload), 'failed', 'payload_none', { err: e.message }), null;
  }
  const plOK = pl.root === b.root && pl.size === BigInt(b.size) && pl.batchID === BigInt(b.batch_id);
  if (!r.add(n(C.payload), plOK ? 'ok' : 'failed', 'payload', { cb: pl.batchID, cs: pl.size, cr: pl.root, pb: b.batch_id, ps: b.size, pr: b.root })) return null;
  const minConf = Math.max(p.minConf || 1, 1);
  if (offline) {
    if (!checkTrusted(r, n, id, f, trustedFor(p, id), minConf)) return null;
  } else {
    try {
      const blk = await chain.ask(`block ${f.blockNumber}`, 'eth_getBlockByNumber', ['0x' + f.blockNumber.toString(16), false], (x) => x && { hash: blockHashOf(x), time: x.timestamp });
      if (!blk) return r.add(n(C.canonical), 'undecided', 'rpc_error', { err: `no block ${f.blockNumber}` }), null;
      if (!r.add(n(C.canonical), blk.hash === f.blockHash ? 'ok' : 'failed', 'canonical', { block: f.blockNumber, got: blk.hash, want: f.blockHash })) return null;
      if (f.time === undefined) f.time = Number(BigInt(blk.time)) * 1000;
      const head = await chain.head();
      const conf = head >= f.blockNumber ? head - f.blockNumber + 1 : 0;
      if (conf < minConf) return r.add(n(C.confirmations), 'undecided', 'conf_few', { conf, min: minConf }), null;
      r.add(n(C.confirmations), 'ok', 'conf_ok', { conf, min: minConf });
      if (chain.urls.length > 1) r.add(n(C.agree), 'ok', 'agree_ok', { n: chain.urls.length, urls: chain.urls.join(', ') });
    } catch (e) {
      if (disagree(e)) return null;
      r.add(n(C.canonical), 'undecided', 'rpc_error', { err: e.message });
      return null;
    }
  }
  if (!p.issuers && !pin) return null;
  return f.time;
}

async function askChainID(r, n, chain, id) {
  return r.add(n(C.rpc), 'ok', 'rpc_ok', { chain: id, urls: chain.urls.join(', ') });
}

// readAnchor reads the anchor transaction from the endpoints (a proof
// without chain evidence): the raw transaction (its sender recovered here,
// not taken from the endpoint) and its receipt.
async function readAnchor(r, n, chain, a, id) {
  const raw = await chain.ask('the transaction', 'eth_getRawTransactionByHash', [a.tx_hash]);
  if (raw === null || raw === '0x') return r.add(n(C.tx), 'failed', 'tx_missing', { tx: a.tx_hash, chain: id }), null;
  const rc = await chain.ask('the receipt', 'eth_getTransactionReceipt', [a.tx_hash], (x) => x && { status: x.status, blockHash: lower(x.blockHash), blockNumber: Number(BigInt(x.blockNumber)) });
  if (!rc) return r.add(n(C.tx), 'undecided', 'tx_pending', { tx: a.tx_hash }), null;
  if (rc.blockHash !== lower(a.block_hash) || rc.blockNumber !== a.block_number)
    return r.add(n(C.tx), 'failed', 'tx_elsewhere', { tx: a.tx_hash, block: rc.blockNumber, ptx: a.tx_hash, pblock: a.block_number }), null;
  r.add(n(C.tx), 'ok', 'tx_ok', { tx: a.tx_hash, block: rc.blockNumber });
  const status = Number(BigInt(rc.status));
  if (!r.add(n(C.status), status === 1 ? 'ok' : 'failed', 'status', { status })) return null;
  const tx = decodeTx(from0x(raw));
  return { ...tx, blockNumber: rc.blockNumber, blockHash: rc.blockHash, time: undefined };
}

// checkTrusted is internal/verify's checkTrusted.
function checkTrusted(r, n, id, f, trusted, minConf) {
  const confirm = { chain: id, block: f.tipNumber, hash: f.tipHash };
  if (trusted.length === 0) return r.add(n(C.canonical), 'undecided', 'trusted_none', confirm);
  let best = null;
  let at = 0;
  let outside = 0;
  for (const t of trusted) {
    if (t.number !== null) {
      const h = f.hashAt(t.number);
      if (h === null) {
        outside++;
        continue;
      }
      if (h !== t.hash) return r.add(n(C.canonical), 'failed', 'trusted_other', { block: t.number, chain: id, want: t.hash, got: h });
      if (best === null || t.number > at) [best, at] = [t, t.number];
      continue;
    }
    for (let k = f.tipNumber; k >= f.blockNumber; k--) {
      if (f.hashAt(k) === t.hash) {
        if (best === null || k > at) [best, at] = [t, k];
        break;
      }
    }
  }
  if (best === null) {
    if (outside === trusted.length) return r.add(n(C.canonical), 'undecided', 'trusted_outside', { ...confirm, from: f.blockNumber, to: f.tipNumber });
    return r.add(n(C.canonical), 'failed', 'trusted_nomatch', { ...confirm, from: f.blockNumber, to: f.tipNumber });
  }
  r.add(n(C.canonical), 'ok', 'trusted_ok', { block: at, chain: id, hash: best.hash, anchor: f.blockNumber });
  const conf = at - f.blockNumber + 1;
  if (conf < minConf) return r.add(n(C.confirmations), 'undecided', 'conf_few_trusted', { conf, min: minConf, tip: f.tipNumber });
  return r.add(n(C.confirmations), 'ok', 'conf_ok', { conf, min: minConf });
}
