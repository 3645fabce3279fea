package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/attestd/attestd/client/api"
	"github.com/attestd/attestd/internal/receipt"
)

const (
	// MaxPerRequest is the most fingerprints the server takes in one
	// request (POST /v1/fingerprints).
	MaxPerRequest = 10_000
	// DefaultChunkSize is how many fingerprints [Client.Submit] and
	// [Client.Stamp] send in one request unless [WithChunkSize] says
	// otherwise.
	DefaultChunkSize = 1_000
)

// Submit sends fingerprints to the server and returns one receipt each, in
// their order. Any number may be given: they go in requests of
// [DefaultChunkSize] (see [WithChunkSize]). Each receipt is checked before
// it is returned: for the fingerprint submitted, and signed by a receipt
// key the server publishes (GET /v1/info) for the time the receipt was
// received. Submitting needs credentials: [WithAPIKey] or a client
// certificate.
//
// Submitting is idempotent: a fingerprint submitted again gets a receipt
// with its first received time. So on an error, submit again. The receipts
// returned with an error are those of the requests that succeeded before
// it, for the first fingerprints given; the rest may or may not be
// recorded, and have no receipt to rely on.
func (c *Client) Submit(ctx context.Context, fps ...Fingerprint) ([]Receipt, error) {
	out := make([]Receipt, 0, len(fps))
	for start := 0; start < len(fps); start += c.chunk {
		rs, err := c.submit(ctx, fps[start:min(start+c.chunk, len(fps))])
		if err != nil {
			return out, err
		}
		out = append(out, rs...)
	}
	return out, nil
}

// Stamp submits the fingerprint of each .attest (made by [NewAttest] or
// [NewAttestFile]) as [Client.Submit] does, and stores its checked receipt
// in it, with the server's URL. Write each one beside its document ([WriteAttest]) once it holds
// its receipt. On an error, the files of the requests that succeeded
// before it hold their receipts and the others none.
func (c *Client) Stamp(ctx context.Context, files ...*Attest) error {
	for start := 0; start < len(files); start += c.chunk {
		chunk := files[start:min(start+c.chunk, len(files))]
		fps := make([]Fingerprint, len(chunk))
		for i, f := range chunk {
			if f == nil {
				return errors.New("stamping: a nil .attest")
			}
			fps[i] = f.Fingerprint
		}
		rs, err := c.submit(ctx, fps)
		if err != nil {
			return err
		}
		for i, f := range chunk {
			f.Receipt = &rs[i]
			f.Server = c.server
		}
	}
	return nil
}

// Resubmit submits the fingerprint of f again and stores the new receipt
// in f, after checking that the receipt f holds is one this server signed.
// It is the way back for a holder whose fingerprint the server no longer
// knows ([ErrUnknownFingerprint] from [Client.Upgrade]): a server restored
// from a backup older than the submission. A receipt of another server is
// not resubmitted.
func (c *Client) Resubmit(ctx context.Context, f *Attest) error {
	if f.Receipt == nil {
		return errors.New("the .attest file holds no receipt: stamp the document instead")
	}
	if err := c.checkReceipt(ctx, *f.Receipt); err != nil {
		return fmt.Errorf("the receipt in the .attest file is not one of this server's (%w): not submitted again", err)
	}
	rs, err := c.submit(ctx, []Fingerprint{f.Fingerprint})
	if err != nil {
		return err
	}
	f.Receipt = &rs[0]
	return nil
}

// ReceiptKeys returns the Ed25519 keys the server publishes for signing
// receipts (GET /v1/info), oldest first, each with its period. The client
// keeps them, and asks again when a receipt names a key it does not hold.
func (c *Client) ReceiptKeys(ctx context.Context) ([]api.ReceiptKey, error) {
	return c.receiptKeys(ctx, false)
}

