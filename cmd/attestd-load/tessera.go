package main

import "strconv"

// The peer of issue #18: Tessera's POSIX personality
// (github.com/transparency-dev/tessera/cmd/conformance/posix), driven by
// submit --target tessera.

// tesseraEntry is the body of Tessera's POST /add for fingerprint i of a
// run: the entry, its 32 bytes.
func tesseraEntry(runID string, i uint64) []byte {
	sum := fpSum(runID, i)
	return sum[:]
}

// tesseraStatus is the status counted for an answer of Tessera's /add: a
// 200 acknowledges the entry only if its body is the index it was given
// (fmt.Fprintf(w, "%d", idx.Index) in the personality, written once the
// entry is sequenced and durable).
func tesseraStatus(status string, body []byte) string {
	if status != "200" {
		return status
	}
	if _, err := strconv.ParseUint(string(body), 10, 64); err != nil {
		return "200 without an index"
	}
	return status
}
