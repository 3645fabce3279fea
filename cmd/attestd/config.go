package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// applyConfigFile gives the flags of fs that the command line left unset
// the values of the YAML file at path: a mapping from flag names (without
// the dashes) to the values the flags would take, so the file and the
// command line accept the same settings and check them the same way.
//
//	store: redis://redis.internal:6379/0
//	batch-interval: 1m
//	max-batch-size: 100000
//
// The command line wins over the file. An unknown name (names are
// case-sensitive), a value the flag refuses, a name given twice (however
// quoted), anything but a flat mapping of scalars, or a second YAML
// document is an error naming the file and line. The file holds no secrets: the flags
// that take one name a file holding it.
func applyConfigFile(fs *pflag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	// A Decoder, not yaml.Unmarshal: Unmarshal reads the first document
	// and ignores the rest, so "store: a\n---\nstore: b" would set the
	// store another YAML reader takes to be b.
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil && err != io.EOF {
		return fmt.Errorf("--config %s: %w", path, err)
	}
	for {
		var more yaml.Node
		err := dec.Decode(&more)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("--config %s: %w", path, err)
		}
		if len(more.Content) > 0 && more.Content[0].Tag != "!!null" { // an empty document holds nothing
			return fmt.Errorf("--config %s: line %d: a second YAML document; the file must hold one mapping", path, more.Content[0].Line)
		}
	}
	if len(doc.Content) == 0 {
		return nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return fmt.Errorf("--config %s: line %d: want a mapping of flag names to values", path, root.Line)
	}
	seen := map[string]bool{}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		at := func(err error) error { return fmt.Errorf("--config %s: line %d: %s: %w", path, k.Line, k.Value, err) }
		if k.Kind != yaml.ScalarNode {
			return fmt.Errorf("--config %s: line %d: a key must be a flag name", path, k.Line)
		}
		name := k.Value
		if name == "chains" {
			if seen[name] {
				return at(errors.New("given twice"))
			}
			seen[name] = true
			if err := configChains(fs, path, v); err != nil {
				return fmt.Errorf("--config %s: %w", path, err)
			}
			continue
		}
		f := fs.Lookup(name)
		switch {
		case f == nil || name == "help":
			return at(errors.New("no such setting (see attestd serve --help)"))
		case name == "config":
			return at(errors.New("a config file cannot name another"))
		case seen[name]:
			return at(errors.New("given twice"))
		case v.Kind != yaml.ScalarNode || v.Tag == "!!null":
			return at(errors.New("want a single value"))
		}
		seen[name] = true
		if f.Changed {
			continue // the command line wins
		}
		if err := fs.Set(name, v.Value); err != nil {
			return at(err)
		}
	}
	return nil
}

// configChains reads a config file's chains: list — a sequence of
// mappings from chain settings (chainKeys) to scalars — into the --chain
// flag of fs, unless the command line gave --chain (it wins). Errors name
// the line; an unknown or repeated key, a nested value or an empty list
// is refused.
func configChains(fs *pflag.FlagSet, path string, list *yaml.Node) error {
	f := fs.Lookup("chain")
	if f == nil {
		return errors.New("no such setting (see attestd serve --help)")
	}
	flag := f.Value.(*chainFlag)
	if list.Kind != yaml.SequenceNode || len(list.Content) == 0 {
		return fmt.Errorf("line %d: chains: want a list of chains, each a mapping (id: 1, rpc: URL, key-file: F, …)", list.Line)
	}
	var specs []chainSpec
	for i, entry := range list.Content {
		if entry.Kind != yaml.MappingNode {
			return fmt.Errorf("line %d: chains[%d]: want a mapping of chain settings (%s)", entry.Line, i, strings.Join(chainKeys, ", "))
		}
		spec := chainSpec{from: fmt.Sprintf("--config %s: chains[%d]", path, i), line: entry.Line}
		for j := 0; j+1 < len(entry.Content); j += 2 {
			k, v := entry.Content[j], entry.Content[j+1]
			if k.Kind != yaml.ScalarNode || v.Kind != yaml.ScalarNode || v.Tag == "!!null" {
				return fmt.Errorf("line %d: chains[%d]: want setting: value", k.Line, i)
			}
			if err := spec.add(k.Value, v.Value, k.Line); err != nil {
				return fmt.Errorf("line %d: chains[%d]: %w", k.Line, i, err)
			}
		}
		specs = append(specs, spec)
	}
	if !f.Changed {
		flag.specs = specs
	}
	return nil
}