func (c *Client) receiptKeys(ctx context.Context, refresh bool) ([]api.ReceiptKey, error) {
	c.mu.Lock()
	keys := c.keys
	c.mu.Unlock()
	if keys != nil && !refresh {
		return keys, nil
	}
	info, err := c.Info(ctx)
	if err != nil {
		return nil, err
	}
	keys = nil
	for _, k := range info.ReceiptKeys {
		if k.Algorithm == api.ReceiptKeyAlgorithmEd25519 && len(k.PublicKey) == ed25519.PublicKeySize {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil, errors.New("the server publishes no Ed25519 receipt key")
	}
	c.mu.Lock()
	c.keys = keys
	c.mu.Unlock()
	return keys, nil
}

// submit sends one request's fingerprints and checks the receipts.
func (c *Client) submit(ctx context.Context, fps []Fingerprint) ([]Receipt, error) {
	if len(fps) == 0 {
		return nil, nil
	}
	// The keys first: a server that publishes none is refused before it
	// is sent anything.
	if _, err := c.receiptKeys(ctx, false); err != nil {
		return nil, err
	}
	req := api.SubmitRequest{Fingerprints: make([]api.Fingerprint, len(fps))}
	for i, fp := range fps {
		req.Fingerprints[i] = fp.String()
	}
	resp, err := c.api.SubmitFingerprintsWithResponse(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("submitting: %w", err)
	}
	if resp.StatusCode() != http.StatusAccepted || resp.JSON202 == nil {
		return nil, problem("submitting", resp.HTTPResponse, resp.Body)
	}
	rs := resp.JSON202.Receipts
	if len(rs) != len(fps) {
		return nil, fmt.Errorf("submitting: %w: %d receipts for %d fingerprints", ErrInvalidReceipt, len(rs), len(fps))
	}
	for i, r := range rs {
		if r.Fingerprint != fps[i] {
			return nil, fmt.Errorf("submitting: %w: a receipt for %s where %s was submitted", ErrInvalidReceipt, r.Fingerprint, fps[i])
		}
		if err := c.checkReceipt(ctx, r); err != nil {
			return nil, fmt.Errorf("the receipt for %s: %w", fps[i], err)
		}
	}
	return rs, nil
}

// checkReceipt checks r against the server's published keys, asking for
// them again once if r names one the client does not hold (a key
// published since they were fetched).
func (c *Client) checkReceipt(ctx context.Context, r Receipt) error {
	keys, err := c.receiptKeys(ctx, false)
	if err != nil {
		return err
	}
	err = verifyReceipt(keys, r)
	if errors.Is(err, errUnpublishedKey) {
		if keys, err = c.receiptKeys(ctx, true); err != nil {
			return err
		}
		err = verifyReceipt(keys, r)
	}
	return err
}

var errUnpublishedKey = errors.New("signed by a key the server does not publish")

// verifyReceipt checks r against the published key it names, and that r's
// received time falls in that key's published period (what a verifier's
// trust list will check).
func verifyReceipt(keys []api.ReceiptKey, r Receipt) error {
	for _, k := range keys {
		if receipt.KeyID(k.PublicKey) != r.KeyID {
			continue
		}
		if err := receipt.Verify(r, ed25519.PublicKey(k.PublicKey)); err != nil {
			return err
		}
		if !validAt(k, r.ReceivedAt) {
			return fmt.Errorf("%w: received %s, outside the period the server publishes for its key %s", ErrInvalidReceipt, r.ReceivedAt.Format(time.RFC3339Nano), r.KeyID)
		}
		return nil
	}
	return fmt.Errorf("%w: %w (%s)", ErrInvalidReceipt, errUnpublishedKey, r.KeyID)
}

// validAt reports whether t falls in the period the server publishes for
// key k (from ValidFrom, until ValidUntil; an open end is no bound).
func validAt(k api.ReceiptKey, t time.Time) bool {
	return (k.ValidFrom == nil || !t.Before(*k.ValidFrom)) && (k.ValidUntil == nil || t.Before(*k.ValidUntil))
}
