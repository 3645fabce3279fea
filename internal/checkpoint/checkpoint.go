// Package checkpoint reads, writes and takes checkpoint files: block
// numbers and hashes, per chain, that several JSON-RPC endpoints agreed on
// when the file was made. An offline verifier (attestd verify --offline
// --checkpoint FILE) takes a checkpoint's hash as the trusted hash of a
// block, instead of asking a node: the proof's sealed chain evidence then
// links the anchor's block to it (docs/proof-format.md, "Offline
// verification").
//
// A checkpoint is only as good as who made it. An institution or a
// national contact point makes one with endpoints it chose (its own node,
// a public one, an explorer's), several so that one lying endpoint cannot
// slip a false hash in, and publishes it where its verifiers fetch it
// (docs/checkpoints.md).
//
// The file format (version 1), JSON:
//
//	{"version": 1, "taken_at": "2026-12-07T10:00:00Z",
//	 "endpoints": ["https://rpc-a.example", "https://rpc-b.example"],
//	 "chains": [{"chain_id": 1337, "blocks": [{"number": 4211, "hash": "0x…"}]}]}
//
// Parse is strict: internal/strictjson refuses duplicate and case-variant
// names and unknown fields; a chain listed twice, a block number listed
// twice for one chain with two hashes, a zero chain id or hash, or more
// than MaxBlocks blocks is refused.
package checkpoint

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"slices"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"

	"github.com/attestd/attestd/internal/atomicfile"
	"github.com/attestd/attestd/internal/strictjson"
)

// Version is the checkpoint format this package reads and writes.
const Version = 1

// MaxBlocks bounds the blocks one file holds (all chains together), and
// MaxFileSize its size.
const (
	MaxBlocks   = 100_000
	MaxFileSize = 16 << 20
)

// ErrInvalid is wrapped by every refusal of Parse.
var ErrInvalid = errors.New("invalid checkpoint file")

// File is a checkpoint file.
type File struct {
	Version   int       `json:"version"`
	TakenAt   time.Time `json:"taken_at"`
	Endpoints []string  `json:"endpoints"` // who agreed (scheme and host only)
	Chains    []Chain   `json:"chains"`
}

// Chain holds one chain's checkpointed blocks, ascending by number.
type Chain struct {
	ChainID uint64  `json:"chain_id"`
	Blocks  []Block `json:"blocks"`
}

// Block is one block's number and hash.
type Block struct {
	Number uint64      `json:"number"`
	Hash   common.Hash `json:"hash"`
}

// Parse decodes and checks a checkpoint file.
func Parse(data []byte) (*File, error) {
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrInvalid, MaxFileSize)
	}
	var f File
	if err := strictjson.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if f.Version != Version {
		return nil, fmt.Errorf("%w: version %d (this verifier reads version %d)", ErrInvalid, f.Version, Version)
	}
	n := 0
	for i, c := range f.Chains {
		if c.ChainID == 0 {
			return nil, fmt.Errorf("%w: chains[%d]: no chain_id", ErrInvalid, i)
		}
		for _, o := range f.Chains[:i] {
			if o.ChainID == c.ChainID {
				return nil, fmt.Errorf("%w: chain %d is listed twice", ErrInvalid, c.ChainID)
			}
		}
		for j, b := range c.Blocks {
			if b.Hash == (common.Hash{}) {
				return nil, fmt.Errorf("%w: chain %d, blocks[%d]: no hash", ErrInvalid, c.ChainID, j)
			}
			if j > 0 && b.Number <= c.Blocks[j-1].Number {
				return nil, fmt.Errorf("%w: chain %d: blocks must be listed once each, ascending by number (%d after %d)", ErrInvalid, c.ChainID, b.Number, c.Blocks[j-1].Number)
			}
		}
		if n += len(c.Blocks); n > MaxBlocks {
			return nil, fmt.Errorf("%w: more than %d blocks", ErrInvalid, MaxBlocks)
		}
	}
	return &f, nil
}

// Load reads and parses the checkpoint file at path.
func Load(path string) (*File, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	f, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return f, nil
}

// Marshal renders f as indented JSON that Parse accepts.
func (f *File) Marshal() ([]byte, error) {
	f.Version = Version
	for i := range f.Chains {
		if f.Chains[i].Blocks == nil {
			f.Chains[i].Blocks = []Block{}
		}
	}
	if f.Endpoints == nil {
		f.Endpoints = []string{}
	}
	if f.Chains == nil {
		f.Chains = []Chain{}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, err
	}
	if _, err := Parse(b); err != nil { // never write what Parse refuses
		return nil, err
	}
	return append(b, '\n'), nil
}

