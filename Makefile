# attestd — see README.md. `make run` starts the service on embedded
# defaults; `make test` runs the tests.

GO        ?= go
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT    ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
LDFLAGS   := -X main.version=$(VERSION) -X main.commit=$(COMMIT)
BIN       := bin/attestd
DATA_DIR  ?= ./attestd-data
FUZZTIME  ?= 60s

.PHONY: build run test test-short test-long fuzz bench bench-full bench-peer lint generate check-generate check-helm web check-web test-web dist image check-release clean

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/attestd

# The service on embedded defaults: embedded store + embedded go-ethereum dev
# chain under $(DATA_DIR), API on 127.0.0.1:8080, chain JSON-RPC on 127.0.0.1:8545.
run: build
	$(BIN) serve --dev --data-dir $(DATA_DIR) --batch-interval 5s

# Everything: unit, fuzz seeds + a short fuzz of each parser/verifier,
# chain tests on go-ethereum's simulated backend, the end-to-end binary test.
test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 20m ./...
	$(MAKE) fuzz FUZZTIME=5s

# The long fault suites: the crash-consistency test over many rounds of
# kill points, the replica tests repeated, and every fuzz target for 2 minutes.
test-long:
	ATTESTD_CRASH_ROUNDS=5 $(GO) test -count=1 -timeout 60m -run 'CrashConsistency' -v ./cmd/attestd
	$(GO) test -count=3 -timeout 60m -run 'Replicas' ./cmd/attestd
	$(MAKE) fuzz FUZZTIME=2m

test-short:
	$(GO) test -count=1 -short ./...

# Fuzz each target for $(FUZZTIME) (make fuzz FUZZTIME=10m for a long run).
FUZZ_TARGETS := \
	./internal/fingerprint:FuzzParse \
	./internal/fingerprint:FuzzNonce \
	./internal/fingerprint:FuzzCanonicalize \
	./internal/strictjson:FuzzUnmarshal \
	./internal/merkle:FuzzPathPositions \
	./internal/verify:FuzzRootFromPath \
	./internal/proof:FuzzParse \
	./internal/proof:FuzzDecodePayload \
	./internal/proof:FuzzEvidenceParse \
	./internal/evidence:FuzzOpen \
	./internal/attestfile:FuzzParse \
	./internal/apikeys:FuzzParse \
	./internal/verify:FuzzVerify \
	./internal/verify:FuzzVerifyOffline \
	./internal/verify:FuzzParseRequire \
	./internal/receipt:FuzzVerify \
	./internal/receipt:FuzzParseKeyring \
	./internal/receipt:FuzzAppendJSON \
	./internal/server:FuzzPlainSubmit \
	./cmd/attestd:FuzzChainFlag \
	./internal/redact:FuzzText \
	./internal/server:FuzzStatusJSON \
	./internal/server:FuzzDecode \
	./internal/trust:FuzzParse \
	./internal/checkpoint:FuzzParse \
	./internal/statement:FuzzParse \
	./internal/statement:FuzzParseStatusFile \
	./internal/store/bolt:FuzzWalkBlock \
	./internal/store/bolt/runfile:FuzzParse

# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" when -fuzztime runs out (go.dev/issue/75804, fixed in Go 1.27):
# that, and only that (no failing input written), is run again, up to twice
# (on a loaded machine it was seen twice in one run of the 24 targets).
fuzz:
	@set -e; log=$$(mktemp); trap 'rm -f $$log' EXIT; for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; fn=$${t##*:}; \
		for try in 1 2 3; do \
			echo "fuzz $$pkg $$fn ($(FUZZTIME))"; \
			if $(GO) test $$pkg -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 50x >$$log 2>&1; then cat $$log; break; fi; \
			cat $$log; \
			if [ $$try != 3 ] && grep -q 'context deadline exceeded' $$log && ! grep -q 'Failing input written' $$log; then \
				echo "fuzz: the -fuzztime deadline race of go.dev/issue/75804, not a finding: once more"; continue; fi; \
			exit 1; \
		done; \
	done

# Benchmarks (docs/benchmarks.md). bench: every Go benchmark once on small
# inputs (-short), then short bounded loads against attestd on 127.0.0.1;
# a few minutes. bench-full: the sizes and durations the doc reports.
BENCH_PKGS := ./internal/... ./cmd/...

bench: build
	$(GO) build -o bin/attestd-load ./cmd/attestd-load
	$(GO) test -short -run '^$$' -bench . -benchmem -benchtime 1x -timeout 30m $(BENCH_PKGS)
	cmd/attestd-load/bench.sh quick

bench-full: build
	$(GO) build -o bin/attestd-load ./cmd/attestd-load
	$(GO) test -run '^$$' -bench . -benchmem -benchtime 2s -skip 'BenchmarkSeal' -timeout 60m $(BENCH_PKGS)
	$(GO) test -run '^$$' -bench 'BenchmarkSeal' -benchmem -benchtime 3x -timeout 30m ./internal/store/bolt
	cmd/attestd-load/bench.sh full

# bench-peer: attestd against its peer, Tessera's POSIX personality at the
# version bench.sh pins (built from its Go module into bin/tools/ the first
# time), the same generator and writer counts, alternating (issue #18); about
# 3 minutes. BASE_BIN=$(cmd/attestd-load/bench.sh base COMMIT) runs attestd
# at COMMIT in each round too. Environment: PEER_CONNS, PEER_RUNS, PEER_DUR.
bench-peer: build
	$(GO) build -o bin/attestd-load ./cmd/attestd-load
	GO=$(GO) cmd/attestd-load/bench.sh peer

# vet, gofmt, and no dead code: deadcode (pinned by the tool directive in
# go.mod) lists every function that no main program or test reaches.
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@out=$$($(GO) tool deadcode -test ./...) || exit 1; if [ -n "$$out" ]; then echo "dead code:"; echo "$$out"; exit 1; fi

# Regenerate the API code from api/openapi.yaml: the server's side
# (internal/api, api/oapi-codegen.yaml) and the public client's wire types
# (client/api, api/oapi-codegen-client.yaml). The drift tests in both
# packages fail when this was forgotten.
generate:
	$(GO) generate ./internal/api ./client/api

check-generate: generate
	git diff --exit-code -- internal/api client/api

# The Helm chart (deploy/helm/attestd), without a cluster: helm lint and helm
# template of each deploy/helm/attestd/ci/*.yaml, assertions on the rendered
# manifests, the values it must refuse, every rendered `serve` flag checked
# against cmd/attestd/serve.go, and each rendered pod's args and --config file
# read by attestd's own parsers (go test -run TestHelmRendered ./cmd/attestd)
# (deploy/helm/check.sh). helm is built from its
# Go module (through the module proxy; about a minute and a half the first
# time) into bin/; the repository's go.mod is not involved.
HELM_VERSION ?= v3.22.0
HELM         := bin/helm-$(HELM_VERSION)/helm

check-helm: $(HELM) image
	HELM=$(HELM) GO=$(GO) IMAGE_REF_FILE=$(IMAGE).ref deploy/helm/check.sh

$(HELM):
	GOBIN=$(CURDIR)/$(dir $(HELM)) $(GO) install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

# The web verifier page (web/ → internal/web/verifier.html, committed so
# that go build needs no npm). web: rebuild it. check-web: the committed
# page is what web/ builds (npm ci, pinned by web/package-lock.json).
# test-web: the browser tests (web/test/): a real headless Chromium
# (Debian's chromium, driven by playwright-core) against the real attestd
# binary, the page loaded from the server and from file://.
NPM ?= npm

web/node_modules/.package-lock.json: web/package-lock.json
	cd web && $(NPM) ci --no-audit --no-fund
	@touch $@

web: web/node_modules/.package-lock.json
	cd web && $(NPM) run build

check-web: web/node_modules/.package-lock.json
	@tmp=$$(mktemp); trap 'rm -f $$tmp' EXIT; cd web && node build.mjs $$tmp >/dev/null && \
		if ! cmp -s $$tmp ../internal/web/verifier.html; then \
			echo "internal/web/verifier.html is not what web/ builds: run make web and commit it"; exit 1; fi
	@echo "check-web: internal/web/verifier.html is what web/ builds"

test-web: build web/node_modules/.package-lock.json check-web
	cd web && ATTESTD_BIN=$(CURDIR)/$(BIN) node --test --test-concurrency=1 test/

# Release binaries: attestd for each of $(DIST_PLATFORMS), static
# (CGO_ENABLED=0), -trimpath, version and commit stamped (attestd version
# prints both), into $(DIST)/ with a SHA256SUMS file. Reproducible: the same
# commit gives the same bytes on any machine with the same Go
# (TestDistReproducible builds twice from two copies and compares).
DIST           ?= dist
DIST_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64
RELEASE_BUILD   = CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=false -ldflags "-s -w $(LDFLAGS)"

dist:
	rm -rf $(DIST) && mkdir -p $(DIST)
	@set -e; for p in $(DIST_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; ext=; if [ $$os = windows ]; then ext=.exe; fi; \
		out=$(DIST)/attestd-$(VERSION)-$$os-$$arch$$ext; echo "build $$out"; \
		GOOS=$$os GOARCH=$$arch $(RELEASE_BUILD) -o $$out ./cmd/attestd; \
	done
	cd $(DIST) && sha256sum attestd-* >SHA256SUMS && cat SHA256SUMS

# The container image, with no Docker engine and no base image pulled:
# cmd/attestd-image (go-containerregistry, pinned in go.mod) puts a static
# attestd per platform of $(IMAGE_PLATFORMS), CA certificates (Debian's
# bundle, $(CA_BUNDLE)) and a nonroot user (UID 65532) into a multi-platform
# OCI image written as an OCI layout tar file, $(IMAGE); $(IMAGE).ref holds
# REPOSITORY:TAG@DIGEST. The Dockerfile builds the same image with Docker.
# Publishing it: README.md, "Container image".
IMAGE           ?= bin/attestd-image.tar
IMAGE_REPO      ?= ghcr.io/attestd/attestd
IMAGE_TAG       ?= $(patsubst v%,%,$(VERSION))
IMAGE_PLATFORMS ?= linux/amd64 linux/arm64
IMAGE_SOURCE    ?= https://github.com/attestd/attestd
CA_BUNDLE       ?= /etc/ssl/certs/ca-certificates.crt
SOURCE_DATE_EPOCH ?= $(shell git log -1 --format=%ct 2>/dev/null || echo 0)

image:
	@set -e; args=; for p in $(IMAGE_PLATFORMS); do \
		os=$${p%/*}; arch=$${p#*/}; out=bin/image/$$os-$$arch/attestd; echo "build $$out"; \
		GOOS=$$os GOARCH=$$arch $(RELEASE_BUILD) -o $$out ./cmd/attestd; \
		args="$$args --binary $$p=$$out"; \
	done; \
	$(GO) run ./cmd/attestd-image $$args --ca-bundle $(CA_BUNDLE) --ref $(IMAGE_REPO):$(IMAGE_TAG) \
		--version $(VERSION) --commit $(COMMIT) --source $(IMAGE_SOURCE) --created $(SOURCE_DATE_EPOCH) \
		--out $(IMAGE) --ref-file $(IMAGE).ref

# The release checks: the image (unpacked, its config read, the binary run
# from its root file system as UID 65532) and the reproducible release
# build (make dist twice, from two copies of the tree). Part of .ci/run.
check-release:
	ATTESTD_RELEASE_TESTS=1 $(GO) test -count=1 -timeout 40m -run '^(TestImage|TestDistReproducible)$$' -v ./cmd/attestd-image

clean:
	rm -rf bin $(DIST)
