package app

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/ethereum/go-ethereum/common/hexutil"
	"github.com/ethereum/go-ethereum/rpc"

	"github.com/attestd/attestd/internal/devchain"
	"github.com/attestd/attestd/internal/evidence"
)

// TestDevChainCollectsEvidence: the embedded go-ethereum dev chain, whose
// client is a real JSON-RPC one, passes the header hash check at start,
// so its anchorer collects chain evidence.
func TestDevChainCollectsEvidence(t *testing.T) {
	dir := t.TempDir()
	svc, err := New(context.Background(), Config{
		DataDir: filepath.Join(dir, "data"), Listen: "127.0.0.1:0", Dev: true, Chains: devChain(),
		Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	a := svc.Anchorer(devchain.DevChainID)
	if a == nil || !a.CollectsEvidence() {
		t.Fatalf("the dev chain's anchorer %v does not collect evidence", a)
	}
}

// fakeEth serves eth_getBlockByNumber with a header's JSON, changed by
// edit, or fails.
type fakeEth struct {
	header map[string]any
	err    error
}

func (f fakeEth) GetBlockByNumber(ctx context.Context, n string, full bool) (map[string]any, error) {
	return f.header, f.err
}

// readsEvidence is evidence.Client under a name that is not Client.
type readsEvidence interface{ evidence.Client }

// rawClient is an evidence-capable client that also exposes raw JSON-RPC.
type rawClient struct {
	readsEvidence
	rc *rpc.Client
}

func (c rawClient) Client() *rpc.Client { return c.rc }

// TestEvidenceClient: evidence is collected on a chain whose client can
// read it unless the endpoint's raw header JSON shows go-ethereum
// computes other block hashes; a check that cannot be made leaves it on.
func TestEvidenceClient(t *testing.T) {
	c := newSimChain(t, 1337)
	ev := c.sim.Client().(evidence.Client)
	hdr, err := ev.HeaderByNumber(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	header := func(edit func(m map[string]any)) map[string]any {
		data, err := json.Marshal(hdr) // go-ethereum's JSON, with the "hash" an endpoint sends
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(data, &m); err != nil {
			t.Fatal(err)
		}
		edit(m)
		return m
	}
	withRPC := func(f fakeEth) rawClient {
		srv := rpc.NewServer()
		if err := srv.RegisterName("eth", f); err != nil {
			t.Fatal(err)
		}
		rc := rpc.DialInProc(srv)
		t.Cleanup(func() { rc.Close(); srv.Stop() })
		return rawClient{ev, rc}
	}
	log := slog.New(slog.DiscardHandler)
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		client any
		want   bool
	}{
		{"no BlockReceipts", c, false},
		{"no raw JSON-RPC", ev, true},
		{"go-ethereum's header", withRPC(fakeEth{header: header(func(map[string]any) {})}), true},
		{"a header field go-ethereum drops", withRPC(fakeEth{header: header(func(m map[string]any) {
			m["extraData"] = hexutil.Encode([]byte("seal")) // the hash is of a header go-ethereum does not rebuild
		})}), false},
		{"endpoint failing", withRPC(fakeEth{err: errors.New("overloaded")}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := evidenceClient(ctx, tc.client, log); (got != nil) != tc.want {
				t.Fatalf("evidenceClient = %v, want evidence collected: %v", got, tc.want)
			}
		})
	}
}
