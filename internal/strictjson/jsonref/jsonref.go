// Package jsonref is a reference for tests and fuzz targets: an
// independent check, built on encoding/json's (v1) tokenizer rather than
// on the jsontext tokenizer strictjson uses, that a JSON text has one
// reading. Fuzz targets assert that whatever a strict parser accepts,
// Check accepts too.
package jsonref

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Check returns an error unless data is exactly one JSON value (white
// space around it only) in which no object holds two members with the
// same name after unescaping, or, when fold is set, with names equal
// under strings.EqualFold (encoding/json's own name matching).
func Check(data []byte, fold bool) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // numbers are not converted, so any size is a token
	type frame struct {
		object bool
		names  []string // of an object, in order
		name   bool     // the next token of an object is a name
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("not one JSON value: %v", err)
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		isName := top != nil && top.object && top.name
		if top != nil && top.object {
			// v1's Token hands out names and values alike; they alternate.
			if d, ok := tok.(json.Delim); !ok || (d != '}' && d != ']') {
				top.name = !top.name
			}
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, &frame{object: true, name: true})
			case '[':
				stack = append(stack, &frame{})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			if isName {
				for _, prev := range top.names {
					if prev == t || fold && strings.EqualFold(prev, t) {
						return fmt.Errorf("names %q and %q in one object", prev, t)
					}
				}
				top.names = append(top.names, t)
			}
		}
		if len(stack) == 0 {
			break
		}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return errors.New("data after the JSON value")
	}
	return nil
}
