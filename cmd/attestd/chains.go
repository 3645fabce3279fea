package main

import (
	"errors"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/ethereum/go-ethereum/common"

	"github.com/attestd/attestd/internal/app"
	"github.com/attestd/attestd/internal/devchain"
)

// chainKeys are the settings of one chain in a --chain value and in an
// entry of a --config file's chains: list, in the order --help names them.
var chainKeys = []string{"id", "rpc", "rpc-file", "key-file", "keystore", "password-file", "confirmations", "max-fee", "sink", "name", "from-batch"}

// singleChainFlags are serve's shorthand for one chain: refused beside
// --chain or a chains: list.
var singleChainFlags = []string{"chain-rpc", "chain-key-file", "chain-keystore", "chain-password-file", "chain-id", "sink", "confirmations", "max-fee"}

// chainSetting is one key=value of a chain's settings; line is its line
// in a config file (0 on the command line).
type chainSetting struct {
	key, value string
	line       int
}

// chainSpec is one configured chain as written: where it came from (for
// errors) and its settings in order.
type chainSpec struct {
	from     string // "--chain \"id=…\"" or "--config FILE: line N"
	line     int
	settings []chainSetting
	raw      string // a --chain value, split by parse
	cmdLine  bool   // on the command line, where ps shows it
}

// chainFlag is the repeatable --chain flag.
type chainFlag struct{ specs []chainSpec }

func (f *chainFlag) String() string { return "" } // never echo a value: it may hold a provider key
func (f *chainFlag) Type() string   { return "id=ID,rpc=URL,key-file=F[,…]" }

// Set keeps v; serveChains parses it, so that an error names the setting
// at fault without pflag echoing the whole value (which may hold a key).
func (f *chainFlag) Set(v string) error {
	f.specs = append(f.specs, chainSpec{from: fmt.Sprintf("--chain #%d", len(f.specs)+1), raw: v, cmdLine: true})
	return nil
}

// splitChainFlag splits a --chain value into its key=value settings,
// refusing an unknown key, a key given twice and an empty value. Values
// cannot hold a comma (an endpoint URL that does goes in a config file's
// chains: list).
func splitChainFlag(v string) (chainSpec, error) {
	var spec chainSpec
	if strings.TrimSpace(v) == "" {
		return spec, errors.New("empty: want id=ID,rpc=URL,key-file=F")
	}
	for part := range strings.SplitSeq(v, ",") {
		k, val, ok := strings.Cut(part, "=")
		k = strings.TrimSpace(k)
		if !ok {
			return spec, fmt.Errorf("%q is not key=value (keys: %s)", clip(k), strings.Join(chainKeys, ", "))
		}
		if err := spec.add(k, strings.TrimSpace(val), 0); err != nil {
			return spec, err
		}
	}
	return spec, nil
}

func (s *chainSpec) add(k, v string, line int) error {
	switch {
	case !slices.Contains(chainKeys, k):
		return fmt.Errorf("unknown chain setting %q (keys: %s)", clip(k), strings.Join(chainKeys, ", "))
	case slices.ContainsFunc(s.settings, func(c chainSetting) bool { return c.key == k }):
		return fmt.Errorf("chain setting %s given twice", k)
	case v == "":
		return fmt.Errorf("chain setting %s has no value", k)
	}
	s.settings = append(s.settings, chainSetting{k, v, line})
	return nil
}

// clip keeps an error about a malformed setting from echoing a long value
// (which may be a URL holding a key).
func clip(s string) string {
	if len(s) > 20 {
		return s[:20] + "…"
	}
	return s
}

