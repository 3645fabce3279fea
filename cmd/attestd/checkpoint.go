package main

import (
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/spf13/cobra"

	"github.com/attestd/attestd/internal/attestfile"
	"github.com/attestd/attestd/internal/checkpoint"
	"github.com/attestd/attestd/internal/endpoints"
)

func newCheckpointCmd() *cobra.Command {
	var (
		rpcURLs []string
		out     string
		back    uint64
	)
	cmd := &cobra.Command{
		Use:   "checkpoint --rpc URL [--rpc URL]... [--out FILE] [FILE.attest...]",
		Short: "Record block hashes several chain endpoints agree on, for verify --offline --checkpoint",
		Long: `checkpoint asks every --rpc endpoint which chain it serves and records,
per chain, a recent block (--back blocks below the lowest head) whose hash
all of that chain's endpoints agree on; for each .attest file given, it
also records the block of each of its anchors, so that verify --offline
--checkpoint FILE can check those documents with no network at all.

Give several endpoints per chain run by different parties: a checkpoint
is only as good as the endpoints that agreed on it. Any disagreement, or
an endpoint that does not answer, stops it and nothing is written. With
--out, the blocks are added to the file (created if absent; a block it
already holds with another hash is refused); without it the file is
printed. See docs/checkpoints.md for publishing one.`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(rpcURLs) == 0 {
				return errors.New("--rpc: give at least one chain endpoint (better several, run by different parties)")
			}
			for _, u := range rpcURLs {
				if err := needScheme("--rpc", u, false); err != nil {
					return err
				}
			}
			ctx := cmd.Context()
			eps, err := endpoints.Dial(ctx, rpcURLs)
			if err != nil {
				return err
			}
			defer eps.Close()
			for _, err := range eps.Unanswered {
				fmt.Fprintf(cmd.ErrOrStderr(), "attestd: %v\n", err)
			}
			if len(eps.Down) > 0 {
				return fmt.Errorf("the endpoint %s did not say which chain it serves: nothing recorded", eps.Down[0].Name)
			}
			f := &checkpoint.File{}
			if out != "" {
				if old, err := checkpoint.Load(out); err == nil {
					f = old
				} else if !errors.Is(err, os.ErrNotExist) {
					return err
				}
			}
			byChain := map[uint64][]checkpoint.Endpoint{}
			for id, list := range eps.ByChain {
				for _, e := range list {
					byChain[id] = append(byChain[id], checkpoint.Endpoint{Name: e.Name, Reader: e.Chain})
				}
			}
			for _, id := range eps.Order {
				b, err := checkpoint.Latest(ctx, id, byChain[id], back)
				if err != nil {
					return err
				}
				if err := f.Add(id, b); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "chain %d, block %d: %s (%d endpoint(s) agree)\n", id, b.Number, b.Hash.Hex(), len(byChain[id]))
			}
			for _, p := range args {
				af, err := attestfile.Read(p)
				if err != nil {
					return err
				}
				if af.Proof == nil {
					return fmt.Errorf("%s holds no proof yet: run attestd upgrade first", p)
				}
				for _, a := range af.Proof.Anchors {
					list, ok := byChain[a.ChainID]
					if !ok {
						fmt.Fprintf(cmd.ErrOrStderr(), "%s: no endpoint for chain %d: its anchor is not recorded\n", p, a.ChainID)
						continue
					}
					b, err := checkpoint.At(ctx, a.ChainID, list, a.BlockNumber)
					if err != nil {
						return fmt.Errorf("%s: %w", p, err)
					}
					if err := f.Add(a.ChainID, b); err != nil {
						return err
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "%s: chain %d, block %d: %s\n", p, a.ChainID, b.Number, b.Hash.Hex())
				}
			}
			f.TakenAt = time.Now().UTC().Truncate(time.Second)
			for _, id := range eps.Order {
				for _, e := range eps.ByChain[id] {
					if !slices.Contains(f.Endpoints, e.Name) {
						f.Endpoints = append(f.Endpoints, e.Name)
					}
				}
			}
			if out == "" {
				b, err := f.Marshal()
				if err != nil {
					return err
				}
				_, err = cmd.OutOrStdout().Write(b)
				return err
			}
			return f.Save(out)
		},
	}
	cmd.Flags().StringArrayVar(&rpcURLs, "rpc", nil, "a chain endpoint; repeat for several chains, and for several endpoints of one chain (they must agree)")
	cmd.Flags().StringVar(&out, "out", "", "the checkpoint file to add to (created if absent); default: print it")
	cmd.Flags().Uint64Var(&back, "back", 0, "how many blocks below the lowest head the recent block is taken (a block a reorg can no longer replace)")
	return cmd
}
