package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

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
