package api

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/gin-gonic/gin"

	"github.com/attestd/attestd/internal/gentest"
)

// TestGeneratedCodeIsUpToDate runs the //go:generate directive of generate.go, as
// `go generate` would, with its output redirected to a temporary file, and fails if the
// result differs from the committed api.gen.go.
func TestGeneratedCodeIsUpToDate(t *testing.T) {
	gentest.UpToDate(t, "api.gen.go")
}

// loadSpec returns api/openapi.yaml, validated, including its examples against
// their schemas with formats and patterns checked.
func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatalf("loading api/openapi.yaml: %v", err)
	}
	if err := doc.Validate(t.Context(),
		openapi3.EnableSchemaFormatValidation(),
		openapi3.EnableSchemaPatternValidation(),
		openapi3.EnableExamplesValidation(),
	); err != nil {
		t.Fatalf("api/openapi.yaml is invalid: %v", err)
	}
	return doc
}

func TestEmbeddedSpecIsValid(t *testing.T) {
	doc := loadSpec(t)
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
}

// operations is the service surface of DESIGN.md: every operation, where it lives, and
// whether it needs an API key.
var operations = []struct {
	id, method, path string
	bearer           bool
}{
	{"submitFingerprints", http.MethodPost, "/v1/fingerprints", true},
	{"getFingerprint", http.MethodGet, "/v1/fingerprints/{fingerprint}", false},
	{"getSubmission", http.MethodGet, "/v1/submissions/{fingerprint}", true},
	{"makeStatement", http.MethodPost, "/v1/statements", true},
	{"getStatusFile", http.MethodGet, "/v1/status", false},
	{"verifyProof", http.MethodPost, "/v1/verify", false},
	{"getBatch", http.MethodGet, "/v1/batches/{id}", false},
	{"getInfo", http.MethodGet, "/v1/info", false},
	{"getHealth", http.MethodGet, "/healthz", false},
	{"getReady", http.MethodGet, "/readyz", false},
	{"getMetrics", http.MethodGet, "/metrics", false},
	{"getVerifierPage", http.MethodGet, "/", false},
	{"downloadVerifierPage", http.MethodGet, "/verifier.html", false},
}

func TestSpecOperationsAndSecurity(t *testing.T) {
	doc := loadSpec(t)

	if len(doc.Security) != 0 {
		t.Errorf("the spec has a top-level security requirement %v; only the submitter operations may require auth", doc.Security)
	}
	scheme := doc.Components.SecuritySchemes["bearerAuth"]
	if scheme == nil || scheme.Value == nil || scheme.Value.Type != "http" || scheme.Value.Scheme != "bearer" {
		t.Fatalf("components.securitySchemes.bearerAuth should be an HTTP bearer scheme, got %+v", scheme)
	}

	seen := 0
	for _, item := range doc.Paths.Map() {
		seen += len(item.Operations())
	}
	if seen != len(operations) {
		t.Errorf("the spec has %d operations, want %d", seen, len(operations))
	}

	for _, want := range operations {
		t.Run(want.id, func(t *testing.T) {
			item := doc.Paths.Find(want.path)
			if item == nil {
				t.Fatalf("no path %s", want.path)
			}
			op := item.GetOperation(want.method)
			if op == nil {
				t.Fatalf("no %s %s", want.method, want.path)
			}
			if op.OperationID != want.id {
				t.Errorf("%s %s: operationId = %q, want %q", want.method, want.path, op.OperationID, want.id)
			}

			var bearer bool
			if op.Security != nil {
				for _, req := range *op.Security {
					for name, scopes := range req {
						if name != "bearerAuth" || len(scopes) != 0 {
							t.Errorf("unexpected security requirement %s %v", name, scopes)
						}
						bearer = true
					}
				}
			}
			if bearer != want.bearer {
				t.Errorf("requires bearerAuth = %v, want %v", bearer, want.bearer)
			}

			// Every error is RFC 9457 problem+json, except /readyz's 503, which is the
			// readiness document itself.
			for code, resp := range op.Responses.Map() {
				if code[0] != '4' && code[0] != '5' || want.id == "getReady" {
					continue
				}
				if _, ok := resp.Value.Content["application/problem+json"]; !ok || len(resp.Value.Content) != 1 {
					t.Errorf("response %s is not (only) application/problem+json", code)
				}
			}
		})
	}
}

