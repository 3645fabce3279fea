package redis

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	goredis "github.com/redis/go-redis/v9"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/store"
)

// AddStatement implements store.Store in one script call, answered after
// the AOF has it (like Submit).
func (s *Store) AddStatement(ctx context.Context, st store.Statement) (store.Statement, error) {
	switch {
	case st.Fingerprint.IsZero() || st.Subject.IsZero():
		return store.Statement{}, errors.New("redis: a statement needs its fingerprint and its subject")
	case len(st.Text) == 0 || len(st.Text) > store.MaxStatementText:
		return store.Statement{}, fmt.Errorf("redis: a statement's text is 1 to %d bytes, not %d", store.MaxStatementText, len(st.Text))
	}
	var out store.Statement
	err := s.do(ctx, func() error {
		reply, err := s.run(ctx, addStatementScript, []string{s.k.stmt, s.k.stmtlog, s.k.about}, st.Fingerprint[:], st.Subject[:], st.Text).Slice()
		if err != nil {
			return fmt.Errorf("redis: add statement: %w", err)
		}
		v, ok := reply[1].(string)
		if len(reply) != 2 || !ok {
			return fmt.Errorf("redis: add statement: unexpected reply %v", reply)
		}
		if out, err = decodeStatement(st.Fingerprint, v); err != nil {
			return err
		}
		if out.Subject != st.Subject || !bytes.Equal(out.Text, st.Text) {
			return fmt.Errorf("statement %x: %w: recorded with another subject or text", st.Fingerprint[:], store.ErrConflict)
		}
		return nil
	})
	if err != nil {
		return store.Statement{}, err
	}
	return out, nil
}

// Statement implements store.Store with one HGET.
func (s *Store) Statement(ctx context.Context, fp fingerprint.Fingerprint) (store.Statement, error) {
	var st store.Statement
	err := s.do(ctx, func() error {
		v, err := s.rdb.HGet(ctx, s.k.stmt, string(fp[:])).Result()
		if errors.Is(err, goredis.Nil) {
			return fmt.Errorf("statement %x: %w", fp[:], store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("redis: statement: %w", err)
		}
		st, err = decodeStatement(fp, v)
		return err
	})
	return st, err
}

// Statements implements store.Store: an LRANGE of the statement log, then
// one HMGET (statements are only ever appended, so the second read finds
// every one the first listed). limit <= 0 returns none.
func (s *Store) Statements(ctx context.Context, after uint64, limit int) ([]store.Statement, error) {
	out := []store.Statement{}
	err := s.do(ctx, func() error {
		if limit <= 0 || after >= 1<<62 {
			return nil
		}
		fps, err := s.rdb.LRange(ctx, s.k.stmtlog, int64(after), int64(after)+int64(limit)-1).Result()
		if err != nil {
			return fmt.Errorf("redis: statements: %w", err)
		}
		if len(fps) == 0 {
			return nil
		}
		vs, err := s.rdb.HMGet(ctx, s.k.stmt, fps...).Result()
		if err != nil {
			return fmt.Errorf("redis: statements: %w", err)
		}
		for i, v := range vs {
			str, ok := v.(string)
			if len(fps[i]) != 32 || !ok {
				return fmt.Errorf("redis: statement %x is listed but missing", fps[i])
			}
			st, err := decodeStatement(fingerprint.Fingerprint([]byte(fps[i])), str)
			if err != nil {
				return err
			}
			if st.Seq != after+uint64(i)+1 {
				return fmt.Errorf("redis: statement %x has seq %d at position %d of the log", fps[i], st.Seq, after+uint64(i)+1)
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

// decodeStatements decodes proofScript's list of the statements about
// subject.
func decodeStatements(subject fingerprint.Fingerprint, r any) ([]store.Statement, error) {
	vs, ok := r.([]any)
	if !ok {
		return nil, fmt.Errorf("redis: unexpected statements in a proof reply: %v", r)
	}
	if len(vs) == 0 {
		return nil, nil
	}
	if len(vs)%2 != 0 {
		return nil, fmt.Errorf("redis: unexpected statements in a proof reply: %d elements", len(vs))
	}
	out := make([]store.Statement, 0, len(vs)/2)
	for i := 0; i < len(vs); i += 2 {
		fp, ok1 := vs[i].(string)
		str, ok2 := vs[i+1].(string)
		if !ok1 || !ok2 || len(fp) != 32 || str == "" {
			return nil, fmt.Errorf("redis: a statement about %x is listed but missing", subject[:])
		}
		st, err := decodeStatement(fingerprint.Fingerprint([]byte(fp)), str)
		if err != nil {
			return nil, err
		}
		if st.Subject != subject {
			return nil, fmt.Errorf("redis: a statement listed about %x is about %x", subject[:], st.Subject[:])
		}
		out = append(out, st)
	}
	return out, nil
}

// decodeStatement decodes a stmt value: 1 | seq(8) | subject(32) | text.
func decodeStatement(fp fingerprint.Fingerprint, v string) (store.Statement, error) {
	if len(v) < 1+8+32+1 || v[0] != 1 {
		return store.Statement{}, fmt.Errorf("redis: statement %x: bad record of %d bytes", fp[:], len(v))
	}
	return store.Statement{
		Fingerprint: fp, Seq: binary.BigEndian.Uint64([]byte(v[1:9])),
		Subject: fingerprint.Fingerprint([]byte(v[9:41])), Text: []byte(v[41:]),
	}, nil
}
