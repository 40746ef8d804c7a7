# Parsec session broker. `make help` lists the targets.
# Tools come from PyPI into .venv (see requirements-dev.txt); nothing is installed by hand.

SHELL := /bin/bash
VENV := .venv
BIN := $(abspath $(VENV))/bin
export PATH := $(BIN):$(PATH)
export SAM_CLI_TELEMETRY := 0
PYTHON ?= python3
TOOLS := $(VENV)/.installed
CHECKOV := $(VENV)/checkov/bin/checkov
# dynalite (npm), the DynamoDB implementation whose writes to an item are serialised: the
# device-session concurrency tests run on it (moto's conditional writes are not atomic).
DYNALITE := .node/node_modules/.bin/dynalite
EVENT ?= http-api-jwt.json
REGION ?= us-east-1

.DEFAULT_GOAL := help
.PHONY: help tools local check test test-local lint template-lint build zip invoke standins sam-check deploy deploy-function bench fuzz clean dev token

help: ## List the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-15s %s\n", $$1, $$2}'

$(TOOLS): requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

# checkov in an environment of its own under .venv: it pins boto3 below what the SAM CLI and moto use.
$(CHECKOV): requirements-checkov.txt
	$(PYTHON) -m venv $(VENV)/checkov
	$(VENV)/checkov/bin/pip install --quiet --disable-pip-version-check -r requirements-checkov.txt
	touch $@

$(DYNALITE):
	npm install --silent --no-audit --no-fund --prefix .node dynalite@4.0.0
	touch $@

tools: $(TOOLS) $(CHECKOV) $(DYNALITE) ## Install cargo-lambda, moto, cfn-lint, checkov and the SAM CLI into .venv, dynalite into .node

local: $(TOOLS) ## Run the function locally against the stand-ins and print each sample event's answer
	cargo build --quiet --bin bootstrap
	$(BIN)/python -m local.run target/debug/bootstrap

check: ## The inner loop: fmt, clippy, unit and integration tests, rust-version (no tool installs, no end-to-end)
	cargo fmt --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	cargo test
	$(PYTHON) -m local.rust_version

# The arm64 release build (compiling) runs beside the end-to-end runs, the make dev test and
# Schemathesis (mostly waiting on emulators and stand-ins); make check runs alone, since some
# of its fault tests bound the time a retry may take.
test: $(TOOLS) $(CHECKOV) $(DYNALITE) ## Every check: make check, end-to-end (2 emulators), make dev, Schemathesis, template lint, deploy rehearsal
	$(MAKE) --no-print-directory check
	cargo build --quiet --bin bootstrap
	$(MAKE) --no-print-directory -j2 --output-sync=target test-local build
	$(BIN)/python -m deploy.rehearsal

test-local: $(TOOLS) $(CHECKOV) ## The end-to-end runs (cargo lambda's emulator and AWS's RIE), the make dev test, Schemathesis through make dev, the template checks
	$(BIN)/openapi-spec-validator docs/openapi.yaml
	$(BIN)/python -m local.run target/debug/bootstrap --check
	$(BIN)/python -m local.run target/debug/bootstrap --check --runner rie
	$(BIN)/python -m local.dev_check target/debug/bootstrap
	$(BIN)/python -m local.api_fuzz target/debug/bootstrap
	$(MAKE) --no-print-directory template-lint

lint: $(TOOLS) $(CHECKOV) ## Formatting, clippy, the template checks and the OpenAPI description
	cargo fmt --check
	cargo clippy --workspace --all-targets --quiet -- -D warnings
	$(BIN)/openapi-spec-validator docs/openapi.yaml
	$(MAKE) --no-print-directory template-lint

template-lint: $(TOOLS) $(CHECKOV) ## cfn-lint, sam validate --lint and checkov (0 failed; each skip says why in the template)
	$(BIN)/cfn-lint template.yaml
	$(BIN)/sam validate --lint --region $(REGION)
	$(CHECKOV) -f template.yaml --framework cloudformation --compact --quiet --skip-download

build: $(TOOLS) ## Build the arm64 Lambda binary (target/lambda/bootstrap/bootstrap)
	rustup target add aarch64-unknown-linux-gnu
	cargo lambda build --release --arm64

zip: $(TOOLS) ## Build the arm64 deployment zip (target/lambda/bootstrap/bootstrap.zip)
	rustup target add aarch64-unknown-linux-gnu
	cargo lambda build --release --arm64 --output-format zip
	@ls -l target/lambda/bootstrap/bootstrap.zip