// TestBearerAuthScopesOnContext checks that the generated gin wrapper marks exactly the
// operations that require bearerAuth, under the string form of BearerAuthScopes (the
// wrapper calls c.Set(string(BearerAuthScopes), ...), so that is the key to look up).
func TestBearerAuthScopesOnContext(t *testing.T) {
	gin.SetMode(gin.TestMode)
	r := gin.New()
	marked := map[string]bool{}
	RegisterHandlersWithOptions(r, noContent{}, GinServerOptions{
		Middlewares: []MiddlewareFunc{func(c *gin.Context) {
			_, ok := c.Get(string(BearerAuthScopes))
			marked[c.FullPath()] = ok
		}},
	})

	concrete := strings.NewReplacer("{fingerprint}", "042f3736a430e42afc99d9c5f5c346dbd4aaaf8560acc0607c02973449ac5875", "{id}", "42")
	for _, op := range operations {
		ginPath := strings.NewReplacer("{", ":", "}", "").Replace(op.path)
		rec := httptest.NewRecorder()
		r.ServeHTTP(rec, httptest.NewRequest(op.method, concrete.Replace(op.path), nil))
		if rec.Code != http.StatusNoContent {
			t.Errorf("%s %s: status %d, want %d", op.method, op.path, rec.Code, http.StatusNoContent)
			continue
		}
		if got, ok := marked[ginPath]; !ok || got != op.bearer {
			t.Errorf("%s %s: bearerAuth scopes on context = %v, want %v", op.method, op.path, got, op.bearer)
		}
	}
}

// noContent implements ServerInterface with handlers that answer 204.
type noContent struct{}

func (noContent) GetHealth(c *gin.Context)                         { c.Status(http.StatusNoContent) }
func (noContent) GetMetrics(c *gin.Context)                        { c.Status(http.StatusNoContent) }
func (noContent) GetVerifierPage(c *gin.Context)                   { c.Status(http.StatusNoContent) }
func (noContent) DownloadVerifierPage(c *gin.Context)              { c.Status(http.StatusNoContent) }
func (noContent) GetReady(c *gin.Context)                          { c.Status(http.StatusNoContent) }
func (noContent) GetBatch(c *gin.Context, _ BatchIDPath)           { c.Status(http.StatusNoContent) }
func (noContent) SubmitFingerprints(c *gin.Context)                { c.Status(http.StatusNoContent) }
func (noContent) GetFingerprint(c *gin.Context, _ FingerprintPath) { c.Status(http.StatusNoContent) }
func (noContent) GetInfo(c *gin.Context)                           { c.Status(http.StatusNoContent) }
func (noContent) VerifyProof(c *gin.Context)                       { c.Status(http.StatusNoContent) }
func (noContent) GetSubmission(c *gin.Context, _ FingerprintPath)  { c.Status(http.StatusNoContent) }
func (noContent) MakeStatement(c *gin.Context)                     { c.Status(http.StatusNoContent) }
func (noContent) GetStatusFile(c *gin.Context)                     { c.Status(http.StatusNoContent) }

// TestSpecMaxFingerprints: the spec's limit on fingerprints per submission
// (SubmitRequest's maxItems, and the prose) is MaxFingerprintsPerRequest, the
// one the server enforces and the CLI splits by.
func TestSpecMaxFingerprints(t *testing.T) {
	doc := loadSpec(t)
	list := doc.Components.Schemas["SubmitRequest"].Value.Properties["fingerprints"].Value
	if list.MaxItems == nil {
		t.Errorf("SubmitRequest.fingerprints has no maxItems, want MaxFingerprintsPerRequest = %d", MaxFingerprintsPerRequest)
	} else if *list.MaxItems != MaxFingerprintsPerRequest {
		t.Errorf("SubmitRequest.fingerprints maxItems = %d, want MaxFingerprintsPerRequest = %d", *list.MaxItems, MaxFingerprintsPerRequest)
	}
	if list.MinItems != 1 {
		t.Errorf("SubmitRequest.fingerprints minItems = %d, want 1", list.MinItems)
	}
	prose := fmt.Sprintf("1 to %d,%03d fingerprints", MaxFingerprintsPerRequest/1000, MaxFingerprintsPerRequest%1000)
	for what, text := range map[string]string{
		"SubmitRequest.fingerprints": list.Description,
		"submitFingerprints":         doc.Paths.Find("/v1/fingerprints").Post.Description,
	} {
		if !strings.Contains(text, prose) {
			t.Errorf("the description of %s does not say %q", what, prose)
		}
	}
}
