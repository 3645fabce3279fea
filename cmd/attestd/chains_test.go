package main

import (
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/app"
)

// resolveChains parses args with serve's flags, applies the config file
// at path (if any) and builds the chains as serve does.
func resolveChains(t *testing.T, path string, args ...string) ([]app.ChainConfig, error) {
	t.Helper()
	cmd, opts := newServeCmdOpts()
	if err := cmd.ParseFlags(args); err != nil {
		return nil, err
	}
	fs := cmd.Flags()
	if path != "" {
		if err := applyConfigFile(fs, path); err != nil {
			return nil, err
		}
	}
	chain := *opts.chain
	chain.Password = "env-password" // as serve reads ATTESTD_CHAIN_PASSWORD
	return serveChains(fs, opts.cfg.Dev, chain, opts.chains, *opts.nDevChains)
}

func TestChainFlag(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	writeFile(t, pw, "s3cret\n")
	cs, err := resolveChains(t, "",
		"--chain", "id=1,rpc=https://rpc.one/v3/KEY,key-file=/k/one,confirmations=64,max-fee=2.5,sink=0x00000000000000000000000000000000000000aa,name=mainnet,from-batch=42",
		"--chain", " id = 137 , rpc=http://127.0.0.1:9/,keystore=/k/two.json,password-file="+pw,
		"--chain", "id=10,rpc=http://127.0.0.1:10/,keystore=/k/three.json",
		"--chain-poll", "3s")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 {
		t.Fatalf("%d chains, want 3", len(cs))
	}
	a, b, c := cs[0], cs[1], cs[2]
	if a.Anchor.ChainID != 1 || a.RPC != "https://rpc.one/v3/KEY" || a.KeyFile != "/k/one" || a.Anchor.Confirmations != 64 ||
		a.Anchor.MaxFeePerGas.Cmp(big.NewInt(2_500_000_000)) != 0 || a.Anchor.Sink != common.HexToAddress("0xaa") || a.Name != "mainnet" || a.Anchor.FirstBatch != 42 || a.Keystore != "" || a.Password != "" {
		t.Errorf("chain 1: %+v", a)
	}
	if b.Anchor.ChainID != 137 || b.Keystore != "/k/two.json" || b.Password != "s3cret" || b.KeyFile != "" || b.Anchor.Confirmations != 0 || b.Anchor.MaxFeePerGas != nil || b.Anchor.FirstBatch != 0 {
		t.Errorf("chain 137: %+v", b)
	}
	if c.Anchor.ChainID != 10 || c.Password != "env-password" {
		t.Errorf("chain 10 (keystore without password-file takes ATTESTD_CHAIN_PASSWORD): %+v", c)
	}
	for _, x := range cs {
		if x.Anchor.PollInterval.String() != "3s" || x.Dev {
			t.Errorf("chain %d: poll %s dev %v, want --chain-poll's 3s, not dev", x.Anchor.ChainID, x.Anchor.PollInterval, x.Dev)
		}
	}

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--chain", "id=1,rpc=http://x/,key-file=k,colour=red"}, `unknown chain setting "colour"`},
		{[]string{"--chain", "id=1,rpc=http://x/,key-file=k,id=2"}, "id given twice"},
		{[]string{"--chain", "id=1,rpc=http://x/,key-file"}, `"key-file" is not key=value`},
		{[]string{"--chain", "id=1,rpc=,key-file=k"}, "rpc has no value"},
		{[]string{"--chain", ""}, "empty"},
		{[]string{"--chain", "rpc=http://x/,key-file=k"}, "no id"},
		{[]string{"--chain", "id=0,rpc=http://x/,key-file=k"}, "not a chain id"},
		{[]string{"--chain", "id=-3,rpc=http://x/,key-file=k"}, "not a chain id"},
		{[]string{"--chain", "id=1,key-file=k"}, "no rpc"},
		{[]string{"--chain", "id=1,rpc=http://x/"}, "no anchoring key"},
		{[]string{"--chain", "id=1,rpc=http://x/,key-file=k,keystore=s"}, "both given"},
		{[]string{"--chain", "id=1,rpc=http://x/,key-file=k,sink=0x12"}, "not an address"},
		{[]string{"--chain", "id=1,rpc=http://x/,key-file=k,confirmations=0"}, "not a number of blocks"},
		{[]string{"--chain", "id=1,rpc=http://x/,key-file=k,max-fee=-1"}, "not a fee"},
		{[]string{"--chain", "id=1,rpc=http://x/,key-file=k,max-fee=NaN"}, "not a fee"},
		{[]string{"--chain", "id=1,rpc=http://x/,key-file=k,max-fee=1e-12"}, "less than a wei"},
		{[]string{"--chain", "id=1,rpc=http://x/,key-file=k,from-batch=0"}, "not a batch id"},
		{[]string{"--chain", "id=1,rpc=http://x/,keystore=s,password-file=" + filepath.Join(dir, "absent")}, "password-file"},
		// mixed with the single-chain shorthand, or with --dev
		{[]string{"--chain", "id=1,rpc=http://x/,key-file=k", "--chain-rpc", "http://y/"}, "--chain-rpc is the single-chain shorthand"},
		{[]string{"--chain", "id=1,rpc=http://x/,key-file=k", "--confirmations", "3"}, "--confirmations is the single-chain shorthand"},
		{[]string{"--chain", "id=1,rpc=http://x/,key-file=k", "--sink", "0x00000000000000000000000000000000000000aa"}, "--sink is the single-chain shorthand"},
		{[]string{"--chain", "id=1,rpc=http://x/,key-file=k", "--dev"}, "use --dev-chains"},
		{[]string{"--dev-chains", "2"}, "--dev-chains is for --dev"},
		{[]string{"--dev", "--dev-chains", "0"}, "want 1 to 16"},
		{[]string{"--dev", "--dev-chains", "2", "--chain-listen", "127.0.0.1:65535"}, "port"},
	} {
		_, err := resolveChains(t, "", tc.args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error saying %q", tc.args, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "http://x/") {
			t.Errorf("%q: the error %q echoes the endpoint", tc.args, err)
		}
	}

	// The single-chain shorthand alone is one chain, as before.
	cs, err = resolveChains(t, "", "--chain-rpc", "http://y/", "--chain-key-file", "k", "--chain-id", "5")
	if err != nil || len(cs) != 1 || cs[0].RPC != "http://y/" || cs[0].Anchor.ChainID != 5 {
		t.Fatalf("single-chain flags: %+v, %v", cs, err)
	}
}

