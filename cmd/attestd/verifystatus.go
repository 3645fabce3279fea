package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/attestd/attestd/client"
	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/redact"
	"github.com/attestd/attestd/internal/statement"
	"github.com/attestd/attestd/internal/trust"
	"github.com/attestd/attestd/internal/verify"
)

// exitFor is verify's exit status for a verdict.
func exitFor(v verify.Verdict) int {
	switch v {
	case verify.VerdictValid:
		return 0
	case verify.VerdictInvalid:
		return exitInvalid
	case verify.VerdictSuperseded:
		return exitSuperseded
	case verify.VerdictWithdrawn:
		return exitWithdrawn
	}
	return exitUndecided
}

// statusLookup is how verify learns a record's status, once the
// document's own checks passed: not at all (--no-status), from a status
// file (--status), or online from the issuer's server (--server, else
// ATTESTD_SERVER, else the one the .attest names).
type statusLookup struct {
	skip, offline bool
	file          *statusFile
	server        string
	clients       map[string]*client.Client // by server URL
}

// statusFile is a status file verify accepted (loadStatusFile).
type statusFile struct {
	f      *statement.StatusFile
	issuer string // the trust list's issuer that signed it; "" with a pinned key
	name   string // for people
}

// loadStatusFile reads the status file at path and accepts it only when
// it is signed by the issuer's receipt key of its date — a key of the
// trust list list (the key's validity holding issued_at), or the pinned
// key pub — and it is neither older than maxAge nor dated in the future.
// Without a trust list or a pinned key nothing says whose it is: refused.
func loadStatusFile(path string, list *trust.List, pub ed25519.PublicKey, now time.Time, maxAge time.Duration) (*statusFile, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("--status: %w", err)
	}
	data, err := io.ReadAll(io.LimitReader(fh, statement.MaxStatusSize+1))
	fh.Close()
	if err != nil {
		return nil, fmt.Errorf("--status: %w", err)
	}
	refused := func(err error) error {
		return fmt.Errorf("--status %s is refused, it cannot be relied on: %w", path, err)
	}
	f, err := statement.ParseStatusFile(data)
	if err != nil {
		return nil, refused(err)
	}
	out := &statusFile{f: f}
	switch {
	case list != nil:
		if out.issuer, err = list.StatusFileSigner(f); err != nil {
			return nil, refused(err)
		}
	case pub != nil:
		if err := f.Verify(pub); err != nil {
			return nil, refused(err)
		}
	default:
		return nil, errors.New("--status: a status file is checked against the issuer's receipt key: give --trust (or ATTESTD_TRUST) or --receipt-key")
	}
	if err := f.CheckAge(now, maxAge); err != nil {
		return nil, refused(err)
	}
	out.name = fmt.Sprintf("the status file %s issued %s", path, f.IssuedAt.Time.UTC().Format("2006-01-02 15:04:05 MST"))
	if out.issuer != "" {
		out.name += fmt.Sprintf(" (signed by %s)", out.issuer)
	}
	return out, nil
}

// source is the status file's answer about the record fp: its statements
// about it.
func (sf *statusFile) source(fp fingerprint.Fingerprint) verify.StatusSource {
	src := verify.StatusSource{Name: sf.name, Signed: true, AsOf: sf.f.IssuedAt.Time, Issuer: sf.issuer}
	for i, st := range sf.f.Parsed() {
		if st.Subject != fp {
			continue
		}
		e := sf.f.Statements[i]
		s := verify.SourceStatement{Fingerprint: e.Fingerprint, Text: []byte(e.Statement)}
		if e.AttestedAt != nil {
			s.AttestedAt = e.AttestedAt.Time
		}
		src.Statements = append(src.Statements, s)
	}
	return src
}

// check adds the record-status check to res, a result of the document of
// f, when res is VALID (see the type's doc); v checks each statement's own
// proof as it checked the document's.
func (l *statusLookup) check(ctx context.Context, res *verify.Result, f *attestfile.File, v *client.Verifier) {
	if res.Verdict != verify.VerdictValid {
		return
	}
	switch {
	case l.skip:
		verify.SkipRecordStatus(res, "--no-status")
	case l.file != nil:
		v.CheckRecordStatus(ctx, res, f.Fingerprint, f.Proof, l.file.source(f.Fingerprint))
	case l.offline:
		verify.RecordUnavailable(res, "offline", "offline, it comes only from the issuer's status file: give it with --status FILE (the issuer makes it with attestd status-export), or --no-status to check the attestation alone")
	default:
		server := l.server
		if server == "" {
			server = os.Getenv("ATTESTD_SERVER")
		}
		if server == "" {
			server = f.Server
		}
		if server == "" {
			verify.RecordUnavailable(res, "", "the .attest file names no server to ask: give --server URL (the issuer's attestd), --status FILE (its status file), or --no-status")
			return
		}
		name := "the issuer's server " + redact.URL(server)
		src, err := l.online(ctx, server, name, f.Fingerprint)
		if err != nil {
			verify.RecordUnavailable(res, name, fmt.Sprintf("%s: %v. Try again later, give --server URL (the issuer's attestd) or --status FILE (its status file), or --no-status to check the attestation alone", name, err))
			return
		}
		v.CheckRecordStatus(ctx, res, f.Fingerprint, f.Proof, src)
	}
}

// online asks server for the statements about fp (GET
// /v1/fingerprints/{fp}): each with its statement text and its own proof.
func (l *statusLookup) online(ctx context.Context, server, name string, fp fingerprint.Fingerprint) (verify.StatusSource, error) {
	src := verify.StatusSource{Name: name}
	c, ok := l.clients[server]
	if !ok {
		var err error
		if c, err = newClient(ctx, server, ""); err != nil {
			return src, err
		}
		l.clients[server] = c
	}
	st, err := c.Status(ctx, fp)
	switch {
	case errors.Is(err, client.ErrUnknownFingerprint):
		return src, errors.New("it does not know this record (is it the record's issuer? a server restored from an old backup?)")
	case err != nil:
		return src, errors.New(redact.Text(err.Error()))
	case st.Fingerprint != fp.String():
		return src, fmt.Errorf("it answered about another fingerprint, %s", st.Fingerprint)
	}
	for _, rs := range append(st.SupersededBy, st.Withdrawn...) {
		sfp, err := fingerprint.Parse(rs.Fingerprint)
		if err != nil {
			return src, fmt.Errorf("it listed a statement with a malformed fingerprint: %w", err)
		}
		src.Statements = append(src.Statements, verify.SourceStatement{Fingerprint: sfp, Text: []byte(rs.Statement), Proof: rs.Proof})
	}
	return src, nil
}
