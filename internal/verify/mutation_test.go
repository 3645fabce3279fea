package verify

// "Flipping any byte of a proof, root, index, size or anchor makes
// verification fail": every bundle of the shared fixture (batches of 1, 2,
// 3, 5 and 8 leaves; first, middle and last leaf), serialized to JSON, is
// changed one hex digit or one number at a time, parsed and verified with
// the most permissive policy (no document, nothing pinned, one
// confirmation). No change may verify, and each must fail the check that
// covers that field.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/proof"
)

// hexField is one hex string of a bundle's JSON and the check that must
// fail when a digit of it changes.
type hexField struct {
	name  string
	value string // the JSON string's content, lowercase hex (with 0x for chain values)
	check string
}

func hexFields(b *proof.Bundle) []hexField {
	a := b.Anchors[0]
	fs := []hexField{
		{"fingerprint", b.Fingerprint.String(), CheckMerklePath},
		{"root", b.Root.String(), CheckMerklePath},
	}
	for i, p := range b.Path {
		fs = append(fs, hexField{fmt.Sprintf("path[%d]", i), p.String(), CheckMerklePath})
	}
	return append(fs,
		hexField{"tx_hash", strings.ToLower(a.TxHash.Hex()), "anchor[1337].tx"},
		hexField{"block_hash", strings.ToLower(a.BlockHash.Hex()), "anchor[1337].tx"},
		hexField{"anchorer", strings.ToLower(a.Anchorer.Hex()), "anchor[1337].sender"},
	)
}

// otherDigits returns the hex digits that differ from c in one bit (so
// every bit of every byte is flipped once), or with short just one of them.
func otherDigits(c byte, short bool) []byte {
	const digits = "0123456789abcdef"
	i := strings.IndexByte(digits, c)
	if i < 0 {
		panic(fmt.Sprintf("%q is not a lowercase hex digit", c))
	}
	if short {
		return []byte{digits[i^8]}
	}
	return []byte{digits[i^1], digits[i^2], digits[i^4], digits[i^8]}
}

// mutationPolicy pins the fixture's anchoring account.
var mutationPolicy = Policy{Anchorers: map[uint64]common.Address{simChainID: anchorAddr}}

// mustReject parses data and verifies it; it fails t if the result is
// valid or lacks a failure of the named check (a parse error is a
// rejection too, but parseOK says whether one is acceptable).
func mustReject(t *testing.T, fx *chainFixture, what string, data []byte, parseOK bool, check string) (parsed bool, r Result) {
	t.Helper()
	b, err := proof.Parse(data)
	if err != nil {
		if !parseOK {
			t.Errorf("%s: Parse failed: %v", what, err)
		}
		return false, Result{}
	}
	// Pinned: unpinned, nothing is ever valid, which would make this vacuous.
	r = Verify(context.Background(), b, nil, fx.env.chains(), mutationPolicy)
	if r.Valid {
		t.Errorf("%s: verifies", what)
		return true, r
	}
	if check != "" && !slices.Contains(failedNames(r), check) {
		t.Errorf("%s: failed %v, want %s among them", what, failedNames(r), check)
	}
	return true, r
}

func TestMutationHexDigits(t *testing.T) {
	fx := sharedFixture(t)
	var total atomic.Int64
	t.Cleanup(func() { t.Logf("%d single-bit changes of hex digits, none verifies", total.Load()) })
	for _, v := range fx.valid {
		t.Run(v.name, func(t *testing.T) {
			t.Parallel() // the chain serves concurrent reads
			data, err := json.Marshal(v.bundle)
			if err != nil {
				t.Fatal(err)
			}
			// The baseline verifies.
			b, err := proof.Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			if r := Verify(context.Background(), b, nil, fx.env.chains(), mutationPolicy); !r.Valid {
				t.Fatalf("baseline invalid: %+v", r.Checks)
			}
			for _, f := range hexFields(v.bundle) {
				quoted := []byte(`"` + f.value + `"`)
				if n := bytes.Count(data, quoted); n != 1 {
					t.Fatalf("%s %s occurs %d times in %s", f.name, f.value, n, data)
				}
				start := bytes.Index(data, quoted) + 1
				first := start
				if strings.HasPrefix(f.value, "0x") {
					first += 2
				}
				for pos := first; pos < start+len(f.value); pos++ {
					for _, d := range otherDigits(data[pos], testing.Short()) {
						m := bytes.Clone(data)
						m[pos] = d
						mustReject(t, fx, fmt.Sprintf("%s digit %d → %c", f.name, pos-first, d), m, false, f.check)
						total.Add(1)
					}
				}
			}
		})
	}
}

// numberChanges returns the values to try instead of v: ±1, 0, 2v, v+2
// and the maximum, without v itself.
func numberChanges(v uint64) []uint64 {
	var out []uint64
	for _, w := range []uint64{v - 1, v + 1, v + 2, 0, 2 * v, math.MaxUint64, math.MaxUint64 - 1} {
		if w != v && !slices.Contains(out, w) {
			out = append(out, w)
		}
	}
	return out
}

