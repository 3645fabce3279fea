package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/common/hexutil"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/store"
)

// statusReference is st as encoding/json writes it: what appendStatus
// must equal.
func statusReference(t testing.TB, st *api.FingerprintStatus) []byte {
	t.Helper()
	body, err := json.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// testStatus is the status the handler builds for these values: batchID 0
// means pending (no batch); b is nil until the batch is anchored.
func testStatus(fp fingerprint.Fingerprint, status store.Status, batchID uint64, b *proof.Bundle) *api.FingerprintStatus {
	st := &api.FingerprintStatus{Fingerprint: fp.String(), Status: api.Status(status), Proof: b}
	if batchID != 0 {
		id := int64(batchID)
		st.BatchID = &id
		// Each chain's progress: the anchored ones with their transaction,
		// and one still sealed, without.
		if b != nil {
			for i, a := range b.Anchors {
				tx := a.TxHash.Hex()
				st.Chains = append(st.Chains, api.ChainProgress{ChainID: int64(a.ChainID), Status: []api.Status{"anchored", "confirmed"}[i%2], TxHash: &tx})
			}
		}
		st.Chains = append(st.Chains, api.ChainProgress{ChainID: int64(batchID), Status: "sealed"})
	}
	return st
}

// testBundle derives a bundle from seed: pathLen path nodes, anchors
// anchors, every field different.
func testBundle(seed []byte, pathLen, anchors int, n uint64) *proof.Bundle {
	h := func(i int) [32]byte {
		return fingerprint.Sum(binary.BigEndian.AppendUint64(bytes.Clone(seed), uint64(i)))
	}
	b := &proof.Bundle{
		Version: proof.Version, Fingerprint: h(-1), BatchID: n, Index: n >> 3, Size: n<<1 + 1, Root: h(-2),
		Path: make([]proof.Hash, pathLen),
	}
	for i := range b.Path {
		b.Path[i] = h(i)
	}
	for i := range anchors {
		x := h(1000 + i)
		a := proof.Anchor{
			ChainID: n + uint64(i), TxHash: common.Hash(h(2000 + i)), BlockNumber: n ^ uint64(i),
			BlockHash: common.Hash(h(3000 + i)), Anchorer: common.BytesToAddress(x[:20]),
		}
		// Every other anchor carries chain evidence as the store keeps it
		// (json.Marshal of a proof.Evidence); the others say why not.
		switch i % 3 {
		case 0:
			ev := proof.Evidence{Version: proof.EvidenceVersion, Tx: x[:], TxIndex: n, Receipt: x[1:], Header: x[2:],
				TxProof: []hexutil.Bytes{x[3:]}, ReceiptProof: []hexutil.Bytes{x[4:]}, Headers: []hexutil.Bytes{x[5:], x[6:]}}
			a.Evidence, _ = json.Marshal(ev)
		case 1:
			a.NoEvidence = proof.NoEvidencePending
		case 2:
			a.NoEvidence = proof.NoEvidenceUnsupported
		}
		b.Anchors = append(b.Anchors, a)
	}
	return b
}

// withStatements adds to st a supersede (anchored, with a proof of its
// own) and a withdrawal (pending), with text as their statements' text.
func withStatements(st *api.FingerprintStatus, seed []byte, text string) *api.FingerprintStatus {
	h := func(s string) string { return fingerprint.Sum(append(bytes.Clone(seed), s...)).String() }
	repl, reason := h("replacement"), api.WithdrawReasonEnteredInError
	st.SupersededBy = []api.RecordStatement{
		{Fingerprint: h("s1"), Statement: text, Status: api.StatusConfirmed, Replacement: &repl, Proof: testBundle(append(bytes.Clone(seed), 's'), 3, 1, 9)},
		{Fingerprint: h("s2"), Statement: text + "2", Status: api.StatusSealed, Replacement: &repl},
	}
	st.Withdrawn = []api.RecordStatement{{Fingerprint: h("w"), Statement: text, Status: api.StatusPending, Reason: &reason}}
	return st
}

func TestStatusJSON(t *testing.T) {
	fp := fingerprint.Sum([]byte("status json"))
	cases := []struct {
		name    string
		status  store.Status
		batchID uint64
		b       *proof.Bundle
	}{
		{"pending", store.StatusPending, 0, nil},
		{"sealed", store.StatusSealed, 7, nil},
		{"anchored, one chain", store.StatusAnchored, 7, testBundle([]byte("a"), 20, 1, 7)},
		{"confirmed, two chains", store.StatusConfirmed, 1 << 40, testBundle([]byte("b"), 3, 2, 1<<40)},
		{"a one-leaf batch", store.StatusConfirmed, 1, testBundle([]byte("c"), 0, 1, 0)},
		{"no anchors", store.StatusSealed, 2, testBundle([]byte("d"), 1, 0, 2)},
		{"nil path", store.StatusConfirmed, 3, func() *proof.Bundle { b := testBundle([]byte("e"), 0, 1, 3); b.Path = nil; return b }()},
		{"superseded and withdrawn", store.StatusConfirmed, 4, testBundle([]byte("f"), 2, 1, 4)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := testStatus(fp, tc.status, tc.batchID, tc.b)
			if strings.HasPrefix(tc.name, "superseded") {
				withStatements(st, []byte(tc.name), `{"nonce":"00","subject":"<&>","type":"withdraw"}`)
			}
			got, want := appendStatus(nil, st), statusReference(t, st)
			if !bytes.Equal(got, want) {
				t.Errorf("appendStatus:\n%s\nencoding/json of api.FingerprintStatus:\n%s", got, want)
			}
			if tc.b != nil && !bytes.Contains(got, mustMarshal(t, tc.b)) {
				t.Errorf("the status body does not hold the bundle as proof.Bundle's JSON:\n%s", got)
			}
			var back api.FingerprintStatus
			if err := json.Unmarshal(got, &back); err != nil || back.Fingerprint != fp.String() {
				t.Errorf("the body does not decode into api.FingerprintStatus: %v", err)
			}
		})
	}
	// It appends.
	prefix := []byte("x")
	if got := appendStatus(prefix, testStatus(fp, store.StatusPending, 0, nil)); !bytes.HasPrefix(got, prefix) || !json.Valid(got[1:]) {
		t.Errorf("appendStatus after a prefix = %q", got)
	}
}

