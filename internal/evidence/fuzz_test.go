package evidence_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/attestd/attestd/internal/evidence"
	"github.com/attestd/attestd/internal/proof"
)

// FuzzOpen: whatever the JSON, parsing and opening never panic; a failure
// wraps exactly one of Open's sentinels; evidence that opens has facts
// consistent with its headers. Seeded with evidence collected from a
// small simulated chain (built in each fuzz worker, so kept small).
func FuzzOpen(f *testing.F) {
	c, err := buildChain(1, 7)
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { c.sim.Close() })
	for _, seed := range []struct {
		n     int
		idx   int
		depth uint64
	}{{1, 0, 1}, {1, 0, 3}, {7, 3, 2}, {7, 6, 1}} {
		data, err := json.Marshal(c.collect(f, c.blocks[seed.n][seed.idx], seed.depth))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		ev, err := proof.ParseEvidence(data)
		if err != nil {
			return
		}
		facts, err := evidence.Open(ev)
		if err != nil {
			n := 0
			for _, s := range sentinels {
				if errors.Is(err, s) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("Open error %q wraps %d sentinels, want 1", err, n)
			}
			return
		}
		if facts.Confirmations() != uint64(len(ev.Headers))+1 {
			t.Fatalf("%d confirmations from %d following headers", facts.Confirmations(), len(ev.Headers))
		}
		if h, ok := facts.HashAt(facts.TipNumber); !ok || h != facts.TipHash {
			t.Fatalf("HashAt(tip) = %s, %v; TipHash %s", h, ok, facts.TipHash)
		}
		if h, ok := facts.HashAt(facts.BlockNumber); !ok || h != facts.BlockHash {
			t.Fatalf("HashAt(block) = %s, %v; BlockHash %s", h, ok, facts.BlockHash)
		}
	})
}