func TestDevChains(t *testing.T) {
	cs, err := resolveChains(t, "", "--dev", "--dev-chains", "3", "--chain-listen", "127.0.0.1:9545", "--confirmations", "2")
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 3 {
		t.Fatalf("%d chains, want 3", len(cs))
	}
	for i, c := range cs {
		if !c.Dev || c.Anchor.ChainID != uint64(1337+i) || c.DevListen != "127.0.0.1:"+strconv.Itoa(9545+i) || c.Anchor.Confirmations != 2 {
			t.Errorf("dev chain %d: %+v", i, c)
		}
	}
	cs, err = resolveChains(t, "", "--dev", "--chain-listen", "127.0.0.1:0")
	if err != nil || len(cs) != 1 || cs[0].Anchor.ChainID != 1337 || cs[0].DevListen != "127.0.0.1:0" {
		t.Fatalf("--dev alone: %+v, %v", cs, err)
	}
	// Each dev chain has its own data dir; the first keeps the one it always had.
	if d0, d1 := app.DevChainDir("/d", 1337), app.DevChainDir("/d", 1338); d0 != "/d" || d1 != "/d/devchain-1338" {
		t.Fatalf("dev chain dirs %s, %s", d0, d1)
	}
}

func TestConfigFileChains(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "attestd.yaml")
	writeFile(t, path, `batch-interval: 1m
chains:
  - id: 1
    rpc: "https://rpc.one/v3/KEY,with,commas"
    key-file: /k/one
    confirmations: 64
  - {id: 137, rpc: "http://127.0.0.1:9/", keystore: /k/two.json, name: polygon}
`)
	cs, err := resolveChains(t, path)
	if err != nil {
		t.Fatal(err)
	}
	if len(cs) != 2 || cs[0].Anchor.ChainID != 1 || cs[0].RPC != "https://rpc.one/v3/KEY,with,commas" || cs[0].Anchor.Confirmations != 64 ||
		cs[1].Anchor.ChainID != 137 || cs[1].Name != "polygon" || cs[1].Keystore != "/k/two.json" {
		t.Fatalf("chains %+v", cs)
	}
	// --chain on the command line wins over the file's list.
	cs, err = resolveChains(t, path, "--chain", "id=5,rpc=http://z/,key-file=k")
	if err != nil || len(cs) != 1 || cs[0].Anchor.ChainID != 5 {
		t.Fatalf("--chain beside the file's chains: %+v, %v", cs, err)
	}

	for _, tc := range []struct{ file, want string }{
		{"chains:\n  - id: 1\n    rpc: http://x/\n    key-file: k\n    colour: red\n", `line 5: chains[0]: unknown chain setting "colour"`},
		{"chains:\n  - id: 1\n    rpc: http://x/\n    id: 2\n", "line 4: chains[0]: chain setting id given twice"},
		{"chains:\n  - {id: 1, rpc: http://x/, key-file: k}\nchains:\n  - {id: 2, rpc: http://x/, key-file: k}\n", "line 3: chains: given twice"},
		{"chains: {id: 1}\n", "line 1: chains: want a list"},
		{"chains: []\n", "want a list"},
		{"chains:\n  - id\n", "line 2: chains[0]: want a mapping"},
		{"chains:\n  - id: 1\n    rpc: [a, b]\n", "line 3: chains[0]: want setting: value"},
		{"chains:\n  - id: 1\n    rpc: http://x/\n    key-file: k\n    confirmations: many\n", "chains[0]: line 5: confirmations"},
		{"chains:\n  - {id: 1, key-file: k}\n", "chains[0] (chain 1): no rpc"},
		{"chains:\n  - {id: 1, rpc: http://x/, key-file: k}\nchain-rpc: http://y/\n", "--chain-rpc is the single-chain shorthand"},
	} {
		writeFile(t, path, tc.file)
		_, err := resolveChains(t, path)
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), path) && !strings.Contains(tc.want, "shorthand") {
			t.Errorf("%q: %v, want an error naming the file and saying %q", tc.file, err, tc.want)
		}
	}
}

