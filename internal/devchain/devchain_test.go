package devchain

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/ethclient"
	gethlog "github.com/ethereum/go-ethereum/log"
)

func testLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

func startChain(t *testing.T, dir string) *Chain {
	t.Helper()
	begin := time.Now()
	c, err := Start(Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: testLogger()})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Logf("Start took %v", time.Since(begin)) // informational, not asserted
	t.Cleanup(func() { c.Close() })
	return c
}

func dial(t *testing.T, c *Chain) *ethclient.Client {
	t.Helper()
	if !strings.HasPrefix(c.RPCURL(), "http://127.0.0.1:") || strings.HasSuffix(c.RPCURL(), ":0") {
		t.Fatalf("RPCURL = %q, want http://127.0.0.1:<bound port>", c.RPCURL())
	}
	cl, err := ethclient.Dial(c.RPCURL())
	if err != nil {
		t.Fatalf("dial %s: %v", c.RPCURL(), err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// sendAnchorTx sends an EIP-1559 self-send carrying calldata, signed with the
// dev key, and waits for its receipt.
func sendAnchorTx(t *testing.T, ctx context.Context, cl *ethclient.Client, c *Chain, payload []byte) *types.Receipt {
	t.Helper()
	key, from := c.Key(), c.Address()
	chainID, err := cl.ChainID(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nonce, err := cl.PendingNonceAt(ctx, from)
	if err != nil {
		t.Fatal(err)
	}
	head, err := cl.HeaderByNumber(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	tip, err := cl.SuggestGasTipCap(ctx)
	if err != nil {
		t.Fatal(err)
	}
	feeCap := new(big.Int).Add(new(big.Int).Mul(head.BaseFee, big.NewInt(2)), tip)
	gas, err := cl.EstimateGas(ctx, ethereum.CallMsg{From: from, To: &from, Data: payload, GasFeeCap: feeCap, GasTipCap: tip})
	if err != nil {
		t.Fatal(err)
	}
	tx, err := types.SignNewTx(key, types.LatestSignerForChainID(chainID), &types.DynamicFeeTx{
		ChainID:   chainID,
		Nonce:     nonce,
		GasTipCap: tip,
		GasFeeCap: feeCap,
		Gas:       gas,
		To:        &from,
		Data:      payload,
	})
	if err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	if err := cl.SendTransaction(ctx, tx); err != nil {
		t.Fatalf("SendTransaction: %v", err)
	}
	rcpt := waitReceipt(t, ctx, cl, tx.Hash(), 10*time.Second)
	t.Logf("tx %s mined in block %v after %v (gas %d)", tx.Hash(), rcpt.BlockNumber, time.Since(begin), rcpt.GasUsed)
	if rcpt.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("receipt status %d, want success", rcpt.Status)
	}
	mined, _, err := cl.TransactionByHash(ctx, tx.Hash())
	if err != nil {
		t.Fatal(err)
	}
	if mined.Type() != types.DynamicFeeTxType || !bytes.Equal(mined.Data(), payload) {
		t.Fatalf("mined tx type %d data %x, want type 2 data %x", mined.Type(), mined.Data(), payload)
	}
	return rcpt
}

func waitReceipt(t *testing.T, ctx context.Context, cl *ethclient.Client, hash common.Hash, timeout time.Duration) *types.Receipt {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rcpt, err := cl.TransactionReceipt(ctx, hash)
		if err == nil {
			return rcpt
		}
		if !errors.Is(err, ethereum.NotFound) {
			t.Fatalf("TransactionReceipt: %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("tx %s not mined within %v", hash, timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func anchorPayload(batch uint64) []byte {
	p := []byte("ATST\x01")
	p = append(p, big.NewInt(int64(batch)).FillBytes(make([]byte, 8))...)
	p = append(p, make([]byte, 8)...)
	root := crypto.Keccak256([]byte{byte(batch)})
	return append(p, root...)
}

func TestStartSendReopen(t *testing.T) {
	ctx := t.Context()
	dir := filepath.Join(t.TempDir(), "data") // Start must create it

	c := startChain(t, dir)
	cl := dial(t, c)

	// The RPC endpoint answers, with the dev chain id.
	id, err := cl.ChainID(ctx)
	if err != nil {
		t.Fatalf("eth_chainId: %v", err)
	}
	if id.Int64() != 1337 || c.ChainID().Int64() != 1337 {
		t.Fatalf("chain id: rpc %v, Chain %v; want 1337", id, c.ChainID())
	}
	// The data dir is private, the key is funded and stored.
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data dir: %v, %v; want mode 0700", fi.Mode(), err)
	}
	if c.Address() != crypto.PubkeyToAddress(c.Key().PublicKey) {
		t.Fatal("Address does not match Key")
	}
	if c.Address() == crypto.PubkeyToAddress(wellKnownDevKey(t).PublicKey) {
		t.Fatal("dev key is geth's well-known DeveloperKey")
	}
	bal, err := cl.BalanceAt(ctx, c.Address(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if bal.Sign() <= 0 {
		t.Fatalf("dev key balance %v, want > 0", bal)
	}
	keyPath := filepath.Join(dir, KeyFile)
	fi, err := os.Stat(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("dev-key mode %v, want 0600", fi.Mode().Perm())
	}
	data, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(crypto.FromECDSA(c.Key())) + "\n"; string(data) != want {
		t.Fatalf("dev-key file holds %q, want the key in hex with a newline", data)
	}
	// Personal/admin/debug are not served over HTTP.
	var ignored any
	for _, method := range []string{"admin_nodeInfo", "debug_getRawHeader", "personal_listAccounts", "dev_setFeeRecipient"} {
		if err := cl.Client().CallContext(ctx, &ignored, method); err == nil || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("%s over HTTP: err = %v, want method not found", method, err)
		}
	}

	// A transaction is mined on demand.
	before, err := cl.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rcpt := sendAnchorTx(t, ctx, cl, c, anchorPayload(1))
	after, err := cl.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after <= before || rcpt.BlockNumber.Uint64() <= before {
		t.Fatalf("block number %d -> %d (receipt in %v), want it to advance", before, after, rcpt.BlockNumber)
	}
	// The in-process client sees the same chain.
	if n, err := c.Client().BlockNumber(ctx); err != nil || n != after {
		t.Fatalf("in-process BlockNumber = %d, %v; want %d", n, err, after)
	}

	// Close is idempotent and releases the data dir.
	key := c.Key()
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := c.Client().BlockNumber(ctx); err == nil {
		t.Fatal("in-process client still works after Close")
	}

	// Reopen: same key, the blocks and the receipt are still there, and new
	// transactions still get mined.
	c2 := startChain(t, dir)
	cl2 := dial(t, c2)
	if !c2.Key().Equal(key) {
		t.Fatal("reopened chain has a different key")
	}
	n, err := cl2.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != after {
		t.Fatalf("reopened at block %d, want %d", n, after)
	}
	rcpt2, err := cl2.TransactionReceipt(ctx, rcpt.TxHash)
	if err != nil {
		t.Fatalf("receipt after reopen: %v", err)
	}
	if rcpt2.BlockHash != rcpt.BlockHash || rcpt2.Status != types.ReceiptStatusSuccessful {
		t.Fatalf("receipt after reopen in block %s status %d, want block %s success", rcpt2.BlockHash, rcpt2.Status, rcpt.BlockHash)
	}
	rcpt3 := sendAnchorTx(t, ctx, cl2, c2, anchorPayload(2))
	if rcpt3.BlockNumber.Uint64() <= n {
		t.Fatalf("new tx in block %v, want > %d", rcpt3.BlockNumber, n)
	}
	if err := c2.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}

func wellKnownDevKey(t *testing.T) *ecdsa.PrivateKey {
	// utils.DeveloperKey in go-ethereum's cmd/utils.
	k, err := crypto.HexToECDSA("b71c71a67e1177ad4e901695e1b4b9ee17ae16c6668d313eac2f96dbcda3f291")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestPeriod(t *testing.T) {
	dir := t.TempDir()
	c, err := Start(Config{DataDir: dir, Listen: "127.0.0.1:0", Period: 1, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n, err := c.Client().BlockNumber(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if n >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("block number %d after 10s with Period 1, want >= 2", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestStartLocked(t *testing.T) {
	dir := t.TempDir()
	c := startChain(t, dir)
	if c2, err := Start(Config{DataDir: dir, Listen: "127.0.0.1:0"}); err == nil {
		c2.Close()
		t.Fatal("second Start on a data dir in use succeeded")
	}
	// The running chain is unaffected.
	if _, err := c.Client().BlockNumber(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func TestExistingChainNeedsItsKey(t *testing.T) {
	dir := t.TempDir()
	c := startChain(t, dir)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, KeyFile)

	// Missing key: error, and no new key is made up.
	orig, err := os.ReadFile(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(keyPath); err != nil {
		t.Fatal(err)
	}
	if c, err := Start(Config{DataDir: dir, Listen: "127.0.0.1:0"}); err == nil {
		c.Close()
		t.Fatal("Start on an existing chain without its key succeeded")
	} else {
		t.Logf("missing key: %v", err)
	}
	if _, err := os.Stat(keyPath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Start created a key for an existing chain: %v", err)
	}

	// A different (unfunded) key: error.
	other, err := crypto.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, []byte(hex.EncodeToString(crypto.FromECDSA(other))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Start(Config{DataDir: dir, Listen: "127.0.0.1:0"}); err == nil {
		c.Close()
		t.Fatal("Start on an existing chain with a foreign key succeeded")
	} else {
		t.Logf("foreign key: %v", err)
	}

	// The right key again: fine (the failed attempts released the data dir).
	if err := os.WriteFile(keyPath, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	startChain(t, dir)
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "dev-key")

	k1, created, err := LoadOrCreateKey(path)
	if err != nil || !created {
		t.Fatalf("first call: created=%v err=%v; want created", created, err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if want := hex.EncodeToString(crypto.FromECDSA(k1)) + "\n"; string(data) != want {
		t.Fatalf("file holds %q, want %q", data, want)
	}
	if ents, _ := os.ReadDir(filepath.Dir(path)); len(ents) != 1 {
		t.Fatalf("key dir holds %d entries, want just the key (no temp files left)", len(ents))
	}

	k2, created, err := LoadOrCreateKey(path)
	if err != nil || created {
		t.Fatalf("second call: created=%v err=%v; want loaded", created, err)
	}
	if !k1.Equal(k2) {
		t.Fatal("second call returned a different key")
	}
}

func TestLoadOrCreateKeyMalformed(t *testing.T) {
	valid := hex.EncodeToString(crypto.FromECDSA(wellKnownDevKey(t)))
	for name, content := range map[string]string{
		"empty":     "",
		"garbage":   "not a key\n",
		"short":     valid[:62] + "\n",
		"long":      valid + "00\n",
		"non-hex":   "zz" + valid[2:] + "\n",
		"zero":      strings.Repeat("0", 64) + "\n",
		"over-n":    strings.Repeat("f", 64) + "\n",
		"two-lines": valid + "\n" + valid + "\n",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "dev-key")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, _, err := LoadOrCreateKey(path); err == nil {
				t.Fatal("malformed key file accepted")
			} else if strings.Contains(err.Error(), valid[:16]) {
				t.Fatalf("error quotes key material: %v", err)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != content {
				t.Fatalf("file changed to %q (%v), want untouched", got, err)
			}
		})
	}

	// Start refuses it too, and leaves it alone.
	dir := t.TempDir()
	path := filepath.Join(dir, KeyFile)
	if err := os.WriteFile(path, []byte("garbage\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c, err := Start(Config{DataDir: dir, Listen: "127.0.0.1:0"}); err == nil {
		c.Close()
		t.Fatal("Start accepted a malformed key file")
	}
	if got, _ := os.ReadFile(path); string(got) != "garbage\n" {
		t.Fatalf("Start changed the malformed key file to %q", got)
	}
}

func TestLoadKeyLenient(t *testing.T) {
	k := wellKnownDevKey(t)
	path := filepath.Join(t.TempDir(), "dev-key")
	// Hand-written files: 0x prefix, CRLF, no newline.
	for _, content := range []string{
		"0x" + hex.EncodeToString(crypto.FromECDSA(k)) + "\n",
		hex.EncodeToString(crypto.FromECDSA(k)) + "\r\n",
		hex.EncodeToString(crypto.FromECDSA(k)),
	} {
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		got, created, err := LoadOrCreateKey(path)
		if err != nil || created || !got.Equal(k) {
			t.Fatalf("%q: created=%v err=%v", content, created, err)
		}
	}
}

func TestListenValidation(t *testing.T) {
	for _, listen := range []string{
		"0.0.0.0:0",
		"[::]:0",
		"192.0.2.1:0",
		"example.com:0",
		":0",
		"127.0.0.1",
		"127.0.0.1:http",
		"127.0.0.1:70000",
	} {
		t.Run(listen, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "data")
			c, err := Start(Config{DataDir: dir, Listen: listen})
			if err == nil {
				c.Close()
				t.Fatalf("Start accepted Listen %q", listen)
			}
			t.Logf("%v", err)
			if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("rejected Start touched the data dir: %v", err)
			}
		})
	}
	if _, err := Start(Config{Listen: "127.0.0.1:0"}); err == nil {
		t.Fatal("Start accepted an empty DataDir")
	}
}

func TestListenPortInUse(t *testing.T) {
	c := startChain(t, t.TempDir())
	addr := strings.TrimPrefix(c.RPCURL(), "http://")
	dir := filepath.Join(t.TempDir(), "data")
	if c2, err := Start(Config{DataDir: dir, Listen: addr}); err == nil {
		c2.Close()
		t.Fatalf("Start on busy %s succeeded", addr)
	} else {
		t.Logf("%v", err)
	}
}

func TestRPCURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8545": "http://127.0.0.1:8545",
		"http://0.0.0.0:1":      "http://127.0.0.1:1",
		"http://[::]:1":         "http://[::1]:1",
		"http://[::1]:1":        "http://[::1]:1",
	} {
		if got := rpcURL(in); got != want {
			t.Errorf("rpcURL(%q) = %q, want %q", in, got, want)
		}
	}
}

const crashChildEnv = "DEVCHAIN_TEST_CRASH_CHILD"

// crashChild runs in a child process: it starts the chain in dir, mines a
// transaction, makes sure the database has reached the disk and exits without
// closing anything, as a crash would.
func crashChild(t *testing.T, dir string) {
	c, err := Start(Config{DataDir: dir, Listen: "127.0.0.1:0"})
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	cl := dial(t, c)
	rcpt := sendAnchorTx(t, t.Context(), cl, c, anchorPayload(uint64(time.Now().UnixNano())))
	head, err := c.Client().BlockNumber(t.Context())
	if err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	// What the new-head syncer does moments after each block; done here
	// explicitly so the test doesn't depend on when the process dies.
	if err := c.backend.ChainDb().SyncKeyValue(); err != nil {
		fmt.Println("ERROR", err)
		os.Exit(2)
	}
	fmt.Printf("RESULT %d %s\n", head, rcpt.TxHash)
	os.Exit(0)
}

// TestReopenAfterCrash checks that the chain survives processes that exit
// without Close, repeatedly: the state of every synced block is on disk, so the
// chain reopens at the same head and keeps mining.
func TestReopenAfterCrash(t *testing.T) {
	if dir := os.Getenv(crashChildEnv); dir != "" {
		crashChild(t, dir)
		return
	}
	dir := t.TempDir()
	var (
		head uint64
		txs  []common.Hash
	)
	for round := range 3 {
		cmd := exec.Command(os.Args[0], "-test.run=^TestReopenAfterCrash$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashChildEnv+"="+dir)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("round %d: child: %v\n%s", round, err, out)
		}
		var (
			h  uint64
			tx string
		)
		for line := range strings.Lines(string(out)) {
			if _, err := fmt.Sscanf(line, "RESULT %d %s", &h, &tx); err == nil {
				break
			}
		}
		if tx == "" {
			t.Fatalf("round %d: no result from child:\n%s", round, out)
		}
		if h <= head {
			t.Fatalf("round %d: child mined at head %d, previous round reached %d: blocks lost", round, h, head)
		}
		head = h
		txs = append(txs, common.HexToHash(tx))
	}

	c := startChain(t, dir)
	cl := dial(t, c)
	ctx := t.Context()
	n, err := cl.BlockNumber(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if n != head {
		t.Fatalf("reopened after crash at block %d, want %d", n, head)
	}
	for _, tx := range txs {
		rcpt, err := cl.TransactionReceipt(ctx, tx)
		if err != nil || rcpt.Status != types.ReceiptStatusSuccessful {
			t.Fatalf("receipt of %s after crash: %v", tx, err)
		}
	}
	if rcpt := sendAnchorTx(t, ctx, cl, c, anchorPayload(99)); rcpt.BlockNumber.Uint64() <= head {
		t.Fatalf("new tx in block %v, want > %d", rcpt.BlockNumber, head)
	}
}

// syncBuffer is a bytes.Buffer safe for go-ethereum's concurrent loggers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestLogging(t *testing.T) {
	defaultBefore := slog.Default()
	var buf syncBuffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	c, err := Start(Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if slog.Default() != defaultBefore {
		t.Fatal("Start replaced the process's default slog logger")
	}
	cl := dial(t, c)
	sendAnchorTx(t, t.Context(), cl, c, anchorPayload(1))
	var ignored any
	cl.Client().CallContext(t.Context(), &ignored, "admin_nodeInfo") // a failed call: geth warns "Served admin_nodeInfo"
	gethlog.Warn("devchain test warning")
	gethlog.Info("devchain test info")
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	gethlog.Warn("after close")

	out := buf.String()
	t.Logf("service log:\n%s", out)
	for _, want := range []string{`msg="dev chain started"`, `msg="devchain test warning" component=geth`} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %s", want)
		}
	}
	// go-ethereum's info chatter, routine warnings and anything logged after
	// Close stay out.
	for _, unwanted := range []string{"devchain test info", "Imported new", "Chain head was updated", "P2P server will be useless", "Served admin_nodeInfo", "after close"} {
		if strings.Contains(out, unwanted) {
			t.Errorf("log contains %q", unwanted)
		}
	}
}

// TestChainID: a chain started with Config.ChainID 1338 has that id on
// its endpoint, mines transactions signed for it, and reopens with it;
// opening it as another chain id is refused.
func TestChainID(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	c, err := Start(Config{DataDir: dir, Listen: "127.0.0.1:0", ChainID: 1338, Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	cl := dial(t, c)
	if id, err := cl.ChainID(ctx); err != nil || id.Int64() != 1338 || c.ChainID().Int64() != 1338 {
		t.Fatalf("chain id: rpc %v (%v), Chain %v; want 1338", id, err, c.ChainID())
	}
	sendAnchorTx(t, ctx, cl, c, anchorPayload(1))
	c.Close()

	if c2, err := Start(Config{DataDir: dir, Listen: "127.0.0.1:0", Logger: testLogger()}); err == nil {
		c2.Close()
		t.Fatal("chain 1338 reopened as the default 1337")
	} else if !strings.Contains(err.Error(), "chain id 1338, not 1337") {
		t.Fatalf("reopening as 1337: %v, want it to name both ids", err)
	}
	c3, err := Start(Config{DataDir: dir, Listen: "127.0.0.1:0", ChainID: 1338, Logger: testLogger()})
	if err != nil {
		t.Fatalf("reopening as 1338: %v", err)
	}
	c3.Close()
}
