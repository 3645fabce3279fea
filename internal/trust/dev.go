package trust

import (
	"crypto/ed25519"
	"fmt"
	"os"
	"time"
)

// DevFile is the trust list `attestd serve --dev` writes in its data dir.
const DevFile = "trust.json"

// The dev server's entry in its own trust list.
const (
	DevName         = "attestd dev server"
	DevJurisdiction = "development only"
	DevContact      = "localhost"
)

// WriteDev writes to path a trust list naming one issuer: a dev server
// with receipt key pub (valid from the modification time of keyFile, when
// the key was made, so receipts it signed before a restart still verify)
// anchoring on chains. It is what `serve --dev` writes to
// <data-dir>/trust.json for the README walkthrough; it is replaced at
// every start.
func WriteDev(path string, pub ed25519.PublicKey, keyFile string, chains []Chain) error {
	fi, err := os.Stat(keyFile)
	if err != nil {
		return fmt.Errorf("dev trust list: %w", err)
	}
	l := &List{Version: Version, Issuers: []Entry{{
		Name: DevName, Jurisdiction: DevJurisdiction, Contact: DevContact,
		ReceiptKeys: []Key{{PublicKey: pub, ValidFrom: fi.ModTime().UTC().Truncate(time.Second)}},
		Chains:      chains,
	}}}
	if err := l.Save(path); err != nil {
		return fmt.Errorf("dev trust list: %w", err)
	}
	return nil
}