// TestChainRPCFile: rpc-file reads a chain's endpoint from a file (a
// mounted Secret), on the command line and in a config file's chains:
// list, without its trailing newline; with rpc, when absent or empty it is
// refused without echoing the URL.
func TestChainRPCFile(t *testing.T) {
	dir := t.TempDir()
	url := filepath.Join(dir, "rpc-url")
	writeFile(t, url, "https://rpc.one/v3/SECRETKEY\n")
	empty := filepath.Join(dir, "empty")
	writeFile(t, empty, "\n")
	cs, err := resolveChains(t, "", "--chain", "id=1,rpc-file="+url+",key-file=/k/one")
	if err != nil || len(cs) != 1 || cs[0].RPC != "https://rpc.one/v3/SECRETKEY" {
		t.Fatalf("--chain rpc-file: %+v, %v", cs, err)
	}
	path := filepath.Join(dir, "attestd.yaml")
	writeFile(t, path, "chains:\n  - {id: 1, rpc-file: "+url+", key-file: /k/one}\n  - {id: 137, rpc: \"http://127.0.0.1:9/\", keystore: /k/two.json}\n")
	cs, err = resolveChains(t, path)
	if err != nil || len(cs) != 2 || cs[0].RPC != "https://rpc.one/v3/SECRETKEY" || cs[1].RPC != "http://127.0.0.1:9/" {
		t.Fatalf("chains: list with rpc-file: %+v, %v", cs, err)
	}
	for _, tc := range []struct{ value, want string }{
		{"id=1,rpc=http://x/,rpc-file=" + url + ",key-file=k", "rpc and rpc-file both given"},
		{"id=1,rpc-file=" + url + ",rpc=http://x/,key-file=k", "rpc and rpc-file both given"},
		{"id=1,rpc-file=" + filepath.Join(dir, "absent") + ",key-file=k", "rpc-file: open"},
		{"id=1,rpc-file=" + empty + ",key-file=k", "rpc-file: " + empty + " is empty"},
		{"id=1,key-file=k", "no rpc=URL (or rpc-file=F"},
	} {
		_, err := resolveChains(t, "", "--chain", tc.value)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: %v, want an error saying %q", tc.value, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "SECRETKEY") {
			t.Errorf("%q: the error %q echoes the endpoint", tc.value, err)
		}
	}
}

