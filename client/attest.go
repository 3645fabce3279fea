package client

import (
	"fmt"
	"io"
	"path/filepath"

	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/proof"
	"github.com/attestd/attestd/internal/receipt"
)

// Attest is a document's .attest file: what travels with the document so
// that its holder can prove it. It holds no part of the document:
//
//   - Fingerprint, Canonicalization and Blinding (the nonce): how to
//     compute the fingerprint from the document again;
//   - Receipt: the server's signed acknowledgement, from [Client.Stamp];
//   - Proof: the proof bundle, once the batch is anchored, from
//     [Client.Upgrade].
//
// Its Nonce method returns the nonce, or nil for an unblinded fingerprint.
// [ReadAttest] and [ParseAttest] refuse a file that is not exactly one
// well-formed .attest (a member given twice, parts that disagree).
type Attest = attestfile.File

// Blinding is the part of an [Attest] that says how its fingerprint was
// blinded: the scheme ("attestd/blind/v1") and the nonce.
type Blinding = attestfile.Blinding

// Receipt is the server's signed acknowledgement that it durably received a
// fingerprint (from an Institution, at ReceivedAt) and will anchor it by
// Deadline. [Client.Submit] checks each one's signature against the keys
// the server publishes before returning it.
type Receipt = receipt.Receipt

// Bundle is a proof bundle: the fingerprint's place in its batch's Merkle
// tree (BatchID, Index, Size, Path, Root) and each chain's anchoring
// transaction (Anchors), with its chain evidence once confirmed, so that a
// verifier can check it without attestd ([Verifier]).
type Bundle = proof.Bundle

// Anchor is one chain's anchoring transaction of a batch, in a [Bundle].
type Anchor = proof.Anchor

// AttestExt is the extension of a .attest file: report.pdf's is
// report.pdf.attest ([AttestPath]).
const AttestExt = attestfile.Ext

// AttestOptions says how [NewAttest] and [NewAttestFile] fingerprint a
// document. The zero value is what fits most records: their bytes as they
// are, blinded with a fresh nonce.
type AttestOptions struct {
	// Canonicalization: CanonNone (the default) or CanonJCS for a JSON
	// record (a FHIR resource), whose fingerprint then does not depend on
	// whitespace or member order.
	Canonicalization Canonicalization
	// NoBlind submits the plain SHA-256 of the document. Only for
	// documents nobody could guess (a scanned image, a PDF with a unique
	// identifier): the fingerprint of "HbA1c 6.1 %" can be found by trying.
	NoBlind bool
	// Document is the document's name, kept in the .attest for its reader
	// (informational only; NewAttestFile takes the file's base name).
	Document string
}

// NewAttest fingerprints the document read from r as opts say (blinded
// with a fresh nonce unless opts.NoBlind) and returns its .attest, ready
// for [Client.Stamp]. Nothing is sent anywhere.
func NewAttest(r io.Reader, opts AttestOptions) (*Attest, error) {
	f, nonce, err := newAttest(opts)
	if err != nil {
		return nil, err
	}
	if f.Fingerprint, err = hashAs(r, f.Canonicalization, nonce); err != nil {
		return nil, err
	}
	return f, nil
}

// NewAttestFile is [NewAttest] of the file at path.
func NewAttestFile(path string, opts AttestOptions) (*Attest, error) {
	if opts.Document == "" {
		opts.Document = filepath.Base(path)
	}
	f, nonce, err := newAttest(opts)
	if err != nil {
		return nil, err
	}
	if f.Fingerprint, err = hashFileAs(path, f.Canonicalization, nonce); err != nil {
		return nil, err
	}
	return f, nil
}

func newAttest(opts AttestOptions) (*Attest, *Nonce, error) {
	canon, err := fingerprint.ParseCanonicalization(string(opts.Canonicalization))
	if err != nil {
		return nil, nil, err
	}
	f := &Attest{Version: attestfile.Version, Document: opts.Document, Canonicalization: canon}
	if opts.NoBlind {
		return f, nil, nil
	}
	n, err := NewNonce()
	if err != nil {
		return nil, nil, fmt.Errorf("a nonce: %w", err)
	}
	f.Blinding = &Blinding{Scheme: fingerprint.BlindDomain, Nonce: n}
	return f, &n, nil
}

// AttestPath is where the .attest file of the document at doc goes:
// beside it, doc + [AttestExt].
func AttestPath(doc string) string { return attestfile.PathFor(doc) }

// ReadAttest reads and checks the .attest file at path.
func ReadAttest(path string) (*Attest, error) { return attestfile.Read(path) }

// ParseAttest checks and decodes a .attest file's content.
func ParseAttest(data []byte) (*Attest, error) { return attestfile.Parse(data) }

// WriteAttest stores f at path atomically (a crash leaves the old file or
// the new one, never half of one: the nonce in it cannot be recovered). A
// new file is readable by its owner only, since the nonce lets a reader
// confirm a guess about the record; an existing file keeps its permissions.
func WriteAttest(path string, f *Attest) error {
	return attestfile.Write(path, f, attestfile.DefaultMode)
}