func TestMutationNumbers(t *testing.T) {
	fx := sharedFixture(t)
	pathBlind := 0 // size changes VerifyPath alone accepts
	for _, v := range fx.valid {
		t.Run(v.name, func(t *testing.T) {
			orig := v.bundle
			for _, f := range []struct {
				name  string
				get   func(*proof.Bundle) *uint64
				check string
			}{
				{"index", func(b *proof.Bundle) *uint64 { return &b.Index }, CheckMerklePath},
				{"size", func(b *proof.Bundle) *uint64 { return &b.Size }, "anchor[1337].payload"},
				{"batch_id", func(b *proof.Bundle) *uint64 { return &b.BatchID }, "anchor[1337].payload"},
				{"block_number", func(b *proof.Bundle) *uint64 { return &b.Anchors[0].BlockNumber }, "anchor[1337].tx"},
				{"chain_id", func(b *proof.Bundle) *uint64 { return &b.Anchors[0].ChainID }, CheckChains},
			} {
				for _, w := range numberChanges(*f.get(orig)) {
					m := cloneBundle(orig)
					*f.get(m) = w
					data, err := json.Marshal(m)
					if err != nil {
						t.Fatal(err)
					}
					what := fmt.Sprintf("%s %d → %d", f.name, *f.get(orig), w)
					// Index ≥ size, size 0 (or below the index), batch 0 and
					// chain 0 are form errors Parse rejects; everything else parses.
					formErr := m.Index >= m.Size || m.BatchID == 0 || m.Anchors[0].ChainID == 0
					parsed, r := mustReject(t, fx, what, data, formErr, f.check)
					if parsed && formErr {
						t.Errorf("%s: Parse accepted a malformed bundle", what)
					}
					if f.name == "size" && parsed && VerifyPath(m.Fingerprint, m.Index, m.Size, m.PathHashes(), m.Root) == nil {
						// The path alone cannot tell this size from the
						// true one; only the anchored size does.
						pathBlind++
						if got := failedNames(r); !slices.Equal(got, []string{"anchor[1337].payload"}) {
							t.Errorf("%s: path-indistinguishable size failed %v, want only the payload check", what, got)
						}
					}
				}
			}
			// With the chain required, another chain ID is a missing anchor.
			m := cloneBundle(orig)
			m.Anchors[0].ChainID++
			r := Verify(context.Background(), m, nil, fx.env.chains(), Policy{RequiredChains: []uint64{simChainID}})
			if r.Valid || !slices.Contains(failedNames(r), "anchor[1337].tx") {
				t.Errorf("chain_id+1 with chain 1337 required: %v", failedNames(r))
			}
			// The version.
			for _, ver := range []int{0, 2} {
				m := cloneBundle(orig)
				m.Version = ver
				data, _ := json.Marshal(m)
				mustReject(t, fx, fmt.Sprintf("version %d", ver), data, true, "")
				if r := Verify(context.Background(), m, nil, fx.env.chains(), mutationPolicy); r.Valid || !slices.Equal(failedNames(r), []string{CheckFormat}) {
					t.Errorf("version %d: failed %v, want format", ver, failedNames(r))
				}
			}
		})
	}
	// Sizes 3 → 4 and 5 → 6, 7, 8 of the fixture are such cases (see
	// docs/proof-format.md): the test must have met some.
	if pathBlind == 0 {
		t.Error("no size change was indistinguishable by the path alone; the test does not show the payload check matters")
	}
	t.Logf("%d size changes pass VerifyPath alone and are caught by the anchored size", pathBlind)
}

// TestMutationPathShape changes the path's shape: an entry dropped, one
// added, two swapped, the path of another leaf or batch.
func TestMutationPathShape(t *testing.T) {
	fx := sharedFixture(t)
	for _, v := range fx.valid {
		t.Run(v.name, func(t *testing.T) {
			orig := v.bundle
			var cases []*proof.Bundle
			m := cloneBundle(orig)
			m.Path = m.Path[:len(m.Path)-1]
			cases = append(cases, m)
			m = cloneBundle(orig)
			m.Path = append(m.Path, m.Path[len(m.Path)-1])
			cases = append(cases, m)
			m = cloneBundle(orig)
			m.Path = nil
			cases = append(cases, m)
			if len(orig.Path) > 1 {
				m = cloneBundle(orig)
				m.Path[0], m.Path[1] = m.Path[1], m.Path[0]
				cases = append(cases, m)
			}
			for _, o := range fx.valid {
				if o.bundle == orig {
					continue
				}
				// Another leaf's path, or another batch's anchor.
				m = cloneBundle(orig)
				m.Path = o.bundle.Path
				if !slices.Equal(m.Path, orig.Path) {
					cases = append(cases, m)
				}
				if o.bundle.BatchID != orig.BatchID {
					m = cloneBundle(orig)
					m.Anchors = o.bundle.Anchors
					cases = append(cases, m)
				}
			}
			for i, m := range cases {
				data, err := json.Marshal(m)
				if err != nil {
					t.Fatal(err)
				}
				mustReject(t, fx, fmt.Sprintf("case %d", i), data, true, "")
			}
		})
	}
}
