# E-ComExpress order pipeline: thin wrappers over scripts/ (GNU make).
# Everything installed for the local stack lives in .local/ (git-ignored).
SHELL := bash
.DEFAULT_GOAL := help

.PHONY: help stack-up stack-down stack-status run demo traces test images rehearsal bench soak fmt lint tf-check clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "; print "Targets:"} /^[a-zA-Z_-]+:.*## / {printf "  %-13s %s\n", $$1, $$2}' $(MAKEFILE_LIST)
	@echo "Ports: LOCALSTACK_PORT (4566), DYNAMODB_PORT (8000), PORT (8080); see scripts/*.sh headers."

stack-up: ## Install (first time) and start LocalStack + DynamoDB Local, apply infra/local, write .local/stack.env
	@bash scripts/stack.sh up

stack-down: ## Stop the local stack started by stack-up
	@bash scripts/stack.sh down

stack-status: ## Show each emulator's pid, port and health (non-zero exit unless all healthy)
	@bash scripts/stack.sh status

run: ## Stack + release build + order-api (:8080) and both sqs-workers; Ctrl-C stops all
	@bash scripts/run.sh

demo: ## POST 3 sample orders to a running 'make run' and follow their state
	@bash scripts/demo.sh

traces: ## Receive OTLP on 127.0.0.1:4318 and print each trace as a tree (run with OTEL_EXPORTER_OTLP_ENDPOINT set)
	@cargo run -q --release -p loadgen --bin trace-view

test: ## What CI runs: fmt/validate checks, cargo test, clippy, terraform test (starts the stack if needed)
	@bash scripts/test.sh all

images: ## Build localhost/ecomexpress/{order-api,sqs-worker}:dev with podman from Dockerfile.api/.worker (local bases)
	@bash scripts/images.sh

rehearsal: ## Apply infra/envs/aws to moto (IAM enforced), run the services with exactly their task roles' policies
	@bash scripts/rehearsal.sh

bench: ## Measure worker/API cost, end-to-end latency, idle cost and startup; writes bench/results.{md,json}
	@bash scripts/bench.sh

soak: ## Seeded chaos soak: real processes, faults from SOAK_SEED, ledger + checker (SOAK_SECONDS, SOAK_RATE, SOAK_LEDGER)
	@bash scripts/soak.sh

fmt: ## Format Rust (cargo fmt) and Terraform (terraform fmt)
	@bash scripts/fmt.sh

lint: ## cargo fmt --check, clippy -D warnings, terraform fmt -check, shellcheck
	@bash scripts/test.sh lint

tf-check: ## terraform fmt -check, validate every root, terraform test
	@bash scripts/test.sh tf

clean: ## Stop the stack and delete .local (venv, DynamoDB Local, state, logs)
	@if [ -d .local ]; then bash scripts/stack.sh down; fi
	rm -rf .local
