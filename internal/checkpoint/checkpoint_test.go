package checkpoint

import (
	"context"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/ethclient/simulated"
)

const sample = `{"version":1,"taken_at":"2026-12-07T10:00:00Z","endpoints":["https://a.example"],
 "chains":[{"chain_id":1337,"blocks":[{"number":4,"hash":"0x1100000000000000000000000000000000000000000000000000000000000000"},
  {"number":9,"hash":"0x2200000000000000000000000000000000000000000000000000000000000000"}]}]}`

func TestParse(t *testing.T) {
	f, err := Parse([]byte(sample))
	if err != nil {
		t.Fatal(err)
	}
	tr := f.Trusted(1337)
	if len(tr) != 2 || tr[9][0] != 0x22 || tr[4][0] != 0x11 {
		t.Fatalf("trusted: %v", tr)
	}
	if len(f.Trusted(1)) != 0 {
		t.Fatal("blocks of a chain the file does not hold")
	}
	for _, bad := range []struct{ name, data, want string }{
		{"version", strings.Replace(sample, `"version":1`, `"version":2`, 1), "version 2"},
		{"duplicate member", strings.Replace(sample, `"version":1,`, `"version":1,"version":1,`, 1), "version"},
		{"case variant", strings.Replace(sample, `"chains"`, `"Chains"`, 1), "Chains"},
		{"unknown field", strings.Replace(sample, `"version":1,`, `"version":1,"x":1,`, 1), "x"},
		{"not ascending", strings.Replace(sample, `"number":9`, `"number":4`, 1), "ascending"},
		{"zero hash", strings.Replace(sample, "0x11", "0x00", 1), "no hash"},
		{"zero chain", strings.Replace(sample, `"chain_id":1337`, `"chain_id":0`, 1), "no chain_id"},
		{"chain twice", strings.Replace(sample, `]}]}`, `]},{"chain_id":1337,"blocks":[]}]}`, 1), "listed twice"},
		{"short hash", strings.Replace(sample, "0x22000000", "0x22", 1), "hash"},
	} {
		if _, err := Parse([]byte(bad.data)); err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), bad.want) {
			t.Errorf("%s: %v, want an error saying %q", bad.name, err, bad.want)
		}
	}
}

func TestAddSaveLoad(t *testing.T) {
	f := &File{}
	h := func(b byte) common.Hash { return common.Hash{b} }
	for _, a := range []struct {
		chain uint64
		b     Block
	}{{1338, Block{7, h(1)}}, {1337, Block{9, h(2)}}, {1337, Block{3, h(3)}}, {1337, Block{9, h(2)}}} {
		if err := f.Add(a.chain, a.b); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Add(1337, Block{9, h(4)}); err == nil || !strings.Contains(err.Error(), "the file says") {
		t.Fatalf("a second hash for one block: %v", err)
	}
	if len(f.Chains) != 2 || f.Chains[0].ChainID != 1337 || len(f.Chains[0].Blocks) != 2 || f.Chains[0].Blocks[0].Number != 3 {
		t.Fatalf("chains: %+v", f.Chains)
	}
	path := filepath.Join(t.TempDir(), "cp.json")
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o644 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
	g, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if g.Trusted(1337)[9] != h(2) || g.Trusted(1338)[7] != h(1) {
		t.Fatalf("reloaded: %+v", g)
	}
}

// liar answers like its chain, but with another block at one height.
type liar struct {
	Reader
	at uint64
}

func (l liar) HeaderByNumber(ctx context.Context, n *big.Int) (*types.Header, error) {
	h, err := l.Reader.HeaderByNumber(ctx, n)
	if err == nil && h.Number.Uint64() == l.at {
		h = types.CopyHeader(h)
		h.Extra = []byte("lie")
	}
	return h, err
}

func TestTake(t *testing.T) {
	sim := simulated.NewBackend(types.GenesisAlloc{})
	defer sim.Close()
	for range 5 {
		sim.Commit()
	}
	c := sim.Client()
	ctx := context.Background()
	honest := []Endpoint{{"a", c}, {"b", c}}
	b, err := Latest(ctx, 1337, honest, 2)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := c.HeaderByNumber(ctx, big.NewInt(3))
	if b.Number != 3 || b.Hash != want.Hash() {
		t.Fatalf("latest-2: %+v, want block 3 %s", b, want.Hash())
	}
	if _, err := Latest(ctx, 1337, honest, 6); err == nil {
		t.Fatal("a checkpoint below genesis")
	}
	lying := []Endpoint{{"a", c}, {"b", liar{c, 4}}}
	_, err = At(ctx, 1337, lying, 4)
	var d *Disagreement
	if !errors.As(err, &d) || d.Number != 4 || len(d.Said) != 2 {
		t.Fatalf("a lying endpoint: %v", err)
	}
	if b, err := At(ctx, 1337, lying, 2); err != nil || b.Number != 2 {
		t.Fatalf("where they agree: %+v, %v", b, err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(`{"version":1,"taken_at":"2026-12-07T10:00:00Z","endpoints":[],"chains":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cp, err := Parse(data)
		if err != nil {
			return
		}
		// What Parse accepts, Marshal writes and Parse reads back the same.
		b, err := cp.Marshal()
		if err != nil {
			t.Fatalf("accepted but not writable: %v", err)
		}
		again, err := Parse(b)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		for _, c := range cp.Chains {
			for n, h := range cp.Trusted(c.ChainID) {
				if again.Trusted(c.ChainID)[n] != h {
					t.Fatalf("chain %d block %d changed", c.ChainID, n)
				}
			}
		}
	})
}
