package store_test

import (
	"bytes"
	"testing"

	"github.com/attestd/attestd/internal/store"
)

// oldRecord is a confirmed anchor record as written before chain
// evidence existed.
const oldRecord = `{"state":"confirmed","from":"0x71562b71999873db5b286df957af199ec94617f7","to":"0x71562b71999873db5b286df957af199ec94617f7","nonce":7,"tx_hash":"0x0000000000000000000000000000000000000000000000000000000000000abc","raw_tx":"AvgB","signed_at":"2026-01-02T03:04:05Z","broadcast_at":"2026-01-02T03:04:06Z","block_number":42,"block_hash":"0x0000000000000000000000000000000000000000000000000000000000000def","block_time":"2026-01-02T03:04:17Z","gas_used":22000,"fee_wei":"123456789012345678901234567890","mined_at":"2026-01-02T03:04:18Z","confirmed_at":"2026-01-02T03:05:00Z"}`

// TestAnchorRecordEvidence: a record written before evidence existed
// decodes with none and re-encodes to the same bytes (records without
// evidence did not change); evidence round-trips byte for byte.
func TestAnchorRecordEvidence(t *testing.T) {
	a, err := store.DecodeAnchor(3, 1337, []byte(oldRecord))
	if err != nil {
		t.Fatal(err)
	}
	if a.Evidence != nil || a.State != store.AnchorConfirmed || a.BlockNumber != 42 {
		t.Fatalf("old record decoded as %+v", a)
	}
	enc, err := store.EncodeAnchor(a)
	if err != nil {
		t.Fatal(err)
	}
	if string(enc) != oldRecord {
		t.Fatalf("a record without evidence encodes as\n%s\nnot as before\n%s", enc, oldRecord)
	}
	a.Evidence = []byte("{\"version\":1}\x00\xff")
	enc, err = store.EncodeAnchor(a)
	if err != nil {
		t.Fatal(err)
	}
	back, err := store.DecodeAnchor(3, 1337, enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Evidence, a.Evidence) {
		t.Fatalf("evidence %q came back as %q", a.Evidence, back.Evidence)
	}
}
