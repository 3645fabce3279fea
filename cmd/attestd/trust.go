package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ethereum/go-ethereum/common"
	"github.com/spf13/cobra"

	"github.com/attestd/attestd/client/api"
	"github.com/attestd/attestd/internal/receipt"
	"github.com/attestd/attestd/internal/trust"
)

// trustEntry makes a server's trust list entry from its GET /v1/info:
// every receipt key with the period /v1/info gives it. A key made before
// rotation existed has no published start; it is listed from validFrom.
func trustEntry(info *api.Info, name, jurisdiction, contact string, validFrom time.Time) (*trust.Entry, error) {
	if strings.TrimSpace(name) == "" || strings.TrimSpace(jurisdiction) == "" {
		return nil, errors.New("--trust-entry needs --name and --jurisdiction (and --contact): /v1/info does not say who the issuer is")
	}
	if len(info.ReceiptKeys) == 0 {
		return nil, errors.New("info: the server publishes no receipt key")
	}
	e := &trust.Entry{Name: name, Jurisdiction: jurisdiction, Contact: contact}
	for _, k := range info.ReceiptKeys {
		tk := trust.Key{PublicKey: k.PublicKey, ValidFrom: validFrom.UTC().Truncate(time.Second)}
		if k.ValidFrom != nil {
			tk.ValidFrom = k.ValidFrom.UTC()
		}
		if k.ValidUntil != nil {
			u := k.ValidUntil.UTC()
			tk.ValidUntil = &u
		}
		e.ReceiptKeys = append(e.ReceiptKeys, tk)
	}
	for _, c := range info.Chains {
		if !common.IsHexAddress(c.Anchorer) || !common.IsHexAddress(c.Sink) || c.ChainID <= 0 {
			return nil, fmt.Errorf("info: chain %d: anchorer %q, sink %q: not addresses", c.ChainID, c.Anchorer, c.Sink)
		}
		e.Chains = append(e.Chains, trust.Chain{ChainID: uint64(c.ChainID), Anchorer: common.HexToAddress(c.Anchorer), Sink: common.HexToAddress(c.Sink)})
	}
	// The same checks a trust list gets: an entry trust add would refuse
	// is refused here.
	if err := (&trust.List{}).Add(*e); err != nil {
		return nil, err
	}
	return e, nil
}

// entryJSON renders one entry the way trust add reads it.
func entryJSON(e *trust.Entry) ([]byte, error) {
	b, err := (&trust.List{Version: trust.Version, Issuers: []trust.Entry{*e}}).Marshal()
	if err != nil {
		return nil, err
	}
	// The list is {"version":1,"issuers":[ENTRY]}: cut ENTRY out.
	s := string(b)
	s = strings.TrimSpace(s[strings.Index(s, "[")+1 : strings.LastIndex(s, "]")])
	return []byte(strings.ReplaceAll(s, "\n    ", "\n") + "\n"), nil
}

func newTrustCmd() *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "trust",
		Short: "Edit a verifier's trust list: the issuers verify --trust accepts",
		Long: `Edit a trust list (docs/trust-list.md): the issuers you trust, each with
its receipt keys and their validity and, per chain, the address it
anchors from and its sink. verify --trust FILE (or ATTESTD_TRUST) accepts
a proof only from an issuer in it.

  attestd info --server URL --trust-entry --name N --jurisdiction J --contact C \
    | attestd trust add --file trust.json -
  attestd trust list --file trust.json
  attestd trust remove --file trust.json NAME

Only add an entry you got from the issuer itself, or from someone you
trust to vouch for it: verify trusts whatever the list names. The file is
written atomically (mode 0644: it holds no secret).`,
	}
	cmd.PersistentFlags().StringVar(&file, "file", envDefault("ATTESTD_TRUST", "trust.json"), "the trust list (env ATTESTD_TRUST)")

	add := &cobra.Command{
		Use:   "add ENTRY|-",
		Short: "Add an issuer's entry (a file, or - for stdin), refusing duplicates",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var data []byte
			var err error
			if args[0] == "-" {
				data, err = io.ReadAll(io.LimitReader(cmd.InOrStdin(), trust.MaxFileSize+1))
			} else {
				data, err = os.ReadFile(args[0])
			}
			if err != nil {
				return err
			}
			e, err := trust.ParseEntry(data)
			if err != nil {
				return fmt.Errorf("the entry: %w", err)
			}
			l, err := loadOrNew(file)
			if err != nil {
				return err
			}
			if err := l.Add(*e); err != nil {
				return err
			}
			if err := l.Save(file); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added %q to %s (%d issuer(s))\n", e.Name, file, len(l.Issuers))
			return nil
		},
	}
	remove := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove the issuer named NAME",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			l, err := trust.Load(file)
			if err != nil {
				return err
			}
			if !l.Remove(args[0]) {
				return fmt.Errorf("%s has no issuer named %q", file, args[0])
			}
			if err := l.Save(file); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %q from %s (%d issuer(s) left)\n", args[0], file, len(l.Issuers))
			return nil
		},
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "Show the issuers of the list",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l, err := trust.Load(file)
			if err != nil {
				return err
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			for _, e := range l.Issuers {
				fmt.Fprintf(w, "%s\t(%s)\t%s\n", e.Name, e.Jurisdiction, e.Contact)
				for _, k := range e.ReceiptKeys {
					fmt.Fprintf(w, "  receipt key %s\t%s\t\n", receipt.KeyID(k.PublicKey), k.Period())
				}
				for _, c := range e.Chains {
					fmt.Fprintf(w, "  chain %d\tanchorer %s\tsink %s\n", c.ChainID, c.Anchorer.Hex(), c.Sink.Hex())
				}
			}
			return w.Flush()
		},
	}
	cmd.AddCommand(add, remove, list)
	return cmd
}

// loadOrNew loads the trust list at path, or returns an empty one when
// there is no file yet.
func loadOrNew(path string) (*trust.List, error) {
	l, err := trust.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &trust.List{Version: trust.Version}, nil
	}
	return l, err
}
