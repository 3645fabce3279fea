package trust

import (
	"fmt"

	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/statement"
	"github.com/attestd/attestd/internal/verify"
)

// ReceiptCheck checks a receipt against l: signed by a listed issuer's
// key, dated (received time) within that key's validity, and — when the
// chain named one (anchoredBy, verify.Result.Issuer) — by the issuer that
// anchored it. The check is named verify.CheckReceipt.
func (l *List) ReceiptCheck(r receipt.Receipt, anchoredBy string) verify.Check {
	c := verify.Check{Name: verify.CheckReceipt}
	var owner *Entry
	var key *Key
	for i := range l.Issuers {
		for j, k := range l.Issuers[i].ReceiptKeys {
			if receipt.KeyID(k.PublicKey) == r.KeyID && receipt.Verify(r, k.PublicKey) == nil {
				owner, key = &l.Issuers[i], &l.Issuers[i].ReceiptKeys[j]
			}
		}
	}
	received := r.ReceivedAt.UTC().Format("2006-01-02 15:04:05 MST")
	switch {
	case owner == nil:
		c.State, c.Detail = verify.StateFailed, fmt.Sprintf("the receipt is not signed by any receipt key in your trust list (it names key %s)", r.KeyID)
	case !key.ValidAt(r.ReceivedAt):
		c.State, c.Detail = verify.StateFailed, fmt.Sprintf("the receipt is dated %s, outside the validity of %q's key %s (%s): that key did not vouch for receipts then", received, owner.Name, r.KeyID, key.Period())
	case anchoredBy != "" && owner.Name != anchoredBy:
		c.State, c.Detail = verify.StateFailed, fmt.Sprintf("the receipt is signed by %q, but the anchor is %q's", owner.Name, anchoredBy)
	default:
		// The institution is not named: POST /v1/verify answers in public
		// (the CLI's verdict line names it).
		c.State, c.Detail = verify.StateOK, fmt.Sprintf("signed by %q's receipt key %s (valid %s); received %s", owner.Name, r.KeyID, key.Period(), received)
	}
	return c
}

// StatusFileSigner checks a status file's signature against l: it must be
// made by a receipt key of a listed issuer, and dated (issued_at) within
// that key's validity, as a receipt of that time would be. It returns the
// issuer's name, or an error wrapping statement.ErrInvalid that says in
// plain words why the file cannot be relied on. The file's age is the
// caller's to check (StatusFile.CheckAge).
func (l *List) StatusFileSigner(f *statement.StatusFile) (string, error) {
	issued := f.IssuedAt.Time.UTC().Format("2006-01-02 15:04:05 MST")
	for i := range l.Issuers {
		e := &l.Issuers[i]
		for _, k := range e.ReceiptKeys {
			if receipt.KeyID(k.PublicKey) != f.KeyID {
				continue
			}
			if err := f.Verify(k.PublicKey); err != nil {
				return "", err
			}
			if !k.ValidAt(f.IssuedAt.Time) {
				return "", fmt.Errorf("%w: the status file is dated %s, outside the validity of %q's key %s (%s): that key did not vouch for it then", statement.ErrInvalid, issued, e.Name, f.KeyID, k.Period())
			}
			return e.Name, nil
		}
	}
	return "", fmt.Errorf("%w: the status file is signed by key %s, which is no receipt key in your trust list: it is not from an issuer you trust", statement.ErrInvalid, f.KeyID)
}