SAM_FLAGS ?=
invoke: $(TOOLS) ## Invoke the function with events/$(EVENT): sam local invoke with Docker (SAM_FLAGS=--skip-pull-image where AWS's image cannot be pulled), else the same emulator (aws-lambda-rie) directly
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then \
		echo "Docker found: sam build, then sam local invoke on Docker network parsec-broker-local with the stand-ins (make standins)"; \
		rustup target add aarch64-unknown-linux-gnu && \
		$(BIN)/sam build && \
		SAM_FLAGS="$(SAM_FLAGS)" $(BIN)/python -m local.sam_local invoke $(EVENT); \
	else \
		echo "No Docker: running target/debug/bootstrap under the SAM CLI's aws-lambda-rie, with the stand-ins" >&2; \
		cargo build --quiet --bin bootstrap && \
		$(BIN)/python -m local.invoke target/debug/bootstrap events/$(EVENT) events/env.json; \
	fi

standins: $(TOOLS) ## The stand-ins sam local reaches, on the addresses events/env.json names (Docker network parsec-broker-local), in the foreground; Ctrl-C stops them
	$(BIN)/python -m local.standins

sam-check: $(TOOLS) ## With Docker: sam build, every sample event through sam local invoke and a few requests through sam local start-api, checked against the contract (not in make test)
	rustup target add aarch64-unknown-linux-gnu
	SAM_FLAGS="$(SAM_FLAGS)" $(BIN)/python -m local.sam_local check

PORT ?= 9000
dev: ## HTTP on 127.0.0.1:$(PORT) like the template's API: JWT check, then the real function (Ctrl-C stops all)
	@test -f $(TOOLS) || echo "make dev: installing the tools into .venv (first run only, a few minutes)…"
	@$(MAKE) --no-print-directory $(TOOLS) >/dev/null
	@echo "make dev: building the function (cargo build; the first build takes a couple of minutes)…"
	cargo build --quiet --bin bootstrap
	$(BIN)/python -m local.dev target/debug/bootstrap $(PORT)

SUB ?=
SCOPE ?= parsec/sessions
TTL ?= 3600
token: $(TOOLS) ## Print a token make dev accepts: make -s token SUB=<user> [SCOPE=…] [TTL=<seconds, may be negative>]
	@test -n "$(SUB)" || { echo "usage: make -s token SUB=<user> [SCOPE=...] [TTL=...]" >&2; exit 2; }
	@$(BIN)/python -m local.mint_token --sub "$(SUB)" --scope "$(SCOPE)" --ttl "$(TTL)"

FUNCTION_NAME ?= parsec-session-broker
deploy-function: $(TOOLS) ## Deploy with cargo lambda alone: make deploy-function PARSEC_SECRET_ARN=<arn> [FUNCTION_NAME=…] [KMS_KEY_ARN=…]
	@test -n "$(PARSEC_SECRET_ARN)" || { echo "usage: make deploy-function PARSEC_SECRET_ARN=<the secret's ARN> [FUNCTION_NAME=$(FUNCTION_NAME)] [KMS_KEY_ARN=<arn>]" >&2; exit 2; }
	$(MAKE) --no-print-directory build
	$(BIN)/python -m deploy.function --secret-arn "$(PARSEC_SECRET_ARN)" --function-name "$(FUNCTION_NAME)" \
		$(if $(KMS_KEY_ARN),--kms-key-arn "$(KMS_KEY_ARN)")

deploy: $(TOOLS) ## sam build and sam deploy (settings in samconfig.toml)
	rustup target add aarch64-unknown-linux-gnu
	$(BIN)/sam build
	$(BIN)/sam deploy

bench: $(TOOLS) ## Measure Init (plain, TLS, at a 128 MB CPU share), warm latency, footprint and concurrency against an empty function (bench-results/)
	rustup target add aarch64-unknown-linux-gnu
	cargo build --release --workspace --bins
	AWS_LC_SYS_NO_JITTER_ENTROPY=0 cargo build --release --target-dir target/jitter -p bench-broker -p empty-baseline --bins
	cargo lambda build --release --arm64 --bin bootstrap
	$(PYTHON) -c "import zipfile; z = zipfile.ZipFile('target/lambda/bootstrap/bootstrap-arm64.zip', 'w', zipfile.ZIP_DEFLATED); z.write('target/lambda/bootstrap/bootstrap', 'bootstrap'); z.close()"
	BENCH_JITTER_DIR=target/jitter/release ./target/release/bench-harness target/release/bootstrap target/release/empty-baseline events/http-api-jwt.json \
		bench-results target/lambda/bootstrap/bootstrap target/lambda/bootstrap/bootstrap-arm64.zip

FUZZ_SECONDS ?= 300
fuzz: ## Fuzz the whole handler with the sample events as seeds (cargo-fuzz; FUZZ_SECONDS=300)
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	mkdir -p fuzz/corpus/handler
	RUSTC_BOOTSTRAP=1 cargo fuzz run handler fuzz/corpus/handler events -- -max_total_time=$(FUZZ_SECONDS)
	RUSTC_BOOTSTRAP=1 cargo fuzz run body -- -max_total_time=60

clean: ## Remove build output and the tool environment
	cargo clean
	rm -rf $(VENV) .aws-sam
