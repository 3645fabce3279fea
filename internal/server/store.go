package server

import (
	"context"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/store"
)

// Store is what the API needs of the store: the submit path, the
// statements, and the reads. Every store.Store backend implements it (see store.Store for the
// full contract); the server relies on this much of it:
//
//   - All methods are safe for concurrent use: every request calls the
//     store from its own goroutine.
//   - Submit returns only once the new entries and records are durable,
//     written atomically with each other. A 202 promises the fingerprint
//     will be anchored whatever crashes after, so the handler answers
//     only after Submit returned nil; a failed Submit must have
//     acknowledged nothing (the client retries). It enforces maxPending
//     atomically (ErrFull when the new fingerprints would pass it, with
//     nothing written) and returns the pending count, which wakes the
//     sealer when a batch is full.
//   - Errors are the store's sentinels: ErrNotFound (unknown fingerprint
//     or batch; Submission also for another institution's fingerprint)
//     becomes 404, ErrUnavailable and ErrFull 503 with Retry-After, anything else
//     500 (see errors.go). The server never matches on an error's text.
//   - Proof returns the entry and, once it is sealed, its batch and Merkle
//     path in one call; a sealed batch never changes, so the path is the
//     one of that batch's root and the handler builds the bundle from it
//     without another read.
//   - A record-status statement is made by Submit of its fingerprint and
//     then AddStatement, which is durable and idempotent (a retried
//     request finds the statement it recorded); the 202 comes after both,
//     so a statement acknowledged is anchored and listed. Proof lists the
//     statements about a fingerprint in the same read as its entry;
//     Statements pages through all of them for the status file.
type Store interface {
	Submit(ctx context.Context, subs []store.Submission, maxPending int) ([]store.Record, int, error)
	Entry(ctx context.Context, fp fingerprint.Fingerprint) (store.Entry, error)
	Submission(ctx context.Context, fp fingerprint.Fingerprint, institution string) (store.Record, store.Entry, error)
	Proof(ctx context.Context, fp fingerprint.Fingerprint) (store.Proof, error)
	Batch(ctx context.Context, id uint64) (store.Batch, error)
	AddStatement(ctx context.Context, st store.Statement) (store.Statement, error)
	Statement(ctx context.Context, fp fingerprint.Fingerprint) (store.Statement, error)
	Statements(ctx context.Context, after uint64, limit int) ([]store.Statement, error)
}

// The store layer's contract implements the server's: a change of either
// that breaks this breaks the build here.
var _ Store = store.Store(nil)
