package evidence_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/attestd/attestd/internal/evidence"
)

// BenchmarkOpen: the offline check of one anchor's evidence (a
// transaction in the middle of a 500-transaction block) at 12
// confirmations (11 following headers) and with 12 following headers.
func BenchmarkOpen(b *testing.B) {
	c := sharedChain(b)
	for _, depth := range []uint64{12, 13} {
		ev := c.collect(b, c.blocks[500][250], depth)
		b.Run(fmt.Sprintf("followers=%d", depth-1), func(b *testing.B) {
			for b.Loop() {
				if _, err := evidence.Open(ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkEvidenceSize reports the size of one anchor's evidence as JSON
// (json-bytes) and as the sum of its binary encodings (binary-bytes), at 1
// and 12 confirmations, for a transaction in the middle of blocks of 1, 50
// and 500 transactions. The time per op is json.Marshal's.
func BenchmarkEvidenceSize(b *testing.B) {
	c := sharedChain(b)
	for _, n := range []int{1, 50, 500} {
		for _, depth := range []uint64{1, 12} {
			b.Run(fmt.Sprintf("txs=%d/confirmations=%d", n, depth), func(b *testing.B) {
				ev := c.collect(b, c.blocks[n][n/2], depth)
				bin := len(ev.Tx) + len(ev.Receipt) + len(ev.Header)
				for _, l := range [][][]byte{bytesList(ev.TxProof), bytesList(ev.ReceiptProof), bytesList(ev.Headers)} {
					for _, x := range l {
						bin += len(x)
					}
				}
				var size int
				for b.Loop() {
					data, err := json.Marshal(ev)
					if err != nil {
						b.Fatal(err)
					}
					size = len(data)
				}
				b.ReportMetric(float64(size), "json-bytes")
				b.ReportMetric(float64(bin), "binary-bytes")
			})
		}
	}
}

// BenchmarkCollect: what collecting one anchor's evidence costs the
// anchorer (a transaction in a 500-transaction block, 12 confirmations)
// against the simulated backend in process: the reads (receipt, block,
// block receipts, 11 headers), both tries built, and the proofs.
func BenchmarkCollect(b *testing.B) {
	c := sharedChain(b)
	ctx := context.Background()
	for b.Loop() {
		if _, err := evidence.Collect(ctx, c.client, c.blocks[500][250], 12); err != nil {
			b.Fatal(err)
		}
	}
}

func bytesList[T ~[]byte](l []T) [][]byte {
	out := make([][]byte, len(l))
	for i, x := range l {
		out[i] = x
	}
	return out
}