// TestChainFlagSecretWarning: an rpc URL that may hold a provider key in a
// --chain value on the command line is warned about (the warning never
// prints the URL); the same chain from a --config file is not.
func TestChainFlagSecretWarning(t *testing.T) {
	dir := t.TempDir()
	absent := filepath.Join(dir, "absent-key")
	value := "id=5,rpc=https://rpc.example/v3/SECRETKEY,key-file=" + absent
	out, code := runCLI(t, nil, "serve", "--data-dir", filepath.Join(dir, "d1"), "--listen", "127.0.0.1:0", "--api-keys-file", "/dev/null", "--chain", value)
	if code == 0 || !strings.Contains(out, "--chain #1 on the command line may carry a provider key") {
		t.Fatalf("exit %d, output:\n%s\nwant a warning about --chain #1's URL", code, out)
	}
	if strings.Contains(out, "SECRETKEY") {
		t.Fatalf("the output shows the provider key:\n%s", out)
	}
	cfg := filepath.Join(dir, "attestd.yaml")
	writeFile(t, cfg, "chains:\n  - {id: 5, rpc: \"https://rpc.example/v3/SECRETKEY\", key-file: "+absent+"}\n")
	out, code = runCLI(t, nil, "serve", "--data-dir", filepath.Join(dir, "d2"), "--listen", "127.0.0.1:0", "--api-keys-file", "/dev/null", "--config", cfg)
	if code == 0 || strings.Contains(out, "provider key") || strings.Contains(out, "SECRETKEY") || !strings.Contains(out, "chain key") {
		t.Fatalf("from --config: exit %d, output:\n%s\nwant the missing key named, no warning, no provider key", code, out)
	}
	_ = os.Remove(absent)
}

func FuzzChainFlag(f *testing.F) {
	f.Add("id=1,rpc=https://rpc.one/v3/KEY,key-file=/k,confirmations=64,max-fee=2.5,sink=0x00000000000000000000000000000000000000aa,name=x")
	f.Add("id=137,rpc=http://127.0.0.1:9/,keystore=/k.json")
	f.Add("id=1,id=2")
	f.Add("=,=")
	f.Fuzz(func(t *testing.T, v string) {
		cc, err := chainSpec{from: "--chain #1", raw: v, cmdLine: true}.chainConfig("")
		if err != nil {
			return
		}
		if cc.Anchor.ChainID == 0 || cc.RPC == "" || (cc.KeyFile == "") == (cc.Keystore == "") {
			t.Fatalf("%q accepted as %+v", v, cc)
		}
		if cc.Anchor.MaxFeePerGas != nil && cc.Anchor.MaxFeePerGas.Sign() <= 0 {
			t.Fatalf("%q: max fee %v", v, cc.Anchor.MaxFeePerGas)
		}
	})
}
