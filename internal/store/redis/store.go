package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/attestd/attestd/internal/fingerprint"
	"github.com/attestd/attestd/internal/merkle"
	"github.com/attestd/attestd/internal/store"
)

// Submit implements store.Store in one script call, which checks
// maxPending against the pending list's length and writes atomically. A
// submission with a zero ReceivedAt is recorded as received now. Times are
// kept to the nanosecond and returned in UTC. The reply comes after the
// server has written the new entries and records to its AOF (fsync'd with
// appendfsync always; see Durability).
func (s *Store) Submit(ctx context.Context, subs []store.Submission, maxPending int) ([]store.Record, int, error) {
	now := time.Now()
	blob := make([]byte, 32*len(subs))
	args := make([]any, 2+len(subs))
	news := make([]store.Entry, len(subs))
	for i, sub := range subs {
		copy(blob[32*i:], sub.Fingerprint[:])
		recv := sub.ReceivedAt
		if recv.IsZero() {
			recv = now
		}
		news[i] = store.Entry{
			Fingerprint: sub.Fingerprint,
			Institution: sub.Institution,
			ReceivedAt:  decodeTime(encodeTime(recv)),
		}
		args[2+i] = encodeNewEntry(news[i])
	}
	args[0], args[1] = max(maxPending, 0), blob
	var out []store.Record
	pending := 0
	err := s.do(ctx, func() error {
		if len(subs) == 0 {
			out = []store.Record{}
			n, err := s.rdb.LLen(ctx, s.k.pending).Result()
			if err != nil {
				return fmt.Errorf("redis: submit: %w", err)
			}
			pending = int(n)
			return nil
		}
		reply, err := s.run(ctx, submitScript, []string{s.k.entries, s.k.pending, s.k.fpseq, s.k.subs}, args...).Slice()
		if err != nil {
			return fmt.Errorf("redis: submit: %w", err)
		}
		code, n, res, err := submitReply(reply)
		if err != nil {
			return err
		}
		pending = n
		if code == scriptFull {
			return fmt.Errorf("%w: %d fingerprints are waiting to be sealed, and %d new ones would pass the limit of %d", store.ErrFull, n, res[0], maxPending)
		}
		if len(res) != len(subs) {
			return fmt.Errorf("redis: submit: %d results for %d submissions", len(res), len(subs))
		}
		out = make([]store.Record, len(subs))
		for i, r := range res {
			e := news[i]
			out[i] = store.Record{Fingerprint: e.Fingerprint, Institution: e.Institution, ReceivedAt: e.ReceivedAt}
			switch r := r.(type) {
			case int64:
				if r != 0 && r != 1 {
					return fmt.Errorf("redis: submit: unexpected result %d", r)
				}
				out[i].New = r == 0
			case string:
				t, err := decodeReceived(e.Fingerprint, r)
				if err != nil {
					return err
				}
				out[i].ReceivedAt = t
			default:
				return fmt.Errorf("redis: submit: unexpected result %T", r)
			}
		}
		return nil
	})
	if err != nil {
		return nil, 0, err
	}
	return out, pending, nil
}

// submitReply splits submitScript's reply: its status code, the pending
// count, and the results (scriptOK) or the number of new fingerprints
// (scriptFull).
func submitReply(reply []any) (code int64, pending int, res []any, err error) {
	if len(reply) == 3 {
		code, _ = reply[0].(int64)
		n, ok := reply[1].(int64)
		switch {
		case !ok:
		case code == scriptOK:
			if res, ok = reply[2].([]any); ok {
				return code, int(n), res, nil
			}
		case code == scriptFull:
			return code, int(n), reply[2:], nil
		}
	}
	return 0, 0, nil, fmt.Errorf("redis: submit: unexpected script reply %v", reply)
}

