package trust

import "fmt"

// DevFile is the trust list `attestd serve --dev` writes in its data dir.
const DevFile = "trust.json"

// The dev server's entry in its own trust list.
const (
	DevName         = "attestd dev server"
	DevJurisdiction = "development only"
	DevContact      = "localhost"
)

// WriteDev writes to path a trust list naming one issuer: a dev server
// with the given receipt keys (each with its validity, so receipts signed
// before a restart or a rotation still verify) anchoring on chains. It is
// what `serve --dev` writes to <data-dir>/trust.json for the README
// walkthrough; it is replaced at every start.
func WriteDev(path string, keys []Key, chains []Chain) error {
	l := &List{Version: Version, Issuers: []Entry{{
		Name: DevName, Jurisdiction: DevJurisdiction, Contact: DevContact,
		ReceiptKeys: keys, Chains: chains,
	}}}
	if err := l.Save(path); err != nil {
		return fmt.Errorf("dev trust list: %w", err)
	}
	return nil
}