// FuzzStatusJSON: for any status and bundle, appendStatus writes what
// encoding/json writes for api.FingerprintStatus, including strings that
// need escaping.
func FuzzStatusJSON(f *testing.F) {
	f.Add([]byte("seed"), uint8(20), uint8(1), uint64(7), uint8(3), "")
	f.Add([]byte{}, uint8(0), uint8(0), uint64(0), uint8(0), "<&>")
	f.Add([]byte{1}, uint8(1), uint8(1), uint64(1), uint8(1), `a"b`)
	f.Add([]byte{2}, uint8(1), uint8(1), uint64(1), uint8(1), `a\b`)
	f.Add([]byte{0xff}, uint8(63), uint8(4), uint64(1<<63), uint8(2), "a\"\\\x00\xff\u2028")
	statuses := []store.Status{store.StatusPending, store.StatusSealed, store.StatusAnchored, store.StatusConfirmed}
	f.Fuzz(func(t *testing.T, seed []byte, pathLen, anchors uint8, n uint64, st uint8, text string) {
		fp := fingerprint.Sum(seed)
		status := statuses[int(st)%len(statuses)]
		var b *proof.Bundle
		if anchors > 0 || pathLen > 0 {
			b = testBundle(seed, int(pathLen%65), int(anchors%5), n)
		}
		s := testStatus(fp, status, n, b)
		if st&4 != 0 {
			withStatements(s, seed, text)
		}
		if text != "" {
			s.Fingerprint, s.Status = text, api.Status(text)
			if len(s.Chains) > 0 {
				s.Chains[0].Status, s.Chains[0].TxHash = api.Status(text), &text
			}
		}
		got := appendStatus(nil, s)
		if want := statusReference(t, s); !bytes.Equal(got, want) {
			t.Fatalf("appendStatus:\n%s\nencoding/json:\n%s", got, want)
		}
	})
}

func mustMarshal(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// BenchmarkAppendStatus is the status encoder alone, on a confirmed
// fingerprint of a batch of 2^20 leaves (a path of 20) anchored on one
// chain: the part of BenchmarkGetFingerprint that the body costs.
func BenchmarkAppendStatus(b *testing.B) {
	fp := fingerprint.Sum([]byte("bench"))
	st := testStatus(fp, store.StatusConfirmed, 7, testBundle([]byte("bench"), 20, 1, 7))
	buf := make([]byte, 0, 4<<10)
	b.ReportAllocs()
	for b.Loop() {
		buf = appendStatus(buf[:0], st)
	}
}
