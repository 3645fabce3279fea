// Package strictjson is the one JSON decoder attestd uses for input it
// does not trust: API request bodies, proof bundles, .attest files (and
// the receipts and bundles inside them).
//
// Go's encoding/json (v1) lets the last of two members with one name win
// and matches names case-insensitively, so {"proof":A,"PROOF":B} reads as
// B to attestd and as A to most other parsers: one file, two proofs. This
// package refuses such input instead of picking a reading. Unmarshal
// decodes exactly one JSON value and returns an error when
//
//   - the input is not valid JSON (including invalid UTF-8), or there is
//     anything but white space after the value ([ErrTrailingData]);
//   - an object has two members with the same name, after unescaping
//     ([ErrDuplicateName]), or whose names differ only in case, by Unicode
//     case folding ([ErrCaseVariant]) — whatever the target type, so a map
//     target is held to the rule too;
//   - a member matches no field of the target struct, names being matched
//     case-sensitively ([ErrUnknownField]);
//   - a value does not fit its field (a SemanticError of
//     github.com/go-json-experiment/json, the encoding/json/v2 semantics).
//
// The syntax checks are done by jsontext's tokenizer and the decoding by
// json.Unmarshal with RejectUnknownMembers; neither is hand-written here.
// Error messages name the member (as a JSON Pointer, RFC 6901) and say
// what is wrong.
package strictjson

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	"golang.org/x/text/cases"
)

// The reasons Unmarshal and Check refuse input; test with errors.Is.
var (
	ErrSyntax        = errors.New("invalid JSON")
	ErrTrailingData  = errors.New("trailing data after the JSON value")
	ErrDuplicateName = errors.New("duplicate member")
	ErrCaseVariant   = errors.New("member names differ only in case")
	ErrUnknownField  = errors.New("unknown field")
)

// Unmarshal decodes the single JSON value in data into v (a non-nil
// pointer) under the rules of the package doc.
func Unmarshal(data []byte, v any) error {
	if err := Check(data); err != nil {
		return err
	}
	err := json.Unmarshal(data, v, json.RejectUnknownMembers(true))
	if err == nil {
		return nil
	}
	var se *json.SemanticError
	if errors.As(err, &se) && errors.Is(se.Err, json.ErrUnknownName) {
		name, parent := split(se.JSONPointer)
		return &Error{Pointer: parent, Err: ErrUnknownField, Detail: fmt.Sprintf(" %q", name), Hint: " (field names are case-sensitive)"}
	}
	return &Error{Err: err}
}

// Check reports whether data is exactly one valid JSON value, without
// duplicate or case-variant member names in any object. It does not look
// at what the value means; Unmarshal calls it first.
func Check(data []byte) error {
	dec := jsontext.NewDecoder(bytes.NewReader(data)) // duplicate names and invalid UTF-8 are refused by default
	// One set of folded names per open object; nil for an array.
	var open []map[string]string
	fold := cases.Fold()
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return syntaxError(err)
		}
		depth := dec.StackDepth()
		switch tok.Kind() {
		case '{':
			open = append(open, map[string]string{})
		case '[':
			open = append(open, nil)
		case '}', ']':
			open = open[:len(open)-1]
		case '"':
			// A string is a member name when it is an object's
			// odd-numbered token (names and values each count one).
			if k, n := dec.StackIndex(depth); k == '{' && n%2 == 1 {
				names := open[len(open)-1]
				name := tok.String()
				key := fold.String(name)
				if prev, ok := names[key]; ok {
					_, parent := split(dec.StackPointer())
					return &Error{Pointer: parent, Err: ErrCaseVariant, Detail: fmt.Sprintf(": %q and %q", prev, name)}
				}
				names[key] = name
			}
		}
		if depth == 0 {
			break // the top-level value is complete
		}
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return &Error{Err: ErrTrailingData, Hint: fmt.Sprintf(" (offset %d)", dec.InputOffset())}
	}
	return nil
}

// Error is what Unmarshal and Check return for input they refuse: a
// reason (Err, one of the Err variables), what was found (Detail), where
// (Pointer, "" for the top level) and a hint. Semantic errors of the
// decoder are wrapped as they are.
type Error struct {
	Err     error
	Detail  string
	Pointer jsontext.Pointer
	Hint    string
}

func (e *Error) Error() string {
	msg := e.Err.Error() + e.Detail
	if e.Pointer != "" {
		msg += " at " + string(e.Pointer)
	}
	return msg + e.Hint
}

func (e *Error) Unwrap() error { return e.Err }

// syntaxError renders an error of jsontext's decoder.
func syntaxError(err error) error {
	if err == io.EOF {
		return &Error{Err: ErrSyntax, Detail: ": no value"}
	}
	var se *jsontext.SyntacticError
	if !errors.As(err, &se) {
		return &Error{Err: ErrSyntax, Detail: ": " + err.Error()}
	}
	if errors.Is(se.Err, jsontext.ErrDuplicateName) {
		// jsontext reports the duplicate's own pointer: name it and
		// its parent object.
		name, parent := split(se.JSONPointer)
		return &Error{Pointer: parent, Err: ErrDuplicateName, Detail: fmt.Sprintf(" %q", name)}
	}
	return &Error{Pointer: se.JSONPointer, Err: ErrSyntax, Detail: fmt.Sprintf(": %v", se.Err), Hint: fmt.Sprintf(" (offset %d)", se.ByteOffset)}
}

// split returns the last name of p and the pointer to its parent.
func split(p jsontext.Pointer) (name string, parent jsontext.Pointer) {
	return p.LastToken(), p.Parent()
}