// chainConfig turns spec into an app.ChainConfig: id, an endpoint (rpc,
// or rpc-file: a file holding it) and a key are required; a keystore's password is password-file's content or,
// without one, password (ATTESTD_CHAIN_PASSWORD). Errors name the chain
// and the setting, never a value that may be secret.
func (s chainSpec) chainConfig(password string) (cc app.ChainConfig, err error) {
	rpcFrom := "" // the setting that gave the endpoint: rpc or rpc-file
	if s.cmdLine {
		split, err := splitChainFlag(s.raw)
		if err != nil {
			return cc, fmt.Errorf("%s: %w", s.from, err)
		}
		s.settings = split.settings
	}
	for _, st := range s.settings {
		at := func(err error) error {
			if st.line > 0 {
				return fmt.Errorf("%s: line %d: %s: %w", s.from, st.line, st.key, err)
			}
			return fmt.Errorf("%s: %s: %w", s.from, st.key, err)
		}
		v := st.value
		switch st.key {
		case "id":
			id, err := strconv.ParseUint(v, 10, 64)
			if err != nil || id == 0 {
				return cc, at(fmt.Errorf("%q is not a chain id (a positive integer)", clip(v)))
			}
			cc.Anchor.ChainID = id
		case "rpc":
			if rpcFrom != "" {
				return cc, at(errors.New("rpc and rpc-file both given: choose one"))
			}
			cc.RPC, rpcFrom = v, st.key
		case "rpc-file":
			// The URL from a file (a mounted Secret): a provider key in
			// it stays off the command line and out of the config file.
			if rpcFrom != "" {
				return cc, at(errors.New("rpc and rpc-file both given: choose one"))
			}
			url, err := readSmallFile(v)
			if err != nil {
				return cc, at(err)
			}
			if cc.RPC, rpcFrom = strings.TrimSpace(string(url)), st.key; cc.RPC == "" {
				return cc, at(fmt.Errorf("%s is empty", v))
			}
		case "key-file":
			cc.KeyFile = v
		case "keystore":
			cc.Keystore = v
		case "password-file":
			pw, err := readSmallFile(v)
			if err != nil {
				return cc, at(err)
			}
			password = strings.TrimRight(string(pw), "\r\n")
		case "confirmations":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || n == 0 {
				return cc, at(fmt.Errorf("%q is not a number of blocks (1 or more)", clip(v)))
			}
			cc.Anchor.Confirmations = n
		case "max-fee":
			gwei, err := strconv.ParseFloat(v, 64)
			if err != nil || !(gwei > 0) || gwei > 1e12 {
				return cc, at(fmt.Errorf("%q is not a fee in gwei", clip(v)))
			}
			if cc.Anchor.MaxFeePerGas = gweiToWei(gwei); cc.Anchor.MaxFeePerGas.Sign() <= 0 {
				return cc, at(fmt.Errorf("%q is less than a wei", clip(v)))
			}
		case "sink":
			if !common.IsHexAddress(v) {
				return cc, at(fmt.Errorf("%q is not an address", clip(v)))
			}
			cc.Anchor.Sink = common.HexToAddress(v)
		case "name":
			cc.Name = v
		case "from-batch":
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil || n == 0 {
				return cc, at(fmt.Errorf("%q is not a batch id (1 or more)", clip(v)))
			}
			cc.Anchor.FirstBatch = n
		}
	}
	switch {
	case cc.Anchor.ChainID == 0:
		return cc, fmt.Errorf("%s: no id: every chain needs id=CHAIN_ID (the metrics and the proofs name it)", s.from)
	case cc.RPC == "":
		return cc, fmt.Errorf("%s (chain %d): no rpc=URL (or rpc-file=F, a file holding it)", s.from, cc.Anchor.ChainID)
	case cc.KeyFile == "" && cc.Keystore == "":
		return cc, fmt.Errorf("%s (chain %d): no anchoring key: keystore=F (encrypted, with password-file=F) or key-file=F (hex)", s.from, cc.Anchor.ChainID)
	case cc.KeyFile != "" && cc.Keystore != "":
		return cc, fmt.Errorf("%s (chain %d): key-file and keystore both given: choose one", s.from, cc.Anchor.ChainID)
	}
	if cc.Keystore != "" {
		cc.Password = password
	}
	return cc, nil
}

// gweiToWei converts a fee in gwei (--max-fee's unit) to wei.
func gweiToWei(gwei float64) *big.Int {
	wei, _ := new(big.Float).Mul(big.NewFloat(gwei), big.NewFloat(1e9)).Int(nil)
	return wei
}

// devChains are serve --dev --dev-chains n's chains: chain ids 1337,
// 1338, … on listen's port, port+1, … (all on free ports when it is 0).
func devChains(n int, listen string) ([]app.ChainConfig, error) {
	if n < 1 || n > 16 {
		return nil, fmt.Errorf("--dev-chains: %d: want 1 to 16", n)
	}
	host, portText, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("--chain-listen: %w", err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil || port < 0 || port+n-1 > 65535 {
		return nil, fmt.Errorf("--chain-listen: port %q: want 0 to %d with --dev-chains %d", portText, 65536-n, n)
	}
	var cs []app.ChainConfig
	for i := range n {
		p := port
		if port != 0 {
			p += i
		}
		c := app.ChainConfig{Dev: true, DevListen: net.JoinHostPort(host, strconv.Itoa(p))}
		c.Anchor.ChainID = devchain.DevChainID + uint64(i)
		cs = append(cs, c)
	}
	return cs, nil
}

// chainFlagHoldsSecret says whether a --chain value's rpc setting is a
// URL that may hold a provider key (see urlHoldsSecret).
func chainFlagHoldsSecret(v string) bool {
	for part := range strings.SplitSeq(v, ",") {
		if k, val, ok := strings.Cut(part, "="); ok && strings.TrimSpace(k) == "rpc" && urlHoldsSecret(strings.TrimSpace(val)) {
			return true
		}
	}
	return false
}
