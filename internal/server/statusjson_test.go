package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/api"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/store"
)

// statusReference is the body of GET /v1/fingerprints/{fingerprint} as
// encoding/json writes the generated type: what appendStatus must equal.
func statusReference(t testing.TB, fp fingerprint.Fingerprint, status store.Status, batchID uint64, b *proof.Bundle) []byte {
	t.Helper()
	out := api.FingerprintStatus{Fingerprint: fp.String(), Status: api.Status(status)}
	if batchID != 0 {
		id := int64(batchID)
		out.BatchID = &id
	}
	if b != nil {
		out.Proof = &api.ProofBundle{
			Version: int64(b.Version), Fingerprint: b.Fingerprint.String(), BatchID: int64(b.BatchID),
			Index: int64(b.Index), Size: int64(b.Size), Root: b.Root.String(),
			Path: make([]api.Hash, len(b.Path)), Anchors: make([]api.Anchor, len(b.Anchors)),
		}
		for i, h := range b.Path {
			out.Proof.Path[i] = h.String()
		}
		for i, a := range b.Anchors {
			out.Proof.Anchors[i] = api.Anchor{
				ChainID: int64(a.ChainID), TxHash: a.TxHash.Hex(), BlockNumber: int64(a.BlockNumber),
				BlockHash: a.BlockHash.Hex(), Anchorer: a.Anchorer.Hex(),
			}
		}
	}
	body, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	return body
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
		b.Anchors = append(b.Anchors, proof.Anchor{
			ChainID: n + uint64(i), TxHash: common.Hash(h(2000 + i)), BlockNumber: n ^ uint64(i),
			BlockHash: common.Hash(h(3000 + i)), Anchorer: common.BytesToAddress(x[:20]),
		})
	}
	return b
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
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := appendStatus(nil, fp, tc.status, tc.batchID, tc.b)
			want := statusReference(t, fp, tc.status, tc.batchID, tc.b)
			if !bytes.Equal(got, want) {
				t.Errorf("appendStatus:\n%s\nencoding/json of api.FingerprintStatus:\n%s", got, want)
			}
			var back api.FingerprintStatus
			if err := json.Unmarshal(got, &back); err != nil || back.Fingerprint != fp.String() {
				t.Errorf("the body does not decode into api.FingerprintStatus: %v", err)
			}
		})
	}
	// It appends.
	prefix := []byte("x")
	if got := appendStatus(prefix, fp, store.StatusPending, 0, nil); !bytes.HasPrefix(got, prefix) || !json.Valid(got[1:]) {
		t.Errorf("appendStatus after a prefix = %q", got)
	}
}

// FuzzStatusJSON: for any bundle, appendStatus writes what encoding/json
// writes for the generated type.
func FuzzStatusJSON(f *testing.F) {
	f.Add([]byte("seed"), uint8(20), uint8(1), uint64(7), uint8(3))
	f.Add([]byte{}, uint8(0), uint8(0), uint64(0), uint8(0))
	f.Add([]byte{0xff}, uint8(63), uint8(4), uint64(1<<63), uint8(2))
	statuses := []store.Status{store.StatusPending, store.StatusSealed, store.StatusAnchored, store.StatusConfirmed}
	f.Fuzz(func(t *testing.T, seed []byte, pathLen, anchors uint8, n uint64, st uint8) {
		fp := fingerprint.Sum(seed)
		status := statuses[int(st)%len(statuses)]
		var b *proof.Bundle
		if anchors > 0 || pathLen > 0 {
			b = testBundle(seed, int(pathLen%65), int(anchors%5), n)
		}
		got := appendStatus(nil, fp, status, n, b)
		if want := statusReference(t, fp, status, n, b); !bytes.Equal(got, want) {
			t.Fatalf("appendStatus:\n%s\nencoding/json:\n%s", got, want)
		}
	})
}
