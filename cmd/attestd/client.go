package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/attestd/attestd/internal/api"
)

const (
	defaultServer = "http://127.0.0.1:8080"
	defaultRPC    = "http://127.0.0.1:8545"
)

// newClient returns an API client for server, adding the bearer key to
// every request when one is set.
func newClient(server, apiKey string) (*api.ClientWithResponses, error) {
	opts := []api.ClientOption{api.WithHTTPClient(&http.Client{Timeout: 60 * time.Second})}
	if apiKey != "" {
		opts = append(opts, api.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
			req.Header.Set("Authorization", "Bearer "+apiKey)
			return nil
		}))
	}
	return api.NewClientWithResponses(strings.TrimRight(server, "/"), opts...)
}

// problemError renders a non-2xx response, problem+json or not, as an error.
func problemError(op string, status int, body []byte) error {
	var p api.Problem
	if json.Unmarshal(body, &p) == nil && p.Title != "" {
		d := ""
		if p.Detail != nil {
			d = ": " + *p.Detail
		}
		return fmt.Errorf("%s: %d %s%s", op, status, p.Title, d)
	}
	return fmt.Errorf("%s: HTTP %d: %.200s", op, status, strings.TrimSpace(string(body)))
}