// Entry implements store.Store.
func (s *Store) Entry(ctx context.Context, fp fingerprint.Fingerprint) (store.Entry, error) {
	var e store.Entry
	err := s.do(ctx, func() error {
		r, err := s.run(ctx, entryScript, []string{s.k.entries, s.k.sealed, s.k.starts}, fp[:]).Result()
		if errors.Is(err, goredis.Nil) {
			return fmt.Errorf("fingerprint %x: %w", fp[:], store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("redis: entry: %w", err)
		}
		e, err = decodeLocated(fp, r)
		return err
	})
	return e, err
}

// Submission implements store.Store in one script call.
func (s *Store) Submission(ctx context.Context, fp fingerprint.Fingerprint, institution string) (store.Record, store.Entry, error) {
	var rec store.Record
	var e store.Entry
	err := s.do(ctx, func() error {
		r, err := s.run(ctx, submissionScript, []string{s.k.entries, s.k.sealed, s.k.starts, s.k.subs}, fp[:], institution).Result()
		if errors.Is(err, goredis.Nil) {
			return fmt.Errorf("fingerprint %x: %w", fp[:], store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("redis: submission: %w", err)
		}
		rec, e, err = decodeSubmission(fp, institution, r)
		return err
	})
	return rec, e, err
}

// Proof implements store.Store in two round trips: a script finds the
// entry, its batch and the batch's size; one pipeline then reads the batch
// and the path's nodes.
func (s *Store) Proof(ctx context.Context, fp fingerprint.Fingerprint) (store.Proof, error) {
	var p store.Proof
	err := s.do(ctx, func() error {
		r, err := s.run(ctx, proofScript, []string{s.k.entries, s.k.sealed, s.k.starts, s.k.about, s.k.stmt}, fp[:]).Result()
		if errors.Is(err, goredis.Nil) {
			return fmt.Errorf("fingerprint %x: %w", fp[:], store.ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("redis: proof: %w", err)
		}
		a, ok := r.([]any)
		if !ok || len(a) != 5 {
			return fmt.Errorf("redis: unexpected proof reply %v", r)
		}
		e, err := decodeLocated(fp, a[:3])
		if err != nil {
			return err
		}
		if p.Statements, err = decodeStatements(fp, a[4]); err != nil {
			return err
		}
		size, ok := a[3].(int64)
		if !ok || size < 0 {
			return fmt.Errorf("redis: unexpected proof reply %v", r)
		}
		if e.Pending() {
			p.Entry = e
			return nil
		}
		p.Entry = e
		pos, err := merkle.PathPositions(e.Index, uint64(size))
		if err != nil {
			return fmt.Errorf("redis: batch %d: %w", e.BatchID, err)
		}
		var batch *goredis.MapStringStringCmd
		var nodes []*goredis.StringCmd
		if _, err := s.rdb.Pipelined(ctx, func(pl goredis.Pipeliner) error {
			batch = pl.HGetAll(ctx, s.k.batchKey(e.BatchID))
			nodes = s.nodeCmds(ctx, pl, e.BatchID, pos)
			return nil
		}); err != nil {
			return fmt.Errorf("redis: proof: %w", err)
		}
		if len(batch.Val()) == 0 { // not ErrNotFound: the fingerprint exists
			return fmt.Errorf("redis: %x is in batch %d, which is missing", fp[:], e.BatchID)
		}
		b, err := decodeBatch(e.BatchID, batch.Val())
		if err != nil {
			return err
		}
		if b.Size != uint64(size) {
			return fmt.Errorf("redis: batch %d has %d fingerprints, its sequence numbers say %d", b.ID, b.Size, size)
		}
		path, err := readNodes(nodes, b.ID, pos)
		if err != nil {
			return err
		}
		p.Batch, p.Path = b, path
		return nil
	})
	return p, err
}

// PendingStats implements store.Store in O(1), in one script call.
func (s *Store) PendingStats(ctx context.Context) (count int, oldest time.Time, err error) {
	err = s.do(ctx, func() error {
		res, err := s.run(ctx, pendingStatsScript, []string{s.k.pending, s.k.entries}).Slice()
		if err != nil {
			return fmt.Errorf("redis: pending stats: %w", err)
		}
		n, ok := res[0].(int64)
		if !ok || len(res) != 2 {
			return fmt.Errorf("redis: pending stats: unexpected result %v", res)
		}
		count = int(n)
		if n == 0 {
			return nil
		}
		v, ok := res[1].(string)
		if !ok {
			return errors.New("redis: the oldest pending fingerprint has no entry")
		}
		e, err := decodeEntry(fingerprint.Fingerprint{}, v)
		oldest = e.ReceivedAt
		return err
	})
	if err != nil {
		return 0, time.Time{}, err
	}
	return count, oldest, nil
}

// Pending implements store.Store with one LRANGE. max <= 0 returns none.
func (s *Store) Pending(ctx context.Context, limit int) ([]fingerprint.Fingerprint, error) {
	out := []fingerprint.Fingerprint{}
	err := s.do(ctx, func() error {
		if limit <= 0 {
			return nil
		}
		vs, err := s.rdb.LRange(ctx, s.k.pending, 0, int64(limit)-1).Result()
		if err != nil {
			return fmt.Errorf("redis: pending: %w", err)
		}
		out = make([]fingerprint.Fingerprint, len(vs))
		for i, v := range vs {
			if len(v) != 32 {
				return fmt.Errorf("redis: bad pending value %x", v)
			}
			out[i] = fingerprint.Fingerprint([]byte(v))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// stageTTL bounds how long staged levels of a commit that never ran stay
// in Redis.
const stageTTL = time.Hour

// stageChunk is the size of one APPEND when staging levels.
const stageChunk = 1 << 20

// CommitBatch implements store.Store. It fails with store.ErrFenced unless
// this store holds the lease, checked atomically with the commit. Besides
// store.ErrConflict it refuses, with other errors, an empty fps or a tree
// that is not the tree of fps; those checks run before anything is sent.
//
// The batch ID is read before the script, which refuses (ErrConflict) if
// another commit took it meanwhile. A tree larger than 1 MiB is first
// written to staging keys that only the script makes visible.
func (s *Store) CommitBatch(ctx context.Context, fps []fingerprint.Fingerprint, tree *merkle.Tree, sealedAt time.Time) (store.Batch, error) {
	if err := ctx.Err(); err != nil {
		return store.Batch{}, err
	}
	if err := store.CheckTree(fps, tree); err != nil {
		return store.Batch{}, err
	}
	b := store.Batch{Size: tree.Size, Root: tree.Root, SealedAt: decodeTime(encodeTime(sealedAt))}
	header := encodeHeader(b)
	blob := make([]byte, 32*len(fps))
	for i := range fps {
		copy(blob[32*i:], fps[i][:])
	}
	treeBytes := 0
	for _, l := range tree.Levels {
		treeBytes += len(l)
	}
	lease := s.heldLease()
	err := s.do(ctx, func() (err error) {
		seq, err := s.rdb.Get(ctx, s.k.seq).Uint64()
		if err != nil && !errors.Is(err, goredis.Nil) {
			return fmt.Errorf("redis: commit: %w", err)
		}
		b.ID = seq + 1
		L := len(tree.Levels)
		keys := s.k.commitKeys(b.ID, L)
		args := make([]any, 6, 6+L)
		args[0], args[1], args[2], args[3], args[4] = lease, strconv.FormatUint(b.ID, 10), blob, header, L
		if treeBytes <= s.stageAbove {
			args[5] = "i"
			for _, level := range tree.Levels {
				args = append(args, level)
			}
		} else {
			args[5] = "s"
			staged, serr := s.stage(ctx, tree)
			if serr != nil {
				return serr
			}
			keys = append(keys, staged...)
			for _, level := range tree.Levels {
				args = append(args, len(level))
			}
			defer func() {
				if err != nil {
					// The script did not rename them. They would expire,
					// but need not wait for it.
					_ = s.rdb.Del(context.WithoutCancel(ctx), staged...).Err()
				}
			}()
		}
		res, err := s.run(ctx, commitScript, keys, args...).Slice()
		if err != nil {
			return fmt.Errorf("redis: commit: %w", err)
		}
		return s.scriptResult("commit", res, lease)
	})
	if err != nil {
		return store.Batch{}, err
	}
	return b, nil
}

// AdoptBatch implements store.Store in one script call, fenced like
// CommitBatch.
func (s *Store) AdoptBatch(ctx context.Context, b store.Batch) error {
	if b.Size == 0 {
		return fmt.Errorf("%w: batch %d adopted with size 0", store.ErrConflict, b.ID)
	}
	header := encodeHeader(store.Batch{Size: b.Size, Root: b.Root, SealedAt: b.SealedAt})
	lease := s.heldLease()
	return s.do(ctx, func() error {
		res, err := s.run(ctx, adoptScript, []string{s.k.lease, s.k.seq, s.k.batchKey(b.ID)},
			lease, strconv.FormatUint(b.ID, 10), header).Slice()
		if err != nil {
			return fmt.Errorf("redis: adopt batch: %w", err)
		}
		return s.scriptResult("adopt batch", res, lease)
	})
}

// stage writes tree's levels to new staging keys with a TTL, in chunks,
// and returns the keys.
func (s *Store) stage(ctx context.Context, tree *merkle.Tree) ([]string, error) {
	var tagBytes [8]byte
	_, _ = rand.Read(tagBytes[:])
	tag := hex.EncodeToString(tagBytes[:])
	staged := make([]string, len(tree.Levels))
	for l, level := range tree.Levels {
		staged[l] = s.k.stageKey(tag, l)
		_, err := s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
			p.Set(ctx, staged[l], level[:min(len(level), stageChunk)], stageTTL)
			for off := stageChunk; off < len(level); off += stageChunk {
				p.Append(ctx, staged[l], string(level[off:min(len(level), off+stageChunk)]))
			}
			return nil
		})
		if err != nil {
			_ = s.rdb.Del(context.WithoutCancel(ctx), staged[:l+1]...).Err()
			return nil, fmt.Errorf("redis: staging tree level %d: %w", l, err)
		}
	}
	return staged, nil
}

// scriptResult turns the status reply of a write script into an error.
func (s *Store) scriptResult(op string, res []any, lease string) error {
	if len(res) == 0 {
		return fmt.Errorf("redis: %s: empty script reply", op)
	}
	code, _ := res[0].(int64)
	msg := ""
	if len(res) > 1 {
		msg, _ = res[1].(string)
	}
	switch code {
	case scriptOK:
		return nil
	case scriptConflict:
		return fmt.Errorf("%w: %s", store.ErrConflict, msg)
	case scriptFenced:
		s.lostLease(lease)
		return fmt.Errorf("redis: %s: %w", op, store.ErrFenced)
	case scriptStaging:
		return fmt.Errorf("redis: %s: %s (did the staging keys expire?)", op, msg)
	}
	return fmt.Errorf("redis: %s: unexpected script reply %v", op, res)
}

// Batch implements store.Store with one HGETALL.
func (s *Store) Batch(ctx context.Context, id uint64) (store.Batch, error) {
	var b store.Batch
	err := s.do(ctx, func() error {
		fields, err := s.rdb.HGetAll(ctx, s.k.batchKey(id)).Result()
		if err != nil {
			return fmt.Errorf("redis: batch: %w", err)
		}
		if len(fields) == 0 {
			return fmt.Errorf("batch %d: %w", id, store.ErrNotFound)
		}
		b, err = decodeBatch(id, fields)
		return err
	})
	return b, err
}

// Batches implements store.Store: batch IDs are 1 … seq without gaps, so
// it reads seq and then the batches' hashes in pipelines. limit <= 0
// returns none.
func (s *Store) Batches(ctx context.Context, after uint64, limit int) ([]store.Batch, error) {
	out := []store.Batch{}
	err := s.do(ctx, func() error {
		if limit <= 0 || after == math.MaxUint64 {
			return nil
		}
		last, err := s.rdb.Get(ctx, s.k.seq).Uint64()
		if err != nil && !errors.Is(err, goredis.Nil) {
			return fmt.Errorf("redis: batches: %w", err)
		}
		if last <= after {
			return nil
		}
		last = min(last, after+uint64(limit))
		const chunk = 256
		for first := after + 1; first <= last; first += chunk {
			n := min(chunk, last-first+1)
			cmds := make([]*goredis.MapStringStringCmd, n)
			_, err := s.rdb.Pipelined(ctx, func(p goredis.Pipeliner) error {
				for i := range n {
					cmds[i] = p.HGetAll(ctx, s.k.batchKey(first+i))
				}
				return nil
			})
			if err != nil {
				return fmt.Errorf("redis: batches: %w", err)
			}
			for i, c := range cmds {
				b, err := decodeBatch(first+uint64(i), c.Val())
				if err != nil {
					return err
				}
				out = append(out, b)
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// LatestBatch implements store.Store: batch IDs are 1 … seq.
func (s *Store) LatestBatch(ctx context.Context) (uint64, error) {
	var last uint64
	err := s.do(ctx, func() error {
		var err error
		last, err = s.rdb.Get(ctx, s.k.seq).Uint64()
		if errors.Is(err, goredis.Nil) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("redis: latest batch: %w", err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return last, nil
}

// nodeCmds queues one 32-byte GETRANGE per position of batch id on p
// (positions as PathPositions gives them).
func (s *Store) nodeCmds(ctx context.Context, p goredis.Pipeliner, id uint64, pos []merkle.Pos) []*goredis.StringCmd {
	cmds := make([]*goredis.StringCmd, len(pos))
	for i, q := range pos {
		start := int64(32 * q.Index)
		cmds[i] = p.GetRange(ctx, s.k.levelKey(id, q.Level), start, start+31)
	}
	return cmds
}

// readNodes returns the nodes nodeCmds read.
func readNodes(cmds []*goredis.StringCmd, id uint64, pos []merkle.Pos) ([][32]byte, error) {
	out := make([][32]byte, len(cmds))
	for i, c := range cmds {
		v := c.Val()
		if len(v) != 32 {
			return nil, fmt.Errorf("redis: batch %d has no node %d on level %d", id, pos[i].Index, pos[i].Level)
		}
		copy(out[i][:], v)
	}
	return out, nil
}

// Unconfirmed implements store.Store in one script call, which scans the
// batches from the chain's low-water mark (every batch below it has a
// confirmed anchor on the chain) and returns the unconfirmed ones with
// their anchors. limit <= 0 returns none.
func (s *Store) Unconfirmed(ctx context.Context, chainID uint64, limit int) ([]store.Batch, error) {
	out := []store.Batch{}
	err := s.do(ctx, func() error {
		if limit <= 0 {
			return nil
		}
		res, err := s.run(ctx, unconfirmedScript, []string{s.k.lowconf, s.k.seq},
			strconv.FormatUint(chainID, 10), limit, s.k.batch).Slice()
		if err != nil {
			return fmt.Errorf("redis: unconfirmed: %w", err)
		}
		for _, r := range res {
			pair, ok := r.([]any)
			if !ok || len(pair) != 2 {
				return fmt.Errorf("redis: unconfirmed: unexpected reply %v", r)
			}
			idText, _ := pair[0].(string)
			id, err := strconv.ParseUint(idText, 10, 64)
			if err != nil {
				return fmt.Errorf("redis: unconfirmed: bad batch ID %q", idText)
			}
			flat, _ := pair[1].([]any)
			fields := make(map[string]string, len(flat)/2)
			for i := 0; i+1 < len(flat); i += 2 {
				k, _ := flat[i].(string)
				v, _ := flat[i+1].(string)
				fields[k] = v
			}
			b, err := decodeBatch(id, fields)
			if err != nil {
				return err
			}
			out = append(out, b)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// PutAnchor implements store.Store in one script call, which also checks
// the lease (store.ErrFenced unless this store holds it). a.State must be
// one of the three AnchorStates and prev one of them or empty. Any
// transition is allowed if prev matches, including back from mined or
// confirmed after a reorg. Writing the record that is already stored
// succeeds whatever prev is (so a retried write whose reply was lost does
// not turn into a conflict).
func (s *Store) PutAnchor(ctx context.Context, a store.Anchor, prev store.AnchorState) error {
	val, err := store.EncodeAnchorWrite(a, prev)
	if err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	lease := s.heldLease()
	return s.do(ctx, func() error {
		res, err := putAnchorScript.Run(ctx, s.rdb,
			[]string{s.k.lease, s.k.batchKey(a.BatchID), s.k.lowconf, s.k.seq},
			lease, strconv.FormatUint(a.BatchID, 10), strconv.FormatUint(a.ChainID, 10),
			string(prev), string(a.State), val, s.k.batch).Slice()
		if err != nil {
			return fmt.Errorf("redis: put anchor: %w", err)
		}
		if len(res) > 0 {
			switch code, _ := res[0].(int64); code {
			case scriptNotFound:
				return fmt.Errorf("batch %d: %w", a.BatchID, store.ErrNotFound)
			case scriptConflict:
				cur := ""
				if len(res) > 1 {
					cur, _ = res[1].(string)
				}
				return fmt.Errorf("%w: anchor of batch %d on chain %d is %q, not %q", store.ErrConflict, a.BatchID, a.ChainID, cur, prev)
			}
		}
		return s.scriptResult("put anchor", res, lease)
	})
}