// Save writes f to path atomically (mode 0644: a checkpoint holds nothing
// secret).
func (f *File) Save(path string) error {
	b, err := f.Marshal()
	if err != nil {
		return err
	}
	return atomicfile.Write(path, b, 0o644)
}

// Trusted returns the hashes f records for chainID, by block number.
func (f *File) Trusted(chainID uint64) map[uint64]common.Hash {
	out := map[uint64]common.Hash{}
	for _, c := range f.Chains {
		if c.ChainID == chainID {
			for _, b := range c.Blocks {
				out[b.Number] = b.Hash
			}
		}
	}
	return out
}

// Add records block b of chainID, keeping the blocks ascending; it
// refuses a number already recorded with another hash.
func (f *File) Add(chainID uint64, b Block) error {
	i := slices.IndexFunc(f.Chains, func(c Chain) bool { return c.ChainID == chainID })
	if i < 0 {
		f.Chains = append(f.Chains, Chain{ChainID: chainID})
		slices.SortFunc(f.Chains, func(a, b Chain) int { return cmp.Compare(a.ChainID, b.ChainID) })
		i = slices.IndexFunc(f.Chains, func(c Chain) bool { return c.ChainID == chainID })
	}
	c := &f.Chains[i]
	j, found := slices.BinarySearchFunc(c.Blocks, b.Number, func(x Block, n uint64) int { return cmp.Compare(x.Number, n) })
	if found {
		if c.Blocks[j].Hash != b.Hash {
			return fmt.Errorf("chain %d, block %d: the file says %s, the endpoints now say %s", chainID, b.Number, c.Blocks[j].Hash.Hex(), b.Hash.Hex())
		}
		return nil
	}
	c.Blocks = slices.Insert(c.Blocks, j, b)
	return nil
}

// Reader is what Take asks an endpoint (an *ethclient.Client is one).
type Reader interface {
	HeaderByNumber(ctx context.Context, number *big.Int) (*types.Header, error)
}

// Endpoint is one endpoint of a chain, with a name that holds no secret.
type Endpoint struct {
	Name   string
	Reader Reader
}

// Disagreement is what Take returns when the endpoints do not agree on a
// block: it names what each said.
type Disagreement struct {
	ChainID uint64
	Number  uint64
	Said    map[string]string // endpoint name → its hash (or its error)
}

func (d *Disagreement) Error() string {
	return fmt.Sprintf("chain %d, block %d: the endpoints disagree (%v)", d.ChainID, d.Number, d.Said)
}

// Latest returns the highest block at or below every endpoint's head
// (minus back blocks, to stay clear of blocks a reorg may still replace)
// on whose hash all eps agree.
func Latest(ctx context.Context, chainID uint64, eps []Endpoint, back uint64) (Block, error) {
	var low uint64
	for i, e := range eps {
		h, err := e.Reader.HeaderByNumber(ctx, nil)
		if err != nil {
			return Block{}, fmt.Errorf("chain %d: %s: %w", chainID, e.Name, err)
		}
		if n := h.Number.Uint64(); i == 0 || n < low {
			low = n
		}
	}
	if low < back {
		return Block{}, fmt.Errorf("chain %d: the head (block %d) is not %d blocks deep yet", chainID, low, back)
	}
	return At(ctx, chainID, eps, low-back)
}

// At returns block number n of the chain, when every endpoint holds the
// same block there; else a *Disagreement or the first endpoint's error.
func At(ctx context.Context, chainID uint64, eps []Endpoint, n uint64) (Block, error) {
	if len(eps) == 0 {
		return Block{}, errors.New("no endpoint")
	}
	said := map[string]string{}
	var hash common.Hash
	agree := true
	for i, e := range eps {
		h, err := e.Reader.HeaderByNumber(ctx, new(big.Int).SetUint64(n))
		if err != nil {
			return Block{}, fmt.Errorf("chain %d, block %d: %s: %w", chainID, n, e.Name, err)
		}
		if h.Number == nil || h.Number.Uint64() != n {
			return Block{}, fmt.Errorf("chain %d: %s answered block %v when asked for %d", chainID, e.Name, h.Number, n)
		}
		said[e.Name] = h.Hash().Hex()
		if i == 0 {
			hash = h.Hash()
		} else if h.Hash() != hash {
			agree = false
		}
	}
	if !agree {
		return Block{}, &Disagreement{ChainID: chainID, Number: n, Said: said}
	}
	return Block{Number: n, Hash: hash}, nil
}
