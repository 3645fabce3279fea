package api

import (
	"testing"

	"github.com/attestd/attestd/internal/gentest"
)

// TestGeneratedCodeIsUpToDate runs the //go:generate directive of generate.go, as
// `go generate` would, with its output redirected to a temporary file, and fails if the
// result differs from the committed api.gen.go.
func TestGeneratedCodeIsUpToDate(t *testing.T) {
	gentest.UpToDate(t, "api.gen.go")
}
