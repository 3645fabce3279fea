package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	bbolt "go.etcd.io/bbolt"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/store"
)

// Record-status statements live in the main file (see the package doc's
// layout): stmt holds each by its own fingerprint, stmtseq lists them in
// the order recorded (the bucket's sequence is the last Seq handed out),
// and about lists, per subject, the fingerprints of the statements about
// it. They are few (one per correction or withdrawal), so each is one
// transaction of its own, fsync'd like a seal.

const stmtVersion = 1

// AddStatement implements store.Store.
func (s *Store) AddStatement(ctx context.Context, st store.Statement) (store.Statement, error) {
	if err := checkStatement(st); err != nil {
		return store.Statement{}, err
	}
	var out store.Statement
	err := s.update(ctx, func(tx *bbolt.Tx) error {
		stmts, seqs, about := tx.Bucket(bucketStmt), tx.Bucket(bucketStmtSeq), tx.Bucket(bucketAbout)
		if v := stmts.Get(st.Fingerprint[:]); v != nil {
			old, err := decodeStatement(st.Fingerprint, v)
			if err != nil {
				return err
			}
			if old.Subject != st.Subject || !bytes.Equal(old.Text, st.Text) {
				return fmt.Errorf("statement %x: %w: recorded with another subject or text", st.Fingerprint[:], store.ErrConflict)
			}
			out = old
			return errRetry // nothing to write: roll back
		}
		seq, err := seqs.NextSequence()
		if err != nil {
			return err
		}
		out = store.Statement{Fingerprint: st.Fingerprint, Subject: st.Subject, Text: bytes.Clone(st.Text), Seq: seq}
		if err := stmts.Put(st.Fingerprint[:], encodeStatement(out)); err != nil {
			return err
		}
		if err := seqs.Put(u64(seq), st.Fingerprint[:]); err != nil {
			return err
		}
		list := append(bytes.Clone(about.Get(st.Subject[:])), st.Fingerprint[:]...)
		return about.Put(st.Subject[:], list)
	})
	if errors.Is(err, errRetry) {
		err = nil
	}
	if err != nil {
		return store.Statement{}, err
	}
	return out, nil
}

// errRetry ends AddStatement's transaction without a commit when the
// statement is recorded already.
var errRetry = errors.New("bolt: statement recorded already")

// checkStatement refuses what no statement is (the store's contract).
func checkStatement(st store.Statement) error {
	switch {
	case st.Fingerprint.IsZero() || st.Subject.IsZero():
		return errors.New("bolt: a statement needs its fingerprint and its subject")
	case len(st.Text) == 0 || len(st.Text) > store.MaxStatementText:
		return fmt.Errorf("bolt: a statement's text is 1 to %d bytes, not %d", store.MaxStatementText, len(st.Text))
	}
	return nil
}

// Statement implements store.Store.
func (s *Store) Statement(ctx context.Context, fp fingerprint.Fingerprint) (store.Statement, error) {
	var st store.Statement
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		v := tx.Bucket(bucketStmt).Get(fp[:])
		if v == nil {
			return fmt.Errorf("statement %x: %w", fp[:], store.ErrNotFound)
		}
		var err error
		st, err = decodeStatement(fp, v)
		return err
	})
	return st, err
}

// Statements implements store.Store. limit <= 0 returns none.
func (s *Store) Statements(ctx context.Context, after uint64, limit int) ([]store.Statement, error) {
	out := []store.Statement{}
	err := s.view(ctx, func(tx *bbolt.Tx) error {
		if after == ^uint64(0) {
			return nil
		}
		stmts := tx.Bucket(bucketStmt)
		c := tx.Bucket(bucketStmtSeq).Cursor()
		for k, v := c.Seek(u64(after + 1)); k != nil && len(out) < limit; k, v = c.Next() {
			if len(v) != 32 {
				return fmt.Errorf("bolt: statement %x: bad stmtseq value %x", k, v)
			}
			st, err := statementIn(stmts, fingerprint.Fingerprint(v))
			if err != nil {
				return err
			}
			out = append(out, st)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// statementsAbout reads the statements about subject in tx (a view of the
// main file), in the order recorded; nil when there are none.
func statementsAbout(tx *bbolt.Tx, subject fingerprint.Fingerprint) ([]store.Statement, error) {
	list := tx.Bucket(bucketAbout).Get(subject[:])
	if list == nil {
		return nil, nil
	}
	if len(list)%32 != 0 {
		return nil, fmt.Errorf("bolt: the statements about %x: bad list of %d bytes", subject[:], len(list))
	}
	stmts := tx.Bucket(bucketStmt)
	out := make([]store.Statement, 0, len(list)/32)
	for i := 0; i < len(list); i += 32 {
		st, err := statementIn(stmts, fingerprint.Fingerprint(list[i:i+32]))
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func statementIn(stmts *bbolt.Bucket, fp fingerprint.Fingerprint) (store.Statement, error) {
	v := stmts.Get(fp[:])
	if v == nil {
		return store.Statement{}, fmt.Errorf("bolt: statement %x is listed but missing", fp[:])
	}
	return decodeStatement(fp, v)
}

// encodeStatement: version(1)=1 | seq(8) | subject(32) | text.
func encodeStatement(st store.Statement) []byte {
	v := make([]byte, 0, 1+8+32+len(st.Text))
	v = append(v, stmtVersion)
	v = binary.BigEndian.AppendUint64(v, st.Seq)
	v = append(v, st.Subject[:]...)
	return append(v, st.Text...)
}

func decodeStatement(fp fingerprint.Fingerprint, v []byte) (store.Statement, error) {
	if len(v) < 1+8+32+1 || v[0] != stmtVersion {
		return store.Statement{}, fmt.Errorf("bolt: statement %x: bad record of %d bytes", fp[:], len(v))
	}
	return store.Statement{
		Fingerprint: fp, Seq: binary.BigEndian.Uint64(v[1:9]),
		Subject: fingerprint.Fingerprint(v[9:41]), Text: bytes.Clone(v[41:]),
	}, nil
}
