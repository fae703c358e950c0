# The two commands a new user needs (see README.md):
#   make federation   run the local federation (the main job)
#   make test         install missing test tools, then vet and test everything

GO ?= go

# The PostgreSQL that tests use (scripts/install-test-deps sets it up as
# root); each test makes its own database there (internal/testtool.Postgres).
export SLUZ_TEST_POSTGRES ?= postgres://sluz:sluz@127.0.0.1:5432/sluz_test?sslmode=disable

.PHONY: federation test build static vet fmt-check
federation:
	$(GO) run ./cmd/federation

test: fmt-check vet
	./scripts/install-test-deps
	$(GO) test -count=1 -timeout 12m ./...

build:
	$(GO) build ./...

# Static binaries in ./bin, without cgo and so without PKCS#11 (what the Dockerfile builds by default).
static:
	CGO_ENABLED=0 $(GO) build -trimpath -tags nopkcs11 -o bin/ ./cmd/securityserver ./cmd/registry ./cmd/pkiutil ./cmd/logaudit

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
